package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/dobj/dobj/fsm"
	"github.com/dobj/dobj/objects"
	"github.com/vmihailenco/msgpack/v5"
)

// The class registry: deploying and deleting a class are Raft commands on
// the FSM's registry, like membership changes. Running classes is the
// object host's (package host); the node only stores them, and checks a
// class a follower sent with the check the host registered (CheckClasses).

// ErrNoClassCheck: a follower sent a class to deploy, and this node has no
// host to check it with; nothing was proposed.
var ErrNoClassCheck = errors.New("this node checks no classes")

// ClassCheck validates a class before the leader proposes it (the host
// compiles it); an error refuses the class with nothing proposed.
type ClassCheck func(name, lang string, source []byte) error

// CheckClasses registers the check of the classes followers send this
// node, when it leads. Until one is registered it refuses them.
func (n *Node) CheckClasses(check ClassCheck) { n.classCheck.Store(&check) }

// Class is a registered class: name, language, source and version (the
// index of the entry that registered it).
type Class = fsm.Class

// DeployClass registers (or replaces) a class through Raft and returns its
// version, the entry's index. The source must have been checked (the api
// compiles it before, on the node that received it). A follower asks the
// leader's peer service, which checks it again before proposing it;
// ErrNotLeader when no leader is known.
func (n *Node) DeployClass(ctx context.Context, name, lang string, source []byte) (uint64, error) {
	if !n.IsLeader() {
		res, err := n.forwardClass(ctx, classRequest{Name: name, Lang: lang, Source: source})
		return res.Version, err
	}
	body, err := fsm.EncodeBody(&fsm.ClassPut{Name: name, Lang: lang, Source: source})
	if err != nil {
		return 0, err
	}
	resp, err := n.proposeClassCommand(ctx, &fsm.Command{Kind: fsm.KindClassPut, Body: body})
	if err != nil {
		return 0, err
	}
	return resp.Version, nil
}

// DeleteClass removes a class; its objects' storage stays. found is false
// when it was not registered. A follower asks the leader's peer service;
// ErrNotLeader when no leader is known.
func (n *Node) DeleteClass(ctx context.Context, name string) (found bool, err error) {
	if !n.IsLeader() {
		res, err := n.forwardClass(ctx, classRequest{Name: name, Delete: true})
		return res.Found, err
	}
	body, err := fsm.EncodeBody(&fsm.ClassDelete{Name: name})
	if err != nil {
		return false, err
	}
	resp, err := n.proposeClassCommand(ctx, &fsm.Command{Kind: fsm.KindClassDelete, Body: body})
	if err != nil {
		return false, err
	}
	return resp.Found, nil
}

func (n *Node) proposeClassCommand(ctx context.Context, cmd *fsm.Command) (*fsm.ClassResponse, error) {
	if !n.IsLeader() {
		return nil, ErrNotLeader
	}
	resp, _, err := n.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return resp.(*fsm.ClassResponse), nil
}

// Class returns a registered class as this node's FSM holds it (the
// caller makes the read linearizable with Read first, if it must be).
func (n *Node) Class(name string) (Class, bool) { return n.fsm.Class(name) }

// Classes lists the registered classes (without sources) as this node's
// FSM holds them.
func (n *Node) Classes() []Class { return n.fsm.Classes() }

// classRequest asks the leader to deploy or delete a class: deploy and
// delete reach the leader as one request each, like joins. The answer is
// a classReply.
type classRequest struct {
	Name   string `msgpack:"n"`
	Lang   string `msgpack:"l,omitempty"`
	Source []byte `msgpack:"s,omitempty"`
	Delete bool   `msgpack:"d,omitempty"`
}

// classReply is the leader's answer to a classRequest: a deployed class's
// version, or whether a deleted class was there, or why neither.
type classReply struct {
	Version uint64
	Found   bool
	// Code, Key and Msg are the outcome, as in a forwardedResult.
	Code     uint8
	Key, Msg string
}

// classReplyLayout is classReply on the wire: the layout of the other
// one-shot routes' forwardedResult, which builds before classReply
// wrote and read, Found in its result's "succeeded", Version in "x".
type classReplyLayout struct {
	Result struct {
		Found   bool         `msgpack:"succeeded"`
		Results []wireResult `msgpack:"results"` // always empty
	} `msgpack:"r"`
	Version uint64 `msgpack:"x"`
	Code    uint8  `msgpack:"c"`
	Key     string `msgpack:"k,omitempty"`
	Msg     string `msgpack:"m,omitempty"`
}

func classReplyOf(version uint64, found bool, err error) classReply {
	r := resultOf(objects.TxnResult{}, 0, err)
	return classReply{Version: version, Found: found, Code: r.Code, Key: r.Key, Msg: r.Msg}
}

// err is what the leader's answer means for the caller (nil: done).
func (r classReply) err() error {
	return forwardedResult{Code: r.Code, Key: r.Key, Msg: r.Msg}.err()
}

var (
	_ msgpack.CustomEncoder = classReply{}
	_ msgpack.CustomDecoder = (*classReply)(nil)
)

// EncodeMsgpack writes r as its classReplyLayout.
func (r classReply) EncodeMsgpack(enc *msgpack.Encoder) error {
	var l classReplyLayout
	l.Result.Found, l.Version, l.Code, l.Key, l.Msg = r.Found, r.Version, r.Code, r.Key, r.Msg
	return enc.Encode(&l)
}

// DecodeMsgpack reads a classReplyLayout into r.
func (r *classReply) DecodeMsgpack(dec *msgpack.Decoder) error {
	var l classReplyLayout
	if err := dec.Decode(&l); err != nil {
		return err
	}
	*r = classReply{Version: l.Version, Found: l.Result.Found, Code: l.Code, Key: l.Key, Msg: l.Msg}
	return nil
}

// forwardClass sends req to the leader. A request that got no answer is
// outcome unknown unless it was never sent (sentError); deploying or
// deleting a class again is safe.
func (n *Node) forwardClass(ctx context.Context, req classRequest) (classReply, error) {
	_, leader := n.LeaderPeer()
	if leader == "" {
		return classReply{}, ErrNotLeader
	}
	var res classReply
	if err := n.fwd.client.post(ctx, leader, pathClass, &req, &res); err != nil {
		return classReply{}, sentError("class", err)
	}
	return res, res.err()
}

// serveClass deploys or deletes the class a follower sent, on the
// leader; a deployed source is checked again here (the host compiles
// it), as the public API would, before anything is proposed.
func (n *Node) serveClass(w http.ResponseWriter, r *http.Request) {
	var req classRequest
	if err := readPeerBody(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !n.IsLeader() {
		writePeerAnswer(w, classReplyOf(0, false, ErrNotLeader))
		return
	}
	if req.Delete {
		found, err := n.DeleteClass(r.Context(), req.Name)
		writePeerAnswer(w, classReplyOf(0, found, err))
		return
	}
	check := n.classCheck.Load()
	if check == nil {
		writePeerAnswer(w, classReplyOf(0, false, fmt.Errorf("%w: %w", ErrNotApplied, ErrNoClassCheck)))
		return
	}
	if err := (*check)(req.Name, req.Lang, req.Source); err != nil {
		writePeerAnswer(w, classReplyOf(0, false, fmt.Errorf("%w: %v", objects.ErrInvalid, err)))
		return
	}
	version, err := n.DeployClass(r.Context(), req.Name, req.Lang, req.Source)
	writePeerAnswer(w, classReplyOf(version, false, err))
}
