package server

import (
	"bytes"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/wicketldap/wicket/backend"
)

// Ordering filters, (attr>=value) and (attr<=value) (RFC 4511 4.5.1.7.3,
// .4), compare by the attribute's ORDERING rule as the subschema describes
// it: an SSSD-style refresh asks (modifyTimestamp>=20260101000000Z), an
// nss module (uidNumber>=1000). A value the rule cannot read makes the
// filter Undefined, as slapd evaluates it. Attributes without an ordering
// rule compare as lower-case strings, as they always have here.

// orderingOf is the ORDERING rule of attr, in lower case, as the
// subschema describes it (following SUP); empty for none.
func orderingOf(attr string) string {
	if t := schema().lookup(attr); t != nil {
		return t.ordering
	}
	return ""
}

// ordered evaluates (attr>=value) when atLeast is set, else (attr<=value).
func ordered(e *entry, f *ber.Packet, atLeast bool) tristate {
	attr, want := f.Children[0].Data.String(), f.Children[1].Data.String()
	var cmp func(v string) (int, bool)
	switch orderingOf(attr) {
	case "generalizedtimeorderingmatch":
		w, ok := parseGeneralizedTime(want)
		if !ok {
			return fUndefined
		}
		cmp = func(v string) (int, bool) {
			t, ok := parseGeneralizedTime(v)
			return t.Compare(w), ok
		}
	case "integerorderingmatch":
		if !isInteger(want) {
			return fUndefined
		}
		cmp = func(v string) (int, bool) { return compareIntegers(v, want), isInteger(v) }
	case "uuidorderingmatch":
		w, err := backend.ParseUUID(want)
		if err != nil {
			return fUndefined
		}
		cmp = func(v string) (int, bool) {
			u, err := backend.ParseUUID(v)
			return bytes.Compare(u[:], w[:]), err == nil
		}
	default:
		lw := strings.ToLower(want)
		cmp = func(v string) (int, bool) { return strings.Compare(strings.ToLower(v), lw), true }
	}
	a := e.get(attr)
	if a == nil {
		return fFalse
	}
	for _, v := range a.values {
		if c, ok := cmp(v); ok && (atLeast && c >= 0 || !atLeast && c <= 0) {
			return fTrue
		}
	}
	return fFalse
}

// isInteger is the INTEGER syntax (RFC 4517 3.3.16): no leading zero, no
// "-0"; slapd refuses "010001" as an assertion too.
func isInteger(s string) bool {
	_, ok := normInteger(nil, s)
	return ok
}

// compareIntegers orders two INTEGER values of any length.
func compareIntegers(a, b string) int {
	na, nb := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	switch {
	case na && !nb:
		return -1
	case !na && nb:
		return 1
	}
	da, db := strings.TrimPrefix(a, "-"), strings.TrimPrefix(b, "-")
	c := len(da) - len(db)
	if c == 0 {
		c = strings.Compare(da, db)
	}
	if na {
		c = -c
	}
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}
