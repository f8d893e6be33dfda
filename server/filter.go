package server

import (
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// entry is a directory entry as the server returns it.
type entry struct {
	dn    string
	attrs []attribute
}

type attribute struct {
	name   string
	values []string
}

func (e *entry) get(name string) *attribute {
	for i := range e.attrs {
		if strings.EqualFold(e.attrs[i].name, name) {
			return &e.attrs[i]
		}
	}
	return nil
}

// tristate is the three-valued logic of RFC 4511 4.5.1.7.
type tristate int8

const (
	fFalse tristate = iota
	fTrue
	fUndefined
)

func truth(b bool) tristate {
	if b {
		return fTrue
	}
	return fFalse
}

// Filter choice tags, RFC 4511 4.5.1.
const (
	filterAnd             = 0
	filterOr              = 1
	filterNot             = 2
	filterEqualityMatch   = 3
	filterSubstrings      = 4
	filterGreaterOrEqual  = 5
	filterLessOrEqual     = 6
	filterPresent         = 7
	filterApproxMatch     = 8
	filterExtensibleMatch = 9
)

// validFilter checks a filter's structure, so a malformed one is a
// protocolError rather than a silent non-match.
func validFilter(f *ber.Packet) bool {
	if f.ClassType != ber.ClassContext {
		return false
	}
	switch f.Tag {
	case filterAnd, filterOr:
		if f.TagType != ber.TypeConstructed {
			return false
		}
		for _, c := range f.Children {
			if !validFilter(c) {
				return false
			}
		}
		return true
	case filterNot:
		return f.TagType == ber.TypeConstructed && len(f.Children) == 1 && validFilter(f.Children[0])
	case filterEqualityMatch, filterGreaterOrEqual, filterLessOrEqual, filterApproxMatch:
		return f.TagType == ber.TypeConstructed && len(f.Children) == 2 &&
			isOctetString(f.Children[0]) && isOctetString(f.Children[1])
	case filterSubstrings:
		if f.TagType != ber.TypeConstructed || len(f.Children) != 2 || !isOctetString(f.Children[0]) {
			return false
		}
		subs := f.Children[1]
		if subs.TagType != ber.TypeConstructed || len(subs.Children) == 0 {
			return false
		}
		for i, s := range subs.Children {
			// initial [0] first only, final [2] last only, any [1] between.
			if s.ClassType != ber.ClassContext || s.TagType != ber.TypePrimitive || s.Tag > 2 ||
				s.Tag == 0 && i != 0 || s.Tag == 2 && i != len(subs.Children)-1 {
				return false
			}
		}
		return true
	case filterPresent:
		return f.TagType == ber.TypePrimitive
	case filterExtensibleMatch:
		return f.TagType == ber.TypeConstructed
	}
	return false
}

func isOctetString(p *ber.Packet) bool {
	return p.ClassType == ber.ClassUniversal && p.TagType == ber.TypePrimitive && p.Tag == ber.TagOctetString
}

// match evaluates a validated filter against e. Equality uses each
// attribute's matching rule; ordering and substrings compare
// case-insensitively, as caseIgnoreMatch does for the directory strings
// wicket serves.
func match(f *ber.Packet, e *entry) tristate {
	switch f.Tag {
	case filterAnd:
		r := fTrue
		for _, c := range f.Children {
			switch match(c, e) {
			case fFalse:
				return fFalse
			case fUndefined:
				r = fUndefined
			}
		}
		return r
	case filterOr:
		r := fFalse
		for _, c := range f.Children {
			switch match(c, e) {
			case fTrue:
				return fTrue
			case fUndefined:
				r = fUndefined
			}
		}
		return r
	case filterNot:
		switch match(f.Children[0], e) {
		case fTrue:
			return fFalse
		case fFalse:
			return fTrue
		}
		return fUndefined
	case filterPresent:
		return truth(e.get(f.Data.String()) != nil)
	case filterEqualityMatch, filterApproxMatch:
		// By the attribute's equality rule, as Compare matches (RFC 4511
		// 4.5.1.7.1); approximate matching is equality here.
		return equalityFilter(e, f.Children[0].Data.String(), f.Children[1].Data.String())
	case filterGreaterOrEqual, filterLessOrEqual:
		return ordered(e, f, f.Tag == filterGreaterOrEqual)
	case filterSubstrings:
		a := e.get(f.Children[0].Data.String())
		if a == nil {
			return fFalse
		}
		for _, v := range a.values {
			if substringsMatch(strings.ToLower(v), f.Children[1].Children) {
				return fTrue
			}
		}
		return fFalse
	}
	return extensibleMatch(f, e)
}

// extensibleMatch handles the form clients use, an attribute without a
// matching rule or with its equality rule, as RFC 4511 4.5.1.7.7 says:
// the attribute's equality matching. Other rules are not implemented and
// evaluate to Undefined.
func extensibleMatch(f *ber.Packet, e *entry) tristate {
	var rule, attr, value string
	hasValue := false
	for _, c := range f.Children {
		switch c.Tag {
		case 1:
			rule = strings.ToLower(c.Data.String())
		case 2:
			attr = c.Data.String()
		case 3:
			value, hasValue = c.Data.String(), true
		}
	}
	switch {
	case attr == "" || !hasValue:
		return fUndefined
	case rule != "" && rule != "caseignorematch" && rule != "2.5.13.2" && rule != "caseignoreia5match" &&
		rule != "1.3.6.1.4.1.1466.109.114.2":
		return fUndefined
	}
	a := e.get(attr)
	if a == nil {
		return fFalse
	}
	for _, v := range a.values {
		if strings.EqualFold(v, value) {
			return fTrue
		}
	}
	return fFalse
}

func anyValue(e *entry, f *ber.Packet, eq func(v, want string) bool) tristate {
	a := e.get(f.Children[0].Data.String())
	if a == nil {
		return fFalse
	}
	want := f.Children[1].Data.String()
	for _, v := range a.values {
		if eq(v, want) {
			return fTrue
		}
	}
	return fFalse
}

func substringsMatch(v string, subs []*ber.Packet) bool {
	for _, s := range subs {
		part := strings.ToLower(s.Data.String())
		switch s.Tag {
		case 0:
			if !strings.HasPrefix(v, part) {
				return false
			}
			v = v[len(part):]
		case 1:
			i := strings.Index(v, part)
			if i < 0 {
				return false
			}
			v = v[i+len(part):]
		case 2:
			return strings.HasSuffix(v, part)
		}
	}
	return true
}
