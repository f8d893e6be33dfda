package server

import (
	"errors"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// Modify operations, RFC 4511 4.6.
const (
	modAdd     = 0
	modDelete  = 1
	modReplace = 2
)

type change struct {
	op     int64
	attr   string
	values []string
}

func parseModify(op *ber.Packet) (string, []change, result, bool) {
	bad := func(msg string) (string, []change, result, bool) {
		return "", nil, fail(ldap.LDAPResultProtocolError, "malformed modify request: %s", msg), false
	}
	if op.TagType != ber.TypeConstructed || len(op.Children) != 2 {
		return bad("want object and changes")
	}
	object, ok := octetString(op.Children[0])
	if !ok {
		return bad("object is not an OCTET STRING")
	}
	list := op.Children[1]
	if list.TagType != ber.TypeConstructed || list.Tag != ber.TagSequence {
		return bad("changes is not a SEQUENCE")
	}
	var changes []change
	for _, ch := range list.Children {
		if ch.TagType != ber.TypeConstructed || len(ch.Children) != 2 {
			return bad("a change must be operation and modification")
		}
		opc, ok := integer(ch.Children[0])
		if !ok || opc < 0 {
			return bad("operation is not an ENUMERATED")
		}
		mod := ch.Children[1]
		if mod.TagType != ber.TypeConstructed || len(mod.Children) != 2 {
			return bad("modification must be type and vals")
		}
		attr, ok := octetString(mod.Children[0])
		if !ok || attr == "" {
			return bad("the attribute type is not an OCTET STRING")
		}
		vals := mod.Children[1]
		if vals.TagType != ber.TypeConstructed || vals.Tag != ber.TagSet {
			return bad("vals is not a SET")
		}
		c := change{op: opc, attr: attr}
		for _, v := range vals.Children {
			s, ok := octetString(v)
			if !ok {
				return bad("a value is not an OCTET STRING")
			}
			c.values = append(c.values, s)
		}
		changes = append(changes, c)
	}
	return object, changes, result{}, true
}

// modify serves revocation through stock ldapmodify: on a user entry,
// "delete: appPasswordId" with values revokes those, without values revokes
// all. Anything else is refused before anything changes.
func (c *conn) modify(o *op) {
	c.replyResult(o, ldap.ApplicationModifyResponse, c.modifyResult(o))
}

func (c *conn) modifyResult(o *op) result {
	object, changes, r, ok := parseModify(o.req.op)
	if !ok {
		return r
	}
	t, ok := c.srv.classify(object)
	if !ok {
		return fail(ldap.LDAPResultInvalidDNSyntax, "%q is not a DN", object)
	}
	if t.kind != dnUser {
		return fail(ldap.LDAPResultUnwillingToPerform,
			"only user entries can be modified, and only by deleting appPasswordId values")
	}
	all, ids := false, []string{}
	for _, ch := range changes {
		switch {
		case strings.EqualFold(ch.attr, "userPassword"):
			return fail(ldap.LDAPResultUnwillingToPerform,
				"userPassword cannot be modified; change the password with the Password Modify operation (ldappasswd)")
		case ch.op != modDelete || !strings.EqualFold(ch.attr, attrAppPasswordID):
			return fail(ldap.LDAPResultUnwillingToPerform,
				"only \"delete: appPasswordId\" is supported: with values it revokes those app passwords, without values all of them; nothing was changed")
		case len(ch.values) == 0:
			all = true
		default:
			ids = append(ids, ch.values...)
		}
	}
	name, r, ok := c.authorize(o.ctx, t.name, accessManage)
	if !ok {
		return r
	}
	ctx := c.acting(o.ctx, viaModify)
	if all {
		if _, err := c.srv.accounts.RevokeAllAppPasswords(ctx, name); err != nil {
			return c.backendResult("modify", err)
		}
		return success()
	}
	if len(ids) == 0 {
		return success() // an empty change list changes nothing
	}
	err := c.srv.accounts.RevokeAppPasswords(ctx, name, ids)
	if err == nil {
		return success()
	}
	if isNoSuchAppPassword(err) {
		// RFC 4511 4.6: deleting a value the attribute lacks is noSuchAttribute.
		return fail(ldap.LDAPResultNoSuchAttribute,
			"appPasswordId: a value is not an active app password of this user; nothing was revoked")
	}
	return c.backendResult("modify", err)
}

func isNoSuchAppPassword(err error) bool { return errors.Is(err, backend.ErrNoSuchAppPassword) }

// del serves revocation through stock ldapdelete of an app-password entry.
func (c *conn) del(o *op) {
	c.replyResult(o, ldap.ApplicationDelResponse, c.delResult(o))
}

func (c *conn) delResult(o *op) result {
	if o.req.op.TagType != ber.TypePrimitive {
		return fail(ldap.LDAPResultProtocolError, "malformed delete request: the DN must be a primitive LDAPDN")
	}
	t, ok := c.srv.classify(o.req.op.Data.String())
	if !ok {
		return fail(ldap.LDAPResultInvalidDNSyntax, "%q is not a DN", o.req.op.Data.String())
	}
	switch t.kind {
	case dnAppPassword:
	case dnUser:
		return fail(ldap.LDAPResultUnwillingToPerform, "accounts are deleted by an administrator with 'wicket user delete'")
	default:
		return fail(ldap.LDAPResultUnwillingToPerform, "only app-password entries can be deleted")
	}
	name, r, ok := c.authorize(o.ctx, t.name, accessManage)
	if !ok {
		return r
	}
	if err := c.srv.accounts.RevokeAppPasswords(c.acting(o.ctx, viaDelete), name, []string{t.id}); err != nil {
		return c.backendResult("delete", err)
	}
	return success()
}
