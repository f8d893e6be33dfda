package server

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// Attribute names of the directory view that are wicket's own.
const (
	attrAppPasswordID = "appPasswordId"
	attrLabel         = "label"
	attrLastUsed      = "lastUsedTimestamp"
	attrLastUsedFrom  = "lastUsedFrom"
	attrRole          = "wicketRole"
)

// dnKind says what a DN names in wicket's tree:
//
//	<base>
//	  ou=people                      uid=NAME  →  appPasswordId=ID
//	  ou=groups                      cn=GROUP
type dnKind int

const (
	dnOther       dnKind = iota // under the base but nothing wicket serves
	dnBase                      // the naming context
	dnPeople                    // ou=people
	dnGroups                    // ou=groups
	dnUser                      // uid=NAME,ou=people
	dnAppPassword               // appPasswordId=ID,uid=NAME,ou=people
	dnGroup                     // cn=GROUP,ou=groups
)

type target struct {
	kind dnKind
	name string // user or group name
	id   string // app password id
}

// classify parses a DN of wicket's tree. It reports false for a string that
// is not a DN.
func (s *Server) classify(raw string) (target, bool) {
	// The DNs mail servers search, spelled as configured, without parsing.
	switch {
	case strings.EqualFold(raw, s.peopleText):
		return target{kind: dnPeople}, true
	case strings.EqualFold(raw, s.cfg.BaseDN):
		return target{kind: dnBase}, true
	}
	if name, ok := s.plainUserDN(raw); ok {
		return target{kind: dnUser, name: strings.ToLower(name)}, true
	}
	dn, err := ldap.ParseDN(raw)
	if err != nil {
		return target{}, false
	}
	switch {
	case dn.EqualFold(s.baseDN):
		return target{kind: dnBase}, true
	case dn.EqualFold(s.peopleDN):
		return target{kind: dnPeople}, true
	case dn.EqualFold(s.groupsDN):
		return target{kind: dnGroups}, true
	}
	under := func(parent *ldap.DN, levels int) bool {
		n := len(dn.RDNs) - len(parent.RDNs)
		return n == levels && (&ldap.DN{RDNs: dn.RDNs[n:]}).EqualFold(parent)
	}
	switch {
	case under(s.peopleDN, 1):
		if name, ok := rdnValue(dn.RDNs[0], "uid"); ok {
			return target{kind: dnUser, name: strings.ToLower(name)}, true
		}
	case under(s.peopleDN, 2):
		name, ok1 := rdnValue(dn.RDNs[1], "uid")
		id, ok2 := rdnValue(dn.RDNs[0], attrAppPasswordID)
		if ok1 && ok2 {
			return target{kind: dnAppPassword, name: strings.ToLower(name), id: strings.ToLower(id)}, true
		}
	case under(s.groupsDN, 1):
		if name, ok := rdnValue(dn.RDNs[0], "cn"); ok {
			return target{kind: dnGroup, name: strings.ToLower(name)}, true
		}
	}
	return target{}, true
}

func rdnValue(r *ldap.RelativeDN, attr string) (string, bool) {
	if len(r.Attributes) != 1 || !strings.EqualFold(r.Attributes[0].Type, attr) || r.Attributes[0].Value == "" {
		return "", false
	}
	return r.Attributes[0].Value, true
}

func (s *Server) appPasswordDN(name, id string) string {
	return attrAppPasswordID + "=" + ldap.EscapeDN(id) + "," + s.userDN(name)
}

func (s *Server) groupDN(name string) string {
	return "cn=" + ldap.EscapeDN(name) + ",ou=groups," + s.cfg.BaseDN
}

// ldapTime is GeneralizedTime as createTimestamp uses it (RFC 4517 3.3.13).
func ldapTime(t time.Time) string { return t.UTC().Format("20060102150405Z") }

func (s *Server) baseEntry() *entry {
	rdn := s.baseDN.RDNs[0].Attributes[0]
	return &entry{dn: s.cfg.BaseDN, attrs: []attribute{
		{"objectClass", []string{"top", "dcObject", "organization"}},
		{rdn.Type, []string{rdn.Value}},
		{"o", []string{rdn.Value}},
	}}
}

func (s *Server) ouEntry(ou string) *entry {
	return &entry{dn: "ou=" + ou + "," + s.cfg.BaseDN, attrs: []attribute{
		{"objectClass", []string{"top", "organizationalUnit"}},
		{"ou", []string{ou}},
	}}
}

// userEntry is an account as inetOrgPerson, or a service account as an
// account (RFC 4524), which is no person: a filter on the class or on
// wicketRole keeps services out of what lists people (a mail server's
// logins). appPasswordIDs is nil when the session may not see them.
func (s *Server) userEntry(a *backend.DirEntry, appPasswordIDs []string) *entry {
	service := a.Role == backend.RoleService
	cn, sn := a.Name, a.Name
	if a.DisplayName != "" {
		cn = a.DisplayName
	}
	if a.Surname != "" {
		sn = a.Surname
	}
	status := "active"
	if a.Disabled {
		status = "disabled"
	}
	e := &entry{dn: s.userDN(a.Name), attrs: make([]attribute, 0, 19)}
	add := func(name string, values ...string) {
		if len(values) > 0 && values[0] != "" {
			e.attrs = append(e.attrs, attribute{name, values})
		}
	}
	classes := personClasses
	if service {
		classes = serviceClasses
	}
	if a.Posix != nil {
		classes = append(classes[:len(classes):len(classes)], "posixAccount")
	}
	add("objectClass", classes...)
	add("uid", a.Name)
	add("cn", cn)
	if !service {
		add("sn", sn)
		add("givenName", a.GivenName)
	}
	add("displayName", a.DisplayName)
	add("mail", a.Mail)
	add("mailAlternateAddress", a.Aliases...)
	memberOf := make([]string, len(a.Groups))
	for i, g := range a.Groups {
		memberOf[i] = s.groupDN(g)
	}
	add("memberOf", memberOf...)
	add("accountStatus", status)
	add(attrRole, a.Role)
	if p := a.Posix; p != nil {
		// posixAccount (RFC 2307), for nslcd and SSSD; served whole or not
		// at all, as the store keeps it.
		add("uidNumber", strconv.FormatUint(uint64(p.UIDNumber), 10))
		add("gidNumber", strconv.FormatUint(uint64(p.GIDNumber), 10))
		add("homeDirectory", p.HomeDirectory)
		add("loginShell", p.LoginShell)
	}
	add(attrAppPasswordID, appPasswordIDs...)
	add("createTimestamp", ldapTime(a.CreatedAt))
	return e
}

// The object classes of an account's entry, shared; posixAccount is added
// to a copy.
var (
	personClasses  = []string{"top", "person", "organizationalPerson", "inetOrgPerson", "wicketAccount"}
	serviceClasses = []string{"top", "account", "wicketAccount"}
)

// structuralOf is the structural object class of an account's entry.
func structuralOf(a *backend.DirEntry) []string {
	if a.Role == backend.RoleService {
		return structAccount
	}
	return structPerson
}

func (s *Server) groupEntry(g *backend.Group) *entry {
	e := &entry{dn: s.groupDN(g.Name), attrs: []attribute{
		{"objectClass", []string{"top", "groupOfNames"}},
		{"cn", []string{g.Name}},
	}}
	if len(g.Members) > 0 {
		members := make([]string, len(g.Members))
		for i, m := range g.Members {
			members[i] = s.userDN(m)
		}
		e.attrs = append(e.attrs, attribute{"member", members})
	}
	if !g.CreatedAt.IsZero() {
		e.attrs = append(e.attrs, attribute{"createTimestamp", []string{ldapTime(g.CreatedAt)}})
	}
	return e
}

func (s *Server) appPasswordEntry(name string, p *backend.AppPassword) *entry {
	e := &entry{dn: s.appPasswordDN(name, p.ID), attrs: []attribute{
		{"objectClass", []string{"top", "wicketAppPassword"}},
		{attrAppPasswordID, []string{p.ID}},
		{attrLabel, []string{p.Label}},
		{"createTimestamp", []string{ldapTime(p.CreatedAt)}},
	}}
	if !p.LastUsedAt.IsZero() {
		e.attrs = append(e.attrs, attribute{attrLastUsed, []string{ldapTime(p.LastUsedAt)}})
	}
	if p.LastUsedFrom != "" {
		e.attrs = append(e.attrs, attribute{attrLastUsedFrom, []string{p.LastUsedFrom}})
	}
	return e
}

// operational attributes are returned only when asked for by name or "+"
// (RFC 4511 4.5.1.8).
var operational = map[string]bool{
	"createtimestamp": true, "lastusedtimestamp": true, "lastusedfrom": true,
	"subschemasubentry": true, "entrydn": true, "entryuuid": true, "modifytimestamp": true,
	"structuralobjectclass": true, "hassubordinates": true,
}

// Where a node sits: which branch, and how deep (0 the base, 1 an ou, 2 a
// user or group, 3 an app password).
type branch int8

const (
	branchNone branch = iota
	branchPeople
	branchGroups
)

// node is an entry with its place in the tree.
type node struct {
	e        *entry
	branch   branch
	depth    int
	name, id string
	child    int // see position
}

func (t target) place() (branch, int) {
	switch t.kind {
	case dnPeople:
		return branchPeople, 1
	case dnGroups:
		return branchGroups, 1
	case dnUser:
		return branchPeople, 2
	case dnAppPassword:
		return branchPeople, 3
	case dnGroup:
		return branchGroups, 2
	}
	return branchNone, 0
}

// within reports whether n is t's entry or below it.
func (n *node) within(t target) bool {
	b, d := t.place()
	switch {
	case t.kind == dnBase:
		return true
	case t.kind == dnOther || n.branch != b || n.depth < d:
		return false
	case d >= 2 && n.name != t.name:
		return false
	case d == 3 && n.id != t.id:
		return false
	}
	return true
}

func (n *node) inScope(t target, scope int64) bool {
	_, d := t.place()
	switch scope {
	case scopeBase:
		return n.depth == d
	case scopeOne:
		return n.depth == d+1
	}
	return n.depth >= d
}

// Who reads what: users their own entries, services every user and group
// (what Dovecot and Postfix bind as) but no app password, administrators
// everything.
func (c *conn) readsEveryone() bool {
	r := c.principal.Role
	return r == backend.RoleAdmin || r == backend.RoleService
}

func (c *conn) readsAppPasswordsOf(name string) bool {
	return c.principal.Name == name || c.principal.Role == backend.RoleAdmin
}

// tree returns the entries the session may read that search sr based at t
// can reach, from one snapshot of the directory. Accounts the filter cannot
// match are left out when the index can tell (dirindex.go).
func (c *conn) tree(ctx context.Context, t target, sr *searchRequest) ([]node, error) {
	var nodes []node
	_, err := c.walk(ctx, t, sr, start, -1, func(n node) bool {
		nodes = append(nodes, n)
		return true
	})
	return nodes, err
}

// position is a place in the order walk visits entries in, that of a
// search's answer: the base and the two ous (fixed, child their index),
// each account (by name) followed by its app passwords (child their index,
// oldest first; -1 for the account itself), then the groups by name. A
// paged search resumes after the last entry it sent, so a page costs what
// it sends, not what the pages before it sent.
type position struct {
	section int // sectionStart, sectionFixed, sectionAccounts, sectionGroups
	name    string
	child   int
}

// The zero position is the start.
const (
	sectionStart = iota
	sectionFixed
	sectionAccounts
	sectionGroups
)

var start = position{}

// before reports whether p comes before q in a search's answer.
func (p position) before(q position) bool {
	if p.section != q.section {
		return p.section < q.section
	}
	if c := strings.Compare(p.name, q.name); c != 0 {
		return c < 0
	}
	return p.child < q.child
}

// bulkAppPasswords is how many accounts' app passwords a walk reads at once
// (one query for all) rather than account by account.
const bulkAppPasswords = 256

// walk calls visit, in the order of position, with each entry after from
// that the session may read and search sr based at t can reach, until
// visit returns false. want is how many visits the caller expects to need
// at most (a page's size), or -1 for all. It returns how many accounts and
// groups the search can reach from its start, as slapd's estimate of a
// paged search's size is the number of its candidates.
func (c *conn) walk(ctx context.Context, t target, sr *searchRequest, from position, want int, visit func(node) bool) (int, error) {
	if t.kind == dnOther {
		return 0, nil
	}
	d, err := c.srv.accounts.Directory(ctx)
	if err != nil {
		return 0, err
	}
	s := c.srv
	ops := opsWanted(sr)
	// The accounts the search can reach, found without touching the
	// others: a lookup costs the same in a directory of a hundred accounts
	// and of a hundred thousand.
	var accounts []*backend.DirEntry
	var r reach
	all, byFilter := false, false
	switch t.kind {
	case dnBase, dnPeople:
		// Below the base only: a search based at an account needs that
		// account's entry to exist whatever the filter says.
		r, byFilter, err = candidates(d, sr.filter, c.appPasswordOwner(ctx, d))
		if err != nil {
			return 0, err
		}
		accounts, all = r.accounts, !byFilter
	case dnUser, dnAppPassword:
		if e := d.Account(t.name); e != nil {
			accounts = []*backend.DirEntry{e}
		}
	}
	// Entries the scope cannot reach are not built, but for the base
	// itself, whose existence the search reports. A filter the index
	// narrows asks for uid, mail, an alias or an account's UUID, which app
	// password entries lack: none of them can match, unless the UUID was
	// an app password's. Their ids are read for the accounts' entries only
	// if the filter or the answer names appPasswordId, or hasSubordinates,
	// which an account has when the session sees an app password below it.
	_, depth := t.place()
	children := (reaches(depth, sr.scope, 3) || depth == 3) && (!byFilter || r.children)
	appPasswords := children || mentionsAttr(sr.filter, attrAppPasswordID) || selects(sr.attrs, attrAppPasswordID) ||
		ops.subordinates
	if !reaches(depth, sr.scope, 2) && !children && depth < 2 {
		accounts, all = nil, false
	}
	switch {
	case all:
		accounts = d.All()
	case byFilter && len(accounts) > 1:
		// In directory order, each once, as without the index.
		accounts = slices.Clone(accounts)
		slices.SortFunc(accounts, func(a, b *backend.DirEntry) int { return strings.Compare(a.Name, b.Name) })
		accounts = slices.Compact(accounts)
	}
	reached := len(accounts)
	groups := d.Groups()
	reachesGroups := c.readsEveryone() && (reaches(depth, sr.scope, 2) || depth >= 2)
	if reachesGroups {
		reached += len(groups)
	}
	if from.section >= sectionAccounts {
		// Accounts are in name order: skip those already sent.
		i := sort.Search(len(accounts), func(i int) bool { return accounts[i].Name >= from.name })
		if from.section > sectionAccounts {
			i = len(accounts)
		}
		accounts = accounts[i:]
	}
	base, people, groupsOU := s.fixed.base, s.fixed.people, s.fixed.groups
	if ops.on {
		f := s.fixedWithOps(d.Namespace())
		base, people, groupsOU = f.base, f.people, f.groups
	}
	for i, n := range []node{
		{e: base},
		{e: people, branch: branchPeople, depth: 1},
		{e: groupsOU, branch: branchGroups, depth: 1},
	} {
		n.child = i
		if from.before(n.position()) && !visit(n) {
			return reached, nil
		}
	}
	// An administrator's search over many accounts reads their app
	// passwords in one query, not one per account.
	var allAppPasswords map[int64][]backend.AppPassword
	if appPasswords && c.principal.Role == backend.RoleAdmin && len(accounts) > bulkAppPasswords &&
		(want < 0 || want > bulkAppPasswords) {
		if allAppPasswords, err = c.srv.accounts.AllAppPasswords(ctx); err != nil {
			return 0, err
		}
	}
	for _, a := range accounts {
		if !c.readsEveryone() && a.Name != c.principal.Name {
			continue
		}
		var ids []string
		var aps []backend.AppPassword
		// Owners and administrators see appPasswordId and the children;
		// services, which answer every mail lookup, cost no extra query.
		if appPasswords && c.readsAppPasswordsOf(a.Name) {
			if allAppPasswords != nil {
				aps = allAppPasswords[a.ID]
			} else if aps, err = c.srv.accounts.AppPasswords(ctx, a.Name); err != nil && !errors.Is(err, backend.ErrNotFound) {
				return 0, err
			}
			ids = make([]string, len(aps))
			for j, p := range aps {
				ids[j] = p.ID
			}
		}
		n := node{branch: branchPeople, depth: 2, name: a.Name, child: -1}
		if from.before(n.position()) {
			n.e = s.userEntry(a, ids)
			if ops.on {
				n.e.addOps(entryOps{uuid: a.UUID, modified: a.ModifiedAt, structural: structuralOf(a), subordinates: len(aps) > 0})
			}
			if !visit(n) {
				return reached, nil
			}
		}
		for j := range aps {
			if !children {
				break
			}
			n := node{branch: branchPeople, depth: 3, name: a.Name, id: aps[j].ID, child: j}
			if !from.before(n.position()) {
				continue
			}
			n.e = s.appPasswordEntry(a.Name, &aps[j])
			if ops.on {
				// Never changed once created: only revoked, and then gone.
				n.e.addOps(entryOps{uuid: aps[j].UUID, modified: aps[j].CreatedAt, structural: structAppPassword})
			}
			if !visit(n) {
				return reached, nil
			}
		}
	}
	if reachesGroups {
		for i := range groups {
			g := &groups[i]
			n := node{branch: branchGroups, depth: 2, name: g.Name}
			if !from.before(n.position()) {
				continue
			}
			n.e = s.groupEntry(g)
			if ops.on {
				n.e.addOps(entryOps{uuid: g.UUID, modified: g.ModifiedAt, structural: structGroup})
			}
			if !visit(n) {
				return reached, nil
			}
		}
	}
	return reached, nil
}

// position is the node's place in the order of a search's answer.
func (n *node) position() position {
	switch {
	case n.depth < 2:
		return position{section: sectionFixed, child: n.child}
	case n.branch == branchGroups:
		return position{section: sectionGroups, name: n.name}
	}
	return position{section: sectionAccounts, name: n.name, child: n.child}
}

// appPasswordOwner finds, for the index, the account whose active app
// password has a UUID, when the session may read any app passwords: a
// service reads none, and its lookups cost no query.
func (c *conn) appPasswordOwner(ctx context.Context, d *backend.Dir) func(backend.UUID) (*backend.DirEntry, error) {
	if c.principal.Role == backend.RoleService {
		return nil
	}
	return func(u backend.UUID) (*backend.DirEntry, error) {
		p, err := c.srv.accounts.AppPasswordByUUID(ctx, u)
		if errors.Is(err, backend.ErrNoSuchAppPassword) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return d.ByID(p.AccountID), nil
	}
}

// mentionsAttr reports whether any assertion of filter f is about attr.
func mentionsAttr(f *ber.Packet, attr string) bool {
	return mentions(f, func(a string) bool { return strings.EqualFold(a, attr) })
}

// selects reports whether a search's attribute list returns attr, a user
// attribute: an empty list and "*" return them all (RFC 4511 4.5.1.8).
func selects(attrs []string, attr string) bool {
	if len(attrs) == 0 {
		return true
	}
	for _, a := range attrs {
		if a == "*" || strings.EqualFold(a, attr) {
			return true
		}
	}
	return false
}

// reaches reports whether a search of scope based at depth d returns
// entries of depth n.
func reaches(d int, scope int64, n int) bool {
	switch scope {
	case scopeBase:
		return n == d
	case scopeOne:
		return n == d+1
	}
	return n >= d
}
