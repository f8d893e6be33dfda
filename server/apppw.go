package server

import (
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

// The app-password extended operations (exop, docs/PROTOCOL.md). Each
// returns its result and response value.

func malformedValue(err error) result {
	return fail(ldap.LDAPResultProtocolError, "%v", err)
}

func (c *conn) appPasswordCreate(o *op, x *extendedRequest) (result, []byte) {
	req, err := exop.DecodeCreateRequest(x.value)
	if err != nil || !x.hasValue {
		return fail(ldap.LDAPResultProtocolError, "app password create needs a label: a BER AppPasswordCreateRequest or the label as plain UTF-8"), nil
	}
	name, r, ok := c.authorize(o.ctx, req.Target, accessManage)
	if !ok {
		return r, nil
	}
	// The account domain records the creation, with the id and the label.
	ap, err := c.srv.accounts.CreateAppPassword(c.acting(o.ctx, viaExop), name, req.Label)
	if err != nil {
		return c.backendResult("app password create", err), nil
	}
	value := exop.CreateResponse{ID: ap.ID, Password: ap.Password, Created: ap.CreatedAt}.Encode()
	r = success()
	if !req.Bare {
		return r, value
	}
	// Stock ldapexop prints a response value only as base64 but shows the
	// diagnostic message as text: the bare-label form is the one those
	// tools send, so the password is repeated there for a person to read.
	// Hence secret: this diagnostic goes to the client and nowhere else.
	r.diag = "app password " + ap.Password + " created with id " + ap.ID +
		"; it will not be shown again"
	r.secret = true
	return r, value
}

func (c *conn) appPasswordList(o *op, x *extendedRequest) (result, []byte) {
	var v []byte
	if x.hasValue {
		v = x.value
	}
	req, err := exop.DecodeListRequest(v)
	if err != nil {
		return malformedValue(err), nil
	}
	name, r, ok := c.authorize(o.ctx, req.Target, accessListAppPasswords)
	if !ok {
		return r, nil
	}
	aps, err := c.srv.accounts.AppPasswords(o.ctx, name)
	if err != nil {
		return c.backendResult("app password list", err), nil
	}
	return success(), exop.EncodeList(toWire(aps))
}

func toWire(aps []backend.AppPassword) []exop.AppPassword {
	out := make([]exop.AppPassword, len(aps))
	for i, p := range aps {
		out[i] = exop.AppPassword{ID: p.ID, Label: p.Label, Created: p.CreatedAt,
			LastUsed: p.LastUsedAt, LastUsedFrom: p.LastUsedFrom}
	}
	return out
}

func (c *conn) appPasswordRevoke(o *op, x *extendedRequest) (result, []byte) {
	req, err := exop.DecodeRevokeRequest(x.value)
	if err != nil || !x.hasValue {
		return fail(ldap.LDAPResultProtocolError, "app password revoke needs an id: a BER AppPasswordRevokeRequest or the id as plain text"), nil
	}
	name, r, ok := c.authorize(o.ctx, req.Target, accessManage)
	if !ok {
		return r, nil
	}
	if err := c.srv.accounts.RevokeAppPasswords(c.acting(o.ctx, viaExop), name, []string{req.ID}); err != nil {
		return c.backendResult("app password revoke", err), nil
	}
	return success(), nil
}

func (c *conn) appPasswordRevokeAll(o *op, x *extendedRequest) (result, []byte) {
	var v []byte
	if x.hasValue {
		v = x.value
	}
	req, err := exop.DecodeRevokeAllRequest(v)
	if err != nil {
		return malformedValue(err), nil
	}
	name, r, ok := c.authorize(o.ctx, req.Target, accessManage)
	if !ok {
		return r, nil
	}
	n, err := c.srv.accounts.RevokeAllAppPasswords(c.acting(o.ctx, viaExop), name)
	if err != nil {
		return c.backendResult("app password revoke-all", err), nil
	}
	return success(), exop.RevokeAllResponse{Revoked: n}.Encode()
}
