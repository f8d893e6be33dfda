package server

import (
	"context"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// The Compare operation (RFC 4511 4.10), which Apache's "Require
// ldap-group" and "Require ldap-attribute", PHP's ldap_compare and
// ldapcompare use. The entry is found as a base-scope search by the same
// session finds it, and the value matched by the attribute's equality rule
// as an equality filter matches it (matching.go).

type compareRequest struct {
	entry string
	desc  string // attributeDesc of the AttributeValueAssertion
	value string
}

func parseCompare(op *ber.Packet) (*compareRequest, result, bool) {
	bad := func(msg string) (*compareRequest, result, bool) {
		return nil, fail(ldap.LDAPResultProtocolError, "malformed compare request: %s", msg), false
	}
	if op.TagType != ber.TypeConstructed || len(op.Children) != 2 {
		return bad("want entry and ava")
	}
	var r compareRequest
	var ok bool
	if r.entry, ok = octetString(op.Children[0]); !ok {
		return bad("entry is not an OCTET STRING")
	}
	ava := op.Children[1]
	if ava.ClassType != ber.ClassUniversal || ava.TagType != ber.TypeConstructed || ava.Tag != ber.TagSequence ||
		len(ava.Children) != 2 {
		return bad("ava must be a SEQUENCE of attributeDesc and assertionValue")
	}
	if r.desc, ok = octetString(ava.Children[0]); !ok {
		return bad("attributeDesc is not an OCTET STRING")
	}
	if r.value, ok = octetString(ava.Children[1]); !ok {
		return bad("assertionValue is not an OCTET STRING")
	}
	return &r, result{}, true
}

func (c *conn) compare(o *op) {
	c.replyResult(o, ldap.ApplicationCompareResponse, c.compareResult(o.ctx, o.req.op))
}

func (c *conn) compareResult(ctx context.Context, op *ber.Packet) result {
	req, r, ok := parseCompare(op)
	if !ok {
		return r
	}
	x := schema()
	a, r, ok := x.newAssertion(req.desc, req.value, false)
	if !ok {
		return r
	}
	e, r, ok := c.compareEntry(ctx, req.entry, a)
	if !ok {
		return r
	}
	switch x.evaluate(e, a) {
	case verdictTrue:
		return result{code: ldap.LDAPResultCompareTrue}
	case verdictFalse:
		return result{code: ldap.LDAPResultCompareFalse}
	case verdictNoAttribute:
		return fail(ldap.LDAPResultNoSuchAttribute, "the entry has no %s", req.desc)
	}
	return fail(ldap.LDAPResultUndefinedAttributeType, "%s is not an attribute type of this directory", a.desc)
}

// presentObjectClass is the filter (objectClass=*): what compareEntry asks
// of the tree, which every entry matches.
var presentObjectClass = ber.NewString(ber.ClassContext, ber.TypePrimitive, filterPresent, "objectClass", "")

// compareEntry finds the entry named dn as the session may read it, with
// the answers a base-scope search of dn gives when it cannot: the root DSE
// and the subschema for anyone, the rest once bound, and an entry the
// session may not read is as missing as one that does not exist.
func (c *conn) compareEntry(ctx context.Context, dn string, a *assertion) (*entry, result, bool) {
	switch {
	case dn == "":
		return c.srv.rootDSE(), result{}, true
	case isSubschemaDN(dn):
		// With the operational attributes every entry has, when asked.
		e, err := c.subschema(ctx, &searchRequest{filter: presentObjectClass, attrs: []string{a.desc}})
		if err != nil {
			return nil, c.backendResult("compare", err), false
		}
		return e, result{}, true
	}
	t, r, ok := c.locate("entry", dn)
	if !ok {
		return nil, r, false
	}
	// The attribute is named so that the tree includes what it builds on
	// request only (appPasswordId).
	name := a.desc
	if a.typ != nil {
		name = a.typ.name()
	}
	sr := &searchRequest{base: dn, scope: scopeBase, filter: presentObjectClass, attrs: []string{name}}
	nodes, err := c.tree(ctx, t, sr)
	if err != nil {
		return nil, c.backendResult("compare", err), false
	}
	_, depth := t.place()
	for i := range nodes {
		if n := &nodes[i]; n.depth == depth && n.within(t) {
			return n.e, result{}, true
		}
	}
	return nil, result{code: ldap.LDAPResultNoSuchObject, matchedDN: c.missingMatchedDN(ctx, t, dn, nodes), diag: "no such entry"}, false
}
