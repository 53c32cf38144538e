package secure

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rssBoundMiB is the memory a node may reach under TestAbuse's worst
// requests. Measured: 406 to 644 MiB peak, 141 MiB of it before the
// class calls (24 MiB of stored values, 300 stalled TLS connections).
// The class calls may hold what their bounds allow before they are
// stopped: a runtime's 128 MiB and a quarter more between measures, or
// a call's 256 MiB of heap growth and half that more between looks,
// while the garbage of the one stopped before waits for a collection.
// What else can grow past that is bounded by settings: the idempotency
// table (fsm.MaxIdempotencyBytes, 256 MiB, counting the values its
// answers hold), and answers are streamed from the store, so requests in
// flight hold no copy of theirs.
const rssBoundMiB = 768

// memoryLimitMiB is the node's --memory-limit: it keeps the garbage of
// the class calls below (a retired runtime's hoard, a call's timer-step
// growth) from piling up at GOGC's pace before the collector runs.
const memoryLimitMiB = 384

// memory reads a process's resident set (VmRSS) and its peak (VmHWM) in
// MiB from /proc.
func memory(t *testing.T, pid int) (rss, peak int) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// TestAbuse sends the worst requests we know to one node — the largest
// transactions (128 gets of the largest values: 16 MiB answers, with and
// without Idempotency-Keys), the longest keys with the largest values,
// bodies past the limit, hundreds of connections that send a few bytes
// and stall, a class's worst calls (abuseClasses), and a flood of
// clients far past the in-flight cap — and checks that it keeps
// answering /_health and that its peak RSS stays under rssBoundMiB.
func TestAbuse(t *testing.T) {
	if testing.Short() {
		t.Skip("sends hundreds of MiB")
	}
	n := newSecureNode(t, "--max-in-flight", "32", "--http-read-timeout", "5s", "--memory-limit", strconv.Itoa(memoryLimitMiB<<20))
	pid := n.proc.PID()
	hc := n.httpClient(t)
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 256
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	send := func(method, path string, body []byte, header ...string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, n.url()+path, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+writeToken)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	// /_health is polled throughout; every answer must be 200.
	var healthFailures atomic.Int64
	var firstHealthFailure atomic.Value // string: what the first failure was
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		hh := n.httpClient(t)
		for ctx.Err() == nil {
			resp, err := hh.Get(n.url() + "/_health")
			if err != nil || resp.StatusCode != 200 {
				if ctx.Err() == nil {
					healthFailures.Add(1)
					why := fmt.Sprint(err)
					if err == nil {
						why = resp.Status
					}
					firstHealthFailure.CompareAndSwap(nil, time.Now().Format("15:04:05.000 ")+why)
				}
			}
			if resp != nil {
				resp.Body.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	phase := func(name string) {
		rss, peak := memory(t, pid)
		t.Logf("after %-34s RSS %4d MiB, peak %4d MiB", name+":", rss, peak)
	}
	phase("start")

	// The largest values (128 KiB of JSON) at 128 keys.
	big, _ := json.Marshal(strings.Repeat("v", 128<<10-2))
	for i := 0; i < 128; i++ {
		if st, err := send("PUT", fmt.Sprintf("/big/storage/k%03d", i), big); err != nil || st != 200 {
			t.Fatalf("put big value %d: %d %v", i, st, err)
		}
	}
	phase("128 largest values stored")

	// The largest keys with the largest values.
	longKey := strings.Repeat("k", 2048-4)
	for i := 0; i < 64; i++ {
		if st, err := send("PUT", fmt.Sprintf("/long/storage/%s%04d", longKey, i), big); err != nil || st != 200 {
			t.Fatalf("put long key %d: %d %v", i, st, err)
		}
	}
	phase("64 longest keys stored")

	// The largest transaction: 128 gets of 128 KiB values, a 16 MiB answer.
	var gets []string
	for i := 0; i < 128; i++ {
		gets = append(gets, fmt.Sprintf(`{"op":"get","key":"k%03d"}`, i))
	}
	txn := []byte(`{"success":[` + strings.Join(gets, ",") + `]}`)
	tooMany := []byte(`{"success":[` + strings.Join(append(gets, `{"op":"get","key":"k000"}`), ",") + `]}`)
	if st, _ := send("POST", "/big/transaction", tooMany); st != 413 {
		t.Fatalf("129 ops: %d, want 413", st)
	}
	// Past the body limit.
	if st, _ := send("PUT", "/big/storage/huge", bytes.Repeat([]byte("1"), 8<<20)); st != 413 {
		t.Fatalf("8 MiB body: %d, want 413", st)
	}

	// Hundreds of stalled connections: a TLS handshake and a few bytes
	// of headers, then nothing.
	var stalled []net.Conn
	for i := 0; i < 300; i++ {
		c, err := tls.Dial("tcp", n.httpAddr, n.tlsConfig(t))
		if err != nil {
			t.Fatalf("stalled connection %d: %v", i, err)
		}
		c.Write([]byte("POST /big/transaction HTTP/1.1\r\nHost: x\r\n"))
		stalled = append(stalled, c)
	}
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	phase("300 stalled connections")

	// A class's worst calls (issue 21): memory kept across calls and
	// timer steps, amplifying built-ins, deep JSON, a catastrophic regexp.
	abuseClasses(ctx, t, n, hc, phase)

	// A flood of 256 clients sending the largest transaction, half of
	// them with a new Idempotency-Key each time (whose 16 MiB answers the
	// idempotency table keeps until it is full), for 15 seconds.
	var ok, refused, full, other atomic.Int64
	var wg sync.WaitGroup
	floodEnd := time.Now().Add(15 * time.Second)
	for w := 0; w < 256; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(floodEnd); i++ {
				var h []string
				if w%2 == 0 {
					h = []string{"Idempotency-Key", fmt.Sprintf("flood-%d-%d", w, i)}
				}
				st, err := send("POST", "/big/transaction", txn, h...)
				switch {
				case err != nil:
					other.Add(1)
				case st == 200:
					ok.Add(1)
				case st == 429:
					refused.Add(1)
				case st == 503:
					full.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	phase("15s flood of largest transactions")
	t.Logf("flood: %d answered, %d refused 429, %d refused 503 (idempotency table full), %d other", ok.Load(), refused.Load(), full.Load(), other.Load())
	if refused.Load() == 0 {
		t.Errorf("no request was refused 429 past the in-flight cap")
	}
	if ok.Load() == 0 {
		t.Errorf("no request was answered during the flood")
	}

	cancel()
	<-healthDone
	if f := healthFailures.Load(); f > 0 {
		t.Errorf("/_health failed %d times under abuse; the first: %v", f, firstHealthFailure.Load())
	}
	resp, err := n.httpClient(t).Get(n.url() + "/_health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/_health after the abuse: %v %v", resp, err)
	}
	resp.Body.Close()
	rss, peak := memory(t, pid)
	t.Logf("bound %d MiB: RSS %d MiB, peak %d MiB", rssBoundMiB, rss, peak)
	if peak > rssBoundMiB {
		t.Fatalf("peak RSS %d MiB over the bound of %d MiB", peak, rssBoundMiB)
	}
}
