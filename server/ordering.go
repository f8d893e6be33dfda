package server

import (
	"bytes"
	"strings"
	"time"

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
		w, ok := genTime(want)
		if !ok {
			return fUndefined
		}
		cmp = func(v string) (int, bool) {
			t, ok := genTime(v)
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

// genTime reads a GeneralizedTime (RFC 4517 3.3.13): YYYYMMDDHH, optional
// minutes and seconds, an optional fraction of the last of them, then Z or
// an offset from UTC (+HH or +HHMM).
func genTime(s string) (time.Time, bool) {
	body, zone := s, time.UTC
	switch i := strings.IndexAny(s, "Z+-"); {
	case i < 0:
		return time.Time{}, false
	case s[i] == 'Z':
		if i != len(s)-1 {
			return time.Time{}, false
		}
		body = s[:i]
	default:
		off := s[i+1:]
		if (len(off) != 2 && len(off) != 4) || !allDigits(off) {
			return time.Time{}, false
		}
		h, m := atoi(off[:2]), 0
		if len(off) == 4 {
			m = atoi(off[2:])
		}
		if h > 23 || m > 59 {
			return time.Time{}, false
		}
		secs := h*3600 + m*60
		if s[i] == '-' {
			secs = -secs
		}
		body, zone = s[:i], time.FixedZone("", secs)
	}
	whole, frac, hasFrac := strings.Cut(strings.Replace(body, ",", ".", 1), ".")
	if !allDigits(whole) || hasFrac && (frac == "" || !allDigits(frac)) {
		return time.Time{}, false
	}
	var unit time.Duration
	switch len(whole) {
	case 10:
		unit = time.Hour
	case 12:
		unit = time.Minute
	case 14:
		unit = time.Second
	default:
		return time.Time{}, false
	}
	year, month, day, hour := atoi(whole[0:4]), atoi(whole[4:6]), atoi(whole[6:8]), atoi(whole[8:10])
	minute, sec := 0, 0
	if len(whole) >= 12 {
		minute = atoi(whole[10:12])
	}
	if len(whole) == 14 {
		sec = atoi(whole[12:14])
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, 0, 0, zone)
	if t.Day() != day {
		return time.Time{}, false // the 30th of February and the like
	}
	// A leap second (60) is the next minute's first instant. Digits of the
	// fraction below a nanosecond are read, not added.
	t = t.Add(time.Duration(sec) * time.Second)
	for step := unit / 10; frac != "" && step > 0; frac, step = frac[1:], step/10 {
		t = t.Add(time.Duration(frac[0]-'0') * step)
	}
	return t, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// isInteger is the INTEGER syntax (RFC 4517 3.3.16): no leading zero, no
// "-0"; slapd refuses "010001" as an assertion too.
func isInteger(s string) bool {
	digits := strings.TrimPrefix(s, "-")
	return allDigits(digits) && (digits[0] != '0' || digits == "0" && s == "0")
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
