package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testCA signs certificates for 127.0.0.1, for server and client use.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// peerTLS returns a node's server and client configurations for mutual
// TLS with certificates of ca.
func (ca *testCA) peerTLS(t *testing.T, name string) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pair := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	server = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: ca.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	client = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	return server, client
}

// With peer TLS, nodes holding the cluster CA's certificates replicate
// and forward to each other; a node with a certificate of another CA can
// neither join (the leader cannot reach it) nor reach the leader's peer
// service.
func TestPeerMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	c := &testCluster{t: t, nodes: map[string]*Node{}, dirs: map[string]string{}}
	t.Cleanup(c.closeAll)
	secure := func(id string, ca *testCA) Config {
		cfg := testConfig(id, t.TempDir())
		cfg.PeerServerTLS, cfg.PeerClientTLS = ca.peerTLS(t, id)
		return cfg
	}
	cfg := secure("n1", ca)
	cfg.Peers = []Peer{{ID: "n1", RaftAddr: "127.0.0.1:0"}}
	c.open(cfg)
	leader := c.waitLeader(nil)
	n2 := c.open(secure("n2", ca))
	ctx := context.Background()
	c.join(nil, "n2", "")
	c.eventually(10*time.Second, "n2 to know the leader", func() bool { _, a := n2.LeaderPeer(); return a != "" })
	// A write that was not applied (a leader election under load) is
	// safe to send again.
	var werr error
	c.eventually(10*time.Second, "a write forwarded over mutual TLS", func() bool {
		_, _, werr = n2.Write(ctx, "o", increment(1), "")
		if werr != nil && !errors.Is(werr, ErrNotApplied) && !errors.Is(werr, ErrNotLeader) {
			t.Fatalf("write forwarded over mutual TLS: %v", werr)
		}
		return werr == nil
	})
	if got := readCounter(t, n2, "o"); got != 1 {
		t.Fatalf("read on n2 = %d, want 1", got)
	}

	// An intruder with a certificate of its own CA.
	intruder := c.open(secure("x", newTestCA(t)))
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if conn, err := intruder.deps.Peers.DialPeer(dctx, raftAddr(leader)); err == nil {
		conn.Close()
		// The handshake may complete on the client side before the
		// server checks the certificate: the server must then drop it.
		if _, err := intruder.fwd.client.call(dctx, raftAddr(leader), pathReadIndex, struct{}{}); err == nil {
			t.Fatal("a node with a foreign certificate got a read index from the leader")
		}
	}
	if err := intruder.fwd.join(dctx, raftAddr(leader), joinRequest{ID: "x", RaftAddr: intruder.RaftAddr()}); err == nil {
		t.Fatal("a node with a foreign certificate asked the leader to join and was answered")
	}
	if n := len(leader.Status().Members); n != 2 {
		t.Fatalf("%d members after the intruder's attempt, want 2", n)
	}
	// Plain TCP to a TLS port gets nothing either.
	plain, err := net.DialTimeout("tcp", leader.RaftAddr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	plain.Write([]byte{muxPeer})
	plain.Write([]byte("POST /_internal/readindex HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"))
	plain.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	if n, _ := plain.Read(buf); n > 0 && string(buf[:4]) == "HTTP" {
		t.Fatalf("plain TCP got an HTTP answer: %q", buf[:n])
	}
	plain.Close()
}

func raftAddr(n *Node) raft.ServerAddress { return raft.ServerAddress(n.RaftAddr()) }
