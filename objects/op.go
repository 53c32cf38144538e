package objects

import "encoding/json"

// Op names. A transaction's success and failure lists hold these.
const (
	OpGet       = "get"        // read Key; Result.Found and Result.Value
	OpPut       = "put"        // set Key to Value
	OpDelete    = "delete"     // remove Key; Result.Deleted tells whether it was there
	OpDeleteAll = "delete_all" // remove every key of the object; Result.Count is how many
	OpIncrement = "increment"  // add By to the int64 at Key (absent = 0); Result.Value is the new value
)

// Compare op names.
const (
	CmpEqual    = "equal"     // Key exists and its value equals Value (byte-equal canonical JSON)
	CmpNotEqual = "not_equal" // Key is absent, or its value differs from Value
	CmpExists   = "exists"    // Key exists
	CmpMissing  = "missing"   // Key is absent
)

// Op is one operation of a transaction. Values are canonical compact JSON
// (the api canonicalizes them before they reach a command), so equality is
// byte equality.
type Op struct {
	Op    string          `json:"op"`
	Key   string          `json:"key,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	By    int64           `json:"by,omitempty"`
}

// Compare is one condition of a transaction.
type Compare struct {
	Key   string          `json:"key"`
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Txn is an atomic compare-then-ops on one object: when every Compare holds,
// Success is applied, otherwise Failure. Either list is applied whole or not
// at all. Every write to an object (counter, put, delete) is a Txn.
type Txn struct {
	Compare []Compare `json:"compare,omitempty"`
	Success []Op      `json:"success,omitempty"`
	Failure []Op      `json:"failure,omitempty"`
}

// Result is the outcome of one Op, in the order of the ops applied.
type Result struct {
	Op      string          `json:"op"`
	Key     string          `json:"key,omitempty"`
	Found   *bool           `json:"found,omitempty"`   // get
	Value   json.RawMessage `json:"value,omitempty"`   // get (when found), increment
	Deleted *bool           `json:"deleted,omitempty"` // delete
	Count   *int64          `json:"count,omitempty"`   // delete_all
}

// TxnResult is the outcome of a Txn.
type TxnResult struct {
	Succeeded bool     `json:"succeeded"`
	Results   []Result `json:"results"`
}

// Entry is one key and its value, as List returns them.
type Entry struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// ListOptions are Durable Objects' list() options. Start is inclusive,
// StartAfter exclusive (at most one of the two), End exclusive; Prefix
// filters; Limit 0 means no limit; Reverse walks from the end.
type ListOptions struct {
	Prefix     string
	Start      string
	StartAfter string
	End        string
	Limit      int
	Reverse    bool
}
