package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/emersion/go-sasl"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

type bindRequest struct {
	version  int64
	name     string
	simple   bool
	password string
	mech     string
	creds    []byte
	hasCreds bool
}

func parseBind(op *ber.Packet) (*bindRequest, result, bool) {
	bad := func(msg string) (*bindRequest, result, bool) {
		return nil, fail(ldap.LDAPResultProtocolError, "malformed bind request: %s", msg), false
	}
	if op.TagType != ber.TypeConstructed || len(op.Children) != 3 {
		return bad("want version, name and authentication")
	}
	version, ok := integer(op.Children[0])
	if !ok {
		return bad("version is not an INTEGER")
	}
	name, ok := octetString(op.Children[1])
	if !ok || op.Children[1].ClassType != ber.ClassUniversal {
		return bad("name is not an OCTET STRING")
	}
	b := &bindRequest{version: version, name: name}
	auth := op.Children[2]
	switch {
	case auth.ClassType == ber.ClassContext && auth.Tag == 0 && auth.TagType == ber.TypePrimitive:
		b.simple = true
		b.password = auth.Data.String()
	case auth.ClassType == ber.ClassContext && auth.Tag == 3 && auth.TagType == ber.TypeConstructed:
		if len(auth.Children) < 1 || len(auth.Children) > 2 {
			return bad("SaslCredentials must hold a mechanism and optional credentials")
		}
		mech, ok := octetString(auth.Children[0])
		if !ok {
			return bad("SASL mechanism is not an OCTET STRING")
		}
		b.mech = mech
		if len(auth.Children) == 2 {
			if !isOctetString(auth.Children[1]) {
				return bad("SASL credentials are not an OCTET STRING")
			}
			b.creds, b.hasCreds = auth.Children[1].Data.Bytes(), true
		}
	default:
		return bad("unknown authentication choice")
	}
	return b, result{}, true
}

// bind runs a Bind (RFC 4511 4.2, RFC 4513 5). handle has already made the
// session anonymous; only success changes that.
func (c *conn) bind(o *op) {
	b, r, ok := o.req.bindRequest()
	if ok {
		r = c.bindResult(o.ctx, b)
	}
	c.replyResult(o, ldap.ApplicationBindResponse, r)
}

// bindRequest is the request's bind, decoded by the fast path or now.
func (r *request) bindRequest() (*bindRequest, result, bool) {
	if r.bind != nil {
		return r.bind, result{}, true
	}
	return parseBind(r.op)
}

// Every way out of a bind leaves one audit record (auditBind, through
// bound and bindFailure), which is also the bind's log line.
func (c *conn) bindResult(ctx context.Context, b *bindRequest) result {
	switch {
	case b.version != 3:
		c.auditBind(ctx, b.name, "", "", backend.FailUnsupported, backend.KV("version", b.version))
		return fail(ldap.LDAPResultProtocolError, "only LDAP version 3 is supported")
	case !b.simple && b.mech == "EXTERNAL" && c.srv.externalEnabled():
		return c.saslExternal(ctx, b)
	case !b.simple && b.mech != "PLAIN":
		c.auditBind(ctx, b.name, "", "", backend.FailUnsupported, backend.KV("sasl", b.mech))
		return fail(ldap.LDAPResultAuthMethodNotSupported, "SASL mechanism %q is not supported; use %s or a simple bind",
			b.mech, strings.Join(c.srv.saslMechanisms(), ", "))
	case !b.simple:
		return c.saslPlain(ctx, b)
	case b.name == "" && b.password == "":
		c.auditBind(ctx, "", "", "anonymous", backend.ResultSuccess)
		return success() // anonymous (RFC 4513 5.1.1)
	case b.password == "":
		// RFC 4513 5.1.2: a name without a password is an unauthenticated
		// bind; accepting it is how go-ldap's CVE-2017-14623 let apps
		// treat "no password" as "authenticated".
		c.auditBind(ctx, b.name, "", "", backend.FailUnauthenticatedBind,
			backend.KV("reason", "unauthenticated bind (name without password)"))
		return fail(ldap.LDAPResultUnwillingToPerform, "unauthenticated bind (name without password) is not allowed")
	case b.name == "":
		c.auditBind(ctx, "", "", "", backend.FailInvalidName, backend.KV("reason", "password without a name"))
		return fail(ldap.LDAPResultInvalidCredentials, "")
	}

	login, ok := c.srv.loginFromName(b.name)
	if !ok {
		c.auditBind(ctx, b.name, "", "", backend.FailInvalidName)
		return fail(ldap.LDAPResultInvalidDNSyntax, "bind name is neither a DN, a username nor a mail address")
	}
	p, err := c.authenticate(ctx, login, b.password)
	if err != nil {
		return c.bindFailure(ctx, b.name, err)
	}
	return c.bound(ctx, b.name, p)
}

// authenticate runs one bind's check between the limits of its client
// address (ratelimit.go): a token reserved before, kept only if the bind
// failed, and the failure's delay after.
func (c *conn) authenticate(ctx context.Context, login, secret string) (*backend.Principal, error) {
	addr := clientAddr(c.remote)
	refund, err := c.srv.reserveBind(ctx, addr)
	if err != nil {
		return nil, err
	}
	// The account domain bounds its own waits (limits.bind_timeout): a
	// bind that waits for nothing costs no timer.
	p, err := c.srv.auth.Authenticate(ctx, login, secret, c.remote)
	if !errors.Is(err, backend.ErrInvalidCredentials) {
		refund()
	}
	c.srv.delayFailure(ctx, addr, err)
	return p, err
}

// bound makes the session p's. name is the bind name as given; detail
// says how beyond p's method (a SASL mechanism).
func (c *conn) bound(ctx context.Context, name string, p *backend.Principal, detail ...string) result {
	c.principal = p
	c.authed.Store(true)
	account := p.Name
	if p.Admin != "" {
		account = p.Admin
		detail = append(detail, backend.KV("as", p.Name))
	}
	if p.AppPasswordID != "" {
		detail = append(detail, backend.KV("app_password", p.AppPasswordID))
	}
	c.auditBind(ctx, name, account, string(p.Method), backend.ResultSuccess, detail...)
	return success()
}

// saslPlain is a SASL PLAIN bind (RFC 4616, RFC 4513 5.2): the same
// credentials as a simple bind. An authorization identity other than the
// authenticated one is only for administrators, who then act as that user.
func (c *conn) saslPlain(ctx context.Context, b *bindRequest) result {
	if !b.hasCreds {
		// The client sends its credentials in the next bind.
		return result{code: ldap.LDAPResultSaslBindInProgress}
	}
	var authzid, authcid, password string
	srv := sasl.NewPlainServer(func(identity, username, pw string) error {
		authzid, authcid, password = identity, username, pw
		return nil
	})
	const mech = "sasl=PLAIN"
	if _, _, err := srv.Next(b.creds); err != nil {
		c.auditBind(ctx, "", "", "", backend.FailMalformed, mech)
		return fail(ldap.LDAPResultProtocolError, "malformed SASL PLAIN credentials: want authzid NUL authcid NUL password")
	}
	if password == "" {
		c.auditBind(ctx, authcid, "", "", backend.FailEmptyPassword, mech)
		return fail(ldap.LDAPResultInvalidCredentials, "")
	}
	login, ok := c.srv.loginFromName(authcid)
	if !ok {
		c.auditBind(ctx, authcid, "", "", backend.FailInvalidName, mech)
		return fail(ldap.LDAPResultInvalidCredentials, "")
	}
	p, err := c.authenticate(ctx, login, password)
	if err != nil {
		return c.bindFailure(ctx, authcid, err, mech)
	}
	target := strings.TrimPrefix(strings.TrimPrefix(authzid, "u:"), "dn:")
	if target == "" {
		return c.bound(ctx, authcid, p, mech)
	}
	name, r, ok := c.proxied(ctx, p, target)
	if !ok {
		c.auditBind(ctx, authcid, p.Name, string(p.Method), backend.FailAuthzRefused, mech, backend.KV("authzid", authzid))
		return r
	}
	if name == p.Name {
		return c.bound(ctx, authcid, p, mech)
	}
	return c.bound(ctx, authcid, &backend.Principal{Name: name, Role: backend.RoleUser, Method: p.Method, Admin: p.Name}, mech)
}

// proxied resolves a SASL authorization identity for principal p.
func (c *conn) proxied(ctx context.Context, p *backend.Principal, authzid string) (string, result, bool) {
	refused := fail(ldap.LDAPResultInsufficientAccessRights, "only administrators may bind as another user")
	if c.srv.accounts == nil {
		return "", refused, false
	}
	login, ok := c.srv.loginFromName(authzid)
	if !ok || login == "" {
		return "", refused, false
	}
	name, err := c.srv.accounts.Resolve(ctx, login)
	switch {
	case err == nil && name == p.Name:
		return name, result{}, true
	case p.Role != backend.RoleAdmin:
		return "", refused, false
	case err != nil:
		return "", fail(ldap.LDAPResultInvalidCredentials, ""), false
	}
	return name, result{}, true
}

// bindFailure answers a bind that authenticate refused. name is the bind
// name as given; detail says how beyond the credentials (a SASL mechanism).
func (c *conn) bindFailure(ctx context.Context, name string, err error, detail ...string) result {
	var af *backend.AuthFailure
	var le *addressLimitError
	switch {
	case errors.As(err, &le):
		// Busy rather than invalidCredentials: it is about the address,
		// not the credentials, which were never looked at, and a user
		// behind a busy address must not be told the password is wrong.
		retry := int(math.Ceil(le.retry.Seconds()))
		c.auditBind(ctx, name, "", "", backend.FailRateLimited, append(detail, backend.KV("retry_in", fmt.Sprintf("%ds", retry)))...)
		return fail(ldap.LDAPResultBusy, "too many failed binds from your address; try again in %d s", retry)
	case errors.As(err, &af):
		// The reason never holds a secret (backend.AuthFailure).
		c.auditBind(ctx, name, af.Account, string(af.Method), backend.FailureCategory(err),
			append(detail, backend.KV("reason", af.Reason))...)
		return fail(ldap.LDAPResultInvalidCredentials, "")
	case errors.Is(err, backend.ErrInvalidCredentials):
		c.auditBind(ctx, name, "", "", backend.FailInvalidCredentials, detail...)
		return fail(ldap.LDAPResultInvalidCredentials, "")
	}
	return c.bindError(ctx, name, "", "", err, detail...)
}

// bindError answers a bind that failed on the server's side (busy, or the
// database), with the error in its audit record, which is its log line.
func (c *conn) bindError(ctx context.Context, name, account, method string, err error, detail ...string) result {
	res := backend.FailureCategory(err)
	c.auditBind(ctx, name, account, method, res, append(detail, backend.KV("err", err.Error()))...)
	switch res {
	case backend.FailBusy:
		return fail(ldap.LDAPResultBusy, "server busy; try again")
	case backend.FailUnavailable:
		// Fail closed: a failed bind that cannot be counted must not
		// become an uncounted guess.
		return fail(ldap.LDAPResultUnavailable, "sign-in temporarily unavailable; try again later")
	}
	return fail(ldap.LDAPResultOther, "internal error")
}

// loginFromName turns a bind name into what the backend looks up: the uid of
// a user DN under ou=people, or a bare username or mail address. A DN that is
// not a user's yields an empty login, which no account has, so it fails like
// any unknown user (same answer, same work).
func (s *Server) loginFromName(name string) (string, bool) {
	if login, ok := s.plainUserDN(name); ok {
		return login, true
	}
	dn, err := ldap.ParseDN(name)
	if err != nil {
		if strings.ContainsAny(name, "=,") {
			return "", false
		}
		return name, true
	}
	if len(dn.RDNs) != len(s.peopleDN.RDNs)+1 {
		return "", true
	}
	parent := &ldap.DN{RDNs: dn.RDNs[1:]}
	rdn := dn.RDNs[0]
	if !parent.EqualFold(s.peopleDN) || len(rdn.Attributes) != 1 || !strings.EqualFold(rdn.Attributes[0].Type, "uid") {
		return "", true
	}
	return rdn.Attributes[0].Value, true
}

// plainUserDN reads the bind name every mail server sends,
// uid=NAME,ou=people,BASE with a name that needs no escaping, without
// parsing a DN. Anything else is left to ParseDN.
func (s *Server) plainUserDN(name string) (string, bool) {
	const prefix = "uid="
	if len(name) <= len(prefix) || !strings.EqualFold(name[:len(prefix)], prefix) {
		return "", false
	}
	rest := name[len(prefix):]
	comma := strings.IndexByte(rest, ',')
	if comma <= 0 || !strings.EqualFold(rest[comma+1:], s.peopleText) {
		return "", false
	}
	uid := rest[:comma]
	for i := 0; i < len(uid); i++ {
		c := uid[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return "", false
		}
	}
	return uid, true
}

// userDN is the entry DN of an account.
func (s *Server) userDN(name string) string {
	return "uid=" + ldap.EscapeDN(name) + ",ou=people," + s.cfg.BaseDN
}

// internal logs an unexpected error with detail and gives the client a
// generic answer.
func (s *Server) internal(c *conn, what string, err error) result {
	if errors.Is(err, backend.ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		c.log.Warn(what+" refused: server busy", "err", err)
		return fail(ldap.LDAPResultBusy, "server busy; try again")
	}
	c.log.Error(what+" failed", "err", err)
	return fail(ldap.LDAPResultOther, "internal error")
}
