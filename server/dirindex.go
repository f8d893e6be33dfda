package server

import (
	"strings"
	"unicode"
	"unicode/utf8"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/wicketldap/wicket/backend"
)

// Postfix and Dovecot look accounts up one at a time, by an equality on
// uid or on an address: (mail=%s), (|(mail=%s)(mailAlternateAddress=%s)),
// (&(objectClass=inetOrgPerson)(uid=%u)). dirIndex answers which accounts
// such a filter can match without building every account's entry; the
// filter is still evaluated on each of them, so the index only has to
// never leave out an account that could match.

// dirIndex maps folded names and addresses of one directory snapshot to
// positions in its Accounts.
type dirIndex struct {
	dir       *backend.Directory
	byName    map[string]int
	byAddress map[string][]int // mail and aliases; a superset is harmless
}

func newDirIndex(d *backend.Directory) *dirIndex {
	ix := &dirIndex{dir: d, byName: make(map[string]int, len(d.Accounts)),
		byAddress: make(map[string][]int, len(d.Accounts))}
	for i := range d.Accounts {
		a := &d.Accounts[i]
		ix.byName[foldKey(a.Name)] = i
		if a.Mail != "" {
			k := foldKey(a.Mail)
			ix.byAddress[k] = append(ix.byAddress[k], i)
		}
		for _, alias := range d.Aliases[a.ID] {
			k := foldKey(alias)
			ix.byAddress[k] = append(ix.byAddress[k], i)
		}
	}
	return ix
}

// indexFor returns the index of d, building it when d is a new snapshot.
func (s *Server) indexFor(d *backend.Directory) *dirIndex {
	if ix := s.dirIndex.Load(); ix != nil && ix.dir == d {
		return ix
	}
	ix := newDirIndex(d)
	s.dirIndex.Store(ix)
	return ix
}

// candidates returns the positions of the accounts filter f can match, or
// false when it may match accounts the index cannot name.
func (ix *dirIndex) candidates(f *ber.Packet) ([]int, bool) {
	if f.ClassType != ber.ClassContext {
		return nil, false
	}
	switch f.Tag {
	case filterEqualityMatch:
		if len(f.Children) != 2 {
			return nil, false
		}
		attr, value := f.Children[0].Data.String(), f.Children[1].Data.String()
		switch {
		case strings.EqualFold(attr, "uid"):
			if i, ok := ix.byName[foldKey(value)]; ok {
				return []int{i}, true
			}
			return nil, true
		case strings.EqualFold(attr, "mail"), strings.EqualFold(attr, "mailAlternateAddress"):
			return ix.byAddress[foldKey(value)], true
		}
	case filterAnd:
		// Whatever matches the AND matches each part: any part the index
		// can answer bounds it.
		for _, c := range f.Children {
			if set, ok := ix.candidates(c); ok {
				return set, true
			}
		}
	case filterOr:
		var all []int
		for _, c := range f.Children {
			set, ok := ix.candidates(c)
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

// foldKey maps strings that strings.EqualFold holds equal, and only those,
// to the same key: each rune becomes the least rune of its case-folding
// orbit (so 'k', 'K' and the Kelvin sign all become 'K').
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
