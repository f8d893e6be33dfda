package server

import (
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

type extendedRequest struct {
	name     string
	value    []byte
	hasValue bool
}

func parseExtended(op *ber.Packet) (*extendedRequest, result, bool) {
	bad := func(msg string) (*extendedRequest, result, bool) {
		return nil, fail(ldap.LDAPResultProtocolError, "malformed extended request: %s", msg), false
	}
	if op.TagType != ber.TypeConstructed || len(op.Children) < 1 || len(op.Children) > 2 {
		return bad("want requestName and optional requestValue")
	}
	n := op.Children[0]
	if n.ClassType != ber.ClassContext || n.Tag != 0 || n.TagType != ber.TypePrimitive {
		return bad("requestName must be [0]")
	}
	x := &extendedRequest{name: n.Data.String()}
	if len(op.Children) == 2 {
		v := op.Children[1]
		if v.ClassType != ber.ClassContext || v.Tag != 1 || v.TagType != ber.TypePrimitive {
			return bad("requestValue must be [1]")
		}
		x.value, x.hasValue = v.Data.Bytes(), true
	}
	return x, result{}, true
}

// extendedRequest is the request's extended request, parsed on first use
// only.
func (r *request) extendedRequest() (*extendedRequest, result, bool) {
	if !r.extDone {
		var ok bool
		r.ext, r.extBad, ok = parseExtended(r.op)
		if !ok {
			r.ext = nil
		}
		r.extDone = true
	}
	return r.ext, r.extBad, r.ext != nil
}

func (c *conn) extended(o *op) {
	x, r, ok := o.req.extendedRequest()
	if !ok {
		c.replyExtended(o, r, "", nil)
		return
	}
	if x.name == exop.OIDWhoAmI {
		c.whoAmI(o, x)
		return
	}
	h, ok := accountOps[x.name]
	if !ok || c.srv.accounts == nil {
		// RFC 4511 4.12: an unrecognized requestName is a protocolError.
		c.replyExtended(o, fail(ldap.LDAPResultProtocolError, "extended operation %s is not supported", x.name), "", nil)
		return
	}
	r, value := h.run(c, o, x)
	name := x.name
	if h.unnamed {
		name = ""
	}
	c.replyExtended(o, r, name, value)
}

// replyExtended answers an extended operation with result r.
func (c *conn) replyExtended(o *op, r result, name string, value []byte) {
	o.code = r.code
	c.reply(o, extendedOp(r, name, value))
}

// accountOp is an extended operation served through Accounts.
type accountOp struct {
	run func(*conn, *op, *extendedRequest) (result, []byte)
	// unnamed: the response carries no responseName. RFC 3062 gives Password
	// Modify's none, and slapd sends none; python-ldap's passwd_s raises on
	// one, after the change is made.
	unnamed bool
	// label names the operation in the metrics (Outcome.Extended).
	label ExtendedOp
}

var accountOps = map[string]accountOp{
	exop.OIDAppPasswordCreate:    {run: (*conn).appPasswordCreate, label: ExtAppPasswordCreate},
	exop.OIDAppPasswordList:      {run: (*conn).appPasswordList, label: ExtAppPasswordList},
	exop.OIDAppPasswordRevoke:    {run: (*conn).appPasswordRevoke, label: ExtAppPasswordRevoke},
	exop.OIDAppPasswordRevokeAll: {run: (*conn).appPasswordRevokeAll, label: ExtAppPasswordRevokeAll},
	exop.OIDPasswordModify:       {run: (*conn).passwordModify, unnamed: true, label: ExtPasswordModify},
}

// whoAmI answers RFC 4532: "dn:<entry DN>" when bound, empty when anonymous.
func (c *conn) whoAmI(o *op, x *extendedRequest) {
	if x.hasValue {
		c.replyExtended(o, fail(ldap.LDAPResultProtocolError, "Who am I? takes no request value"), "", nil)
		return
	}
	authz := ""
	if c.principal != nil {
		authz = "dn:" + c.srv.userDN(c.principal.Name)
	}
	c.replyExtended(o, success(), "", []byte(authz))
}
