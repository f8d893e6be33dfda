package server

import (
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/wicketldap/wicket/backend"
)

// Postfix and Dovecot look accounts up one at a time, by an equality on
// uid or on an address: (mail=%s), (|(mail=%s)(mailAlternateAddress=%s)),
// (&(objectClass=inetOrgPerson)(uid=%u)); Nextcloud by its UUID
// (entryUUID=...). candidates answers which accounts such a filter can
// match from the live directory's indexes, without building every
// account's entry; the filter is still evaluated on each of them, so the
// index only has to never leave out an account that could match.

// reach is what the index says a filter can match: the accounts, and
// whether app-password entries below them can match too (an entryUUID
// that is an app password's).
type reach struct {
	accounts []*backend.DirEntry
	children bool
}

// candidates returns what of d filter f can match, or false when it may
// match accounts the index cannot name. owner finds the account whose
// active app password has a UUID, which the directory does not hold; nil
// when the session reads no app passwords.
func candidates(d *backend.Dir, f *ber.Packet, owner func(backend.UUID) (*backend.DirEntry, error)) (reach, bool, error) {
	if f.ClassType != ber.ClassContext {
		return reach{}, false, nil
	}
	switch f.Tag {
	case filterEqualityMatch:
		if len(f.Children) != 2 {
			return reach{}, false, nil
		}
		// Without the spaces caseIgnoreMatch and caseIgnoreIA5Match ignore
		// ("(uid= alice )" is alice); the index folds case itself.
		attr, value := f.Children[0].Data.String(), prepString(f.Children[1].Data.String(), false)
		switch {
		case strings.EqualFold(attr, "uid"):
			if e := d.Account(value); e != nil {
				return reach{accounts: []*backend.DirEntry{e}}, true, nil
			}
			return reach{}, true, nil
		case strings.EqualFold(attr, "mail"), strings.EqualFold(attr, "mailAlternateAddress"):
			// Mail and aliases in one index: a superset is harmless.
			return reach{accounts: d.ByAddress(value)}, true, nil
		case strings.EqualFold(attr, attrEntryUUID):
			return byUUID(d, value, owner)
		}
	case filterAnd:
		// Whatever matches the AND matches each part: any part the index
		// can answer bounds it.
		for _, c := range f.Children {
			if r, ok, err := candidates(d, c, owner); ok || err != nil {
				return r, ok, err
			}
		}
	case filterOr:
		var all reach
		for _, c := range f.Children {
			r, ok, err := candidates(d, c, owner)
			if !ok || err != nil {
				return reach{}, false, err
			}
			all.accounts = append(all.accounts, r.accounts...)
			all.children = all.children || r.children
		}
		return all, true, nil
	}
	return reach{}, false, nil
}

// byUUID is what an entryUUID can match below people: the account that
// has it, or the account whose app password has it, or nothing (a value
// that is no UUID matches nothing, RFC 4530 2.3). Groups and the fixed
// entries are not indexed: every search that reaches them builds them.
func byUUID(d *backend.Dir, value string, owner func(backend.UUID) (*backend.DirEntry, error)) (reach, bool, error) {
	u, err := backend.ParseUUID(value)
	if err != nil {
		return reach{}, true, nil
	}
	if e := d.ByUUID(u); e != nil {
		return reach{accounts: []*backend.DirEntry{e}}, true, nil
	}
	if owner == nil {
		return reach{}, true, nil
	}
	e, err := owner(u)
	if e == nil || err != nil {
		return reach{}, true, err
	}
	return reach{accounts: []*backend.DirEntry{e}, children: true}, true, nil
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
			strings.EqualFold(attr, "mailAlternateAddress") || strings.EqualFold(attr, attrEntryUUID)
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
