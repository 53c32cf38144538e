// Package watch fans the object changes the FSM applies out to watchers
// (GET /<name>/watch). The Hub is the FSM's Observer: it keeps a bounded
// history of recent changes, by count and by bytes, so that a watcher who
// lost its connection resumes exactly after the last index it saw, and
// hands each change to the watchers of its object through bounded
// buffers. Publishing never blocks the FSM: a watcher whose buffer is full
// is cut off with ErrSlow and resumes from the history. A snapshot restore
// empties the history (the changes it skipped were never seen here), so a
// resume from before it is ErrGone. It imports objects and fsm for their
// types only; api serves the streams.
package watch
