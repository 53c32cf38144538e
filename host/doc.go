// Package host hosts durable objects on a Raft node: the live instances
// of deployed classes (run by package classes), class calls and their
// forwarding from followers, alarms, WebSockets and their relay through
// followers.
//
// An object lives on the leader. Every run of an object's code there —
// a call, a socket's message or close, an alarm — takes the one path in
// call.go: leadership, the read barrier, the class's program for the
// current term, the object's state, the run, its commit, with one
// timeout. A follower forwards calls on its forwarding stream (the node
// carries them as opaque frames) or, to a leader that speaks only
// stream /1, as requests of their own on the peer service; it relays
// WebSockets to the leader's peer service.
//
// A deployed script's classes are hosted the same way under class keys
// of their own (scripts.go), called by fetch or by RPC (rpc.go); its
// Worker runs on the node that received the request (worker.go), and its
// stubs call objects through Call and RPC, with the name an id was made
// from, which the leader checks before the object sees it. A WebSocket
// the Worker answers with is an object's, served as a class socket, or
// its own, served on that node (worker_socket.go).
//
// The host uses its node only through the Raft interface (raft.go), so
// the node (package cluster) knows nothing of classes: the host follows
// leadership by subscribing to it and serves its routes on the node's
// peer service. api takes a *Host; cmd/dobj builds it.
package host
