package watch

import (
	"encoding/json"
	"strings"
	"sync"

	"github.com/dobj/dobj/objects"
)

// Event is what one log entry did to one object: the event a watcher of
// that object receives, with the entry's Raft index as its id.
type Event struct {
	Index   uint64           `json:"index"`
	Object  string           `json:"object"`
	Changes []objects.Change `json:"changes"`

	// data is the event's JSON, encoded once for every watcher by the
	// first that needs it, off the FSM's goroutine.
	once sync.Once
	data []byte
}

// eventOverhead approximates what an Event costs in memory besides its
// JSON: the struct, the slice of changes and the history slot.
const eventOverhead = 128

func newEvent(index uint64, object string, changes []objects.Change) *Event {
	return &Event{Index: index, Object: object, Changes: changes}
}

// json is the whole event's JSON.
func (e *Event) json() []byte {
	e.once.Do(func() { e.data = e.encode(e.Changes) })
	return e.data
}

func (e *Event) encode(changes []objects.Change) []byte {
	b, err := json.Marshal(struct {
		Index   uint64           `json:"index"`
		Object  string           `json:"object"`
		Changes []objects.Change `json:"changes"`
	}{e.Index, e.Object, changes})
	if err != nil {
		// Values are JSON the api validated; keys are strings.
		panic("watch: encode event: " + err.Error())
	}
	return b
}

// size is what the Event holds in memory, for the history's byte bound:
// its changes twice over (once as JSON, once they are encoded).
func (e *Event) size() int64 {
	n := 2*len(e.Object) + eventOverhead
	for _, c := range e.Changes {
		n += 2*(len(c.Key)+len(c.Value)) + 64
	}
	return int64(n)
}

// Data is the event's JSON for a watcher of keys with prefix: nil when
// no change has the prefix.
func (e *Event) Data(prefix string) []byte {
	if prefix == "" {
		return e.json()
	}
	var kept []objects.Change
	for _, c := range e.Changes {
		if strings.HasPrefix(c.Key, prefix) {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	if len(kept) == len(e.Changes) {
		return e.json()
	}
	return e.encode(kept)
}
