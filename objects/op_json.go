package objects

import (
	"bytes"
	"encoding/json"
)

// The JSON form of an Op is the HTTP API's, as the Go client (client/) and
// the CLI write and read it; the server parses it with its own types
// (api/transaction.go). An increment without "by" adds 1 there, as POST
// /<name>/increment does. So an Op decoded from JSON without "by" has By
// 1, and an increment encodes its By always, also 0, so that what a Go
// caller set is what the server applies. (In a Raft command, By 0 is
// omitted and means 0, as it always has.)

// opJSON is Op without its methods, for the default encoding.
type opJSON Op

// MarshalJSON writes "by" for every increment, 0 included.
func (o Op) MarshalJSON() ([]byte, error) {
	if o.Op != OpIncrement {
		return json.Marshal(opJSON(o))
	}
	return json.Marshal(struct {
		opJSON
		By int64 `json:"by"`
	}{opJSON(o), o.By})
}

// UnmarshalJSON reads an Op strictly (an unknown field is an error, as
// the API refuses it) and gives an increment without "by" By 1.
func (o *Op) UnmarshalJSON(b []byte) error {
	var v struct {
		opJSON
		By *int64 `json:"by"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		return err
	}
	*o = Op(v.opJSON)
	switch {
	case v.By != nil:
		o.By = *v.By
	case o.Op == OpIncrement:
		o.By = 1
	}
	return nil
}
