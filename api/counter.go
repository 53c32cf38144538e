package api

import (
	"math"
	"net/url"

	"github.com/dobj/dobj/objects"
	"github.com/labstack/echo/v4"
)

// counterKey is the key a counter lives at: ?key=K, or "value".
const counterKey = "value"

type counterResponse struct {
	Name  string `json:"name"`
	Key   string `json:"key,omitempty"`
	Value int64  `json:"value"`
}

// counterTarget reads the object name and ?key of a counter request.
// given tells whether ?key was in the request (the response then names it).
func (s *Server) counterTarget(c echo.Context) (name, key string, given bool, q url.Values, err error) {
	if name, err = s.objectName(c); err != nil {
		return
	}
	if q, err = query(c); err != nil {
		return
	}
	key, given = counterKey, q.Has("key")
	if given {
		key = q.Get("key")
		err = s.checkKey(key)
	}
	return
}

func (s *Server) increment(c echo.Context) error { return s.addToCounter(c, false) }
func (s *Server) decrement(c echo.Context) error { return s.addToCounter(c, true) }

// addToCounter serves POST /<name>/increment and /decrement?by=N&key=K.
func (s *Server) addToCounter(c echo.Context, negate bool) error {
	name, key, given, q, err := s.counterTarget(c)
	if err != nil {
		return err
	}
	by := int64(1)
	if q.Has("by") {
		var ok bool
		if by, ok = parseInt64(q.Get("by")); !ok {
			return badRequest("by must be a base-10 int64")
		}
	}
	ops := []objects.Op{{Op: objects.OpIncrement, Key: key, By: by}}
	if negate {
		if by == math.MinInt64 {
			// -MinInt64 does not fit an int64: add MaxInt64 and then 1
			// in one atomic txn, which overflows exactly when adding
			// 2^63 does.
			ops = []objects.Op{
				{Op: objects.OpIncrement, Key: key, By: math.MaxInt64},
				{Op: objects.OpIncrement, Key: key, By: 1},
			}
		} else {
			ops[0].By = -by
		}
	}
	res, err := s.propose(c, name, objects.Txn{Success: ops})
	if err != nil {
		return err
	}
	if len(res.Results) == 0 {
		return errInternal
	}
	v, ok := parseInt64(string(res.Results[len(res.Results)-1].Value))
	if !ok {
		return errInternal
	}
	return s.counter(c, name, key, given, v)
}

// readCounter serves GET /<name>?key=K&consistency=.
func (s *Server) readCounter(c echo.Context) error {
	name, key, given, q, err := s.counterTarget(c)
	if err != nil {
		return err
	}
	linearizable, err := consistency(q)
	if err != nil {
		return err
	}
	var v int64
	var counterErr error
	if err := s.read(c, linearizable, func(st *objects.Store) { v, counterErr = st.Counter(name, key) }); err != nil {
		return err
	}
	if counterErr != nil {
		return counterErr
	}
	return s.counter(c, name, key, given, v)
}

func (s *Server) counter(c echo.Context, name, key string, given bool, v int64) error {
	r := counterResponse{Name: name, Value: v}
	if given {
		r.Key = key
	}
	return writeJSON(c, 200, r)
}
