package server

import (
	"context"
	"errors"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// Accounts is what the server needs beyond binds: the directory view and the
// app-password lifecycle. The server finds it on its Authenticator by type
// assertion; without it those operations are unwillingToPerform.
type Accounts interface {
	Resolve(ctx context.Context, login string) (string, error)
	User(ctx context.Context, name string) (*backend.UserInfo, error)
	Directory(ctx context.Context) (*backend.Dir, error)
	AppPasswords(ctx context.Context, name string) ([]backend.AppPassword, error)
	AllAppPasswords(ctx context.Context) (map[int64][]backend.AppPassword, error)
	AppPasswordByUUID(ctx context.Context, u backend.UUID) (*backend.AppPassword, error)
	CreateAppPassword(ctx context.Context, name, label string) (*backend.NewAppPassword, error)
	RevokeAppPasswords(ctx context.Context, name string, ids []string) error
	RevokeAllAppPasswords(ctx context.Context, name string) (int, error)
	ChangeOwnPassword(ctx context.Context, name, current, password string) (int, error)
	SetPassword(ctx context.Context, name, password string) (int, error)
}

var _ Accounts = (*backend.Service)(nil)

// access is what an operation is allowed to do, decided once per operation.
type access int

const (
	// accessListAppPasswords: see an account's app passwords (the owner and
	// administrators). Services read the directory but no app password,
	// in a list as in a search (directory.go, readsAppPasswordsOf).
	accessListAppPasswords access = iota
	// accessManage: change them. An app-password session never may: that
	// needs the primary password and a one-time code (DESIGN.md).
	accessManage
)

// authorize decides whether the session may act on the account named by
// target ("" for the bound user) and returns that account's name. Refusals
// never depend on whether the target exists, so they leak nothing.
func (c *conn) authorize(ctx context.Context, target string, want access) (string, result, bool) {
	p := c.principal
	if p == nil {
		return "", fail(ldap.LDAPResultInsufficientAccessRights, "anonymous sessions may read only the root DSE; bind first"), false
	}
	if want == accessManage && p.Method == backend.MethodAppPassword {
		return "", fail(ldap.LDAPResultInsufficientAccessRights,
			"this session signed in with an app password, which cannot create or revoke app passwords or change the password; bind with your password followed by a one-time code"), false
	}
	if target == "" {
		return p.Name, result{}, true
	}
	name, r, ok := c.resolveTarget(ctx, target)
	if !ok {
		if p.Role != backend.RoleAdmin {
			// Whether the target exists is not for a non-administrator to learn.
			return "", othersRefused(p, want), false
		}
		return "", r, false
	}
	if name == p.Name || p.Role == backend.RoleAdmin {
		return name, result{}, true
	}
	return "", othersRefused(p, want), false
}

func othersRefused(p *backend.Principal, want access) result {
	switch {
	case want == accessManage:
		return fail(ldap.LDAPResultInsufficientAccessRights, "only administrators may manage another user's app passwords or password")
	case p.Role == backend.RoleService:
		return fail(ldap.LDAPResultInsufficientAccessRights,
			"service accounts read the directory but not other users' app passwords; list them as the user or as an administrator")
	}
	return fail(ldap.LDAPResultInsufficientAccessRights, "you may list only your own app passwords")
}

// resolveTarget turns a user DN, a username or a mail address into an
// account name.
func (c *conn) resolveTarget(ctx context.Context, target string) (string, result, bool) {
	login, ok := c.srv.loginFromName(target)
	if !ok || login == "" {
		return "", fail(ldap.LDAPResultNoSuchObject, "%q is not a user of this directory", target), false
	}
	name, err := c.srv.accounts.Resolve(ctx, login)
	if err != nil {
		return "", c.backendResult("resolve user", err), false
	}
	return name, result{}, true
}

// backendResult maps a backend error to the LDAP result a client sees: one
// place for every operation. Anything unexpected is logged in full and the
// client gets "other".
func (c *conn) backendResult(what string, err error) result {
	var limit *backend.LimitError
	switch {
	case err == nil:
		return success()
	case errors.As(err, &limit):
		return fail(ldap.LDAPResultAdminLimitExceeded, "%s", limit.Error())
	case errors.Is(err, backend.ErrInvalidCredentials):
		return fail(ldap.LDAPResultInvalidCredentials, "")
	case errors.Is(err, backend.ErrNotFound):
		return fail(ldap.LDAPResultNoSuchObject, "no such user")
	case errors.Is(err, backend.ErrNoSuchAppPassword):
		return fail(ldap.LDAPResultNoSuchObject, "no such app password")
	case errors.Is(err, backend.ErrSecondFactorRequired):
		return fail(ldap.LDAPResultUnwillingToPerform, "%s", backend.ErrSecondFactorRequired.Error())
	case errors.Is(err, backend.ErrUpstreamManaged):
		return fail(ldap.LDAPResultUnwillingToPerform, "%s", backend.ErrUpstreamManaged.Error())
	case errors.Is(err, backend.ErrInvalidInput):
		return fail(ldap.LDAPResultConstraintViolation, "%s", trimInvalid(err))
	case errors.Is(err, backend.ErrUnavailable):
		// Logged in full, as anything the administrator must mend; the
		// client learns only that it may try again later.
		c.srv.internal(c, what, err)
		return fail(ldap.LDAPResultUnavailable, "the server cannot record changes now; try again later")
	}
	return c.srv.internal(c, what, err)
}

func trimInvalid(err error) string {
	const prefix = "invalid input: "
	s := err.Error()
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return s
}
