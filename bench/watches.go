package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dobj/dobj/client"
)

// Watchers are open watch streams (GET /<name>/watch) held while the load
// runs, to measure what watching costs the writes: --watches N opens N on
// one node, one per object in turn, and reads and drops every event.
type Watchers struct {
	URL    string // the node they watch on
	cancel context.CancelFunc
	wg     sync.WaitGroup
	bytes  atomic.Int64
	ended  atomic.Int64 // streams that ended before Close
}

// resolveWatchURL turns "leader" into the leader's URL, asking urls[0]
// with the run's token and TLS; the leader is reached by urls[0]'s scheme.
func resolveWatchURL(ctx context.Context, on string, urls []string, token string, tlsc *tls.Config) (string, error) {
	if on != "leader" {
		return strings.TrimRight(on, "/"), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := client.New(urls[0], client.WithToken(token), client.WithTLSConfig(tlsc))
	st, err := c.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("find the leader: %w", err)
	}
	if st.Leader.HTTPAddr == "" {
		return "", fmt.Errorf("find the leader: no leader known to %s", urls[0])
	}
	scheme, _, _ := strings.Cut(c.URL(), "://")
	return scheme + "://" + st.Leader.HTTPAddr, nil
}

// OpenWatchers opens n watch streams on base, over the load's objects
// (prefix0 …, the run's Options.Prefix) in turn (or, idle, over as many
// others), with token and TLS as the run's requests have them, and
// returns once every one has been answered 200.
func OpenWatchers(ctx context.Context, base string, n, objects int, prefix string, idle bool, token string, tlsc *tls.Config) (*Watchers, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watchers{URL: base, cancel: cancel}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: -1,
		TLSClientConfig:     tlsc,
	}
	hc := &http.Client{Transport: tr}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		name := objectName(prefix, i%objects)
		if idle {
			name = "idle-" + name
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+url.PathEscape(name)+"/watch", nil)
		if err != nil {
			cancel()
			return nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			resp, err := hc.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("watch answered %s", resp.Status)
				return
			}
			errs <- nil
			nb, _ := io.Copy(io.Discard, resp.Body)
			w.bytes.Add(nb)
			if ctx.Err() == nil {
				w.ended.Add(1)
			}
		}()
	}
	var failed []error
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		w.Close()
		return nil, fmt.Errorf("open %d watches on %s: %d failed, first: %w", n, base, len(failed), failed[0])
	}
	return w, nil
}

// Close ends every stream and returns the bytes they carried and how
// many the server had ended early (cut off as slow, or lost).
func (w *Watchers) Close() (bytes, ended int64) {
	w.cancel()
	w.wg.Wait()
	return w.bytes.Load(), w.ended.Load()
}
