package backend

import (
	"errors"
	"fmt"
	"time"
)

// One sentinel per outcome a client or an administrator must tell apart. The
// server maps each to an LDAP result code in one place; the CLI to a message.
var (
	// ErrInvalidCredentials is every failed authentication, whatever the
	// reason: the reason is logged, never told to the client.
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrNotFound           = errors.New("no such account")
	ErrExists             = errors.New("account already exists")
	ErrNoSuchAppPassword  = errors.New("no such app password")
	// ErrLimitReached: the account already has the maximum of active app passwords.
	ErrLimitReached = errors.New("app password limit reached")
	// ErrSecondFactorRequired: app passwords need TOTP enrolled first.
	ErrSecondFactorRequired = errors.New("two-factor must be enrolled before creating app passwords")
	// ErrServiceAccount: service accounts bind with their own password and
	// hold no app passwords.
	ErrServiceAccount = errors.New("service accounts authenticate with their own password and cannot have app passwords")
	// ErrBusy: every password-hashing slot stayed taken until the request's
	// deadline; the client may retry.
	ErrBusy = errors.New("server busy, try again")
	// ErrUnavailable: a failed bind of the account could not be recorded,
	// so its password sign-in is refused until it can be (fail closed).
	ErrUnavailable = errors.New("failed binds cannot be recorded; sign-in unavailable")
	// ErrUpstreamUnavailable: the upstream directory that checks primary
	// passwords does not answer, so password sign-ins are refused (fail
	// closed); app passwords, checked here, go on working.
	ErrUpstreamUnavailable = fmt.Errorf("%w: the upstream directory does not answer", ErrUnavailable)
	// ErrUpstreamManaged: the account's primary password is kept in the
	// upstream directory, and is changed there.
	ErrUpstreamManaged = errors.New("the password of this account is kept in the upstream directory; change it there")
	// ErrUUIDTaken: an account created with the entryUUID it had elsewhere
	// (an import) found that UUID already another account's.
	ErrUUIDTaken = errors.New("entryUUID already in use by another account")
	// ErrInvalidInput wraps validation failures of names, labels, passwords.
	ErrInvalidInput = errors.New("invalid input")
)

// LimitError is the ErrLimitReached of one account, with the limit in force,
// so every caller can say "25 app passwords are active; revoke one first".
type LimitError struct{ Limit int }

func (e *LimitError) Error() string {
	return fmt.Sprintf("%d app passwords are active; revoke one first", e.Limit)
}

func (e *LimitError) Is(target error) bool { return target == ErrLimitReached }

// AuthFailure is the internal detail of an ErrInvalidCredentials: why the
// bind failed, for the server log. It never carries a secret.
type AuthFailure struct {
	Reason string
	// Category is the reason as one of the Fail constants, for the audit
	// trail.
	Category string
	// Method is the way in the bind tried; Account the account its name
	// resolved to, empty when none; AppPasswordID the revoked app password
	// it presented, if that was it.
	Method        Method
	Account       string
	AppPasswordID string
	// Delay is how long the answer should wait: failures in a row slow
	// down (DESIGN.md, lockout). The caller waits, holding nothing, or
	// skips it where the client is a trusted mail server that delays its
	// own users' answers.
	Delay time.Duration
	// uncounted: a failure that is no guess, left out of the counts.
	uncounted uncounted
}

type uncounted int

const (
	counted uncounted = iota
	// uncountedByLock: a replay of a code just accepted, with the right
	// password (a client re-sending what worked). It slows like any
	// failure, so its answer tells nothing, but it is no guess and never
	// locks.
	uncountedByLock
	// uncountedEntirely: a recently revoked app password, an old phone
	// retrying; no guesser holds one.
	uncountedEntirely
)

func (e *AuthFailure) Error() string { return "invalid credentials: " + e.Reason }

func (e *AuthFailure) Is(target error) bool { return target == ErrInvalidCredentials }

func authFail(category, reason string) error { return &AuthFailure{Reason: reason, Category: category} }
