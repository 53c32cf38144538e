package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dobj/dobj/launch"
)

// TestMain lets the test binary stand in for `dobj serve` (the os/exec
// helper-process pattern): with BENCH_FAKE_SERVE=1 it serves the fake HTTP
// contract on --http-addr until SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_FAKE_SERVE") == "1" {
		os.Exit(fakeServe(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeServe(args []string) int {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(os.Stderr, "fake serve: want the serve verb, got", args)
		return 2
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	id := fs.String("id", "", "")
	fs.String("data-dir", "", "")
	httpAddr := fs.String("http-addr", "", "")
	raftAddr := fs.String("raft-addr", "", "")
	peers := fs.String("peers", "", "")
	fail := fs.Bool("fail", false, "exit at once, as a node with a bad setting would")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *fail {
		fmt.Fprintf(os.Stderr, "fake serve %s: bad setting\n", *id)
		return 1
	}
	if *id == "" || !strings.Contains(*peers, *id+"="+*raftAddr) {
		fmt.Fprintf(os.Stderr, "fake serve: id %q raft %q not in peers %q\n", *id, *raftAddr, *peers)
		return 2
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ready", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })
	mux.Handle("/", newFakeDobj(0).handler())
	srv := &http.Server{Addr: *httpAddr, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "fake serve:", err)
		return 1
	}
	return 0
}

// freeBasePort finds a base port whose three HTTP and three Raft ports are
// free right now, in this package's own range (20000-26999): e2e takes
// 27100-29799 and check 31000-32999, so parallel packages never collide,
// and all stay below 32768, where Linux starts picking the local ports of
// outgoing connections (a listener cannot take a port one of those holds).
func freeBasePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(5900) // Raft ports up to 26902
		ok := true
		for i := 1; i <= 3 && ok; i++ {
			ok = launch.Free(launch.HTTPPort(base, i)) && launch.Free(launch.RaftPort(base, i))
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

func TestLocalClusterStartsRunsAndStopsByPID(t *testing.T) {
	t.Setenv("BENCH_FAKE_SERVE", "1")
	l, err := StartLocal(context.Background(), LocalConfig{Binary: os.Args[0], BasePort: freeBasePort(t), Ready: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if len(l.URLs()) != 3 {
		t.Fatalf("urls %v", l.URLs())
	}
	procs := l.nodes()
	dir := l.Dir()
	res, err := Run(context.Background(), Options{URLs: l.URLs(), Clients: 3, Duration: 100 * time.Millisecond, Objects: 3, Mix: Mix{OpIncrement: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Overall.Successes == 0 || res.Overall.Errors != 0 {
		t.Fatalf("against the local cluster: %+v %v", res.Overall, res.ErrorsByStatus)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, p := range procs {
		if p.Running() {
			t.Fatalf("%s (pid %d) still running after Close", p.ID, p.PID())
		}
		if err := p.Err(); err != nil {
			t.Errorf("%s did not stop gracefully: %v", p.ID, err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data dir %s left behind: %v", dir, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestLocalClusterReportsANodeThatExits(t *testing.T) {
	t.Setenv("BENCH_FAKE_SERVE", "1")
	_, err := StartLocal(context.Background(), LocalConfig{Binary: os.Args[0], BasePort: freeBasePort(t), Ready: 10 * time.Second, Args: []string{"--fail"}})
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "bad setting") {
		t.Fatalf("error %v, want the node's exit and its log", err)
	}
}

func TestLocalClusterRefusesBusyPorts(t *testing.T) {
	base := freeBasePort(t)
	srv := &http.Server{}
	ln, err := netListen(base + 2)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, err = StartLocal(context.Background(), LocalConfig{Binary: "/nonexistent", BasePort: base})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d is in use", base+2)) {
		t.Fatalf("error %v, want port %d in use", err, base+2)
	}
}

func netListen(port int) (net.Listener, error) {
	return net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
}
