package server

import (
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/wicketldap/wicket/backend"
)

// Postfix and Dovecot look accounts up one at a time, by an equality on
// uid or on an address: (mail=%s), (|(mail=%s)(mailAlternateAddress=%s)),
// (&(objectClass=inetOrgPerson)(uid=%u)). candidates answers which accounts
// such a filter can match from the live directory's indexes, without
// building every account's entry; the filter is still evaluated on each of
// them, so the index only has to never leave out an account that could
// match.

// candidates returns the accounts of d that filter f can match, or false
// when it may match accounts the index cannot name.
func candidates(d *backend.Dir, f *ber.Packet) ([]*backend.DirEntry, bool) {
	if f.ClassType != ber.ClassContext {
		return nil, false
	}
	switch f.Tag {
	case filterEqualityMatch:
		if len(f.Children) != 2 {
			return nil, false
		}
		// Without the spaces caseIgnoreMatch and caseIgnoreIA5Match ignore
		// ("(uid= alice )" is alice); the index folds case itself.
		attr, value := f.Children[0].Data.String(), prepString(f.Children[1].Data.String(), false)
		switch {
		case strings.EqualFold(attr, "uid"):
			if e := d.Account(value); e != nil {
				return []*backend.DirEntry{e}, true
			}
			return nil, true
		case strings.EqualFold(attr, "mail"), strings.EqualFold(attr, "mailAlternateAddress"):
			// Mail and aliases in one index: a superset is harmless.
			return d.ByAddress(value), true
		}
	case filterAnd:
		// Whatever matches the AND matches each part: any part the index
		// can answer bounds it.
		for _, c := range f.Children {
			if set, ok := candidates(d, c); ok {
				return set, true
			}
		}
	case filterOr:
		var all []*backend.DirEntry
		for _, c := range f.Children {
			set, ok := candidates(d, c)
			if !ok {
				return nil, false
			}
			all = append(all, set...)
		}
		return all, true
	}
	return nil, false
}

// indexable reports whether candidates can answer for filter f whatever
// the directory holds: it has the shapes candidates narrows.
func indexable(f *ber.Packet) bool {
	if f.ClassType != ber.ClassContext {
		return false
	}
	switch f.Tag {
	case filterEqualityMatch:
		if len(f.Children) != 2 {
			return false
		}
		attr := f.Children[0].Data.String()
		return strings.EqualFold(attr, "uid") || strings.EqualFold(attr, "mail") ||
			strings.EqualFold(attr, "mailAlternateAddress")
	case filterAnd:
		for _, c := range f.Children {
			if indexable(c) {
				return true
			}
		}
	case filterOr:
		for _, c := range f.Children {
			if !indexable(c) {
				return false
			}
		}
		return len(f.Children) > 0
	}
	return false
}
