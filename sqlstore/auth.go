package sqlstore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// ErrRefused marks a statement refused by Cloudflare's restrictions
// (ATTACH, transaction statements, a PRAGMA off the allow-list, the
// reserved _cf_ tables, temporary objects). Nothing of it ran.
var ErrRefused = errors.New("not allowed")

// ErrLimit marks a statement over one of Limits' bounds; the error names
// the limit. A write past the database size limit wraps it too.
var ErrLimit = errors.New("limit exceeded")

// allowedPragmas are the PRAGMAs a statement may use: Cloudflare's
// introspection set, and the two foreign-key switches whose effect ends
// with the call's transaction. PRAGMAs that change the connection for
// later calls (case_sensitive_like, recursive_triggers, …) are left out:
// a connection is not replicated, so their effect would differ between
// replicas and between a handle and the next one opened.
var allowedPragmas = map[string]bool{
	"table_list": true, "table_info": true, "table_xinfo": true,
	"index_list": true, "index_info": true, "index_xinfo": true,
	"foreign_key_list": true, "foreign_key_check": true,
	"foreign_keys": true, "defer_foreign_keys": true,
	"quick_check": true, "integrity_check": true,
}

// authorize is the connection's SQLite authorizer: it decides, while a
// statement is compiled, what it may touch. Store-internal statements
// pass; for the rest a refusal is remembered so the error can say why.
func (h *handle) authorize(action sqlite3.AuthorizerActionCode, name3, name4, schema, _ string) sqlite3.AuthorizerReturnCode {
	if h.internal {
		return sqlite3.AUTH_OK
	}
	why := refusal(action, name3, name4, schema)
	if why == "" {
		return sqlite3.AUTH_OK
	}
	if h.refused == "" {
		h.refused = why
	}
	return sqlite3.AUTH_DENY
}

// refusal says why a statement may not do action, or "" if it may.
func refusal(action sqlite3.AuthorizerActionCode, name3, name4, schema string) string {
	switch action {
	case sqlite3.AUTH_ATTACH, sqlite3.AUTH_DETACH:
		return "ATTACH and DETACH are not allowed: an object has exactly one database"
	case sqlite3.AUTH_TRANSACTION:
		return fmt.Sprintf("%s statements are not allowed: a call is one transaction; use transactionSync() to group statements", strings.ToUpper(name3))
	case sqlite3.AUTH_SAVEPOINT:
		return "SAVEPOINT, RELEASE and ROLLBACK TO statements are not allowed: use transactionSync() to group statements"
	case sqlite3.AUTH_PRAGMA:
		if !allowedPragmas[strings.ToLower(name3)] {
			return fmt.Sprintf("PRAGMA %s is not allowed (allowed: table_info, table_list, index_list, index_info, foreign_keys and the like)", name3)
		}
		return ""
	case sqlite3.AUTH_CREATE_TEMP_INDEX, sqlite3.AUTH_CREATE_TEMP_TABLE, sqlite3.AUTH_CREATE_TEMP_TRIGGER,
		sqlite3.AUTH_CREATE_TEMP_VIEW:
		return "temporary tables, views, triggers and indexes are not allowed: they live in one connection and would not be replicated"
	}
	if schema == "temp" && action != sqlite3.AUTH_READ {
		return "the temp schema is not allowed: it lives in one connection and would not be replicated"
	}
	if touchesReserved(action, name3, name4) {
		return "access to tables named _cf_* is not allowed: they hold the object's key-value storage; use ctx.storage.kv"
	}
	return ""
}

// touchesReserved reports whether action names a _cf_ table or index.
func touchesReserved(action sqlite3.AuthorizerActionCode, name3, name4 string) bool {
	switch action {
	case sqlite3.AUTH_READ, sqlite3.AUTH_UPDATE, sqlite3.AUTH_INSERT, sqlite3.AUTH_DELETE,
		sqlite3.AUTH_CREATE_TABLE, sqlite3.AUTH_DROP_TABLE, sqlite3.AUTH_CREATE_VIEW,
		sqlite3.AUTH_ANALYZE, sqlite3.AUTH_REINDEX, sqlite3.AUTH_CREATE_VTABLE, sqlite3.AUTH_DROP_VTABLE:
		return reserved(name3)
	case sqlite3.AUTH_CREATE_INDEX, sqlite3.AUTH_DROP_INDEX, sqlite3.AUTH_CREATE_TRIGGER,
		sqlite3.AUTH_DROP_TRIGGER:
		return reserved(name3) || reserved(name4)
	case sqlite3.AUTH_ALTER_TABLE:
		return reserved(name4)
	}
	return false
}

// reserved reports whether name is in the store's _cf_ namespace.
func reserved(name string) bool {
	return len(name) >= 4 && strings.EqualFold(name[:4], "_cf_")
}

// Error is an error SQLite reported for a statement: Code is SQLite's
// primary result code (SQLITE_CONSTRAINT…), Msg its message. A statement
// refused by the authorizer or over a limit wraps ErrRefused or ErrLimit.
type Error struct {
	Code sqlite3.ErrorCode
	Msg  string
	kind error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Msg, codeName(e.Code))
}

// Unwrap gives ErrRefused or ErrLimit where the error is one of those.
func (e *Error) Unwrap() error { return e.kind }

// codeName is SQLite's name for a primary result code, as Cloudflare
// prints it after the message.
func codeName(c sqlite3.ErrorCode) string {
	names := map[sqlite3.ErrorCode]string{
		sqlite3.ERROR: "SQLITE_ERROR", sqlite3.AUTH: "SQLITE_AUTH", sqlite3.CONSTRAINT: "SQLITE_CONSTRAINT",
		sqlite3.TOOBIG: "SQLITE_TOOBIG", sqlite3.FULL: "SQLITE_FULL", sqlite3.MISMATCH: "SQLITE_MISMATCH",
		sqlite3.RANGE: "SQLITE_RANGE", sqlite3.READONLY: "SQLITE_READONLY", sqlite3.BUSY: "SQLITE_BUSY",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return fmt.Sprintf("SQLITE_%d", int(c))
}

// explain turns an error of the connection into an *Error that says what
// went wrong in the terms of the restriction or limit that caused it.
func (h *handle) explain(err error) error {
	e := asError(err)
	if e == nil {
		return err
	}
	switch {
	case e.Code == sqlite3.AUTH && h.refused != "":
		e.Msg, e.kind = h.refused, ErrRefused
	case e.Code == sqlite3.FULL && h.sizeLimit > 0:
		e.Msg = fmt.Sprintf("database size limit of %d bytes reached: writes are refused, reads go on (%s)", h.sizeLimit, e.Msg)
		e.kind = ErrLimit
	case e.Code == sqlite3.TOOBIG:
		e.Msg, e.kind = e.Msg+" (a string, BLOB or row is limited in size)", ErrLimit
	case strings.Contains(e.Msg, "too many SQL variables"),
		strings.Contains(e.Msg, "too many columns"),
		strings.Contains(e.Msg, "statement too long"),
		strings.Contains(e.Msg, "too many arguments on function"),
		strings.Contains(e.Msg, "LIKE or GLOB pattern too complex"):
		e.kind = ErrLimit
	}
	return e
}

// asError is err as an *Error with SQLite's own message (the driver
// prefixes the code's description, or gives only the code where the
// message is the code's own), or nil if err is not SQLite's.
func asError(err error) *Error {
	var se *sqlite3.Error
	var code sqlite3.ErrorCode
	var xcode sqlite3.ExtendedErrorCode
	msg := err.Error()
	switch {
	case errors.As(err, &se):
		code = se.Code()
		msg = strings.TrimPrefix(msg, code.Error()+": ")
	case errors.As(err, &code):
	case errors.As(err, &xcode):
		code = sqlite3.ErrorCode(xcode & 0xff)
	default:
		return nil
	}
	return &Error{Code: code, Msg: strings.TrimPrefix(msg, "sqlite3: ")}
}
