package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"

	"github.com/dobj/dobj/objects"
	"github.com/google/btree"
	"github.com/vmihailenco/msgpack/v5"
)

// Object classes (issue 14): the class registry, calls' commands and the
// alarm index. Their commands carry their data in Command.Body (encoded
// here), so the envelope stays as it is. The kinds sit far from the
// built-in ones so that kinds other packages add with iota never collide.
const (
	// KindClassPut registers or replaces a class; its version is the
	// entry's index.
	KindClassPut Kind = 32 + iota
	// KindClassDelete removes a class; its objects' storage stays.
	KindClassDelete
	// KindCall commits one class call's (or alarm's) effects: storage ops
	// and an alarm change, atomically, with its response for the
	// idempotency table.
	KindCall
)

// ClassPrefix begins the FSM object name of every class object: a class
// object's storage lives at "_do/<Class>/<name>", which no built-in route
// can reach (their names may not start with '_').
const ClassPrefix = "_do/"

// ClassObject is the FSM object name that holds the storage of object
// name of class.
func ClassObject(class, name string) string { return ClassPrefix + class + "/" + name }

// SplitClassObject is ClassObject's inverse; ok is false for a name that
// is not a class object's.
func SplitClassObject(object string) (class, name string, ok bool) {
	if len(object) <= len(ClassPrefix) || object[:len(ClassPrefix)] != ClassPrefix {
		return "", "", false
	}
	rest := object[len(ClassPrefix):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i], rest[i+1:], true
		}
	}
	return "", "", false
}

// Class is one registered class.
type Class struct {
	Name    string `msgpack:"n"`
	Lang    string `msgpack:"l"`
	Source  []byte `msgpack:"s"`
	Version uint64 `msgpack:"v"` // the index of the entry that registered it
}

// ClassPut is KindClassPut's body.
type ClassPut struct {
	Name   string `msgpack:"n"`
	Lang   string `msgpack:"l"`
	Source []byte `msgpack:"s"`
}

// ClassDelete is KindClassDelete's body.
type ClassDelete struct {
	Name string `msgpack:"n"`
}

// ClassResponse is what applying KindClassPut or KindClassDelete returns.
type ClassResponse struct {
	Version uint64 // the class's version after the command (put)
	Found   bool   // delete: the class existed
}

// AlarmChange sets (At, unix ms) or deletes an object's alarm.
type AlarmChange struct {
	Delete bool  `msgpack:"d,omitempty"`
	At     int64 `msgpack:"a,omitempty"`
}

// CallResponse is a call's HTTP answer, remembered for Idempotency-Keys.
// Header is a list sorted by name (not a map), so that every replica
// writes the same bytes.
type CallResponse struct {
	Status int           `msgpack:"s"`
	Header []HeaderField `msgpack:"h,omitempty"`
	Body   []byte        `msgpack:"b,omitempty"`
}

// size is what r costs the idempotency table: its status, header lines
// and body, with a slice slot per line.
func (r *CallResponse) size() int {
	n := 8 + len(r.Body)
	for _, f := range r.Header {
		n += 32 + len(f.Name) + len(f.Value)
	}
	return n
}

// HeaderField is one response header line.
type HeaderField struct {
	Name  string `msgpack:"n"`
	Value string `msgpack:"v"`
}

// HeaderFields turns h into fields sorted by name (values in order).
func HeaderFields(h http.Header) []HeaderField {
	var out []HeaderField
	for _, k := range sortedHeader(h) {
		for _, v := range h[k] {
			out = append(out, HeaderField{Name: k, Value: v})
		}
	}
	return out
}

// HTTPHeader turns fields back into an http.Header.
func HTTPHeader(fields []HeaderField) http.Header {
	h := make(http.Header, len(fields))
	for _, f := range fields {
		h.Add(f.Name, f.Value)
	}
	return h
}

// Call is KindCall's body: the effects of one call of object
// Command.Object. Fired, when not 0, is the alarm time an alarm handler
// ran for: the object's alarm is cleared first if it is still that time,
// then Alarm applies (an alarm that set a new one keeps it). Threw, when
// not 0, is the alarm time whose handler threw: if the object's alarm is
// still that time, its Retries grows by one (such a command carries
// nothing else), so that the next leader goes on counting. Request is
// CallRequestHash of a keyed call's request (version 3): the key is tied
// to it, as a write's key is to its transaction. SQL, when not nil, is
// the writes of an SQLite-backed object (version 4, sql.go): applied
// first, all or nothing, and such a call carries no Ops. EncodeBody
// writes it as a callRecord.
type Call struct {
	Ops      []objects.Op
	Alarm    *AlarmChange
	Fired    int64
	Response *CallResponse
	Threw    int64
	Request  []byte
	SQL      *SQLWrites
}

// callRecord is Call in a log entry's Body.
type callRecord struct {
	Ops      []opRecord    `msgpack:"o,omitempty"`
	Alarm    *AlarmChange  `msgpack:"a,omitempty"`
	Fired    int64         `msgpack:"f,omitempty"`
	Response *CallResponse `msgpack:"r,omitempty"`
	Threw    int64         `msgpack:"t,omitempty"`
	Request  []byte        `msgpack:"q,omitempty"`
	SQL      *sqlRecord    `msgpack:"sql,omitempty"`
}

var (
	_ msgpack.CustomEncoder = (*Call)(nil)
	_ msgpack.CustomDecoder = (*Call)(nil)
)

// EncodeMsgpack writes c as its callRecord.
func (c *Call) EncodeMsgpack(enc *msgpack.Encoder) error {
	return enc.Encode(&callRecord{Ops: opRecordsOf(c.Ops), Alarm: c.Alarm, Fired: c.Fired,
		Response: c.Response, Threw: c.Threw, Request: c.Request, SQL: sqlRecordOf(c.SQL)})
}

// DecodeMsgpack reads a callRecord into c.
func (c *Call) DecodeMsgpack(dec *msgpack.Decoder) error {
	var r callRecord
	if err := dec.Decode(&r); err != nil {
		return err
	}
	sql, err := r.SQL.writes()
	if err != nil {
		return err
	}
	*c = Call{Ops: opsOf(r.Ops), Alarm: r.Alarm, Fired: r.Fired, Response: r.Response, Threw: r.Threw, Request: r.Request, SQL: sql}
	return nil
}

// CallRequestHash fingerprints a call of object for its Idempotency-Key:
// the method, the URL's path and query (not its host, which is whichever
// node the client reached) and the body, each length-prefixed; like
// requestHash, the first 16 bytes of a sha256.
func CallRequestHash(object, method, rawURL string, body []byte) []byte {
	path, query := rawURL, ""
	if u, err := url.Parse(rawURL); err == nil {
		path, query = u.EscapedPath(), u.RawQuery
	}
	return hashParts([]byte(object), []byte(method), []byte(path), []byte(query), body)
}

// rpcTag begins an RPC's request hash: no object's name (a fetch's
// first part) is "\x00rpc", so an RPC never hashes as a fetch does.
const rpcTag = "\x00rpc"

// RPCRequestHash fingerprints an RPC of object for its Idempotency-Key,
// as CallRequestHash does a fetch: the method's name and the JSON array
// of its arguments (none, empty, is "[]"), after a tag that sets it
// apart from every fetch's hash. The call's Request holds it; Apply
// compares it as bytes, whichever of the two it is.
func RPCRequestHash(object, method string, args []byte) []byte {
	if len(args) == 0 {
		args = []byte("[]")
	}
	return hashParts([]byte(rpcTag), []byte(object), []byte(method), args)
}

// hashParts is the first 16 bytes of the sha256 of parts, each
// length-prefixed.
func hashParts(parts ...[]byte) []byte {
	h := sha256.New()
	var n [8]byte
	for _, part := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum(nil)[:16]
}

// CallResult is what applying KindCall returns.
type CallResult struct {
	// Response is the call's answer: for a replayed Idempotency-Key the
	// first call's, and the command's own effects were not applied.
	Response *CallResponse
	Index    uint64
	Replayed bool
	// Err is a domain failure of the ops (objects.ErrInvalid,
	// *objects.ConflictError), or, for a version 3 keyed call,
	// ErrIdempotencyMismatch or ErrIdempotencyFull; nothing was changed.
	Err error
}

// EncodeBody encodes a kind's body (ClassPut, ClassDelete, Call).
func EncodeBody(v any) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode command body: %w", err)
	}
	return b, nil
}

func decodeBody(c *Command, index uint64, v any) {
	err := WellFormed(c.Body)
	if err == nil {
		err = msgpack.Unmarshal(c.Body, v)
	}
	if err != nil {
		panic(fmt.Sprintf("fsm: log entry %d: kind %d body: %v", index, c.Kind, err))
	}
}

// classState is the FSM's part for classes: the registry and the alarm
// index. Both are B-trees so that snapshots clone them in constant time.
type classState struct {
	classes *btree.BTreeG[*Class]
	// alarms is ordered by time, then object; alarmOf finds an object's.
	alarms  *btree.BTreeG[Alarm]
	alarmOf *btree.BTreeG[Alarm]
}

// Alarm is one object's pending alarm.
type Alarm struct {
	Object string `msgpack:"o"` // FSM object name
	At     int64  `msgpack:"a"` // unix ms
	// Retries counts the runs of this alarm's handler that threw; a new
	// alarm time starts again at 0. (Absent from snapshots of earlier
	// builds, which kept the count on the leader only.)
	Retries int `msgpack:"r,omitempty"`
}

func newClassState() *classState {
	return &classState{
		classes: btree.NewG(8, func(a, b *Class) bool { return a.Name < b.Name }),
		alarms: btree.NewG(32, func(a, b Alarm) bool {
			if a.At != b.At {
				return a.At < b.At
			}
			return a.Object < b.Object
		}),
		alarmOf: btree.NewG(32, func(a, b Alarm) bool { return a.Object < b.Object }),
	}
}

func (cs *classState) clone() *classState {
	return &classState{classes: cs.classes.Clone(), alarms: cs.alarms.Clone(), alarmOf: cs.alarmOf.Clone()}
}

func (cs *classState) setAlarm(object string, at int64) {
	cs.putAlarm(Alarm{Object: object, At: at})
}

func (cs *classState) putAlarm(a Alarm) {
	cs.deleteAlarm(a.Object)
	cs.alarms.ReplaceOrInsert(a)
	cs.alarmOf.ReplaceOrInsert(a)
}

// alarmThrew counts a failed run of object's alarm at, if that is still
// its alarm.
func (cs *classState) alarmThrew(object string, at int64) {
	if a, ok := cs.alarmOf.Get(Alarm{Object: object}); ok && a.At == at {
		a.Retries++
		cs.putAlarm(a)
	}
}

func (cs *classState) deleteAlarm(object string) {
	if old, ok := cs.alarmOf.Delete(Alarm{Object: object}); ok {
		cs.alarms.Delete(old)
	}
}

func (cs *classState) alarm(object string) (int64, bool) {
	a, ok := cs.alarmOf.Get(Alarm{Object: object})
	return a.At, ok
}

// applyClassCommand applies the kinds of this file; ok is false for
// another kind.
func (m *Machine) applyClassCommand(c *Command, index uint64) (resp interface{}, ok bool) {
	switch c.Kind {
	case KindClassPut:
		var p ClassPut
		decodeBody(c, index, &p)
		m.cls.classes.ReplaceOrInsert(&Class{Name: p.Name, Lang: p.Lang, Source: p.Source, Version: index})
		return &ClassResponse{Version: index}, true
	case KindClassDelete:
		var d ClassDelete
		decodeBody(c, index, &d)
		_, found := m.cls.classes.Delete(&Class{Name: d.Name})
		return &ClassResponse{Found: found}, true
	case KindCall:
		var call Call
		decodeBody(c, index, &call)
		return m.applyCall(c, &call, index), true
	}
	return nil, false
}

// applyCall applies a call's effects. A keyed call of version 3 (see
// Version) is tied to its request and bounded by the table, as a keyed
// write is; one of version 2 applies as version 2 builds applied it. A
// call whose SQL writes fail to re-run (sqlstore.ErrDiverged: a bug, the
// same on every replica) applies nothing else either — no alarm change,
// no remembered response — and its result carries the error, so the
// caller is told its call failed and a retry with the same key runs it
// again.
func (m *Machine) applyCall(c *Command, call *Call, index uint64) *CallResult {
	useIdem := c.IdemKey != "" && !m.opts.IgnoreIdempotency
	bounded := useIdem && c.V >= callVersion
	var key string
	if useIdem {
		key = idemKey(c.Object, c.IdemKey)
		if e, ok := m.idem.get(key, c.Time); ok {
			if bounded && !e.matches(call.Request) {
				return &CallResult{Err: ErrIdempotencyMismatch, Index: index}
			}
			return &CallResult{Response: e.Outcome.Call, Index: e.Outcome.Index, Replayed: true}
		}
		if bounded && m.idem.full() {
			return &CallResult{Err: ErrIdempotencyFull, Index: index}
		}
	}
	if call.SQL != nil {
		// First, and alone: a call with SQL writes carries no ops, so
		// nothing of it is left applied when the writes fail.
		if len(call.Ops) > 0 {
			return &CallResult{Err: ErrSQLCallInvalid, Index: index}
		}
		if err := m.applySQL(c, call.SQL, index); err != nil {
			return &CallResult{Err: err, Index: index}
		}
	}
	if len(call.Ops) > 0 {
		if _, err := m.store.Apply(c.Object, objects.Txn{Success: call.Ops}); err != nil {
			return &CallResult{Err: err, Index: index}
		}
	}
	if call.Fired != 0 {
		if at, ok := m.cls.alarm(c.Object); ok && at == call.Fired {
			m.cls.deleteAlarm(c.Object)
		}
	}
	if call.Threw != 0 {
		m.cls.alarmThrew(c.Object, call.Threw)
	}
	if a := call.Alarm; a != nil {
		if a.Delete {
			m.cls.deleteAlarm(c.Object)
		} else {
			m.cls.setAlarm(c.Object, a.At)
		}
	}
	if useIdem && call.Response != nil {
		e := &idemEntry{Key: key, Expires: c.IdemExpires, Outcome: outcome{Call: call.Response, Index: index}}
		if bounded {
			// The leader sets Request on every keyed call; the Hash
			// also makes the entry's size count the response.
			e.Hash = call.Request
		}
		m.idem.put(e)
	}
	return &CallResult{Response: call.Response, Index: index}
}

// Class returns the registered class name.
func (m *Machine) Class(name string) (Class, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.cls.classes.Get(&Class{Name: name})
	if !ok {
		return Class{}, false
	}
	return *c, true
}

// Classes returns every registered class, by name, without sources.
func (m *Machine) Classes() []Class {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Class, 0, m.cls.classes.Len())
	m.cls.classes.Ascend(func(c *Class) bool {
		out = append(out, Class{Name: c.Name, Lang: c.Lang, Version: c.Version})
		return true
	})
	return out
}

// AlarmOf returns object's pending alarm time (unix ms).
func (m *Machine) AlarmOf(object string) (int64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cls.alarm(object)
}

// DueAlarms returns up to limit alarms due at or before now (unix ms),
// earliest first, and the time of the earliest alarm not yet due (0 when
// none).
func (m *Machine) DueAlarms(now int64, limit int) (due []Alarm, next int64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	m.cls.alarms.Ascend(func(a Alarm) bool {
		if a.At > now {
			next = a.At
			return false
		}
		if len(due) == limit {
			return false
		}
		due = append(due, a)
		return true
	})
	return due, next
}

// CheckCall is the leader's check of a call to object with
// Idempotency-Key key, before it runs the call, as of its time now (unix
// ns); request is the call's CallRequestHash. It returns the remembered
// answer (Replayed) of a retry, nil for a call to run, or the error
// Apply would give its command without running it: ErrIdempotencyMismatch
// when the key was used for another request, ErrIdempotencyFull when
// the table is full (the call's answer, up to a response's limit, would
// grow it past its bound).
func (m *Machine) CheckCall(object, key string, request []byte, now int64) (*CallResult, error) {
	if m.opts.IgnoreIdempotency {
		return nil, nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, ok := m.idem.get(idemKey(object, key), now); ok {
		if !e.matches(request) {
			return nil, ErrIdempotencyMismatch
		}
		if e.Outcome.Call != nil {
			return &CallResult{Response: e.Outcome.Call, Index: e.Outcome.Index, Replayed: true}, nil
		}
		return nil, nil
	}
	if m.idem.full() {
		return nil, ErrIdempotencyFull
	}
	return nil, nil
}

// classRecords is what a snapshot holds of classState, in sorted order.
type classRecords struct {
	classes []*Class
	alarms  []Alarm // by object
}

func (cs *classState) records() classRecords {
	var r classRecords
	cs.classes.Ascend(func(c *Class) bool { r.classes = append(r.classes, c); return true })
	cs.alarmOf.Ascend(func(a Alarm) bool { r.alarms = append(r.alarms, a); return true })
	return r
}

func (cs *classState) load(r classRecords) {
	for _, c := range r.classes {
		cs.classes.ReplaceOrInsert(c)
	}
	for _, a := range r.alarms {
		cs.putAlarm(a)
	}
}

// sortedHeader returns h's keys sorted, for a deterministic digest.
func sortedHeader(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// write appends the class records to a snapshot: classes by name, then
// alarms by object.
func (cs *classState) write(enc *msgpack.Encoder) error {
	r := cs.records()
	for _, c := range r.classes {
		if err := enc.Encode(c); err != nil {
			return fmt.Errorf("write class %s: %w", c.Name, err)
		}
	}
	for i := range r.alarms {
		if err := enc.Encode(&r.alarms[i]); err != nil {
			return fmt.Errorf("write alarm of %s: %w", r.alarms[i].Object, err)
		}
	}
	return nil
}

// read loads classes and alarms records written by write.
func (cs *classState) read(dec *msgpack.Decoder, classes, alarms int) error {
	var r classRecords
	for i := 0; i < classes; i++ {
		var c Class
		if err := DecodeWhole(dec, &c); err != nil {
			return fmt.Errorf("read class %d: %w", i, err)
		}
		r.classes = append(r.classes, &c)
	}
	for i := 0; i < alarms; i++ {
		var a Alarm
		if err := DecodeWhole(dec, &a); err != nil {
			return fmt.Errorf("read alarm %d: %w", i, err)
		}
		r.alarms = append(r.alarms, a)
	}
	cs.load(r)
	return nil
}

// writeClasses hashes the class registry, the alarms and the calls'
// remembered responses, in sorted order, for Digest.
func (s *snapshot) writeClasses(w io.Writer) {
	var n [8]byte
	num := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		w.Write(n[:])
	}
	bytes := func(b []byte) {
		num(uint64(len(b)))
		w.Write(b)
	}
	r := s.cls.records()
	for _, c := range r.classes {
		bytes([]byte(c.Name))
		bytes([]byte(c.Lang))
		bytes(c.Source)
		num(c.Version)
	}
	for _, a := range r.alarms {
		bytes([]byte(a.Object))
		num(uint64(a.At))
		if a.Retries > 0 { // absent from earlier builds' alarms
			num(uint64(a.Retries))
		}
	}
	s.idem.byKey.Ascend(func(e *idemEntry) bool {
		if c := e.Outcome.Call; c != nil {
			num(uint64(c.Status))
			for _, f := range c.Header {
				bytes([]byte(f.Name))
				bytes([]byte(f.Value))
			}
			bytes(c.Body)
		}
		return true
	})
}
