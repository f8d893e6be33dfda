package server

import (
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// The operational attributes every entry of the tree has (RFC 4512 3.4,
// RFC 4530, RFC 5020), returned only when asked for by name or with "+"
// (RFC 3673), never for "*".
const (
	attrEntryUUID         = "entryUUID"
	attrModifyTimestamp   = "modifyTimestamp"
	attrEntryDN           = "entryDN"
	attrStructural        = "structuralObjectClass"
	attrHasSubordinates   = "hasSubordinates"
	attrSubschemaSubentry = "subschemaSubentry"
)

// generated are the operational attributes built only for a search that
// can use them: a mail server's lookup scanning many accounts pays nothing
// for them.
var generated = map[string]bool{
	"entryuuid": true, "modifytimestamp": true, "entrydn": true, "structuralobjectclass": true,
	"hassubordinates": true, "subschemasubentry": true,
}

// Values shared by every entry that has them; never modified.
var (
	valTrue      = []string{"TRUE"}
	valFalse     = []string{"FALSE"}
	valSubschema = []string{subschemaDN}
)

// Structural object classes (RFC 4512 2.4.2), shared likewise.
var (
	structOrganization = []string{"organization"}
	structOU           = []string{"organizationalUnit"}
	structPerson       = []string{"inetOrgPerson"}
	structAccount      = []string{"account"}
	structGroup        = []string{"groupOfNames"}
	structAppPassword  = []string{"wicketAppPassword"}
	structSubentry     = []string{"subentry"}
)

// entryOps are the operational attributes of one entry.
type entryOps struct {
	uuid backend.UUID
	// modified is when the entry last changed; zero for the entries that
	// have no row, which show none.
	modified     time.Time
	structural   []string
	subordinates bool
}

// addOps appends the operational attributes to e.
func (e *entry) addOps(o entryOps) {
	e.attrs = append(e.attrs, attribute{attrEntryUUID, []string{o.uuid.String()}})
	if !o.modified.IsZero() {
		e.attrs = append(e.attrs, attribute{attrModifyTimestamp, []string{ldapTime(o.modified)}})
	}
	subs := valFalse
	if o.subordinates {
		subs = valTrue
	}
	e.attrs = append(e.attrs,
		attribute{attrEntryDN, []string{e.dn}},
		attribute{attrStructural, o.structural},
		attribute{attrHasSubordinates, subs},
		attribute{attrSubschemaSubentry, valSubschema})
}

// opsView is what a search asks of the generated operational attributes.
type opsView struct {
	// on: build them. subordinates: hasSubordinates is among them, which
	// for an account means knowing whether it has app passwords the
	// session sees.
	on, subordinates bool
}

// opsWanted says whether a search returns a generated operational
// attribute (by name or "+") or tests one in its filter.
func opsWanted(sr *searchRequest) opsView {
	var v opsView
	for _, a := range sr.attrs {
		switch {
		case a == "+":
			return opsView{on: true, subordinates: true}
		case strings.EqualFold(a, attrHasSubordinates):
			v.on, v.subordinates = true, true
		case generated[strings.ToLower(a)]:
			v.on = true
		}
	}
	if mentions(sr.filter, func(attr string) bool { return strings.EqualFold(attr, attrHasSubordinates) }) {
		v.on, v.subordinates = true, true
	}
	if !v.on && mentions(sr.filter, func(attr string) bool { return generated[strings.ToLower(attr)] }) {
		v.on = true
	}
	return v
}

// nameUUID is the UUID of an entry without a row: from the database's
// namespace and the entry's DN, normalised, so that spelling the base DN
// otherwise in the configuration keeps it.
func nameUUID(ns backend.UUID, dn string) backend.UUID {
	name := strings.ToLower(dn)
	if parsed, err := ldap.ParseDN(dn); err == nil {
		name = strings.ToLower(parsed.String())
	}
	return backend.NameUUID(ns, name)
}

// fixedOps are the naming context and the two ous with their operational
// attributes, for one database's namespace.
type fixedOps struct {
	ns                   backend.UUID
	base, people, groups *entry
}

// fixedWithOps returns the fixed entries with their operational
// attributes, built once per namespace (a replaced database has another).
func (s *Server) fixedWithOps(ns backend.UUID) *fixedOps {
	if f := s.fixedOpsCache.Load(); f != nil && f.ns == ns {
		return f
	}
	with := func(e *entry, structural []string) *entry {
		c := &entry{dn: e.dn, attrs: append([]attribute(nil), e.attrs...)}
		c.addOps(entryOps{uuid: nameUUID(ns, e.dn), structural: structural, subordinates: true})
		return c
	}
	f := &fixedOps{ns: ns,
		base:   with(s.fixed.base, structOrganization),
		people: with(s.fixed.people, structOU),
		groups: with(s.fixed.groups, structOU),
	}
	s.fixedOpsCache.Store(f)
	return f
}

// subschemaWithOps is the subschema entry with the operational attributes
// an entry has, its UUID from the namespace when the server has one.
func subschemaWithOps(ns backend.UUID) *entry {
	e := subschemaEntry()
	e.addOps(entryOps{uuid: nameUUID(ns, subschemaDN), structural: structSubentry})
	return e
}

// mentions reports whether any assertion of filter f is about an
// attribute that is reports true for.
func mentions(f *ber.Packet, is func(attr string) bool) bool {
	if f.ClassType != ber.ClassContext {
		return false
	}
	switch f.Tag {
	case filterAnd, filterOr, filterNot:
		for _, c := range f.Children {
			if mentions(c, is) {
				return true
			}
		}
		return false
	case filterPresent:
		return is(f.Data.String())
	case filterExtensibleMatch:
		// [2] type, when given; without one it matches any attribute.
		for _, c := range f.Children {
			if c.Tag == 2 {
				return is(c.Data.String())
			}
		}
		return true
	}
	return len(f.Children) > 0 && is(f.Children[0].Data.String())
}
