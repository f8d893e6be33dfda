package backend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Options configure the account domain.
type Options struct {
	Argon2 Argon2Params
	// HashSlots bounds concurrent argon2id computations, so memory stays at
	// HashSlots × Argon2.MemoryKiB plus baseline under any flood.
	HashSlots int
	// WaitTimeout bounds how long a bind waits for a hashing slot or for
	// its turn in the lockout before it is refused with ErrBusy; 0 means
	// 10 s. A bind that need not wait sets no timer at all.
	WaitTimeout time.Duration
	// MaxAppPasswords is the number of active app passwords an account may hold.
	MaxAppPasswords int
	// RequireSecondFactor refuses the primary password alone for accounts
	// without TOTP.
	RequireSecondFactor bool
	// TOTPIssuer names the service in authenticator apps.
	TOTPIssuer string
	// UsageFlushInterval is how often last-used records are written.
	UsageFlushInterval time.Duration
	// AuditFlushInterval is how often queued audit records are written:
	// successful binds and summarised refusals, one record per interval.
	// A change's record is not queued: the store writes it with the change.
	AuditFlushInterval time.Duration
	// AuditFailureFlush is how soon a failed bind's or a refused change's
	// record is written after it is queued (default 100 ms).
	AuditFailureFlush time.Duration
	// AuditQueue bounds the audit records waiting to be written; beyond
	// it the oldest successful binds are dropped first.
	AuditQueue int
	// BulkBatch is how many accounts one transaction of ImportUsers or
	// CreateAppPasswords changes (default 1000): one fsync for a thousand
	// accounts rather than one each, while the single writer is held for
	// tens of milliseconds at a time, so that a server running alongside
	// waits no longer than that for its own writes.
	BulkBatch int
	// Lockout is the failure policy of binds. Unset durations take
	// DefaultLockout's; a zero Delay means failures are answered at once.
	Lockout LockoutPolicy
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxAppPasswords follows Apple's limit of 25 active app-specific passwords.
const DefaultMaxAppPasswords = 25

// Service is the account domain: authentication and administration, over
// any Store. It knows nothing of LDAP.
type Service struct {
	store Store
	keys  *Keys
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	slots chan struct{}
	usage *usageRecorder
	audit *auditRecorder

	guard   *guard
	delays  *delays
	sources *sources
	// recording writes failure records after their answer; unrecorded
	// keeps those whose write failed.
	recording  lateWrites
	unrecorded unrecorded

	dummyOnce sync.Once
	dummyHash string
	dummySalt []byte
	// dummySealed is a sealed TOTP seed of no account.
	dummySealed []byte
	// verified answers repeated app-password binds (verified.go).
	verified  *verified
	closeOnce sync.Once
	// dir is the live directory (dircache.go); dirMu lets one refresh
	// it at a time.
	dir   atomic.Pointer[liveDir]
	dirMu sync.Mutex
	// counts are what Stats reports beyond the queues.
	counts counters
}

// New returns a Service. Close it to flush last-used records; the store is
// the caller's to close afterwards.
func New(store Store, keys *Keys, opts Options) *Service {
	if opts.Argon2 == (Argon2Params{}) {
		opts.Argon2 = DefaultArgon2Params
	}
	if opts.HashSlots <= 0 {
		opts.HashSlots = runtime.GOMAXPROCS(0)
	}
	if opts.MaxAppPasswords <= 0 {
		opts.MaxAppPasswords = DefaultMaxAppPasswords
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 10 * time.Second
	}
	if opts.TOTPIssuer == "" {
		opts.TOTPIssuer = "wicket"
	}
	if opts.UsageFlushInterval <= 0 {
		opts.UsageFlushInterval = 2 * time.Second
	}
	if opts.AuditFlushInterval <= 0 {
		opts.AuditFlushInterval = 2 * time.Second
	}
	if opts.AuditFailureFlush <= 0 {
		opts.AuditFailureFlush = 100 * time.Millisecond
	}
	if opts.BulkBatch <= 0 {
		opts.BulkBatch = 1000
	}
	if opts.AuditQueue <= 0 {
		opts.AuditQueue = 65536
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Lockout = opts.Lockout.withDefaults()
	s := &Service{
		store:    store,
		keys:     keys,
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		slots:    make(chan struct{}, opts.HashSlots),
		verified: newVerified(),

		guard:   newGuard(),
		delays:  newDelays(),
		sources: newSources(),
	}
	s.usage = newUsageRecorder(store, s.log, opts.UsageFlushInterval, 4096)
	s.audit = newAuditRecorder(store, s.log, opts.AuditFlushInterval, opts.AuditFailureFlush, opts.AuditQueue)
	return s
}

// Close writes pending last-used records, failure records and audit records.
// Later calls do nothing.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.recording.close()
		s.usage.close()
		s.audit.close()
	})
}

// dummies gives unknown accounts the same work as known ones: a hash with the
// configured parameters and a salt, made once.
func (s *Service) dummies() (string, []byte) {
	s.dummyOnce.Do(func() {
		var b [24]byte
		rand.Read(b[:])
		s.dummyHash, _ = HashPassword(string(b[:]), s.opts.Argon2)
		s.dummySalt = b[:16]
		s.dummySealed = s.keys.sealSeed(0, newTOTPSeed())
	})
	return s.dummyHash, s.dummySalt
}

// dummySeed is a sealed seed for the code of a name that has none.
func (s *Service) dummySeed() []byte {
	s.dummies()
	return s.dummySealed
}

// lookup resolves a bind name (a username or a mail address) to an account.
func (s *Service) lookup(ctx context.Context, login string) (*Account, error) {
	if strings.Contains(login, "@") {
		return s.store.AccountByMail(ctx, login)
	}
	return s.store.AccountByName(ctx, login)
}

// Authenticate checks a bind: an app password, or the primary password
// followed by the current TOTP code (or alone, where the account has no
// second factor and policy allows it). Every failure is ErrInvalidCredentials
// (an *AuthFailure with the reason for the log and the delay its answer
// should wait), reached through the same work whether or not the account
// exists and whether or not the path is locked.
//
// Failures are counted per account and per path (see AuthPath). A locked
// path refuses even the right credentials until the lock runs out or an
// administrator lifts it; the account's other path goes on working.
func (s *Service) Authenticate(ctx context.Context, login, secret, from string) (*Principal, error) {
	if secret == "" {
		return nil, authFail(FailEmptyPassword, "empty password")
	}
	norm, appShaped := NormalizeAppPassword(secret)
	var (
		gen   Generation
		genOK bool
		vkey  [32]byte
	)
	if appShaped {
		// Read before anything else: a write from here on voids what this
		// bind may remember (verified.put). Without it, the full check.
		var gerr error
		gen, gerr = s.store.Generation(ctx)
		genOK = gerr == nil
		if genOK {
			vkey = s.verified.key(login, norm)
			if p, ok := s.verified.get(gen, vkey); ok {
				s.usage.record(AppPasswordUse{ID: p.AppPasswordID, At: s.now(), From: from})
				return p, nil
			}
		}
	}
	p, err := s.authenticate(ctx, login, secret, from, norm, appShaped)
	if err == nil && genOK && p.Method == MethodAppPassword {
		s.verified.put(gen, vkey, p)
	}
	return p, err
}

// authenticate is the full check of a bind.
func (s *Service) authenticate(ctx context.Context, login, secret, from, norm string, appShaped bool) (*Principal, error) {
	a, err := s.admit(ctx, login, from, appShaped)
	if err != nil {
		return nil, err
	}
	// A panic below must not keep the bind's place in the guard for ever.
	defer a.abandon(s.guard)
	var p *Principal
	tried := MethodAppPassword
	if appShaped {
		p, err = s.checkAppPassword(ctx, a.acct, norm, from)
	}
	// Sixteen letters cannot end in a 6-digit code, so only an account
	// allowed to bind with its bare password (counted on the password
	// path) can still match below.
	var af *AuthFailure
	if !appShaped || (a.path == PathPassword && a.acct != nil && errors.As(err, &af) && af.uncounted == counted) {
		tried = MethodPasswordTOTP
		if a.acct != nil && !a.acct.TOTPEnrolled() {
			tried = MethodPassword
		}
		p, err = s.checkPrimary(ctx, a.acct, secret, a.locked)
	}
	if errors.As(err, &af) {
		af.Method = tried
		if a.acct != nil {
			af.Account = a.acct.Name
		}
	}
	return s.settle(ctx, a, p, err)
}

// checkAppPassword checks an app password. The path is never locked: a
// correct app password always works, whatever anyone else sent.
func (s *Service) checkAppPassword(ctx context.Context, acct *Account, norm, from string) (*Principal, error) {
	_, salt := s.dummies()
	var id int64
	if acct != nil {
		salt, id = acct.AppPasswordSalt, acct.ID
	}
	v := appPasswordVerifier(s.keys.appPasswordPepper(), salt, norm)
	p, err := s.store.AppPasswordByVerifier(ctx, id, v)
	switch {
	case acct == nil:
		return nil, authFail(FailUnknownAccount, "unknown account")
	case err != nil && !errors.Is(err, ErrNoSuchAppPassword):
		return nil, err
	case err != nil:
		return nil, authFail(FailWrongAppPassword, "wrong app password")
	case !p.Active() && s.now().Sub(p.RevokedAt) < s.opts.Lockout.RevokedGrace:
		// A device still using a password its owner revoked is no
		// guesser: a 75-bit secret is not hit by chance.
		return nil, &AuthFailure{Reason: "recently revoked app password " + p.ID, Category: FailRevokedAppPassword,
			AppPasswordID: p.ID, uncounted: uncountedEntirely}
	case acct.Disabled:
		return nil, authFail(FailAccountDisabled, "account disabled")
	case !p.Active():
		return nil, &AuthFailure{Reason: "revoked app password " + p.ID, Category: FailRevokedAppPassword, AppPasswordID: p.ID}
	}
	s.usage.record(AppPasswordUse{ID: p.ID, At: s.now(), From: from})
	return &Principal{Name: acct.Name, Role: acct.Role, Method: MethodAppPassword, AppPasswordID: p.ID}, nil
}

// checkPrimary checks the primary password and code. When locked, it does
// the hashing all the same, so the answer's timing tells nothing, then
// refuses without looking at the code.
func (s *Service) checkPrimary(ctx context.Context, acct *Account, secret string, locked bool) (*Principal, error) {
	password, code := secret, ""
	if acct == nil || acct.TOTPEnrolled() {
		if pw, c, ok := splitPasswordCode(secret); ok {
			password, code = pw, c
		}
		// Otherwise still spend the hash, so the answer's timing says
		// nothing.
	}
	return s.checkPrimaryParts(ctx, acct, password, code, locked)
}

// checkPrimaryParts is checkPrimary with the password and the code apart,
// as the account page's sign-in form sends them.
func (s *Service) checkPrimaryParts(ctx context.Context, acct *Account, password, code string, locked bool) (*Principal, error) {
	hash, _ := s.dummies()
	if acct != nil && acct.PasswordHash != "" {
		hash = acct.PasswordHash
	}
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	pwOK, stale, upgrade := checkPassword(hash, password, s.opts.Argon2)
	s.release()

	// The code is matched against a seed whatever the account, a dummy's
	// for an unknown name or a locked source, so the answer's timing
	// says nothing about which it was.
	enrolled := acct != nil && acct.TOTPEnrolled()
	step := int64(-1)
	if code != "" {
		id, sealed := int64(0), s.dummySeed()
		if enrolled {
			id, sealed = acct.ID, acct.TOTPSeed
		}
		seed, err := s.keys.openSeed(id, sealed)
		if err != nil {
			return nil, fmt.Errorf("account %d: %w", id, err)
		}
		step = matchTOTP(seed, code, s.now())
	}
	if locked {
		return nil, authFail(FailLocked, "password sign-in locked after repeated failures")
	}

	// The code is burned even after a wrong password: a code seen once
	// must never pass again (DESIGN.md, TOTP).
	codeOK, replayed := false, false
	if enrolled && step >= 0 {
		if step <= acct.TOTPLastStep {
			replayed = true
		} else {
			advanced, err := s.store.AdvanceTOTPStep(ctx, acct.ID, step)
			if err != nil {
				return nil, err
			}
			replayed, codeOK = !advanced, advanced
		}
	}

	switch {
	case acct == nil:
		return nil, authFail(FailUnknownAccount, "unknown account")
	case acct.PasswordHash == "" || !pwOK:
		return nil, authFail(FailWrongPassword, "wrong password")
	case replayed:
		// The right password with a code just accepted: a client sending
		// again what worked, or someone who saw both. Refused, and not a
		// guess: it never locks the user's own sign-in.
		return nil, &AuthFailure{Reason: "replayed TOTP code", Category: FailReplayedCode, uncounted: uncountedByLock}
	case acct.TOTPEnrolled() && code == "":
		return nil, authFail(FailCodeMissing, "TOTP code missing")
	case acct.TOTPEnrolled() && !codeOK:
		return nil, authFail(FailWrongCode, "wrong TOTP code")
	case !acct.TOTPEnrolled() && !s.bareAllowed(acct):
		return nil, authFail(FailSecondFactorRequired, "second factor required but not enrolled")
	case acct.Disabled:
		return nil, authFail(FailAccountDisabled, "account disabled")
	}

	if stale {
		s.rehash(ctx, acct, password, upgrade)
	}
	method := MethodPassword
	if acct.TOTPEnrolled() {
		method = MethodPasswordTOTP
	}
	return &Principal{Name: acct.Name, Role: acct.Role, Method: method}, nil
}

// rehash moves a hash made with old parameters to the configured ones. It
// must not revoke app passwords: the password itself did not change.
func (s *Service) rehash(ctx context.Context, acct *Account, password, upgrade string) {
	h, err := upgrade, error(nil)
	if h == "" {
		if err := s.acquire(ctx); err != nil {
			return
		}
		h, err = HashPassword(password, s.opts.Argon2)
		s.release()
	}
	if err == nil {
		_, err = s.store.SetPasswordHash(ctx, acct.ID, h, false, acct.PasswordChangedAt)
	}
	if err != nil {
		s.log.Warn("rehashing password with new parameters failed", "account", acct.Name, "err", err)
	}
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	s.counts.hashWaiting.Add(1)
	defer s.counts.hashWaiting.Add(-1)
	return s.wait(ctx, func(timeout <-chan time.Time) error {
		select {
		case s.slots <- struct{}{}:
			return nil
		case <-ctx.Done():
		case <-timeout:
		}
		return ErrBusy
	})
}

// wait runs a blocking wait bounded by WaitTimeout: the timer is made only
// when a bind has to wait, so a bind answered at once allocates none.
func (s *Service) wait(ctx context.Context, f func(timeout <-chan time.Time) error) error {
	t := time.NewTimer(s.opts.WaitTimeout)
	defer t.Stop()
	return f(t.C)
}

func (s *Service) release() { <-s.slots }

// --- administration ---

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidateName checks an account name: it becomes the uid of a DN, so it is
// kept to characters that need no escaping there.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: account name %q must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit", ErrInvalidInput, name)
	}
	return nil
}

func validateMail(mail string) error {
	if mail == "" {
		return nil
	}
	at := strings.LastIndexByte(mail, '@')
	if at < 1 || at == len(mail)-1 || len(mail) > 254 || strings.ContainsAny(mail, " \t\r\n,;<>\"") {
		return fmt.Errorf("%w: %q is not a mail address", ErrInvalidInput, mail)
	}
	return nil
}

// ValidatePassword checks a new primary password.
func ValidatePassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < 8:
		return fmt.Errorf("%w: the password must be at least 8 characters", ErrInvalidInput)
	case len(pw) > 256:
		return fmt.Errorf("%w: the password must be at most 256 bytes", ErrInvalidInput)
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: the password must be valid UTF-8", ErrInvalidInput)
	}
	return nil
}

// ValidateLabel checks an app-password label, as CreateAppPassword does
// (validateLabel).
func ValidateLabel(label string) error { return validateLabel(label) }

// validateLabel checks an app-password label: 1-100 characters of UTF-8
// that a person can read back as typed. A label is shown in lists, audit
// records and logs, so it may not hide or reorder text: control characters
// (Cc: tab, newline), format characters (Cf: the bidirectional overrides,
// embeddings, isolates and marks, zero-width spaces and joiners) and line
// or paragraph separators are refused. So are blank labels (nothing but
// spaces and invisible fillers) and spaces at either end, which are
// refused rather than trimmed: what is stored is exactly what was sent.
func validateLabel(label string) error {
	if !utf8.ValidString(label) || utf8.RuneCountInString(label) > 100 {
		return fmt.Errorf("%w: the label must be 1-100 characters of UTF-8", ErrInvalidInput)
	}
	blank := true
	for _, r := range label {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return fmt.Errorf("%w: the label must not contain control, format or bidirectional characters", ErrInvalidInput)
		}
		if !unicode.IsSpace(r) && !unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
			blank = false
		}
	}
	if blank {
		return fmt.Errorf("%w: the label must not be blank", ErrInvalidInput)
	}
	first, _ := utf8.DecodeRuneInString(label)
	last, _ := utf8.DecodeLastRuneInString(label)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return fmt.Errorf("%w: the label must not begin or end with a space", ErrInvalidInput)
	}
	return nil
}

func validRole(role string) error {
	switch role {
	case RoleUser, RoleService, RoleAdmin:
		return nil
	}
	return fmt.Errorf("%w: role must be user, service or admin", ErrInvalidInput)
}

// AddUser creates an account. An empty password leaves the account unable to
// bind until one is set.
func (s *Service) AddUser(ctx context.Context, name, mail, password, role string) (*UserInfo, error) {
	return s.addAccount(ctx, name, mail, role, func() (string, error) {
		if password == "" {
			return "", nil
		}
		if err := ValidatePassword(password); err != nil {
			return "", err
		}
		return s.hash(ctx, password)
	})
}

// addAccount creates an account whose password hash makeHash gives, called
// once everything else is valid, so a bad name costs no hashing.
func (s *Service) addAccount(ctx context.Context, name, mail, role string, makeHash func() (string, error)) (_ *UserInfo, err error) {
	ctx, ch, a, err := s.newAccount(ctx, name, mail, role, makeHash)
	defer func() { s.changed(ctx, ch, err) }()
	if err != nil {
		return nil, err
	}
	if err := committed(ch, s.store.CreateAccount(ctx, a)); err != nil {
		return nil, err
	}
	return s.info(ctx, a)
}

// newAccount checks an account to create and makes it, with the change
// that records its creation, which the returned context carries for
// CreateAccount. An error is the refusal, for changed to record.
func (s *Service) newAccount(ctx context.Context, name, mail, role string, makeHash func() (string, error)) (context.Context, *Change, *Account, error) {
	name = strings.ToLower(name)
	if role == "" {
		role = RoleUser
	}
	detail := KV("role", role)
	if mail != "" {
		detail += " " + KV("mail", mail)
	}
	ctx, ch := s.changing(ctx, ActionUserCreate, name, detail)
	if err := ValidateName(name); err != nil {
		return ctx, ch, nil, err
	}
	if err := validateMail(mail); err != nil {
		return ctx, ch, nil, err
	}
	if err := validRole(role); err != nil {
		return ctx, ch, nil, err
	}
	hash, err := makeHash()
	if err != nil {
		return ctx, ch, nil, err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	now := s.now().UTC()
	a := &Account{Name: name, Mail: mail, Role: role, PasswordHash: hash, AppPasswordSalt: salt,
		CreatedAt: now, PasswordChangedAt: now}
	return ctx, ch, a, nil
}

func (s *Service) hash(ctx context.Context, password string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return HashPassword(password, s.opts.Argon2)
}

func (s *Service) account(ctx context.Context, name string) (*Account, error) {
	return s.store.AccountByName(ctx, strings.ToLower(name))
}

func (s *Service) info(ctx context.Context, a *Account) (*UserInfo, error) {
	aps, err := s.store.ListAppPasswords(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return s.withLockState(userInfo(a, len(aps)), a), nil
}

func userInfo(a *Account, activeAppPasswords int) *UserInfo {
	return &UserInfo{Name: a.Name, Mail: a.Mail, Role: a.Role, Disabled: a.Disabled,
		GivenName: a.GivenName, Surname: a.Surname, DisplayName: a.DisplayName,
		TOTPEnrolled: a.TOTPEnrolled(), HasPassword: a.PasswordHash != "",
		ActiveAppPasswords: activeAppPasswords, CreatedAt: a.CreatedAt, PasswordChangedAt: a.PasswordChangedAt}
}

// User shows one account, with its aliases and groups.
func (s *Service) User(ctx context.Context, name string) (*UserInfo, error) {
	a, err := s.account(ctx, name)
	if err != nil {
		return nil, err
	}
	ui, err := s.info(ctx, a)
	if err != nil {
		return nil, err
	}
	// One account's aliases and groups: a command run once must not read
	// a directory of a hundred thousand accounts for them. A server has
	// its copy at hand.
	if s.dir.Load() != nil {
		d, err := s.Directory(ctx)
		if err != nil {
			return nil, err
		}
		if e := d.Account(a.Name); e != nil {
			ui.withEntry(&e.DirAccount, e.Aliases, e.Groups)
		}
		return ui, nil
	}
	ch, err := s.store.DirectoryAccounts(ctx, []int64{a.ID})
	if err != nil {
		return nil, err
	}
	if len(ch.Accounts) == 1 {
		ui.withEntry(&ch.Accounts[0], ch.Aliases[a.ID], ch.Groups[a.ID])
	}
	return ui, nil
}

// withEntry adds what the directory shows of the account to ui.
func (ui *UserInfo) withEntry(e *DirAccount, aliases, groups []string) {
	ui.Aliases, ui.Groups, ui.UUID, ui.Posix = aliases, groups, e.UUID, e.Posix
}

// Users lists every account.
func (s *Service) Users(ctx context.Context) ([]UserInfo, error) {
	accounts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.Directory(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]UserInfo, 0, len(accounts))
	for i := range accounts {
		a := &accounts[i]
		ui, err := s.info(ctx, a)
		if err != nil {
			return nil, err
		}
		if e := d.Account(a.Name); e != nil {
			ui.withEntry(&e.DirAccount, e.Aliases, e.Groups)
		}
		out = append(out, *ui)
	}
	return out, nil
}

// ChangeOwnPassword is SetPassword for the account's own user, who must give
// the current password (VerifyPassword): a session left open is not enough
// to take the account over. A current password that does not verify
// refuses the change, recorded as such.
func (s *Service) ChangeOwnPassword(ctx context.Context, name, current, password string) (int, error) {
	if err := s.VerifyPassword(ctx, name, current); err != nil {
		rctx, c := s.changing(ctx, ActionPasswordChange, name, KV("reason", "old password did not verify"))
		s.changed(rctx, c, err)
		return 0, err
	}
	return s.SetPassword(ctx, name, password)
}

// SetPassword replaces the primary password and, in the same transaction,
// revokes every app password of the account, as Apple does on a password
// change. It returns how many were revoked.
func (s *Service) SetPassword(ctx context.Context, name, password string) (revoked int, err error) {
	ctx, ch := s.passwordChange(ctx, name, false)
	defer func() { s.changed(ctx, ch, err) }()
	if err := ValidatePassword(password); err != nil {
		return 0, err
	}
	a, err := s.account(ctx, name)
	if err != nil {
		return 0, err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return 0, err
	}
	revoked, err = s.store.SetPasswordHash(ctx, a.ID, h, true, s.now().UTC())
	return revoked, committed(ch, err)
}

// passwordChange starts the record of a change of the primary password,
// which says how many app passwords it revoked.
func (s *Service) passwordChange(ctx context.Context, name string, imported bool) (context.Context, *Change) {
	ctx, ch := s.changing(ctx, ActionPasswordChange, name, "")
	ch.counted = func(revoked int) string {
		detail := KV("revoked", revoked)
		if imported {
			detail += " " + KV("from", "import")
		}
		return detail
	}
	return ctx, ch
}

// SetDisabled disables or enables an account. A disabled account fails every
// bind, with its app passwords kept for when it is enabled again.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) (err error) {
	action := ActionUserEnable
	if disabled {
		action = ActionUserDisable
	}
	ctx, ch := s.changing(ctx, action, name, "")
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return err
	}
	return committed(ch, s.store.SetDisabled(ctx, a.ID, disabled))
}

// SetRole changes an account's role.
func (s *Service) SetRole(ctx context.Context, name, role string) (err error) {
	ctx, ch := s.changing(ctx, ActionUserRole, name, KV("role", role))
	defer func() { s.changed(ctx, ch, err) }()
	if err := validRole(role); err != nil {
		return err
	}
	a, err := s.account(ctx, name)
	if err != nil {
		return err
	}
	if a.Role != "" {
		ch.rec.Detail += " " + KV("was", a.Role)
	}
	return committed(ch, s.store.SetRole(ctx, a.ID, role))
}

// DeleteUser removes an account and its app passwords.
func (s *Service) DeleteUser(ctx context.Context, name string) (err error) {
	ctx, ch := s.changing(ctx, ActionUserDelete, name, "")
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return err
	}
	return committed(ch, s.store.DeleteAccount(ctx, a.ID))
}

// EnrollTOTP gives the account a new TOTP seed (random when seed is nil),
// replacing any earlier one, and returns what the user's authenticator needs.
func (s *Service) EnrollTOTP(ctx context.Context, name string, seed []byte) (_ *TOTPEnrollment, err error) {
	ctx, ch := s.changing(ctx, ActionTOTPEnroll, name, "")
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return nil, err
	}
	if a.TOTPEnrolled() {
		ch.counted = func(int) string { return KV("replaced", true) }
	}
	if seed == nil {
		seed = newTOTPSeed()
	}
	label := a.Name
	if a.Mail != "" {
		label = a.Mail
	}
	e, err := totpEnrollment(s.opts.TOTPIssuer, label, seed)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.SetTOTPSeed(ctx, a.ID, s.keys.sealSeed(a.ID, seed), s.now().UTC()); committed(ch, err) != nil {
		return nil, err
	}
	return &e, nil
}

// RemoveTOTP removes the second factor. App passwords exist only under
// two-factor, so they are revoked with it; it returns how many.
func (s *Service) RemoveTOTP(ctx context.Context, name string) (revoked int, err error) {
	ctx, ch := s.changing(ctx, ActionTOTPRemove, name, "")
	ch.counted = func(revoked int) string { return KV("revoked", revoked) }
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return 0, err
	}
	revoked, err = s.store.SetTOTPSeed(ctx, a.ID, nil, s.now().UTC())
	return revoked, committed(ch, err)
}

// NewAppPassword is a created app password: Password is shown once, then
// only its verifier exists.
type NewAppPassword struct {
	AppPassword
	Password string
}

// CreateAppPassword generates an app password for the account.
func (s *Service) CreateAppPassword(ctx context.Context, name, label string) (created *NewAppPassword, err error) {
	// The label is user text and may be recorded; the password never is.
	detail := ""
	if validateLabel(label) == nil {
		detail = KV("label", label)
	}
	ctx, ch := s.changing(ctx, ActionAppPasswordCreate, name, detail)
	defer func() { s.changed(ctx, ch, err) }()
	if err := validateLabel(label); err != nil {
		return nil, err
	}
	a, err := s.account(ctx, name)
	if err != nil {
		return nil, err
	}
	if a.Role == RoleService {
		return nil, ErrServiceAccount
	}
	if !a.TOTPEnrolled() {
		return nil, ErrSecondFactorRequired
	}
	pw := GenerateAppPassword()
	v := appPasswordVerifier(s.keys.appPasswordPepper(), a.AppPasswordSalt, pw)
	for attempt := 0; ; attempt++ {
		p := AppPassword{ID: newAppPasswordID(), AccountID: a.ID, Label: label, CreatedAt: s.now().UTC()}
		ch.counted = func(int) string { return KV("id", p.ID, "label", label) }
		err := committed(ch, s.store.CreateAppPassword(ctx, &p, v, s.opts.MaxAppPasswords))
		// ErrExists is an id collision (40 random bits): draw another.
		if errors.Is(err, ErrExists) && attempt < 3 {
			continue
		}
		if errors.Is(err, ErrLimitReached) {
			return nil, &LimitError{Limit: s.opts.MaxAppPasswords}
		}
		if err != nil {
			return nil, err
		}
		return &NewAppPassword{AppPassword: p, Password: FormatAppPassword(pw)}, nil
	}
}

// AppPasswords lists the account's active app passwords with their latest
// use, including uses not yet written to the store.
func (s *Service) AppPasswords(ctx context.Context, name string) ([]AppPassword, error) {
	a, err := s.account(ctx, name)
	if err != nil {
		return nil, err
	}
	aps, err := s.store.ListAppPasswords(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	for i := range aps {
		if u, ok := s.usage.lookup(aps[i].ID); ok && u.At.After(aps[i].LastUsedAt) {
			aps[i].LastUsedAt, aps[i].LastUsedFrom = u.At, u.From
		}
	}
	return aps, nil
}

// AppPasswordByUUID finds an active app password by its entryUUID, for a
// search that asks for one: ErrNoSuchAppPassword when none has it.
func (s *Service) AppPasswordByUUID(ctx context.Context, u UUID) (*AppPassword, error) {
	return s.store.AppPasswordByUUID(ctx, u)
}

// RevokeAppPassword revokes one app password of the account. An id that is
// not the account's own is ErrNoSuchAppPassword, so nothing leaks.
func (s *Service) RevokeAppPassword(ctx context.Context, name, id string) (err error) {
	ctx, ch := s.changing(ctx, ActionAppPasswordRevoke, name, KV("id", recordedID(id)))
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return err
	}
	return committed(ch, s.store.RevokeAppPassword(ctx, a.ID, strings.ToLower(id), s.now().UTC()))
}

// RevokeAllAppPasswords revokes every app password of the account and says how many.
func (s *Service) RevokeAllAppPasswords(ctx context.Context, name string) (revoked int, err error) {
	ctx, ch := s.changing(ctx, ActionAppPasswordRevokeAll, name, "")
	ch.counted = func(revoked int) string { return KV("count", revoked) }
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return 0, err
	}
	revoked, err = s.store.RevokeAllAppPasswords(ctx, a.ID, s.now().UTC())
	return revoked, committed(ch, err)
}

// RevokeAppPasswords revokes several app passwords of the account, all or
// none: an id that is not the account's own active one revokes nothing.
func (s *Service) RevokeAppPasswords(ctx context.Context, name string, ids []string) (err error) {
	lower := make([]string, len(ids))
	for i, id := range ids {
		lower[i] = strings.ToLower(id)
	}
	key, shown := "ids", make([]string, len(lower))
	if len(lower) == 1 {
		key = "id"
	}
	for i, id := range lower {
		shown[i] = recordedID(id)
	}
	ctx, ch := s.changing(ctx, ActionAppPasswordRevoke, name, KV(key, strings.Join(shown, ",")))
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return err
	}
	return committed(ch, s.store.RevokeAppPasswords(ctx, a.ID, lower, s.now().UTC()))
}

// Resolve turns a login (a username or a mail address) into the account name.
func (s *Service) Resolve(ctx context.Context, login string) (string, error) {
	a, err := s.lookup(ctx, login)
	if err != nil {
		return "", err
	}
	return a.Name, nil
}

// VerifyPassword re-checks the primary password of a signed-in user, as a
// password change asks for the old one. The session already proved the
// second factor, so the password alone is enough; a password followed by a
// fresh code is accepted too (and the code used up). App passwords are not
// accepted here. Failure is ErrInvalidCredentials.
func (s *Service) VerifyPassword(ctx context.Context, name, secret string) error {
	a, err := s.account(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return authFail(FailUnknownAccount, "unknown account")
	}
	if err != nil {
		return err
	}
	if a.PasswordHash == "" || secret == "" {
		return authFail(FailWrongPassword, "no password")
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	ok, _ := verifyPassword(a.PasswordHash, secret, s.opts.Argon2)
	s.release()
	if ok {
		return nil
	}
	if _, _, split := splitPasswordCode(secret); split && a.TOTPEnrolled() {
		_, err := s.checkPrimary(ctx, a, secret, false)
		return err
	}
	return authFail(FailWrongPassword, "wrong password")
}

// passwordAlphabet leaves out look-alikes (0/O, 1/l/I) so a generated
// password survives being read aloud or copied by hand.
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword makes a primary password for RFC 3062's generated
// password: 20 characters of 57, about 116 bits.
func GeneratePassword() string {
	b := make([]byte, 20)
	for i := range b {
		b[i] = passwordAlphabet[randIndex(len(passwordAlphabet))]
	}
	return string(b)
}

// randIndex draws uniformly from [0,n) by rejection, so no character is likelier.
func randIndex(n int) int {
	limit := 256 - 256%n
	var one [1]byte
	for {
		if _, err := rand.Read(one[:]); err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		if int(one[0]) < limit {
			return int(one[0]) % n
		}
	}
}

// ProfileChange edits a profile: nil fields stay as they are.
type ProfileChange struct {
	Mail, GivenName, Surname, DisplayName *string
	// Aliases, when not nil, replace the account's aliases.
	Aliases *[]string
	// UIDNumber, GIDNumber, HomeDirectory and LoginShell set the POSIX
	// attributes one by one, as typed ("" removes one); NoPosix removes
	// them all before. The account must end with a uid number, a gid
	// number and a home directory, or with none of the four.
	UIDNumber, GIDNumber, HomeDirectory, LoginShell *string
	NoPosix                                         bool
}

// profileFields reports whether ch changes anything written with the
// profile (not the aliases, which are written apart).
func (ch ProfileChange) profileFields() bool {
	return ch.Mail != nil || ch.GivenName != nil || ch.Surname != nil || ch.DisplayName != nil ||
		ch.UIDNumber != nil || ch.GIDNumber != nil || ch.HomeDirectory != nil || ch.LoginShell != nil || ch.NoPosix
}

// UpdateProfile applies a ProfileChange: the profile in one write, then the
// aliases in another, each all or nothing and each with its record
// (user-profile, user-aliases). A change refused before either write is
// one record of the refusal; one that changes nothing, none.
func (s *Service) UpdateProfile(ctx context.Context, name string, ch ProfileChange) (err error) {
	action := ActionUserProfile
	if !ch.profileFields() {
		action = ActionUserAliases
	}
	rctx, refusal := s.changing(ctx, action, name, "")
	defer func() {
		if refusal != nil && err != nil {
			s.changed(rctx, refusal, err)
		}
	}()
	a, err := s.account(ctx, name)
	if err != nil {
		return err
	}
	// The POSIX attributes are no part of what a bind reads (Account):
	// SetProfile writes them whole, so the ones in force are read here.
	entry, err := s.store.DirectoryAccounts(ctx, []int64{a.ID})
	if err != nil {
		return err
	}
	if len(entry.Accounts) != 1 {
		return fmt.Errorf("account %q: %w", name, ErrNotFound)
	}
	was := entry.Accounts[0].Posix
	p := Profile{Mail: a.Mail, GivenName: a.GivenName, Surname: a.Surname, DisplayName: a.DisplayName, Posix: was}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&p.Mail, ch.Mail}, {&p.GivenName, ch.GivenName}, {&p.Surname, ch.Surname}, {&p.DisplayName, ch.DisplayName}} {
		if f.src != nil {
			*f.dst = strings.TrimSpace(*f.src)
		}
	}
	if err := validateMail(p.Mail); err != nil {
		return err
	}
	for _, v := range []string{p.GivenName, p.Surname, p.DisplayName} {
		if utf8.RuneCountInString(v) > 200 || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return fmt.Errorf("%w: names must be at most 200 characters of UTF-8 without control characters", ErrInvalidInput)
		}
	}
	if p.Posix, err = applyPosix(was, ch); err != nil {
		return err
	}
	// Everything is checked before the first write, so bad input changes
	// nothing.
	var aliases []string
	if ch.Aliases != nil {
		aliases = make([]string, 0, len(*ch.Aliases))
		for _, al := range *ch.Aliases {
			al = strings.TrimSpace(al)
			if al == "" {
				continue
			}
			if err := validateMail(al); err != nil {
				return err
			}
			if strings.EqualFold(al, p.Mail) {
				return fmt.Errorf("%w: %s is the account's mail address; an alias must be another address", ErrInvalidInput, al)
			}
			aliases = append(aliases, al)
		}
	}
	var changed []any
	for _, f := range []struct {
		key      string
		was, now string
	}{{"mail", a.Mail, p.Mail}, {"given_name", a.GivenName, p.GivenName}, {"surname", a.Surname, p.Surname},
		{"display_name", a.DisplayName, p.DisplayName}} {
		if f.was != f.now {
			changed = append(changed, f.key, f.now)
		}
	}
	changed = append(changed, posixChanges(was, p.Posix)...)
	if len(changed) > 0 {
		pctx, pc := s.changing(ctx, ActionUserProfile, name, KV(changed...))
		refusal = nil
		err := committed(pc, s.store.SetProfile(pctx, a.ID, p))
		s.changed(pctx, pc, err)
		if err != nil {
			return err
		}
	}
	if ch.Aliases == nil {
		return nil
	}
	actx, ac := s.changing(ctx, ActionUserAliases, name, KV("aliases", strings.Join(aliases, ",")))
	refusal = nil
	err = committed(ac, s.store.SetAliases(actx, a.ID, aliases))
	s.changed(actx, ac, err)
	return err
}

// CreateGroup adds an empty group.
func (s *Service) CreateGroup(ctx context.Context, name string) (err error) {
	name = strings.ToLower(name)
	ctx, ch := s.changing(ctx, ActionGroupCreate, "", KV("group", name))
	defer func() { s.changed(ctx, ch, err) }()
	if err := ValidateName(name); err != nil {
		return err
	}
	return committed(ch, s.store.CreateGroup(ctx, name))
}

// DeleteGroup removes a group; its members stay.
func (s *Service) DeleteGroup(ctx context.Context, name string) (err error) {
	name = strings.ToLower(name)
	ctx, ch := s.changing(ctx, ActionGroupDelete, "", KV("group", name))
	defer func() { s.changed(ctx, ch, err) }()
	return committed(ch, s.store.DeleteGroup(ctx, name))
}

// SetGroupMember adds an account to a group or removes it.
func (s *Service) SetGroupMember(ctx context.Context, group, name string, member bool) (err error) {
	group = strings.ToLower(group)
	action := ActionGroupRemove
	if member {
		action = ActionGroupAdd
	}
	ctx, ch := s.changing(ctx, action, name, KV("group", group))
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return err
	}
	return committed(ch, s.store.SetGroupMember(ctx, group, a.ID, member))
}

// Groups lists every group with its members.
func (s *Service) Groups(ctx context.Context) ([]Group, error) {
	d, err := s.Directory(ctx)
	if err != nil {
		return nil, err
	}
	return d.Groups(), nil
}
