package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/labstack/echo/v4"
)

// The two answers that can be large — a transaction's results and a list
// page, up to MaxAnswerBytes — are written as they are encoded, values
// straight from the store's memory, rather than built whole first: a node
// serving MaxInFlight of them at once then holds no copy of each answer.
// The bytes are those writeJSON would write (values are canonical JSON
// already).

// answerWriter writes JSON pieces to a response through a small buffer.
type answerWriter struct {
	w   *bufio.Writer
	tmp bytes.Buffer
	enc *json.Encoder
	err error
}

func newAnswerWriter(c echo.Context) *answerWriter {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(200)
	a := &answerWriter{w: bufio.NewWriterSize(c.Response(), 32<<10)}
	a.enc = json.NewEncoder(&a.tmp)
	a.enc.SetEscapeHTML(false)
	return a
}

func (a *answerWriter) raw(b []byte) {
	if a.err == nil {
		_, a.err = a.w.Write(b)
	}
}

func (a *answerWriter) str(s string) { a.raw([]byte(s)) }

// value writes v as writeJSON would (compact, no HTML escaping).
func (a *answerWriter) value(v any) {
	a.tmp.Reset()
	if err := a.enc.Encode(v); err != nil {
		a.err = err
		return
	}
	a.raw(bytes.TrimSuffix(a.tmp.Bytes(), []byte("\n")))
}

func (a *answerWriter) end() error {
	a.str("\n")
	if a.err == nil {
		a.err = a.w.Flush()
	}
	return a.err
}

// writeTxnResult writes res as writeJSON(c, 200, res) would.
func writeTxnResult(c echo.Context, res txnAnswer) error {
	a := newAnswerWriter(c)
	a.str(`{"succeeded":` + strconv.FormatBool(res.Succeeded) + `,"results":[`)
	for i, r := range res.Results {
		if i > 0 {
			a.str(",")
		}
		a.str(`{"op":`)
		a.value(r.Op)
		if r.Key != "" {
			a.str(`,"key":`)
			a.value(r.Key)
		}
		if r.Found != nil {
			a.str(`,"found":` + strconv.FormatBool(*r.Found))
		}
		if len(r.Value) > 0 {
			a.str(`,"value":`)
			a.raw(r.Value)
		}
		if r.Deleted != nil {
			a.str(`,"deleted":` + strconv.FormatBool(*r.Deleted))
		}
		if r.Count != nil {
			a.str(`,"count":` + strconv.FormatInt(*r.Count, 10))
		}
		a.str("}")
	}
	a.str("]}")
	return a.end()
}

// writeList writes a list page as writeJSON(c, 200, resp) would.
func writeList(c echo.Context, resp listResponse) error {
	a := newAnswerWriter(c)
	a.str(`{"entries":[`)
	for i, e := range resp.Entries {
		if i > 0 {
			a.str(",")
		}
		a.str(`{"key":`)
		a.value(e.Key)
		a.str(`,"value":`)
		if len(e.Value) == 0 {
			a.str("null")
		} else {
			a.raw(e.Value)
		}
		a.str("}")
	}
	a.str(`],"more":` + strconv.FormatBool(resp.More) + "}")
	return a.end()
}
