package api

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

// The HTTP JSON of a transaction is the api's own (txnRequest,
// txnAnswer), converted here to and from objects' domain values.

// txnRequest is the body of POST /<name>/transaction, parsed into an
// objects.Txn by parseTxn; values and "by" are kept raw so they can be
// checked and canonicalized here.
type txnRequest struct {
	Compare []compareRequest `json:"compare"`
	Success []opRequest      `json:"success"`
	Failure []opRequest      `json:"failure"`
}

type compareRequest struct {
	Key   string          `json:"key"`
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value"`
}

type opRequest struct {
	Op    string          `json:"op"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	By    json.RawMessage `json:"by"`
}

// txnAnswer is the answer to POST /<name>/transaction: objects.TxnResult
// as the API writes it (writeTxnResult streams it).
type txnAnswer struct {
	Succeeded bool           `json:"succeeded"`
	Results   []resultAnswer `json:"results"`
}

// resultAnswer is one op's outcome in a txnAnswer.
type resultAnswer struct {
	Op      string          `json:"op"`
	Key     string          `json:"key,omitempty"`
	Found   *bool           `json:"found,omitempty"`   // get
	Value   json.RawMessage `json:"value,omitempty"`   // get (when found), increment
	Deleted *bool           `json:"deleted,omitempty"` // delete
	Count   *int64          `json:"count,omitempty"`   // delete_all
}

// txnAnswerOf is res as the API answers it: results always a list.
func txnAnswerOf(res objects.TxnResult) txnAnswer {
	a := txnAnswer{Succeeded: res.Succeeded, Results: make([]resultAnswer, len(res.Results))}
	for i, r := range res.Results {
		a.Results[i] = resultAnswer(r)
	}
	return a
}

// transaction serves POST /<name>/transaction: one atomic command.
func (s *Server) transaction(c echo.Context) error {
	name, err := s.objectName(c)
	if err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	txn, err := s.parseTxn(body)
	if err != nil {
		return err
	}
	res, err := s.propose(c, name, txn)
	if err != nil {
		return err
	}
	return writeTxnResult(c, txnAnswerOf(res))
}

// parseTxn decodes and validates a transaction body strictly (unknown
// fields are an error) and canonicalizes its values.
func (s *Server) parseTxn(body []byte) (objects.Txn, error) {
	var req txnRequest
	if err := decodeStrict(body, &req); err != nil {
		return objects.Txn{}, err
	}
	var t objects.Txn
	for i, cr := range req.Compare {
		cmp, err := s.parseCompare(cr)
		if err != nil {
			return objects.Txn{}, wrapAt(err, "compare", i)
		}
		t.Compare = append(t.Compare, cmp)
	}
	for _, list := range []struct {
		name string
		in   []opRequest
		out  *[]objects.Op
	}{{"success", req.Success, &t.Success}, {"failure", req.Failure, &t.Failure}} {
		for i, or := range list.in {
			op, err := s.parseOp(or)
			if err != nil {
				return objects.Txn{}, wrapAt(err, list.name, i)
			}
			*list.out = append(*list.out, op)
		}
	}
	return t, nil
}

// wrapAt prefixes a validation error's detail with where it is.
func wrapAt(err error, list string, i int) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return &apiError{ae.status, fmt.Sprintf("%s[%d]: %s", list, i, ae.detail)}
	}
	return err
}

func (s *Server) parseCompare(cr compareRequest) (objects.Compare, error) {
	cmp := objects.Compare{Key: cr.Key, Op: cr.Op}
	switch cr.Op {
	case objects.CmpEqual, objects.CmpNotEqual:
		if len(cr.Value) == 0 {
			return cmp, badRequest("%s needs a value", cr.Op)
		}
		v, err := s.value(cr.Value)
		if err != nil {
			return cmp, err
		}
		cmp.Value = v
	case objects.CmpExists, objects.CmpMissing:
	default:
		return cmp, badRequest("unknown compare op %q", cr.Op)
	}
	return cmp, s.checkKey(cr.Key)
}

func (s *Server) parseOp(or opRequest) (objects.Op, error) {
	op := objects.Op{Op: or.Op, Key: or.Key}
	switch or.Op {
	case objects.OpGet, objects.OpDelete:
	case objects.OpPut:
		if len(or.Value) == 0 {
			return op, badRequest("put needs a value")
		}
		v, err := s.value(or.Value)
		if err != nil {
			return op, err
		}
		op.Value = v
	case objects.OpIncrement:
		// A missing "by" adds 1, as POST /<name>/increment does. The
		// default is set here, at the edge: in a command, By 0 (which
		// the log's opRecord omits) has always meant 0, and old log
		// entries must keep their meaning.
		op.By = 1
		if len(or.By) > 0 {
			by, ok := parseInt64(string(or.By))
			if !ok {
				return op, badRequest("by must be an int64")
			}
			op.By = by
		}
	case objects.OpDeleteAll:
		op.Key = "" // the whole object
		return op, nil
	default:
		return op, badRequest("unknown op %q", or.Op)
	}
	return op, s.checkKey(or.Key)
}
