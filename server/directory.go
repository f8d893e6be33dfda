package server

import (
	"context"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// Attribute and class names of the directory view.
const (
	attrAppPasswordID = "appPasswordId"
	attrLabel         = "label"
	attrLastUsed      = "lastUsedTimestamp"
	attrLastUsedFrom  = "lastUsedFrom"
)

// dnKind says what a DN names in wicket's tree.
type dnKind int

const (
	dnOther       dnKind = iota // outside the tree, or nothing wicket serves
	dnBase                      // the naming context
	dnPeople                    // ou=people
	dnUser                      // uid=NAME,ou=people
	dnAppPassword               // appPasswordId=ID,uid=NAME,ou=people
)

type target struct {
	kind dnKind
	name string // dnUser, dnAppPassword
	id   string // dnAppPassword
}

// classify parses a DN of wicket's tree.
func (s *Server) classify(raw string) (target, bool) {
	dn, err := ldap.ParseDN(raw)
	if err != nil {
		return target{}, false
	}
	switch {
	case dn.EqualFold(s.baseDN):
		return target{kind: dnBase}, true
	case dn.EqualFold(s.peopleDN):
		return target{kind: dnPeople}, true
	}
	below := len(dn.RDNs) - len(s.peopleDN.RDNs)
	if below < 1 || below > 2 || !(&ldap.DN{RDNs: dn.RDNs[below:]}).EqualFold(s.peopleDN) {
		return target{}, true
	}
	rdnValue := func(r *ldap.RelativeDN, attr string) (string, bool) {
		if len(r.Attributes) != 1 || !strings.EqualFold(r.Attributes[0].Type, attr) || r.Attributes[0].Value == "" {
			return "", false
		}
		return r.Attributes[0].Value, true
	}
	name, ok := rdnValue(dn.RDNs[below-1], "uid")
	if !ok {
		return target{}, true
	}
	if below == 1 {
		return target{kind: dnUser, name: strings.ToLower(name)}, true
	}
	id, ok := rdnValue(dn.RDNs[0], attrAppPasswordID)
	if !ok {
		return target{}, true
	}
	return target{kind: dnAppPassword, name: strings.ToLower(name), id: strings.ToLower(id)}, true
}

func (s *Server) appPasswordDN(name, id string) string {
	return attrAppPasswordID + "=" + ldap.EscapeDN(id) + "," + s.userDN(name)
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

func (s *Server) peopleEntry() *entry {
	return &entry{dn: "ou=people," + s.cfg.BaseDN, attrs: []attribute{
		{"objectClass", []string{"top", "organizationalUnit"}},
		{"ou", []string{"people"}},
	}}
}

func (s *Server) userEntry(u *backend.UserInfo, aps []backend.AppPassword) *entry {
	e := &entry{dn: s.userDN(u.Name), attrs: []attribute{
		{"objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson", "wicketAccount"}},
		{"uid", []string{u.Name}},
		{"cn", []string{u.Name}},
		{"sn", []string{u.Name}},
	}}
	if u.Mail != "" {
		e.attrs = append(e.attrs, attribute{"mail", []string{u.Mail}})
	}
	if len(aps) > 0 {
		ids := make([]string, len(aps))
		for i, p := range aps {
			ids[i] = p.ID
		}
		e.attrs = append(e.attrs, attribute{attrAppPasswordID, ids})
	}
	e.attrs = append(e.attrs, attribute{"createTimestamp", []string{ldapTime(u.CreatedAt)}})
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
}

// accountSubtree is an account's entry and its app-password entries.
func (c *conn) accountSubtree(ctx context.Context, name string) ([]*entry, error) {
	u, err := c.srv.accounts.User(ctx, name)
	if err != nil {
		return nil, err
	}
	aps, err := c.srv.accounts.AppPasswords(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]*entry, 0, 1+len(aps))
	out = append(out, c.srv.userEntry(u, aps))
	for i := range aps {
		out = append(out, c.srv.appPasswordEntry(u.Name, &aps[i]))
	}
	return out, nil
}

// readableAccounts are the accounts whose entries the session may read.
func (c *conn) readableAccounts(ctx context.Context) ([]string, error) {
	p := c.principal
	if p.Role != backend.RoleAdmin && p.Role != backend.RoleService {
		return []string{p.Name}, nil
	}
	users, err := c.srv.accounts.Users(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Name
	}
	return names, nil
}
