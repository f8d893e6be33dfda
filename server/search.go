package server

import (
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
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
			c.reply(o, entryOp(e, selectAttrs(e, s.attrs, true), s.typesOnly))
		}
		return success()
	}
	dn, err := ldap.ParseDN(s.base)
	if err != nil {
		return fail(ldap.LDAPResultInvalidDNSyntax, "base %q is not a DN", s.base)
	}
	if !c.srv.baseDN.AncestorOfFold(dn) && !c.srv.baseDN.EqualFold(dn) {
		return fail(ldap.LDAPResultNoSuchObject, "%q is not under this server's naming context %s", s.base, c.srv.cfg.BaseDN)
	}
	return fail(ldap.LDAPResultUnwillingToPerform, "searching the directory below %s is not supported by this server; only the root DSE can be searched", c.srv.cfg.BaseDN)
}

// rootDSE is the root DSE (RFC 4512 5.1).
func (s *Server) rootDSE() *entry {
	return &entry{attrs: []attribute{
		{"objectClass", []string{"top", "wicketRootDSE"}},
		{"namingContexts", []string{s.cfg.BaseDN}},
		{"supportedLDAPVersion", []string{"3"}},
		{"supportedExtension", []string{oidWhoAmI}},
		{"vendorName", []string{"wicket"}},
		{"vendorVersion", []string{s.cfg.Version}},
	}}
}

// selectAttrs applies the requested attribute list (RFC 4511 4.5.1.8).
// With operational set (the root DSE), everything but objectClass is
// operational: returned only when named or asked for with "+".
func selectAttrs(e *entry, want []string, operational bool) []attribute {
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
		isOp := operational && !strings.EqualFold(a.name, "objectClass")
		if named[strings.ToLower(a.name)] || (isOp && ops) || (!isOp && all) {
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
