package api

import (
	"encoding/json"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

// getValue serves GET /<name>/storage/<key>: the stored JSON value itself.
func (s *Server) getValue(c echo.Context) error {
	name, err := s.objectName(c)
	if err != nil {
		return err
	}
	key, err := s.storageKey(c)
	if err != nil {
		return err
	}
	return s.readValue(c, name, key)
}

// readValue answers one key of object: the value, or 404.
func (s *Server) readValue(c echo.Context, object, key string) error {
	q, err := query(c)
	if err != nil {
		return err
	}
	linearizable, err := consistency(q)
	if err != nil {
		return err
	}
	var v json.RawMessage
	var found bool
	if err := s.read(c, linearizable, func(st *objects.Store) { v, found = st.Get(object, key) }); err != nil {
		return err
	}
	if !found {
		return errNotFound
	}
	return c.Blob(200, echo.MIMEApplicationJSON, v)
}

// putValue serves PUT /<name>/storage/<key>; the body is the JSON value.
func (s *Server) putValue(c echo.Context) error {
	name, err := s.objectName(c)
	if err != nil {
		return err
	}
	key, err := s.storageKey(c)
	if err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	v, err := s.value(body)
	if err != nil {
		return err
	}
	txn := objects.Txn{Success: []objects.Op{{Op: objects.OpPut, Key: key, Value: v}}}
	if _, err := s.propose(c, name, txn); err != nil {
		return err
	}
	return writeJSON(c, 200, map[string]bool{"ok": true})
}

// deleteValue serves DELETE /<name>/storage/<key>.
func (s *Server) deleteValue(c echo.Context) error {
	name, err := s.objectName(c)
	if err != nil {
		return err
	}
	key, err := s.storageKey(c)
	if err != nil {
		return err
	}
	txn := objects.Txn{Success: []objects.Op{{Op: objects.OpDelete, Key: key}}}
	res, err := s.propose(c, name, txn)
	if err != nil {
		return err
	}
	deleted := len(res.Results) > 0 && res.Results[0].Deleted != nil && *res.Results[0].Deleted
	return writeJSON(c, 200, map[string]bool{"deleted": deleted})
}

// deleteAll serves DELETE /<name>/storage: every key of the object.
func (s *Server) deleteAll(c echo.Context) error {
	name, err := s.objectName(c)
	if err != nil {
		return err
	}
	txn := objects.Txn{Success: []objects.Op{{Op: objects.OpDeleteAll}}}
	res, err := s.propose(c, name, txn)
	if err != nil {
		return err
	}
	var n int64
	if len(res.Results) > 0 && res.Results[0].Count != nil {
		n = *res.Results[0].Count
	}
	return writeJSON(c, 200, map[string]int64{"deleted": n})
}

// listResponse is a page of GET /<name>/storage (writeList streams it).
type listResponse struct {
	Entries []entryAnswer `json:"entries"`
	More    bool          `json:"more"`
}

// entryAnswer is one objects.Entry as the API answers it.
type entryAnswer struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// list serves GET /<name>/storage?prefix=&start=&startAfter=&end=&limit=&reverse=.
func (s *Server) list(c echo.Context) error {
	name, err := s.objectName(c)
	if err != nil {
		return err
	}
	return s.listEntries(c, name)
}

// listEntries answers a page of object's entries, with the list options
// of the query.
func (s *Server) listEntries(c echo.Context, name string) error {
	q, err := query(c)
	if err != nil {
		return err
	}
	linearizable, err := consistency(q)
	if err != nil {
		return err
	}
	o, err := s.listOptions(q)
	if err != nil {
		return err
	}
	var (
		entries []objects.Entry
		more    bool
		listErr error
	)
	if err := s.read(c, linearizable, func(st *objects.Store) {
		entries, more, listErr = st.List(name, o)
	}); err != nil {
		return err
	}
	if listErr != nil {
		return listErr
	}
	if n := s.fitAnswer(entries); n < len(entries) {
		entries, more = entries[:n], true
	}
	resp := listResponse{Entries: make([]entryAnswer, len(entries)), More: more}
	for i, e := range entries {
		resp.Entries[i] = entryAnswer(e)
	}
	return writeList(c, resp)
}

// listOptions parses the list parameters. A missing, zero or too large
// limit is MaxListLimit: the caller pages on with more.
func (s *Server) listOptions(q url.Values) (objects.ListOptions, error) {
	o := objects.ListOptions{
		Prefix:     q.Get("prefix"),
		Start:      q.Get("start"),
		StartAfter: q.Get("startAfter"),
		End:        q.Get("end"),
		Limit:      s.cfg.MaxListLimit,
	}
	for _, p := range []struct{ name, v string }{{"prefix", o.Prefix}, {"start", o.Start}, {"startAfter", o.StartAfter}, {"end", o.End}} {
		if len(p.v) > s.cfg.MaxKeyBytes {
			return o, badRequest("%s is longer than %d bytes", p.name, s.cfg.MaxKeyBytes)
		}
		if !utf8.ValidString(p.v) {
			return o, badRequest("%s is not valid UTF-8", p.name)
		}
	}
	if o.Start != "" && o.StartAfter != "" {
		return o, badRequest("start and startAfter cannot both be set")
	}
	if l, ok := q["limit"]; ok {
		n, err := strconv.Atoi(l[0])
		if err != nil || n < 0 {
			return o, badRequest("limit must be a non-negative integer")
		}
		if n > 0 && n < s.cfg.MaxListLimit {
			o.Limit = n
		}
	}
	if r, ok := q["reverse"]; ok && r[0] != "" {
		rev, err := strconv.ParseBool(r[0])
		if err != nil {
			return o, badRequest("reverse must be true or false")
		}
		o.Reverse = rev
	} else if ok {
		o.Reverse = true // a bare ?reverse
	}
	return o, nil
}

// fitAnswer is how many of entries fit in one answer of MaxAnswerBytes
// (at least one, which the value and key limits bound): the page stops
// there and the client pages on with more=true.
func (s *Server) fitAnswer(entries []objects.Entry) int {
	size := 0
	for i, e := range entries {
		size += len(e.Key) + len(e.Value) + 32 // 32: the JSON around them, escapes aside
		if size > s.limits.MaxAnswerBytes && i > 0 {
			return i
		}
	}
	return len(entries)
}
