package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// askToJoin posts this node's addresses to the leader's join route.
func askToJoin(ctx context.Context, hc *http.Client, leaderHTTP, id, raftAddr, httpAddr string) error {
	body, _ := json.Marshal(map[string]string{"id": id, "raft_addr": raftAddr, "http_addr": httpAddr})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leaderHTTP+"/_cluster/join", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Dobj-Forwarded", id)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("join via %s: status %d", leaderHTTP, resp.StatusCode)
	}
	return nil
}
