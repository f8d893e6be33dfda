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
	ap, err := c.srv.accounts.CreateAppPassword(o.ctx, name, req.Label)
	if err != nil {
		return c.backendResult("app password create", err), nil
	}
	c.log.Info("app password created", "by", c.principal.Name, "user", name, "id", ap.ID)
	value := exop.CreateResponse{ID: ap.ID, Password: ap.Password, Created: ap.CreatedAt}.Encode()
	r = success()
	if !req.Bare {
		return r, value
	}
	// Stock ldapexop prints a response value only as base64 but shows the
	// diagnostic message as text: the bare-label form is the one those
	// tools send, so the password is repeated there for a person to read.
	r.diag = "app password " + ap.Password + " created with id " + ap.ID +
		"; it will not be shown again"
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
	name, r, ok := c.authorize(o.ctx, req.Target, accessRead)
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
	if err := c.srv.accounts.RevokeAppPasswords(o.ctx, name, []string{req.ID}); err != nil {
		return c.backendResult("app password revoke", err), nil
	}
	c.log.Info("app password revoked", "by", c.principal.Name, "user", name, "id", req.ID, "via", "extended operation")
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
	n, err := c.srv.accounts.RevokeAllAppPasswords(o.ctx, name)
	if err != nil {
		return c.backendResult("app password revoke-all", err), nil
	}
	c.log.Info("app passwords revoked", "by", c.principal.Name, "user", name, "count", n, "via", "extended operation")
	return success(), exop.RevokeAllResponse{Revoked: n}.Encode()
}
