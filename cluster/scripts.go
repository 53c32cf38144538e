package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// Scripts (issue 20): deploys, deletes and secrets of Workers scripts go
// through Raft as fsm's script commands; the FSM checks them against the
// scripts already deployed. A follower sends each to the leader's peer
// service as one request (pathScript), as class deploys go.

// pathScript is the peer route of a script command a follower forwards.
const pathScript = "/_internal/script"

// maxPeerScriptBody bounds a forwarded script command: the largest
// --max-script-bytes (config.MaxScriptBytesCap), so that the API's limit
// is the one that applies.
const maxPeerScriptBody = 64 << 20

// Script is a deployed script as the FSM holds it.
type Script = fsm.Script

// ScriptDeploy is the outcome of a deploy: the script's version, the
// migration tags it applied and its classes after them.
type ScriptDeploy struct {
	Version uint64
	Applied []string
	Classes []fsm.ScriptClass
}

// scriptRequest is a script command a follower forwards: the kind and its
// body, as fsm.EncodeBody wrote it.
type scriptRequest struct {
	Kind fsm.Kind `msgpack:"k"`
	Body []byte   `msgpack:"b"`
}

// scriptReply is the leader's answer to a scriptRequest.
type scriptReply struct {
	Version uint64            `msgpack:"v,omitempty"`
	Found   bool              `msgpack:"f,omitempty"`
	Applied []string          `msgpack:"a,omitempty"`
	Classes []fsm.ScriptClass `msgpack:"c,omitempty"`
	// Code, Key and Msg are the outcome, as in a forwardedResult.
	Code uint8  `msgpack:"code"`
	Key  string `msgpack:"key,omitempty"`
	Msg  string `msgpack:"msg,omitempty"`
}

func (r scriptReply) err() error {
	return forwardedResult{Code: r.Code, Key: r.Key, Msg: r.Msg}.err()
}

// DeployScript deploys (or redeploys) a script through Raft. Errors: an
// objects.ErrInvalid naming the binding or migration the FSM refused
// (nothing applied); ErrNotLeader, ErrNotApplied, ErrOutcomeUnknown as for
// Write.
func (n *Node) DeployScript(ctx context.Context, p *fsm.ScriptPut) (ScriptDeploy, error) {
	r, err := n.scriptCommand(ctx, fsm.KindScriptPut, p)
	return ScriptDeploy{Version: r.Version, Applied: r.Applied, Classes: r.Classes}, err
}

// DeleteScript removes a script (its objects' storage stays); found is
// false when it was not deployed. A script another one binds is refused
// with objects.ErrInvalid.
func (n *Node) DeleteScript(ctx context.Context, name string) (found bool, err error) {
	r, err := n.scriptCommand(ctx, fsm.KindScriptDelete, &fsm.ScriptDelete{Name: name})
	return r.Found, err
}

// PutSecret sets secret name of script to value; found is false (nothing
// set) when the script is not deployed.
func (n *Node) PutSecret(ctx context.Context, script, name, value string) (found bool, err error) {
	r, err := n.scriptCommand(ctx, fsm.KindSecretPut, &fsm.SecretPut{Script: script, Name: name, Value: value})
	return r.Found, err
}

// Script returns a deployed script as this node's FSM holds it (make the
// read linearizable with Read first, if it must be).
func (n *Node) Script(name string) (Script, bool) { return n.fsm.Script(name) }

// Scripts lists the deployed scripts without their code or secrets'
// values, as this node's FSM holds them.
func (n *Node) Scripts() []Script { return n.fsm.Scripts() }

// scriptCommand proposes a script command on the leader, or sends it to
// the leader from a follower.
func (n *Node) scriptCommand(ctx context.Context, kind fsm.Kind, body any) (scriptReply, error) {
	b, err := fsm.EncodeBody(body)
	if err != nil {
		return scriptReply{}, err
	}
	if n.raft.State() == raft.Leader {
		r := n.proposeScript(ctx, kind, b)
		return r, r.err()
	}
	_, leader := n.LeaderPeer()
	if leader == "" {
		return scriptReply{}, ErrNotLeader
	}
	var r scriptReply
	if err := n.fwd.client.post(ctx, leader, pathScript, &scriptRequest{Kind: kind, Body: b}, &r); err != nil {
		// Sending it again is safe: the same deploy, delete or secret.
		return scriptReply{}, sentError("script", err)
	}
	return r, r.err()
}

// proposeScript commits one script command and returns its outcome as
// the reply a follower would get.
func (n *Node) proposeScript(ctx context.Context, kind fsm.Kind, body []byte) scriptReply {
	resp, _, err := n.propose(ctx, &fsm.Command{Kind: kind, Body: body})
	if err == nil {
		sr := resp.(*fsm.ScriptResponse)
		err = sr.Err
		if err == nil {
			return scriptReply{Version: sr.Version, Found: sr.Found, Applied: sr.Applied, Classes: sr.Classes}
		}
	}
	res := resultOf(objects.TxnResult{}, 0, err)
	return scriptReply{Code: res.Code, Key: res.Key, Msg: res.Msg}
}

// serveScript proposes the script command a follower sent, on the leader.
// The body must decode as its kind's, so that nothing this build cannot
// apply reaches the log.
func (n *Node) serveScript(w http.ResponseWriter, r *http.Request) {
	var req scriptRequest
	if err := readScriptRequest(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if n.raft.State() != raft.Leader {
		res := resultOf(objects.TxnResult{}, 0, ErrNotLeader)
		writePeerAnswer(w, scriptReply{Code: res.Code, Msg: res.Msg})
		return
	}
	writePeerAnswer(w, n.proposeScript(r.Context(), req.Kind, req.Body))
}

func readScriptRequest(r *http.Request, req *scriptRequest) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxPeerScriptBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxPeerScriptBody {
		return errors.New("script request too large")
	}
	if err := fsm.WellFormed(b); err != nil {
		return err
	}
	if err := msgpack.Unmarshal(b, req); err != nil {
		return err
	}
	var body any
	switch req.Kind {
	case fsm.KindScriptPut:
		body = &fsm.ScriptPut{}
	case fsm.KindScriptDelete:
		body = &fsm.ScriptDelete{}
	case fsm.KindSecretPut:
		body = &fsm.SecretPut{}
	default:
		return fmt.Errorf("kind %d is not a script command", req.Kind)
	}
	if err := fsm.WellFormed(req.Body); err != nil {
		return err
	}
	return msgpack.Unmarshal(req.Body, body)
}
