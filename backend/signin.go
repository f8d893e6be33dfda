package backend

import (
	"context"
	"errors"
)

// ActionSignIn is a sign-in to the account page, recorded as a bind is.
const ActionSignIn = "sign-in"

// SignIn checks a sign-in to the account page: the primary password and the
// TOTP code, given apart. It goes through what a bind of password+code goes
// through (the per-source and per-account counts, the locks, the delay of
// failures, the code used once), but never tries an app password: one
// typed as the password is a wrong password, counted as such, and its
// last use is not touched. An app password opens mail, not the place where
// app passwords and the second factor are managed (DESIGN.md).
func (s *Service) SignIn(ctx context.Context, login, password, code, from string) (*Principal, error) {
	if password == "" {
		return nil, authFail(FailEmptyPassword, "empty password")
	}
	a, err := s.admit(ctx, login, from, false)
	if err != nil {
		return nil, err
	}
	defer a.abandon(s.guard)
	p, err := s.checkPrimaryParts(ctx, a.acct, password, code, a.locked)
	if err == nil && p.Role == RoleService {
		// A program's account has nothing to manage there, and a second
		// factor enrolled by mistake would stop its binds. The right
		// password: no guess, never counted towards a lock.
		p, err = nil, &AuthFailure{Reason: "service accounts do not sign in to the account page",
			Category: FailServiceAccount, uncounted: uncountedByLock}
	}
	var af *AuthFailure
	if errors.As(err, &af) {
		af.Method = MethodPasswordTOTP
		if a.acct != nil {
			af.Account = a.acct.Name
			if !a.acct.TOTPEnrolled() {
				af.Method = MethodPassword
			}
		}
	}
	return s.settle(ctx, a, p, err)
}

// Standing is what a signed-in session must check on every request: whether
// the account still exists, is enabled, holds the role it held, and kept
// its password. It reads the account alone, no app passwords or groups.
func (s *Service) Standing(ctx context.Context, name string) (*UserInfo, error) {
	a, err := s.account(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.withLockState(userInfo(a, 0), a), nil
}
