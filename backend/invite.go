package backend

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Enrolment invitations: a one-time code an administrator hands a user
// (`wicket totp invite NAME`), without which the account page does not let
// a password alone enrol a second factor. A stolen password then never
// enrols the thief's phone.

// ActionTOTPInvite is the issue of an enrolment invitation.
const ActionTOTPInvite = "totp-invite"

// FailWrongInvite is an enrolment refused for its invitation: wrong,
// expired, used, or none issued.
const FailWrongInvite = "wrong-invite"

// FailEnrolled is an enrolment refused because the account already has a
// second factor.
const FailEnrolled = "already-enrolled"

// DefaultInviteTTL is how long an invitation lasts unless said otherwise.
const DefaultInviteTTL = 72 * time.Hour

// MaxInviteTTL bounds an invitation's life: a code lying in a mailbox for
// months is a code someone else may find.
const MaxInviteTTL = 30 * 24 * time.Hour

// ErrInvalidInvite: the invitation is wrong, expired or already used.
var ErrInvalidInvite = errors.New("the enrolment code is wrong, expired or already used")

// InviteStore is what a Store offers to keep enrolment invitations. Only
// the hash of an invitation's code is stored.
type InviteStore interface {
	// SetInvite gives the account its one invitation, replacing any earlier
	// one, with the change's record as the Store's changes do.
	// ErrNotFound for an unknown account.
	SetInvite(ctx context.Context, accountID int64, hash []byte, expires time.Time) error
	// InviteValid reports whether hash is the account's invitation and has
	// not expired at now.
	InviteValid(ctx context.Context, accountID int64, hash []byte, now time.Time) (bool, error)
	// EnrolFirstTOTP enrols the account's first second factor in one
	// transaction: when inviteHash is not nil it deletes the matching
	// invitation, unexpired at now (ErrInvalidInvite when there is none);
	// it sets the seed, only where the account has none (ErrExists
	// otherwise), with lastStep as the last accepted step, so that the
	// code that confirmed the enrolment is used up; and it inserts the
	// change's record. On any error nothing changes.
	EnrolFirstTOTP(ctx context.Context, accountID int64, inviteHash, seed []byte, lastStep int64, now time.Time) error
}

// inviteAlphabet has 32 symbols without the look-alikes I, O, 0 and 1:
// five bits each, read aloud or typed from paper without a doubt.
const inviteAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newInviteCode draws 16 symbols (80 bits), shown in groups of four.
func newInviteCode() string {
	var b strings.Builder
	for i := range 16 {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(inviteAlphabet[randIndex(len(inviteAlphabet))])
	}
	return b.String()
}

// inviteHash is what is stored of a code: the code has 80 random bits, so
// one hash is enough, as for a session token. Dashes, spaces and case are
// ignored, as typed from paper.
func inviteHash(code string) []byte {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		if r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	h := sha256.Sum256([]byte("wicket enrolment invitation\x00" + b.String()))
	return h[:]
}

func (s *Service) invites() (InviteStore, error) {
	is, ok := s.store.(InviteStore)
	if !ok {
		return nil, errors.New("this store keeps no enrolment invitations")
	}
	return is, nil
}

// IssueInvite gives the account a new enrolment invitation, valid for ttl
// (DefaultInviteTTL when 0), replacing any earlier one, and returns its
// code, shown once. An account that already has a second factor gets none.
func (s *Service) IssueInvite(ctx context.Context, name string, ttl time.Duration) (code string, expires time.Time, err error) {
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	expires = s.now().UTC().Add(ttl).Truncate(time.Second)
	ctx, ch := s.changing(ctx, ActionTOTPInvite, name, KV("expires", expires.Format(time.RFC3339)))
	defer func() { s.changed(ctx, ch, err) }()
	if ttl < time.Minute || ttl > MaxInviteTTL {
		return "", time.Time{}, fmt.Errorf("%w: an invitation lasts between 1m and %v", ErrInvalidInput, MaxInviteTTL)
	}
	is, err := s.invites()
	if err != nil {
		return "", time.Time{}, err
	}
	a, err := s.account(ctx, name)
	if err != nil {
		return "", time.Time{}, err
	}
	if a.TOTPEnrolled() {
		return "", time.Time{}, fmt.Errorf("%w: %s already has TOTP; an invitation is for a first enrolment", ErrExists, a.Name)
	}
	code = newInviteCode()
	if err := committed(ch, is.SetInvite(ctx, a.ID, inviteHash(code), expires)); err != nil {
		return "", time.Time{}, err
	}
	return code, expires, nil
}

// PendingEnrolment is a second factor shown to its user and not yet
// confirmed. It holds the seed: keep it server side only, never in a page
// field, a cookie or a URL.
type PendingEnrolment struct {
	// Name is the account's; Secret (base32) and URI are for the
	// authenticator app.
	Name   string
	Secret string
	URI    string

	seed       []byte
	inviteHash []byte
}

// BeginEnrolment checks who asks to enrol a first second factor on the
// account page: the password (through the same counts and locks as a bind
// of the password path), and the invitation unless invite is false. It
// returns a new seed to show, stored nowhere yet. Every refusal is an
// *AuthFailure (ErrInvalidCredentials): wrong password or invitation,
// unknown name, locked, disabled, or already enrolled, so that the form
// tells nothing about the account.
func (s *Service) BeginEnrolment(ctx context.Context, login, password, invite, from string, needInvite bool) (*PendingEnrolment, error) {
	if password == "" {
		return nil, authFail(FailEmptyPassword, "empty password")
	}
	is, err := s.invites()
	if err != nil && needInvite {
		return nil, err
	}
	a, err := s.admit(ctx, login, from, false)
	if err != nil {
		return nil, err
	}
	defer a.abandon(s.guard)
	pe, err := s.checkEnrolment(ctx, is, a, password, invite, needInvite)
	var af *AuthFailure
	if errors.As(err, &af) {
		af.Method = MethodPassword
		if a.acct != nil {
			af.Account = a.acct.Name
		}
	}
	if _, err := s.settle(ctx, a, nil, err); err != nil {
		return nil, err
	}
	return pe, nil
}

func (s *Service) checkEnrolment(ctx context.Context, is InviteStore, a *attempt, password, invite string, needInvite bool) (*PendingEnrolment, error) {
	acct := a.acct
	hash, _ := s.dummies()
	if acct != nil && acct.PasswordHash != "" {
		hash = acct.PasswordHash
	}
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	pwOK, _, _ := checkPassword(hash, password, s.opts.Argon2)
	s.release()
	var ih []byte
	inviteOK := !needInvite
	if needInvite && acct != nil && invite != "" {
		ih = inviteHash(invite)
		ok, err := is.InviteValid(ctx, acct.ID, ih, s.now().UTC())
		if err != nil {
			return nil, err
		}
		inviteOK = ok
	}
	switch {
	case a.locked:
		return nil, authFail(FailLocked, "password sign-in locked after repeated failures")
	case acct == nil:
		return nil, authFail(FailUnknownAccount, "unknown account")
	case acct.PasswordHash == "" || !pwOK:
		return nil, authFail(FailWrongPassword, "wrong password")
	case acct.TOTPEnrolled():
		// The right password: no guess, never counted towards a lock.
		return nil, &AuthFailure{Reason: "TOTP already enrolled", Category: FailEnrolled, uncounted: uncountedByLock}
	case !inviteOK:
		return nil, authFail(FailWrongInvite, "enrolment invitation wrong, expired or used")
	case acct.Disabled:
		return nil, authFail(FailAccountDisabled, "account disabled")
	case acct.Role == RoleService:
		return nil, &AuthFailure{Reason: "service accounts bind with their own password and enrol no second factor",
			Category: FailServiceAccount, uncounted: uncountedByLock}
	}
	seed := newTOTPSeed()
	label := acct.Name
	if acct.Mail != "" {
		label = acct.Mail
	}
	e, err := totpEnrollment(s.opts.TOTPIssuer, label, seed)
	if err != nil {
		return nil, err
	}
	return &PendingEnrolment{Name: acct.Name, Secret: e.Secret, URI: e.URI, seed: seed, inviteHash: ih}, nil
}

// ConfirmEnrolment saves a pending second factor once its user typed a
// code it makes: the invitation is used up and the code with it, in one
// write with its record. A wrong code is ErrInvalidCredentials and changes
// nothing; an invitation used or expired meanwhile, ErrInvalidInvite; an
// account enrolled meanwhile, ErrExists.
func (s *Service) ConfirmEnrolment(ctx context.Context, pe *PendingEnrolment, code string) (err error) {
	via := "password"
	if pe.inviteHash != nil {
		via = "invite"
	}
	ctx, ch := s.changing(ctx, ActionTOTPEnroll, pe.Name, KV("via", via))
	defer func() { s.changed(ctx, ch, err) }()
	step := matchTOTP(pe.seed, code, s.now())
	if step < 0 {
		return authFail(FailWrongCode, "wrong TOTP code")
	}
	is, err := s.invites()
	if err != nil {
		return err
	}
	a, err := s.account(ctx, pe.Name)
	if err != nil {
		return err
	}
	if a.Disabled {
		return authFail(FailAccountDisabled, "account disabled")
	}
	return committed(ch, is.EnrolFirstTOTP(ctx, a.ID, pe.inviteHash, s.keys.sealSeed(a.ID, pe.seed), step, s.now().UTC()))
}
