package backend

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
)

// UUID is an entry's entryUUID (RFC 4530), kept as its 16 bytes: the
// directory holds one per account, and its text form would take 36.
type UUID [16]byte

// NewUUID draws a random (version 4) UUID, as every account, group and app
// password gets one when its row is created (RFC 9562 5.4).
func NewUUID() UUID {
	var u UUID
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// NameUUID is the name-based (version 5, SHA-1) UUID of name in namespace
// ns (RFC 9562 5.5): the same inputs always give the same UUID, so entries
// that have no row, such as the naming context, keep theirs across
// restarts.
func NameUUID(ns UUID, name string) UUID {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u UUID
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// IsZero reports whether u is the nil UUID, which no entry has.
func (u UUID) IsZero() bool { return u == UUID{} }

// String is the UUID's RFC 4122 text, in lower case, as entryUUID is written
// (RFC 4530 2.1).
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// MarshalText writes the text form, so JSON shows a UUID as a string.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

var errUUIDSyntax = errors.New("not a UUID: want 8-4-4-4-12 hexadecimal digits")

// ParseUUID reads the text form, in either case (UUIDMatch compares the
// UUIDs, not their spelling).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, errUUIDSyntax
	}
	var digits [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		digits[n] = s[i]
		n++
	}
	if _, err := hex.Decode(u[:], digits[:]); err != nil {
		return UUID{}, errUUIDSyntax
	}
	return u, nil
}

// UnmarshalText reads the text form.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
