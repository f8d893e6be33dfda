package backend

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PrimaryVerifier checks primary passwords kept in a directory outside
// wicket (backend/upstream does it over LDAP). Without one, the default,
// every primary password is checked against the account's own argon2id
// hash, as before.
//
// With one, the accounts it manages (created from it: UpstreamManaged)
// and names wicket does not know have their password checked by it; the
// TOTP code, replay, the counts and locks per account and per address stay
// wicket's, and a secret shaped like an app password is never passed to
// it. Accounts with a local hash (service accounts, an administrator's
// way in while the upstream is down) keep being checked here.
type PrimaryVerifier interface {
	// VerifyPrimary checks password as the primary password of the user
	// that login names upstream (an account name, a mail address or an
	// alias), and returns that user as the upstream shows it. A refusal
	// is an *AuthFailure whose Category says why (wrong password, unknown
	// or disabled user, a reason of the upstream's own); an upstream that
	// cannot be asked now is ErrUpstreamUnavailable.
	VerifyPrimary(ctx context.Context, login, password string) (*UpstreamUser, error)
}

// UpstreamDirectory is a PrimaryVerifier that also lists its users, for
// `wicket user sync` and the server's polling.
type UpstreamDirectory interface {
	PrimaryVerifier
	// Users returns every user the upstream's search finds, or an error:
	// never a list cut short (by a size limit, a timeout), which would read
	// as users gone.
	Users(ctx context.Context) ([]UpstreamUser, error)
}

// UpstreamUser is a user as the upstream directory shows it. It holds no
// secret.
type UpstreamUser struct {
	DN   string
	Name string // the account name: the uid attribute, lower-cased
	Mail string
	// Aliases are further mail addresses; Groups the names of the groups
	// the user is a member of.
	Aliases                         []string
	Groups                          []string
	GivenName, Surname, DisplayName string
	// Disabled says why the upstream refuses the user (account disabled,
	// locked by the password policy); empty when it does not.
	Disabled string
	// Changed is the value of the upstream's password-change marker
	// (pwdLastSet, pwdChangedTime, ...), empty when the entry has none.
	// Only a keyed fingerprint of it is stored.
	Changed string
}

// An upstream-managed account keeps no password hash. Its password field
// holds upstreamPrefix, a keyed fingerprint of the upstream's
// password-change marker, and upstreamDisabledMark while the upstream
// refuses the user: one field, so that a change of either moves the
// store's generation (no cache keeps trusting an app password after it)
// and a change of the fingerprint revokes the app passwords in the same
// transaction (SetPasswordHash). No value of it verifies as a password.
const (
	upstreamPrefix       = "{UPSTREAM}"
	upstreamDisabledMark = ";disabled"
)

// UpstreamManaged reports whether the account's primary password is kept
// in the upstream directory.
func (a *Account) UpstreamManaged() bool { return strings.HasPrefix(a.PasswordHash, upstreamPrefix) }

// upstreamDisabled reports whether the upstream refused the user when
// wicket last looked: then neither the password nor an app password signs
// in, whatever wicket's own flag says.
func (a *Account) upstreamDisabled() bool {
	return a.UpstreamManaged() && strings.HasSuffix(a.PasswordHash, upstreamDisabledMark)
}

// upstreamFingerprint is the part of the marker that follows the password
// upstream.
func (a *Account) upstreamFingerprint() string {
	return strings.TrimSuffix(strings.TrimPrefix(a.PasswordHash, upstreamPrefix), upstreamDisabledMark)
}

func upstreamMarker(fingerprint string, disabled bool) string {
	m := upstreamPrefix + fingerprint
	if disabled {
		m += upstreamDisabledMark
	}
	return m
}

// upstreamFingerprint is a keyed hash of the upstream's password-change
// marker: what the database holds says when nothing about the upstream.
func (k *Keys) upstreamFingerprint(changed string) string {
	key, err := hkdf.Key(sha256.New, k.appPasswordPepper(), nil, "wicket upstream change marker v1", 32)
	if err != nil {
		panic("hkdf: " + err.Error())
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(changed))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Upstream is the configured upstream directory, nil when there is none.
func (s *Service) Upstream() PrimaryVerifier { return s.opts.Upstream }

// checksUpstream reports whether the primary password of acct (nil: a
// name wicket does not know) is the upstream's to check.
func (s *Service) checksUpstream(acct *Account) bool {
	return s.opts.Upstream != nil && (acct == nil || acct.UpstreamManaged())
}

// checkUpstream is checkPrimary for a password the upstream keeps.
func (s *Service) checkUpstream(ctx context.Context, acct *Account, login, secret string, locked bool) (*Principal, error) {
	password, code := secret, ""
	if acct == nil || acct.TOTPEnrolled() {
		// A name not yet known here may be enrolled under another name
		// (a mail address that is no alias here, a userPrincipalName):
		// its code is checked once the upstream has said whose it is.
		if p, c, ok := splitPasswordCode(secret); ok {
			password, code = p, c
		}
	}
	return s.checkUpstreamParts(ctx, acct, login, password, code, locked)
}

// checkUpstreamParts is checkPrimaryParts for a password the upstream
// keeps. Everything wicket can decide itself is decided before the upstream
// is asked, so that a guess refused here costs the upstream account
// nothing: a lock, a secret shaped like an app password, a missing, wrong
// or replayed code. A name wicket does not know becomes an account once
// the upstream accepts its password.
func (s *Service) checkUpstreamParts(ctx context.Context, acct *Account, login, password, code string, locked bool) (_ *Principal, err error) {
	defer func() {
		// An account made by this sign-in is the one its record names.
		var af *AuthFailure
		if acct != nil && errors.As(err, &af) && af.Account == "" {
			af.Account = acct.Name
		}
	}()
	if locked {
		return nil, authFail(FailLocked, "password sign-in locked after repeated failures")
	}
	var (
		step     int64 = -1
		replayed bool
	)
	if acct != nil {
		if step, replayed, err = s.upstreamCode(acct, code); err != nil {
			return nil, err
		}
	}
	known := acct != nil
	acct, err = s.upstreamPassword(ctx, acct, login, password)
	if err != nil {
		// A code with a wrong password is burned too; one that never
		// reached an answer (the upstream down) is not, so the user can
		// try it again.
		if step >= 0 && errors.Is(err, ErrInvalidCredentials) {
			if _, aerr := s.store.AdvanceTOTPStep(ctx, acct.ID, step); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if !known {
		if step, replayed, err = s.upstreamCode(acct, code); err != nil {
			return nil, err
		}
	}
	if step >= 0 {
		advanced, err := s.store.AdvanceTOTPStep(ctx, acct.ID, step)
		if err != nil {
			return nil, err
		}
		replayed = !advanced
	}
	switch {
	case replayed:
		return nil, &AuthFailure{Reason: "replayed TOTP code", Category: FailReplayedCode, uncounted: uncountedByLock}
	case !acct.TOTPEnrolled() && !s.bareAllowed(acct):
		return nil, authFail(FailSecondFactorRequired, "second factor required but not enrolled")
	case acct.Disabled:
		return nil, authFail(FailAccountDisabled, "account disabled")
	}
	method := MethodPassword
	if acct.TOTPEnrolled() {
		method = MethodPasswordTOTP
	}
	return &Principal{Name: acct.Name, Role: acct.Role, Method: method}, nil
}

// upstreamPassword asks the upstream whether password is the primary
// password of acct (nil: of the user login names there, whose account it
// then creates), and brings what wicket keeps of the upstream's state up to
// date. It returns the account as it now is; on a refusal, acct as given.
// A secret shaped like an app password is never sent.
func (s *Service) upstreamPassword(ctx context.Context, acct *Account, login, password string) (*Account, error) {
	if _, shaped := NormalizeAppPassword(password); shaped {
		return acct, authFail(FailWrongPassword, "a secret shaped like an app password is never sent upstream")
	}
	name := login
	if acct != nil {
		name = acct.Name
	}
	u, err := s.opts.Upstream.VerifyPrimary(ctx, name, password)
	if err != nil {
		return acct, err
	}
	if acct == nil {
		return s.adoptUpstream(ctx, u)
	}
	b, _, err := s.applyUpstream(ctx, acct, u)
	if err != nil {
		return acct, err
	}
	return b, nil
}

// upstreamCode matches the code of an enrolled account: the step to
// burn once the upstream has answered (-1 for none), or a replay of a
// step already used. An account without a second factor has nothing to
// check.
func (s *Service) upstreamCode(acct *Account, code string) (step int64, replayed bool, err error) {
	if !acct.TOTPEnrolled() {
		return -1, false, nil
	}
	if code == "" {
		return -1, false, authFail(FailCodeMissing, "TOTP code missing")
	}
	seed, err := s.keys.openSeed(acct.ID, acct.TOTPSeed)
	if err != nil {
		return -1, false, fmt.Errorf("account %d: %w", acct.ID, err)
	}
	step = matchTOTP(seed, code, s.now())
	switch {
	case step < 0:
		return -1, false, authFail(FailWrongCode, "wrong TOTP code")
	case step <= acct.TOTPLastStep:
		return -1, true, nil
	}
	return step, false, nil
}

// adoptUpstream creates the account of an upstream user whose password the
// upstream just accepted: a user account with no password hash of its own,
// its mail, names, aliases and groups taken from the upstream. Its second
// factor is enrolled afterwards (`wicket totp enroll`).
func (s *Service) adoptUpstream(ctx context.Context, u *UpstreamUser) (*Account, error) {
	if err := ValidateName(u.Name); err != nil {
		return nil, authFail(FailUnknownAccount, "the upstream user's name cannot be an account name: "+err.Error())
	}
	if err := validateMail(u.Mail); err != nil {
		u.Mail = ""
	}
	cctx, ch, a, err := s.newAccount(ctx, u.Name, u.Mail, RoleUser, func() (string, error) {
		return upstreamMarker(s.keys.upstreamFingerprint(u.Changed), false), nil
	})
	ch.rec.Detail += " " + KV("from", "upstream")
	if err == nil {
		a.GivenName, a.Surname, a.DisplayName = u.GivenName, u.Surname, u.DisplayName
		err = committed(ch, s.store.CreateAccount(cctx, a))
	}
	s.changed(cctx, ch, err)
	if errors.Is(err, ErrExists) {
		// Made meanwhile by a bind in parallel, or a local account
		// holds the name or the mail address.
		if b, lerr := s.account(ctx, u.Name); lerr == nil && b.UpstreamManaged() {
			return b, nil
		}
		return nil, authFail(FailUnknownAccount, "the upstream user's name or mail belongs to a local account")
	}
	if err != nil {
		return nil, err
	}
	s.mapUpstream(ctx, a, u)
	return a, nil
}

// mapUpstream brings an upstream-managed account's profile, aliases and
// groups to what the upstream shows. What cannot be mapped (an address
// another account holds, a group name that is not one) is logged and left
// out; it never refuses a sign-in.
func (s *Service) mapUpstream(ctx context.Context, a *Account, u *UpstreamUser) (changed bool) {
	ui, err := s.User(ctx, a.Name)
	if err != nil {
		s.log.Warn("upstream: reading the account to map failed", "account", a.Name, "err", err)
		return false
	}
	mail := u.Mail
	if validateMail(mail) != nil {
		mail = ui.Mail
	}
	ch := ProfileChange{}
	for _, f := range []struct {
		dst       **string
		was, want string
	}{{&ch.Mail, ui.Mail, mail}, {&ch.GivenName, ui.GivenName, u.GivenName},
		{&ch.Surname, ui.Surname, u.Surname}, {&ch.DisplayName, ui.DisplayName, u.DisplayName}} {
		if f.was != f.want {
			*f.dst = &f.want
		}
	}
	var aliases []string
	for _, al := range u.Aliases {
		if validateMail(al) == nil && !strings.EqualFold(al, u.Mail) && !slices.ContainsFunc(aliases, func(x string) bool { return strings.EqualFold(x, al) }) {
			aliases = append(aliases, al)
		}
	}
	if !sameFold(aliases, ui.Aliases) {
		ch.Aliases = &aliases
	}
	if ch.profileFields() || ch.Aliases != nil {
		changed = true
		if err := s.UpdateProfile(ctx, a.Name, ch); err != nil {
			s.log.Warn("upstream: mapping the profile failed", "account", a.Name, "err", err)
		}
	}
	want := map[string]bool{}
	for _, g := range u.Groups {
		if g = strings.ToLower(g); ValidateName(g) == nil {
			want[g] = true
		}
	}
	exists := map[string]bool{}
	if len(want) > 0 {
		gs, err := s.Groups(ctx)
		if err != nil {
			s.log.Warn("upstream: reading the groups failed", "err", err)
			return changed
		}
		for _, g := range gs {
			exists[g.Name] = true
		}
	}
	for g := range want {
		if slices.Contains(ui.Groups, g) {
			continue
		}
		changed = true
		if !exists[g] {
			if err := s.CreateGroup(ctx, g); err != nil && !errors.Is(err, ErrExists) {
				s.log.Warn("upstream: creating a group failed", "group", g, "err", err)
				continue
			}
		}
		if err := s.SetGroupMember(ctx, g, a.Name, true); err != nil {
			s.log.Warn("upstream: adding a group member failed", "group", g, "account", a.Name, "err", err)
		}
	}
	// The upstream decides the groups of its users: a membership it no
	// longer shows goes, as access to what the group opens should.
	for _, g := range ui.Groups {
		if !want[g] {
			changed = true
			if err := s.SetGroupMember(ctx, g, a.Name, false); err != nil {
				s.log.Warn("upstream: removing a group member failed", "group", g, "account", a.Name, "err", err)
			}
		}
	}
	return changed
}

func sameFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y string) bool { return strings.EqualFold(x, y) }) {
			return false
		}
	}
	return true
}

// applyUpstream brings what wicket keeps of the upstream's state into the
// account: u is the user as the upstream shows it now, nil when the
// upstream no longer has it. A password changed upstream revokes every app
// password of the account, in the transaction that records the new marker
// (Apple's rule); a user disabled or gone upstream is refused on every
// path until the upstream shows it enabled again. It returns the account
// as it now is and what it did ("" for nothing).
func (s *Service) applyUpstream(ctx context.Context, acct *Account, u *UpstreamUser) (*Account, string, error) {
	fp, disabled, reason := acct.upstreamFingerprint(), true, "missing upstream"
	if u != nil {
		fp, disabled, reason = s.keys.upstreamFingerprint(u.Changed), u.Disabled != "", u.Disabled
	}
	want := upstreamMarker(fp, disabled)
	if acct.PasswordHash == want {
		return acct, "", nil
	}
	var (
		cctx context.Context
		ch   *Change
		did  string
	)
	changedAt := acct.PasswordChangedAt
	revokeAll := fp != acct.upstreamFingerprint()
	switch {
	case revokeAll:
		cctx, ch = s.changing(ctx, ActionPasswordChange, acct.Name, "")
		detail := KV("from", "upstream")
		if disabled {
			detail += " " + KV("disabled", reason)
		}
		ch.counted = func(revoked int) string { return KV("revoked", revoked) + " " + detail }
		changedAt, did = s.now().UTC(), "password-changed"
	case disabled:
		cctx, ch = s.changing(ctx, ActionUserDisable, acct.Name, KV("from", "upstream", "reason", reason))
		did = "disabled"
	default:
		cctx, ch = s.changing(ctx, ActionUserEnable, acct.Name, KV("from", "upstream"))
		did = "enabled"
	}
	_, err := s.store.SetPasswordHash(cctx, acct.ID, want, revokeAll, changedAt)
	s.changed(cctx, ch, committed(ch, err))
	if err != nil {
		return nil, "", err
	}
	b := *acct
	b.PasswordHash, b.PasswordChangedAt = want, changedAt
	if disabled {
		return &b, did, authFail(FailAccountDisabled, "disabled upstream: "+reason)
	}
	return &b, did, nil
}

// UpstreamSync is what SyncUpstream did.
type UpstreamSync struct {
	// Listed is how many users the upstream search returned.
	Listed int `json:"listed"`
	// Created, Updated (profile, aliases, groups), PasswordChanged (app
	// passwords revoked), Disabled and Enabled name the accounts.
	Created         []string `json:"created,omitempty"`
	Updated         []string `json:"updated,omitempty"`
	PasswordChanged []string `json:"password_changed,omitempty"`
	Disabled        []string `json:"disabled,omitempty"`
	Enabled         []string `json:"enabled,omitempty"`
	// Skipped are upstream users that have no account here, and why.
	Skipped []UpstreamSkip `json:"skipped,omitempty"`
}

// UpstreamSkip is an upstream user SyncUpstream left out.
type UpstreamSkip struct {
	DN     string `json:"dn"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

// SyncUpstream reads every user of the upstream directory and brings the
// upstream-managed accounts to it: a password changed upstream revokes the
// account's app passwords, a user disabled or gone upstream is refused
// until it is back. With create (`wicket user sync`) it also creates the
// accounts of users not yet here and maps their profile, aliases and
// groups; without (the server's polling) it changes only what decides a
// bind. Local accounts are never touched.
func (s *Service) SyncUpstream(ctx context.Context, create bool) (*UpstreamSync, error) {
	ud, ok := s.opts.Upstream.(UpstreamDirectory)
	if !ok {
		return nil, fmt.Errorf("%w: no upstream directory is configured ([upstream] url)", ErrInvalidInput)
	}
	users, err := ud.Users(ctx)
	if err != nil {
		return nil, err
	}
	rep := &UpstreamSync{Listed: len(users)}
	accounts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*Account, len(accounts))
	for i := range accounts {
		byName[accounts[i].Name] = &accounts[i]
	}
	seen := make(map[string]bool, len(users))
	for i := range users {
		u := &users[i]
		if err := ValidateName(u.Name); err != nil {
			rep.Skipped = append(rep.Skipped, UpstreamSkip{DN: u.DN, Name: u.Name, Reason: "not an account name (uid attribute)"})
			continue
		}
		if seen[u.Name] {
			rep.Skipped = append(rep.Skipped, UpstreamSkip{DN: u.DN, Name: u.Name, Reason: "another upstream entry has the same name"})
			continue
		}
		seen[u.Name] = true
		a := byName[u.Name]
		switch {
		case a == nil && !create:
			continue
		case a == nil:
			if u.Disabled != "" {
				rep.Skipped = append(rep.Skipped, UpstreamSkip{DN: u.DN, Name: u.Name, Reason: "disabled upstream: " + u.Disabled})
				continue
			}
			if _, err := s.adoptUpstream(ctx, u); err != nil {
				rep.Skipped = append(rep.Skipped, UpstreamSkip{DN: u.DN, Name: u.Name, Reason: reasonOf(err)})
				continue
			}
			rep.Created = append(rep.Created, u.Name)
			continue
		case !a.UpstreamManaged():
			rep.Skipped = append(rep.Skipped, UpstreamSkip{DN: u.DN, Name: u.Name, Reason: "a local account has this name"})
			continue
		}
		if err := s.syncOne(ctx, rep, a, u); err != nil {
			return rep, err
		}
		if create && u.Disabled == "" && s.mapUpstream(ctx, a, u) {
			rep.Updated = append(rep.Updated, a.Name)
		}
	}
	// An empty list is more likely a search that sees nothing (a base or an
	// ACL gone wrong) than a directory emptied: nobody is disabled for it.
	if len(users) == 0 {
		return rep, nil
	}
	for i := range accounts {
		a := &accounts[i]
		if a.UpstreamManaged() && !seen[a.Name] {
			if err := s.syncOne(ctx, rep, a, nil); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func (s *Service) syncOne(ctx context.Context, rep *UpstreamSync, a *Account, u *UpstreamUser) error {
	_, did, err := s.applyUpstream(ctx, a, u)
	var af *AuthFailure
	if err != nil && !errors.As(err, &af) {
		return err
	}
	switch did {
	case "password-changed":
		rep.PasswordChanged = append(rep.PasswordChanged, a.Name)
		if af != nil {
			rep.Disabled = append(rep.Disabled, a.Name)
		}
	case "disabled":
		rep.Disabled = append(rep.Disabled, a.Name)
	case "enabled":
		rep.Enabled = append(rep.Enabled, a.Name)
	}
	return nil
}

func reasonOf(err error) string {
	var af *AuthFailure
	if errors.As(err, &af) {
		return af.Reason
	}
	return err.Error()
}

// PollUpstream runs SyncUpstream without creating accounts, at once and
// then every interval until ctx ends: a password changed, or a user
// disabled, upstream stops the user's app passwords within one interval.
func (s *Service) PollUpstream(ctx context.Context, every time.Duration) {
	if _, ok := s.opts.Upstream.(UpstreamDirectory); !ok || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		rep, err := s.SyncUpstream(ctx, false)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// Once per outage: the upstream side logs its own state.
			if !failing {
				s.log.Warn("upstream poll failed; app passwords keep the state last read", "err", err)
			}
			failing = true
		default:
			if failing {
				s.log.Info("upstream poll works again", "users", rep.Listed)
			}
			failing = false
			if n := len(rep.PasswordChanged) + len(rep.Disabled) + len(rep.Enabled); n > 0 {
				s.log.Info("upstream poll applied changes", "password_changed", len(rep.PasswordChanged),
					"disabled", len(rep.Disabled), "enabled", len(rep.Enabled))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// verifyUpstream is VerifyPassword for an upstream-managed account: the
// password alone, or followed by a fresh code, checked as a sign-in would
// be, without its counts.
func (s *Service) verifyUpstream(ctx context.Context, a *Account, secret string) error {
	if s.opts.Upstream == nil {
		return authFail(FailWrongPassword, "the password is kept upstream and no upstream is configured")
	}
	if _, _, split := splitPasswordCode(secret); split && a.TOTPEnrolled() {
		_, err := s.checkUpstream(ctx, a, a.Name, secret, false)
		return err
	}
	// One bind, never two: a password that fails alone is not tried again
	// as password and code, which would count twice upstream.
	_, err := s.upstreamPassword(ctx, a, a.Name, secret)
	return err
}
