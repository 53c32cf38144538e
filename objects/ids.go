package objects

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Durable Object ids, as Cloudflare's: 32 bytes written as 64 lowercase hex
// digits. The first half is the id's base, the second half a MAC of the
// base keyed by the namespace, so an id made in one namespace is refused by
// another's IDFromString (Cloudflare's "not valid for this namespace").
//
// A named id's base is a keyed hash of the name, so the same name gives the
// same id on every node, in every Worker and object, for ever; a unique id's
// base is random. The top bit of the base tells the two apart (set for
// unique ids), which Cloudflare's format leaves free to choose.
//
// Everything here is pure: the namespace key comes from the names passed
// in and NewUniqueID takes its randomness from the caller, so the package
// stays free of I/O.

// IDBytes is the length of an id; IDHexDigits the length of its string.
const (
	IDBytes     = 32
	IDHexDigits = 2 * IDBytes
	idBaseBytes = IDBytes / 2
	uniqueBit   = 0x80
)

var (
	// ErrInvalidID: a string is not 64 hex digits. Cloudflare's
	// idFromString throws a TypeError for it.
	ErrInvalidID = errors.New("invalid Durable Object ID: must be 64 hex digits")
	// ErrForeignID: a well-formed id that was not made by this namespace
	// (another class or script, or a tampered id).
	ErrForeignID = errors.New("Durable Object ID is not valid for this namespace")
)

// ID is one Durable Object's id; the zero ID is no object's. IDs are
// comparable with ==, which is Cloudflare's id.equals.
type ID [IDBytes]byte

// String is the id's 64 lowercase hex digits (Cloudflare's id.toString()).
// It is a valid object name: 64 bytes, never starting with '_'.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Unique reports whether the id came from NewUniqueID rather than
// IDFromName.
func (id ID) Unique() bool { return id[0]&uniqueBit != 0 }

// ParseID decodes 64 hex digits (either case) into an ID, checking only the
// syntax; Namespace.IDFromString also checks that the id is the
// namespace's. The error matches ErrInvalidID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != IDHexDigits {
		return id, fmt.Errorf("%w: got %d characters", ErrInvalidID, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
	return id, nil
}

// Namespace is the id space of one Durable Object class of one script
// (Cloudflare's DurableObjectNamespace). Its zero value is not usable: make
// one with NewNamespace.
type Namespace struct {
	key [sha256.Size]byte
}

// NewNamespace is the namespace of class in script. The two names are the
// namespace's identity: a class renamed by a migration (renamed_classes)
// keeps its objects only if the caller keeps passing the name the class was
// created under, so the runtime records that name when it applies the
// migration that creates the class.
func NewNamespace(script, class string) Namespace {
	h := sha256.New()
	h.Write([]byte("dobj durable object namespace\x00"))
	// Length prefixes keep ("ab","c") and ("a","bc") apart.
	var n [8]byte
	for _, s := range []string{script, class} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	var ns Namespace
	h.Sum(ns.key[:0])
	return ns
}

// IDFromName is the id of the object called name: the same for the same
// namespace and name wherever it is computed (Cloudflare's idFromName).
func (ns Namespace) IDFromName(name string) ID {
	var id ID
	m := hmac.New(sha256.New, ns.key[:])
	m.Write([]byte(name))
	copy(id[:idBaseBytes], m.Sum(nil))
	id[0] &^= uniqueBit
	ns.seal(&id)
	return id
}

// NewUniqueID is a fresh id drawn from random (crypto/rand.Reader in
// production; 127 random bits), as Cloudflare's newUniqueId. Its error is
// random's.
func (ns Namespace) NewUniqueID(random io.Reader) (ID, error) {
	var id ID
	if _, err := io.ReadFull(random, id[:idBaseBytes]); err != nil {
		return ID{}, fmt.Errorf("new unique id: %w", err)
	}
	id[0] |= uniqueBit
	ns.seal(&id)
	return id, nil
}

// IDFromString parses an id's string and checks that it belongs to the
// namespace (Cloudflare's idFromString). Errors match ErrInvalidID or
// ErrForeignID.
func (ns Namespace) IDFromString(s string) (ID, error) {
	id, err := ParseID(s)
	if err != nil {
		return ID{}, err
	}
	if !ns.Owns(id) {
		return ID{}, ErrForeignID
	}
	return id, nil
}

// Owns reports whether id was made by this namespace.
func (ns Namespace) Owns(id ID) bool {
	want := id
	ns.seal(&want)
	return hmac.Equal(want[idBaseBytes:], id[idBaseBytes:])
}

// seal writes the MAC of id's base into its second half.
func (ns Namespace) seal(id *ID) {
	m := hmac.New(sha256.New, ns.key[:])
	m.Write([]byte("mac\x00"))
	m.Write(id[:idBaseBytes])
	copy(id[idBaseBytes:], m.Sum(nil))
}
