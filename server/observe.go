package server

import (
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

// Observer is told how each operation ended, for the server's metrics. It
// is called on the operation's own goroutine once the answer is written:
// it must be quick and must not block. Everything it gets is from a small
// fixed set (never a name, a DN, an address or a secret), so that what it
// counts by stays bounded whatever clients send.
type Observer interface {
	Observe(Outcome)
}

// Outcome is one answered operation.
type Outcome struct {
	Op Operation
	// Method is how a bind tried to authenticate (OpBind).
	Method BindMethod
	// Reason is a failed bind's audit category (a backend.Fail constant),
	// empty on success or when the bind ended before any check.
	Reason string
	// Lookup: a search that can reach a few entries only, a base-scope
	// read or an equality on uid, mail or an alias, as mail servers send
	// (OpSearch).
	Lookup bool
	// Extended names an extended operation (OpExtended).
	Extended ExtendedOp
	// Code is the LDAP result code answered; Abandoned when the client
	// abandoned the operation or went away before its answer.
	Code uint16
	Took time.Duration
}

// Abandoned is Outcome.Code for an operation whose answer was not sent:
// the client abandoned it or closed the connection first.
const Abandoned = ldap.LDAPResultCanceled

// Operation is the kind of an LDAP operation.
type Operation uint8

const (
	OpBind Operation = iota
	OpSearch
	OpCompare
	OpExtended
	OpModify
	OpDelete
	// OpOther is any other request (add, modify DN), which wicket refuses.
	OpOther
	NumOperations
)

var operationNames = [NumOperations]string{"bind", "search", "compare", "extended", "modify", "delete", "other"}

func (o Operation) String() string { return operationNames[o] }

// BindMethod is the credentials a bind presented, as far as the server got
// in telling them apart.
type BindMethod uint8

const (
	// MethodUnknown: the bind ended before its credentials were looked at
	// (malformed, refused by the address's limit, busy, unsupported).
	MethodUnknown BindMethod = iota
	MethodAnonymous
	MethodPassword
	MethodPasswordTOTP
	MethodAppPassword
	MethodSASLExternal
	NumBindMethods
)

var bindMethodNames = [NumBindMethods]string{"unknown", "anonymous", string(backend.MethodPassword),
	string(backend.MethodPasswordTOTP), string(backend.MethodAppPassword), string(backend.MethodSASLExternal)}

func (m BindMethod) String() string { return bindMethodNames[m] }

// bindMethodOf maps the method of a bind's audit record to a BindMethod.
func bindMethodOf(method string) BindMethod {
	switch method {
	case "anonymous":
		return MethodAnonymous
	case string(backend.MethodPassword):
		return MethodPassword
	case string(backend.MethodPasswordTOTP):
		return MethodPasswordTOTP
	case string(backend.MethodAppPassword):
		return MethodAppPassword
	case string(backend.MethodSASLExternal):
		return MethodSASLExternal
	}
	return MethodUnknown
}

// ExtendedOp is an extended operation the server knows, by name; every
// other requestName is ExtUnknown, so that a client cannot make up labels.
type ExtendedOp uint8

const (
	ExtUnknown ExtendedOp = iota
	ExtWhoAmI
	ExtStartTLS
	ExtPasswordModify
	ExtAppPasswordCreate
	ExtAppPasswordList
	ExtAppPasswordRevoke
	ExtAppPasswordRevokeAll
	NumExtendedOps
)

var extendedOpNames = [NumExtendedOps]string{"unknown", "whoAmI", "startTLS", "passwordModify",
	"appPasswordCreate", "appPasswordList", "appPasswordRevoke", "appPasswordRevokeAll"}

func (x ExtendedOp) String() string { return extendedOpNames[x] }

// observe reports how o ended, on the goroutine that handled it. code is
// what was answered; a bind's method and reason are what its audit record
// said (auditBind).
func (c *conn) observe(o *op, code uint16) {
	if c.srv.cfg.Observer == nil {
		return
	}
	if o.req.op.Tag == ldap.ApplicationBindRequest {
		c.report(o, code, c.bindMethod, c.bindReason)
		return
	}
	c.report(o, code, MethodUnknown, "")
}

// observeRefused reports an operation refused before it was handled (busy,
// a message ID in use). It runs on the reader while the worker may be
// handling a bind, so it leaves the session's bind fields alone.
func (c *conn) observeRefused(o *op, code uint16) {
	if c.srv.cfg.Observer != nil {
		c.report(o, code, MethodUnknown, "")
	}
}

func (c *conn) report(o *op, code uint16, method BindMethod, reason string) {
	obs := c.srv.cfg.Observer
	out := Outcome{Code: code, Took: time.Since(o.start)}
	if o.ctx.Err() != nil {
		out.Code = Abandoned
	}
	switch o.req.op.Tag {
	case ldap.ApplicationBindRequest:
		out.Op, out.Method, out.Reason = OpBind, method, reason
	case ldap.ApplicationSearchRequest:
		out.Op = OpSearch
		if s, _, ok := o.req.searchRequest(); ok {
			out.Lookup = s.scope == scopeBase || indexable(s.filter)
		}
	case ldap.ApplicationCompareRequest:
		out.Op = OpCompare
	case ldap.ApplicationExtendedRequest:
		out.Op, out.Extended = OpExtended, extendedOpOf(o.req)
	case ldap.ApplicationModifyRequest:
		out.Op = OpModify
	case ldap.ApplicationDelRequest:
		out.Op = OpDelete
	default:
		out.Op = OpOther
	}
	obs.Observe(out)
}

// extendedOpOf names the extended operation req asks for.
func extendedOpOf(req *request) ExtendedOp {
	x, _, ok := req.extendedRequest()
	switch {
	case !ok:
		return ExtUnknown
	case x.name == oidStartTLS:
		return ExtStartTLS
	case x.name == exop.OIDWhoAmI:
		return ExtWhoAmI
	}
	if h, ok := accountOps[x.name]; ok {
		return h.label
	}
	return ExtUnknown
}
