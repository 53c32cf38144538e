package apitypes

import "encoding/json"

// SQLQuery is the body of POST /_scripts/<script>/objects/<Class>/<name>/sql:
// one read-only statement of an SQLite-backed object, with its bindings.
// A binding is a JSON number (an integer when it has no fraction or
// exponent), a string, null, true or false (1 and 0, as SQLite keeps
// them), or SQLBlob's object for a BLOB.
type SQLQuery struct {
	// Object is the object's FSM name, for POST /_sql/query only.
	Object string            `json:"object,omitempty"`
	Query  string            `json:"query"`
	Params []json.RawMessage `json:"params,omitempty"`
	// Limit bounds the rows returned (0: the node's bound, 1000).
	Limit int `json:"limit,omitempty"`
}

// SQLResult is the answer to an SQLQuery. Each value is a JSON number
// (integers exact), a string, null, or SQLBlob's object. More says the
// statement had rows past the limit.
type SQLResult struct {
	Columns  []string            `json:"columns"`
	Rows     [][]json.RawMessage `json:"rows"`
	RowsRead int64               `json:"rowsRead"`
	More     bool                `json:"more"`
}

// SQLBlob is a BLOB in an SQLQuery's bindings or an SQLResult's rows:
// {"blob":"<base64>"}.
type SQLBlob struct {
	Blob []byte `json:"blob"`
}
