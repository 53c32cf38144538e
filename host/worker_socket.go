package host

import (
	"fmt"
	"net/http"

	"github.com/dobj/dobj/classes"
)

// ServeWorkerSocket serves the object socket u that script's Worker
// answered a client's upgrade with (classes.WithUpgrade): the object's
// fetch runs on the leader with u's request and, when it accepts a
// WebSocket, the client's connection on w is joined to it as
// ServeWebSocket joins a /do/ client's — relayed from a follower,
// counted in the node's socket cap. It returns as ServeWebSocket does:
// nil, nil once the socket is served, or the object's answer when it
// did not accept one.
func (h *Host) ServeWorkerSocket(w http.ResponseWriter, r *http.Request, script string, u *classes.Upgrade) (*CallResult, error) {
	sc, ok := h.node.FSM().Script(script)
	if !ok {
		return nil, fmt.Errorf("%w: no script %s", ErrClassNotFound, script)
	}
	_, _, out := h.scriptBindings(&sc)
	key, err := out.key(u.Binding)
	if err != nil {
		return nil, err
	}
	return h.ServeWebSocket(w, r, key, u.ID.ID, u.Request)
}
