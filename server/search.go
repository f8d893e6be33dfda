package server

import (
	"context"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

type searchRequest struct {
	base      string
	scope     int64
	sizeLimit int64
	timeLimit int64
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

// searchRequest parses the request's search once.
func (r *request) searchRequest() (*searchRequest, result, bool) {
	if r.search != nil {
		return r.search, result{}, true
	}
	s, res, ok := parseSearch(r.op)
	if ok {
		r.search = s
	}
	return s, res, ok
}

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
	if s.timeLimit, ok = integer(ch[4]); !ok || s.timeLimit < 0 {
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
	s, r, ok := o.req.searchRequest()
	var controls []*ber.Packet
	if ok {
		r, controls = c.searchResult(o, s)
	}
	if len(controls) == 0 {
		c.replyResult(o, ldap.ApplicationSearchResultDone, r)
		return
	}
	o.code = r.code
	c.reply(o, resultOp(ldap.ApplicationSearchResultDone, r), controls...)
}

// searchResult sends the matching entries and returns the final result,
// with the paged-results response control when the request had one.
func (c *conn) searchResult(o *op, s *searchRequest) (result, []*ber.Packet) {
	switch {
	case s.base == "":
		return c.searchFixed(o, s, c.srv.rootDSE(), rootDSEOperational), nil
	case isSubschemaDN(s.base):
		e, err := c.subschema(o.ctx, s)
		if err != nil {
			return c.backendResult("search", err), nil
		}
		return c.searchFixed(o, s, e, subschemaOperational), nil
	}
	t, r, ok := c.locate("base", s.base)
	if !ok {
		return r, nil
	}
	page, r, ok := c.pageRequest(o.req, s)
	if !ok {
		return r, nil
	}
	// The answer is sent as the walk finds it, and a page ends the walk:
	// a page of a paged search costs what it sends.
	_, depth := t.place()
	found := page.after != start // a resumed search found its base on its first page
	res, sent, more := success(), 0, false
	var last position
	reached, err := c.walk(o.ctx, t, s, page.after, page.want(), func(n node) bool {
		if !n.within(t) {
			return true
		}
		if n.depth == depth {
			found = true
		}
		if !n.inScope(t, s.scope) || match(s.filter, n.e) != fTrue {
			return true
		}
		if page.active && sent >= page.size {
			more = true
			return false
		}
		switch {
		case s.sizeLimit > 0 && int64(page.offset+sent) >= s.sizeLimit:
			res = fail(ldap.LDAPResultSizeLimitExceeded, "more than %d entries match", s.sizeLimit)
			return false
		case o.ctx.Err() != nil:
			return false
		case s.timeLimit > 0 && time.Since(o.start) > time.Duration(s.timeLimit)*time.Second:
			res = fail(ldap.LDAPResultTimeLimitExceeded, "the search took longer than %d s", s.timeLimit)
			return false
		}
		c.replyEntry(o, n.e, selectAttrs(n.e, s.attrs, isOperational), s.typesOnly)
		sent++
		last = n.position()
		return true
	})
	if err != nil {
		return c.backendResult("search", err), nil
	}
	if !found {
		// Also the answer for entries the session may not read, so their
		// existence does not leak: matchedDN names the closest entry above
		// that the session can read, as slapd names the closest it may
		// disclose.
		nodes, err := c.tree(o.ctx, t, s)
		if err != nil {
			return c.backendResult("search", err), nil
		}
		return result{code: ldap.LDAPResultNoSuchObject, matchedDN: c.missingMatchedDN(o.ctx, t, s.base, nodes), diag: "no such entry"}, nil
	}
	if res.code != ldap.LDAPResultSuccess || o.ctx.Err() != nil {
		return res, nil
	}
	return res, c.pageDone(page, more, page.offset+sent, reached, last)
}

func isSubschemaDN(dn string) bool {
	return strings.EqualFold(strings.ReplaceAll(dn, " ", ""), subschemaDN)
}

// locate classifies the DN an operation names (what: "base" of a search,
// "entry" of a compare), below the root DSE and the subschema, and refuses
// what the session may not look under at all.
func (c *conn) locate(what, dn string) (target, result, bool) {
	t, ok := c.srv.classify(dn)
	switch {
	case !ok:
		return t, fail(ldap.LDAPResultInvalidDNSyntax, "%s %q is not a DN", what, dn), false
	case t.kind == dnOther && !c.srv.underBase(dn):
		return t, fail(ldap.LDAPResultNoSuchObject, "%q is not under this server's naming context %s", dn, c.srv.cfg.BaseDN), false
	case c.srv.accounts == nil:
		return t, fail(ldap.LDAPResultUnwillingToPerform, "this server serves only the root DSE"), false
	case c.principal == nil:
		return t, fail(ldap.LDAPResultInsufficientAccessRights, "anonymous sessions may read only the root DSE; bind first"), false
	}
	return t, result{}, true
}

// searchFixed answers a search of one fixed entry: the root DSE or the
// subschema, readable by anyone (RFC 4512 5.1, 4.4).
func (c *conn) searchFixed(o *op, s *searchRequest, e *entry, isOp func(string) bool) result {
	if s.scope != scopeBase {
		// They have no subordinates a search reaches: one-level and
		// subtree searches find nothing, as with slapd.
		return success()
	}
	if match(s.filter, e) == fTrue {
		c.replyEntry(o, e, selectAttrs(e, s.attrs, isOp), s.typesOnly)
	}
	return success()
}

// subschema is the subschema entry, with the operational attributes every
// entry has when the search can use them; its UUID is the database's, so a
// server without one (bind-only) serves none.
func (c *conn) subschema(ctx context.Context, s *searchRequest) (*entry, error) {
	if c.srv.accounts == nil || !opsWanted(s).on {
		return subschemaEntry(), nil
	}
	d, err := c.srv.accounts.Directory(ctx)
	if err != nil {
		return nil, err
	}
	return subschemaWithOps(d.Namespace()), nil
}

// rootDSE is the root DSE (RFC 4512 5.1).
func (s *Server) rootDSE() *entry {
	e := &entry{attrs: []attribute{
		{"objectClass", []string{"top", "wicketRootDSE"}},
		{"namingContexts", []string{s.cfg.BaseDN}},
		{"supportedLDAPVersion", []string{"3"}},
		{"supportedExtension", s.supportedExtensions()},
		{"supportedControl", []string{ldap.ControlTypePaging}},
		{"supportedSASLMechanisms", s.saslMechanisms()},
		{"supportedFeatures", supportedFeatures},
		{"subschemaSubentry", []string{subschemaDN}},
		{"vendorName", []string{"wicket"}},
	}}
	if s.cfg.Version != "" {
		e.attrs = append(e.attrs, attribute{"vendorVersion", []string{s.cfg.Version}})
	}
	return e
}

// supportedFeatures: "+" for all operational attributes (RFC 3673) and the
// absolute filters (&) and (|) (RFC 4526), which clients use only when
// the root DSE lists them.
var supportedFeatures = []string{"1.3.6.1.4.1.4203.1.5.1", "1.3.6.1.4.1.4203.1.5.3"}

// rootDSEOperational: every root DSE attribute but objectClass is
// operational (RFC 4512 5.1).
func rootDSEOperational(name string) bool { return !strings.EqualFold(name, "objectClass") }

func isOperational(name string) bool { return operational[strings.ToLower(name)] }

func (s *Server) supportedExtensions() []string {
	ext := []string{exop.OIDWhoAmI}
	if s.tlsConf != nil {
		ext = append(ext, oidStartTLS)
	}
	if s.accounts != nil {
		ext = append(ext, exop.OIDPasswordModify, exop.OIDAppPasswordCreate, exop.OIDAppPasswordList,
			exop.OIDAppPasswordRevoke, exop.OIDAppPasswordRevokeAll)
	}
	return ext
}

func (s *Server) saslMechanisms() []string {
	if s.externalEnabled() {
		return []string{"PLAIN", "EXTERNAL"}
	}
	return []string{"PLAIN"}
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

// underBase reports whether dn is the base or below it.
func (s *Server) underBase(raw string) bool {
	dn, err := ldap.ParseDN(raw)
	return err == nil && (s.baseDN.AncestorOfFold(dn) || s.baseDN.EqualFold(dn))
}

// matchedDN is the closest existing entry above the missing target t among
// the entries the session reads (nodes).
// missingMatchedDN is the matchedDN of a missing entry named dn: for a DN
// wicket serves nothing at (uid=x,uid=alice,ou=people,...), that of its
// closest ancestor wicket does serve, looked up as a base search of it
// would be, so the answer is slapd's and discloses only what the session
// may read.
func (c *conn) missingMatchedDN(ctx context.Context, t target, dn string, nodes []node) string {
	if t.kind != dnOther {
		return c.srv.matchedDN(t, nodes)
	}
	p, pdn, ok := c.srv.servedAncestor(dn)
	if !ok {
		return c.srv.cfg.BaseDN
	}
	pn, err := c.tree(ctx, p, &searchRequest{base: pdn, scope: scopeBase, filter: presentObjectClass})
	if err != nil {
		return c.srv.cfg.BaseDN
	}
	_, depth := p.place()
	for i := range pn {
		if n := &pn[i]; n.depth == depth && n.within(p) {
			return n.e.dn
		}
	}
	return c.srv.matchedDN(p, pn)
}

// servedAncestor is the closest ancestor of dn that names an entry kind
// wicket serves, with its DN.
func (s *Server) servedAncestor(dn string) (target, string, bool) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return target{}, "", false
	}
	for i := 1; i < len(parsed.RDNs); i++ {
		up := (&ldap.DN{RDNs: parsed.RDNs[i:]}).String()
		if t, ok := s.classify(up); ok && t.kind != dnOther {
			return t, up, true
		}
	}
	return target{}, "", false
}

func (s *Server) matchedDN(t target, nodes []node) string {
	switch t.kind {
	case dnAppPassword:
		for i := range nodes {
			if n := &nodes[i]; n.depth == 2 && n.branch == branchPeople && n.name == t.name {
				return n.e.dn
			}
		}
		return s.fixed.people.dn
	case dnUser:
		return s.fixed.people.dn
	case dnGroup:
		return s.fixed.groups.dn
	}
	return s.cfg.BaseDN
}
