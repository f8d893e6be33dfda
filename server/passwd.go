package server

import (
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// passwdModify is RFC 3062's request value:
//
//	PasswdModifyRequestValue ::= SEQUENCE {
//	    userIdentity [0] OCTET STRING OPTIONAL,
//	    oldPasswd    [1] OCTET STRING OPTIONAL,
//	    newPasswd    [2] OCTET STRING OPTIONAL }
type passwdModify struct {
	user, old, new          string
	hasUser, hasOld, hasNew bool
}

func parsePasswdModify(v []byte, present bool) (passwdModify, error) {
	var pm passwdModify
	if !present {
		return pm, nil
	}
	if len(v) == 0 || v[0] != 0x30 {
		return pm, fmt.Errorf("the request value is not a PasswdModifyRequestValue SEQUENCE")
	}
	p, err := ber.DecodePacketErr(v)
	if err != nil || len(p.Bytes()) != len(v) {
		return pm, fmt.Errorf("the request value is not valid BER")
	}
	last := -1
	for _, f := range p.Children {
		if f.ClassType != ber.ClassContext || f.TagType != ber.TypePrimitive || int(f.Tag) <= last || f.Tag > 2 {
			return pm, fmt.Errorf("PasswdModifyRequestValue fields must be [0], [1], [2] in order, each at most once")
		}
		last = int(f.Tag)
		switch f.Tag {
		case 0:
			pm.user, pm.hasUser = f.Data.String(), true
		case 1:
			pm.old, pm.hasOld = f.Data.String(), true
		case 2:
			pm.new, pm.hasNew = f.Data.String(), true
		}
	}
	return pm, nil
}

// passwordModify changes a primary password (RFC 3062). The bound user
// changes their own with the old password; an administrator changes
// anyone's. Every app password of the account is revoked in the same
// transaction, as Apple does on a password change.
func (c *conn) passwordModify(o *op, x *extendedRequest) (result, []byte) {
	pm, err := parsePasswdModify(x.value, x.hasValue)
	if err != nil {
		return fail(ldap.LDAPResultProtocolError, "%v", err), nil
	}
	name, r, ok := c.authorize(o.ctx, pm.user, accessManage)
	if !ok {
		return r, nil
	}
	// Your own password, administrators' included, needs the old one: a
	// session left open must not be enough to take the account over.
	own := name == c.principal.Name
	if own && (!pm.hasOld || pm.old == "") {
		return fail(ldap.LDAPResultUnwillingToPerform, "changing your own password needs the current one in oldPasswd (ldappasswd -a or -A)"), nil
	}
	newPassword, generated := pm.new, !pm.hasNew || pm.new == ""
	if generated {
		newPassword = backend.GeneratePassword()
	}
	// The account domain records the change and the revocations with it,
	// or the refusal.
	ctx := c.acting(o.ctx, viaPasswordModify)
	var revoked int
	if own {
		revoked, err = c.srv.accounts.ChangeOwnPassword(ctx, name, pm.old, newPassword)
	} else {
		revoked, err = c.srv.accounts.SetPassword(ctx, name, newPassword)
	}
	if err != nil {
		return c.backendResult("password modify", err), nil
	}
	r = result{code: ldap.LDAPResultSuccess,
		diag: fmt.Sprintf("password changed; %s revoked", plural(revoked, "app password"))}
	if !generated {
		return r, nil
	}
	seq := ber.NewSequence("PasswdModifyResponseValue")
	seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, newPassword, "genPasswd"))
	return r, seq.Bytes()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
