package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Remove deletes the objects a run with o wrote (o.Prefix and o.Objects
// name them; any of o.URLs serves), several at a time, and returns how
// many it deleted. It goes on past a failure and returns the failures,
// at most a few of them by name, joined. A deleted object holds nothing,
// so running Remove again is harmless.
func Remove(ctx context.Context, o Options) (int, error) {
	if len(o.URLs) == 0 || o.Objects < 1 {
		return 0, errors.New("bench: remove: no URLs or no objects")
	}
	o.setDefaults()
	tgt, err := newTarget(o)
	if err != nil {
		return 0, fmt.Errorf("bench: remove: %w", err)
	}
	workers := min(max(o.Clients, 1), 16, o.Objects)
	hc := newHTTPClient(workers, o.Timeout, o.Token, o.TLS)
	defer hc.close()

	var (
		next, deleted atomic.Int64
		mu            sync.Mutex
		failed        int
		errs          []error
		wg            sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := strings.TrimRight(o.URLs[w%len(o.URLs)], "/")
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.Objects {
					return
				}
				if err := removeRetrying(ctx, tgt, hc, base, i); err != nil {
					mu.Lock()
					if failed++; len(errs) < 3 {
						errs = append(errs, fmt.Errorf("%s: %w", objectName(o.Prefix, i), err))
					}
					mu.Unlock()
					continue
				}
				deleted.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	if failed > 0 || len(errs) > 0 {
		return int(deleted.Load()), fmt.Errorf("bench: %d of %d objects not deleted: %w", o.Objects-int(deleted.Load()), o.Objects, errors.Join(errs...))
	}
	return int(deleted.Load()), nil
}

// removeRetrying removes one object, trying again a few times: deleting
// is idempotent, and a node between leaders answers 503 for a moment.
func removeRetrying(ctx context.Context, tgt target, hc *httpClient, base string, object int) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if err = tgt.remove(hc, base, object); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
	return err
}
