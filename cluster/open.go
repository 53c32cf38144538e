package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/dobj/dobj/sqlstore"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Open starts a node on disk and TCP: it opens the stores under
// cfg.DataDir, listens on cfg.RaftAddr for Raft and the peer service,
// advertises cfg.AdvertiseRaft, and starts the node (New).
func Open(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	if cfg.ID == "" {
		return nil, errors.New("cluster: node id is required")
	}
	if (cfg.PeerServerTLS == nil) != (cfg.PeerClientTLS == nil) {
		return nil, errors.New("cluster: peer TLS needs both the server and the client configuration")
	}
	badAdvertise := func(err error) error {
		return fmt.Errorf("raft address %s (set AdvertiseRaft to where peers reach it): %w", cfg.RaftAddr, err)
	}
	// An address the others cannot dial is refused before listening on it
	// or creating anything in the data directory; once listening, only a
	// port 0 is left to fill in.
	if _, err := AdvertisedAddr(cfg.AdvertiseRaft, advertisedAddr(cfg.RaftAddr)); errors.Is(err, ErrUnspecifiedHost) {
		return nil, badAdvertise(err)
	}
	deps, err := openStores(cfg)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Node, error) {
		if deps.Close != nil {
			deps.Close()
		}
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		return fail(fmt.Errorf("listen on raft address %s: %w", cfg.RaftAddr, err))
	}
	advertise, err := AdvertisedAddr(cfg.AdvertiseRaft, ln.Addr())
	if err != nil {
		ln.Close()
		return fail(badAdvertise(err))
	}
	tn := newTCPNet(ln, advertise, cfg.PeerServerTLS, cfg.PeerClientTLS)
	deps.Peers = tn
	deps.Trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  tn,
		MaxPool: 5,
		Timeout: 10 * time.Second,
		Logger:  newHCLogger(cfg.Logger, "raft.net", cfg.LogLevel),
	})
	n, err := New(ctx, cfg, deps)
	if err != nil {
		deps.Trans.(*raft.NetworkTransport).Close()
		tn.Close()
		return fail(err)
	}
	return n, nil
}

// openStores opens the stores in cfg.DataDir: raft.db (bolt) as stable
// store, the log store the directory holds or cfg.LogStore asks for (see
// openLogStore) behind a cache, the file snapshot store, and sql/, the
// databases of SQLite-backed objects (closed after Raft, with the rest).
func openStores(cfg Config) (Deps, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return Deps{}, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	boltPath := filepath.Join(cfg.DataDir, "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: boltPath,
		BoltOptions: &bbolt.Options{
			Timeout: time.Second, // another process holds the file: fail, don't hang
			// Skip writing the free-page list on every commit (it grows as
			// the log is compacted); bbolt rebuilds it on open. Every
			// commit is still fsynced.
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
	})
	if err != nil {
		return Deps{}, fmt.Errorf("open raft log %s: %w", boltPath, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, newHCLogger(cfg.Logger, "raft.snapshot", cfg.LogLevel))
	if err != nil {
		bolt.Close()
		return Deps{}, fmt.Errorf("open snapshot store %s: %w", cfg.DataDir, err)
	}
	store, err := openLogStore(cfg.DataDir, cfg.LogStore, cfg.WALSegmentBytes, bolt, newHCLogger(cfg.Logger, "raft.wal", cfg.LogLevel))
	if err != nil {
		bolt.Close()
		return Deps{}, err
	}
	sqlDir := filepath.Join(cfg.DataDir, "sql")
	sql, err := sqlstore.Open(sqlstore.Config{Dir: sqlDir, MaxOpen: cfg.SQLOpenDatabases, MaxOpenBytes: cfg.SQLOpenBytes,
		Limits: sqlstore.Limits{DatabaseBytes: cfg.SQLMaxDatabaseBytes, ResultBytes: cfg.SQLMaxResultBytes}})
	if err != nil {
		store.close()
		bolt.Close()
		return Deps{}, fmt.Errorf("open SQL store %s: %w", sqlDir, err)
	}
	stable := newClosingStable(bolt, bolt.Close)
	closeAll := func() error {
		return errors.Join(sql.Close(), store.close(), stable.Close())
	}
	cfg.Logger.Info("opened raft log", "log_store", store.kind, "data_dir", cfg.DataDir)
	logs, err := raft.NewLogCache(1024, store.logs)
	if err != nil {
		closeAll()
		return Deps{}, fmt.Errorf("log cache: %w", err)
	}
	return Deps{Logs: logs, Stable: stable, Snaps: newRefSnapshotStore(snaps, cfg.DataDir), LogStoreKind: store.kind, SQL: sql, Close: closeAll}, nil
}
