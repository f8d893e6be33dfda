package server

import (
	"context"
	"errors"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

type searchRequest struct {
	base      string
	scope     int64
	sizeLimit int64
	typesOnly bool
	filter    *ber.Packet
	attrs     []string
}

// Search scopes, RFC 4511 4.5.1.2.
const (
	scopeBase = 0
	scopeOne  = 1
	scopeSub  = 2
)

func parseSearch(op *ber.Packet) (*searchRequest, result, bool) {
	bad := func(msg string) (*searchRequest, result, bool) {
		return nil, fail(ldap.LDAPResultProtocolError, "malformed search request: %s", msg), false
	}
	if op.TagType != ber.TypeConstructed || len(op.Children) != 8 {
		return bad("want 8 fields")
	}
	ch := op.Children
	var s searchRequest
	var ok bool
	if s.base, ok = octetString(ch[0]); !ok {
		return bad("baseObject is not an OCTET STRING")
	}
	if s.scope, ok = integer(ch[1]); !ok || s.scope < scopeBase || s.scope > scopeSub {
		return bad("scope must be baseObject, singleLevel or wholeSubtree")
	}
	if deref, ok := integer(ch[2]); !ok || deref < 0 || deref > 3 {
		return bad("derefAliases out of range")
	}
	if s.sizeLimit, ok = integer(ch[3]); !ok || s.sizeLimit < 0 {
		return bad("sizeLimit must be a non-negative INTEGER")
	}
	if tl, ok := integer(ch[4]); !ok || tl < 0 {
		return bad("timeLimit must be a non-negative INTEGER")
	}
	if s.typesOnly, ok = boolean(ch[5]); !ok {
		return bad("typesOnly is not a BOOLEAN")
	}
	if !validFilter(ch[6]) {
		return bad("the filter is not a valid Filter")
	}
	s.filter = ch[6]
	if ch[7].TagType != ber.TypeConstructed {
		return bad("attributes is not a SEQUENCE")
	}
	for _, a := range ch[7].Children {
		name, ok := octetString(a)
		if !ok {
			return bad("an attribute selector is not an OCTET STRING")
		}
		s.attrs = append(s.attrs, name)
	}
	return &s, result{}, true
}

func (c *conn) search(o *op) {
	s, r, ok := parseSearch(o.req.op)
	if ok {
		r = c.searchResult(o, s)
	}
	c.reply(o, resultOp(ldap.ApplicationSearchResultDone, r))
}

func (c *conn) searchResult(o *op, s *searchRequest) result {
	if s.base == "" {
		if s.scope != scopeBase {
			// The root DSE has no subordinates that a search reaches
			// (RFC 4512 5.1): one-level and subtree searches of "" find
			// nothing, as with slapd.
			return success()
		}
		e := c.srv.rootDSE()
		if match(s.filter, e) == fTrue {
			c.reply(o, entryOp(e, selectAttrs(e, s.attrs, rootDSEOperational), s.typesOnly))
		}
		return success()
	}
	t, ok := c.srv.classify(s.base)
	if !ok {
		return fail(ldap.LDAPResultInvalidDNSyntax, "base %q is not a DN", s.base)
	}
	dn, _ := ldap.ParseDN(s.base)
	if !c.srv.baseDN.AncestorOfFold(dn) && !c.srv.baseDN.EqualFold(dn) {
		return fail(ldap.LDAPResultNoSuchObject, "%q is not under this server's naming context %s", s.base, c.srv.cfg.BaseDN)
	}
	if c.srv.accounts == nil {
		return fail(ldap.LDAPResultUnwillingToPerform, "this server serves only the root DSE")
	}
	if c.principal == nil {
		return fail(ldap.LDAPResultInsufficientAccessRights, "anonymous sessions may read only the root DSE; bind first")
	}
	nodes, err := c.tree(o.ctx, t)
	if err != nil {
		return c.backendResult("search", err)
	}
	found := false
	var matches []*entry
	for _, n := range nodes {
		if !n.within(t) {
			continue
		}
		if n.depth == t.depthOf() {
			found = true
		}
		if n.inScope(t, s.scope) && match(s.filter, n.e) == fTrue {
			matches = append(matches, n.e)
		}
	}
	if !found {
		// Also the answer for entries the session may not read, so their
		// existence does not leak.
		return result{code: ldap.LDAPResultNoSuchObject, matchedDN: c.srv.cfg.BaseDN, diag: "no such entry"}
	}
	for i, e := range matches {
		if s.sizeLimit > 0 && int64(i) == s.sizeLimit {
			return fail(ldap.LDAPResultSizeLimitExceeded, "more than %d entries match", s.sizeLimit)
		}
		if o.ctx.Err() != nil {
			return success()
		}
		c.reply(o, entryOp(e, selectAttrs(e, s.attrs, isOperational), s.typesOnly))
	}
	return success()
}

// node is an entry with its place in the tree: depth 0 is the base, 1
// ou=people, 2 a user, 3 an app password.
type node struct {
	e        *entry
	depth    int
	name, id string
}

func (t target) depthOf() int {
	switch t.kind {
	case dnPeople:
		return 1
	case dnUser:
		return 2
	case dnAppPassword:
		return 3
	}
	return 0
}

// within reports whether n is t's entry or below it.
func (n *node) within(t target) bool {
	switch t.kind {
	case dnBase:
		return true
	case dnPeople:
		return n.depth >= 1
	case dnUser:
		return n.depth >= 2 && n.name == t.name
	case dnAppPassword:
		return n.depth == 3 && n.name == t.name && n.id == t.id
	}
	return false
}

func (n *node) inScope(t target, scope int64) bool {
	d := t.depthOf()
	switch scope {
	case scopeBase:
		return n.depth == d
	case scopeOne:
		return n.depth == d+1
	}
	return n.depth >= d
}

// tree returns the entries the session may read that a search based at t
// can reach.
func (c *conn) tree(ctx context.Context, t target) ([]node, error) {
	var names []string
	switch t.kind {
	case dnOther:
		return nil, nil
	case dnUser, dnAppPassword:
		if !c.canRead(t.name) {
			return nil, nil
		}
		names = []string{t.name}
	default:
		var err error
		if names, err = c.readableAccounts(ctx); err != nil {
			return nil, err
		}
	}
	nodes := []node{{e: c.srv.baseEntry(), depth: 0}, {e: c.srv.peopleEntry(), depth: 1}}
	for _, name := range names {
		entries, err := c.accountSubtree(ctx, name)
		if errors.Is(err, backend.ErrNotFound) {
			continue // deleted meanwhile, or never there
		}
		if err != nil {
			return nil, err
		}
		for i, e := range entries {
			n := node{e: e, depth: 2, name: name}
			if i > 0 {
				n.depth, n.id = 3, e.get(attrAppPasswordID).values[0]
			}
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// canRead: owners read their own entries; administrators and service
// accounts read everyone's.
func (c *conn) canRead(name string) bool {
	p := c.principal
	return p.Name == name || p.Role == backend.RoleAdmin || p.Role == backend.RoleService
}

// rootDSE is the root DSE (RFC 4512 5.1).
func (s *Server) rootDSE() *entry {
	e := &entry{attrs: []attribute{
		{"objectClass", []string{"top", "wicketRootDSE"}},
		{"namingContexts", []string{s.cfg.BaseDN}},
		{"supportedLDAPVersion", []string{"3"}},
		{"supportedExtension", s.supportedExtensions()},
		{"vendorName", []string{"wicket"}},
	}}
	if s.cfg.Version != "" {
		e.attrs = append(e.attrs, attribute{"vendorVersion", []string{s.cfg.Version}})
	}
	return e
}

// rootDSEOperational: every root DSE attribute but objectClass is
// operational (RFC 4512 5.1).
func rootDSEOperational(name string) bool { return !strings.EqualFold(name, "objectClass") }

func isOperational(name string) bool { return operational[strings.ToLower(name)] }

func (s *Server) supportedExtensions() []string {
	ext := []string{exop.OIDWhoAmI}
	if s.accounts != nil {
		ext = append(ext, exop.OIDPasswordModify, exop.OIDAppPasswordCreate, exop.OIDAppPasswordList,
			exop.OIDAppPasswordRevoke, exop.OIDAppPasswordRevokeAll)
	}
	return ext
}

// selectAttrs applies the requested attribute list (RFC 4511 4.5.1.8):
// operational attributes only when named or asked for with "+".
func selectAttrs(e *entry, want []string, isOp func(string) bool) []attribute {
	all, ops, none := len(want) == 0, false, false
	named := map[string]bool{}
	for _, w := range want {
		switch w {
		case "*":
			all = true
		case "+":
			ops = true
		case "1.1":
			none = true
		default:
			named[strings.ToLower(w)] = true
		}
	}
	if none && len(named) == 0 && !all && !ops {
		return nil
	}
	var out []attribute
	for _, a := range e.attrs {
		op := isOp(a.name)
		if named[strings.ToLower(a.name)] || (op && ops) || (!op && all) {
			out = append(out, a)
		}
	}
	return out
}

// entryOp encodes a SearchResultEntry.
func entryOp(e *entry, attrs []attribute, typesOnly bool) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, e.dn, "objectName"))
	list := ber.NewSequence("attributes")
	for _, a := range attrs {
		pa := ber.NewSequence("")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.name, "type"))
		vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
		if !typesOnly {
			for _, v := range a.values {
				vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
			}
		}
		pa.AppendChild(vals)
		list.AppendChild(pa)
	}
	p.AppendChild(list)
	return p
}
