package fsm

import (
	"encoding/json"

	"github.com/dobj/dobj/objects"
)

// The Raft log's and the snapshots' own encoding of the domain's
// transactions (issue 19): objects.Txn and its results are the domain's
// values, these records are what the log and snapshots hold, converted
// here at the edge. Their msgpack names and field order are the ones
// every earlier build wrote (testdata/ pins them): a change is a new
// command or snapshot version, never an edit.

// txnRecord is objects.Txn in a log entry.
type txnRecord struct {
	Compare []compareRecord `msgpack:"compare,omitempty"`
	Success []opRecord      `msgpack:"success,omitempty"`
	Failure []opRecord      `msgpack:"failure,omitempty"`
}

// opRecord is objects.Op in a log entry. By 0 is omitted and means 0.
type opRecord struct {
	Op    string          `msgpack:"op"`
	Key   string          `msgpack:"key,omitempty"`
	Value json.RawMessage `msgpack:"value,omitempty"`
	By    int64           `msgpack:"by,omitempty"`
}

// compareRecord is objects.Compare in a log entry.
type compareRecord struct {
	Key   string          `msgpack:"key"`
	Op    string          `msgpack:"op"`
	Value json.RawMessage `msgpack:"value,omitempty"`
}

// txnResultRecord is objects.TxnResult in a snapshot's idempotency entry.
type txnResultRecord struct {
	Succeeded bool           `msgpack:"succeeded"`
	Results   []resultRecord `msgpack:"results"`
}

// resultRecord is objects.Result in a snapshot's idempotency entry.
type resultRecord struct {
	Op      string          `msgpack:"op"`
	Key     string          `msgpack:"key,omitempty"`
	Found   *bool           `msgpack:"found,omitempty"`
	Value   json.RawMessage `msgpack:"value,omitempty"`
	Deleted *bool           `msgpack:"deleted,omitempty"`
	Count   *int64          `msgpack:"count,omitempty"`
}

func txnRecordOf(t objects.Txn) txnRecord {
	r := txnRecord{Success: opRecordsOf(t.Success), Failure: opRecordsOf(t.Failure)}
	if t.Compare != nil {
		r.Compare = make([]compareRecord, len(t.Compare))
		for i, c := range t.Compare {
			r.Compare[i] = compareRecord(c)
		}
	}
	return r
}

func (r txnRecord) txn() objects.Txn {
	t := objects.Txn{Success: opsOf(r.Success), Failure: opsOf(r.Failure)}
	if r.Compare != nil {
		t.Compare = make([]objects.Compare, len(r.Compare))
		for i, c := range r.Compare {
			t.Compare[i] = objects.Compare(c)
		}
	}
	return t
}

// opRecordsOf and opsOf keep nil as nil, so that a decoded entry is the
// value that was encoded.
func opRecordsOf(ops []objects.Op) []opRecord {
	if ops == nil {
		return nil
	}
	out := make([]opRecord, len(ops))
	for i, op := range ops {
		out[i] = opRecord(op)
	}
	return out
}

func opsOf(rs []opRecord) []objects.Op {
	if rs == nil {
		return nil
	}
	out := make([]objects.Op, len(rs))
	for i, r := range rs {
		out[i] = objects.Op(r)
	}
	return out
}

func txnResultRecordOf(res objects.TxnResult) txnResultRecord {
	r := txnResultRecord{Succeeded: res.Succeeded}
	if res.Results != nil {
		r.Results = make([]resultRecord, len(res.Results))
		for i, x := range res.Results {
			r.Results[i] = resultRecord(x)
		}
	}
	return r
}

func (r txnResultRecord) result() objects.TxnResult {
	res := objects.TxnResult{Succeeded: r.Succeeded}
	if r.Results != nil {
		res.Results = make([]objects.Result, len(r.Results))
		for i, x := range r.Results {
			res.Results[i] = objects.Result(x)
		}
	}
	return res
}
