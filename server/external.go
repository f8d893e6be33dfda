package server

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// saslExternal is a SASL EXTERNAL bind (RFC 4422 appendix A, RFC 4513
// 5.2.3): the identity is the client certificate the TLS layer verified
// against tls.client_ca_file. Only service accounts may bind this way: a
// certificate is one factor, which DESIGN.md allows for services alone.
func (c *conn) saslExternal(ctx context.Context, b *bindRequest) result {
	const mech = "sasl=EXTERNAL"
	method := string(backend.MethodSASLExternal)
	st := c.tlsState.Load()
	if st == nil || len(st.VerifiedChains) == 0 {
		c.auditBind(ctx, b.name, "", method, backend.FailNoCertificate, mech)
		// RFC 4513 5.2.3: no credentials were established at a lower layer.
		return fail(ldap.LDAPResultInappropriateAuthentication,
			"SASL EXTERNAL needs a TLS client certificate signed by the configured client CA (tls.client_ca_file)")
	}
	// The certificate is the name the client gave.
	cert := st.VerifiedChains[0][0]
	subject := cert.Subject.String()
	serial := backend.KV("serial", cert.SerialNumber.Text(16))
	fail49 := func(account, category, reason string) result {
		c.auditBind(ctx, subject, account, method, category, mech, serial, backend.KV("reason", reason))
		return fail(ldap.LDAPResultInvalidCredentials, "")
	}
	name, err := c.certificateAccount(ctx, cert)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return fail49("", backend.FailUnknownCertificate, "the certificate names no account")
	case err != nil:
		return c.bindError(ctx, subject, "", method, err, mech, serial)
	}
	u, err := c.srv.accounts.User(ctx, name)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return fail49("", backend.FailUnknownAccount, "account deleted during bind")
	case err != nil:
		return c.bindError(ctx, subject, name, method, err, mech, serial)
	case u.Disabled:
		return fail49(name, backend.FailAccountDisabled, "account "+name+" is disabled")
	case u.Role != backend.RoleService:
		return fail49(name, backend.FailNotServiceAccount,
			"account "+name+" has role "+u.Role+"; only service accounts may bind with SASL EXTERNAL")
	}
	// RFC 4422 appendix A: the message is the authorization identity, empty
	// to act as the authenticated one. Acting as another is not offered.
	if authzid := string(b.creds); authzid != "" {
		if !c.sameAccount(ctx, authzid, name) {
			c.auditBind(ctx, subject, name, method, backend.FailAuthzRefused, mech, serial, backend.KV("authzid", authzid),
				backend.KV("reason", "authorization identity names another account"))
			return fail(ldap.LDAPResultInsufficientAccessRights,
				"SASL EXTERNAL may not act as another account; leave the authorization identity empty")
		}
	}
	return c.bound(ctx, subject, &backend.Principal{Name: name, Role: u.Role, Method: backend.MethodSASLExternal},
		mech, serial)
}

// certificateAccount maps a client certificate to an account: the subject
// CN, then each email SAN, then each DNS SAN, the first that names an
// account by its name or, for a value with "@", its mail address or one of
// its aliases. Trying them in this fixed order, and stopping at the first,
// keeps the mapping predictable when a certificate names several.
func (c *conn) certificateAccount(ctx context.Context, cert *x509.Certificate) (string, error) {
	candidates := append([]string{cert.Subject.CommonName}, cert.EmailAddresses...)
	candidates = append(candidates, cert.DNSNames...)
	for _, v := range candidates {
		if v == "" {
			continue
		}
		name, err := c.srv.accounts.Resolve(ctx, v)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		return name, err
	}
	return "", backend.ErrNotFound
}

// sameAccount reports whether a SASL authorization identity ("dn:…",
// "u:…" or bare) names the account called name.
func (c *conn) sameAccount(ctx context.Context, authzid, name string) bool {
	var login string
	switch {
	case strings.HasPrefix(authzid, "dn:"):
		l, ok := c.srv.loginFromName(strings.TrimPrefix(authzid, "dn:"))
		if !ok {
			return false
		}
		login = l
	default:
		login = strings.TrimPrefix(authzid, "u:")
	}
	if login == "" {
		return false
	}
	got, err := c.srv.accounts.Resolve(ctx, login)
	return err == nil && got == name
}
