package backend

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// AuthPath is one of the two ways into an account that failures are counted
// on apart (DESIGN.md, "A lock must not become a denial of service"):
// guessing the password and code locks that way in, and leaves the account's
// app passwords, and so the user's mail, working.
type AuthPath int

const (
	// PathPassword is the primary password, with a TOTP code or alone.
	PathPassword AuthPath = iota
	// PathAppPassword is every app password of the account together.
	PathAppPassword
)

// Valid reports whether p is one of the paths above.
func (p AuthPath) Valid() bool { return p == PathPassword || p == PathAppPassword }

func (p AuthPath) String() string {
	if p == PathAppPassword {
		return "app-password"
	}
	return "password"
}

// Failures is the failure record of one path of an account, as OpenLDAP's
// ppolicy keeps pwdFailureTime and pwdAccountLockedTime.
type Failures struct {
	// Count is the number of failures in a row, the latest at LastAt.
	Count  int
	LastAt time.Time
	// LockedUntil is when a lock set on reaching the limit ends; zero when
	// the path was never locked since the count last started.
	LockedUntil time.Time
}

// Locked reports whether the path refuses every bind at now.
func (f Failures) Locked(now time.Time) bool { return now.Before(f.LockedUntil) }

// Current is the count still in force at now. A count is forgotten once a
// whole window passes without another failure (Kerberos' and FreeIPA's
// failure-count interval: stricter than ppolicy, which forgets each failure
// on its own, so a slow guesser still reaches the limit), and starts again
// from zero when a lock has run out.
func (f Failures) Current(now time.Time, window time.Duration) int {
	switch {
	case f.Locked(now):
		return f.Count
	case !f.LockedUntil.IsZero(), now.Sub(f.LastAt) >= window:
		return 0
	}
	return f.Count
}

// After is the record once one more failure happens at now: what a store's
// RecordAuthFailure writes, in one atomic step.
func (f Failures) After(now time.Time, p LockoutPolicy) Failures {
	next := Failures{Count: f.Current(now, p.Window) + 1, LastAt: now}
	switch {
	case f.Locked(now):
		// Failures still in flight when the lock began land here; they
		// must not make it longer, or a flood would keep it forever.
		next.LockedUntil = f.LockedUntil
	case next.Count >= p.MaxFailures:
		next.LockedUntil = now.Add(p.Duration)
	}
	return next
}

// LockoutPolicy is the failure policy of binds, after OpenLDAP ppolicy's
// pwdMaxFailure, pwdFailureCountInterval and pwdLockoutDuration.
type LockoutPolicy struct {
	// MaxFailures in a row lock a path; DESIGN.md caps it at 100 (NIST SP
	// 800-63B-4 3.2.2).
	MaxFailures int
	// Window forgets a count after this long without a failure.
	Window time.Duration
	// Duration is how long a lock lasts, unless an administrator lifts it.
	Duration time.Duration
	// Delay is how long the answer to the fourth failure in a row waits;
	// each further one doubles it, up to MaxDelay. Zero: no delay.
	Delay, MaxDelay time.Duration
	// RevokedGrace is how long a revoked app password is still recognised
	// and refused without counting as a guess: an old phone retrying it is
	// no attacker (glauth#448).
	RevokedGrace time.Duration
}

// DefaultLockout is FreeIPA's lock of 600 s, with a more forgiving count of
// 10: two-factor typing errors are common and a guess needs the code too.
var DefaultLockout = LockoutPolicy{
	MaxFailures:  10,
	Window:       10 * time.Minute,
	Duration:     10 * time.Minute,
	Delay:        250 * time.Millisecond,
	MaxDelay:     5 * time.Second,
	RevokedGrace: 7 * 24 * time.Hour,
}

// freeFailures are answered at once: typing mistakes, not guessing.
const freeFailures = 3

// delay is how long to hold the answer of a failure that leaves n in a row.
func (p LockoutPolicy) delay(n int) time.Duration {
	if n <= freeFailures || p.Delay <= 0 {
		return 0
	}
	d := p.Delay
	for i := freeFailures + 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxDelay)
}

// withDefaults fills the settings that have no sensible zero; a zero Delay
// stays zero, meaning no delay.
func (p LockoutPolicy) withDefaults() LockoutPolicy {
	d := DefaultLockout
	if p.MaxFailures <= 0 {
		p.MaxFailures = d.MaxFailures
	}
	if p.Window <= 0 {
		p.Window = d.Window
	}
	if p.Duration <= 0 {
		p.Duration = d.Duration
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.RevokedGrace <= 0 {
		p.RevokedGrace = d.RevokedGrace
	}
	return p
}

// Failures returns the record of path p.
func (a *Account) Failures(p AuthPath) Failures {
	if p == PathAppPassword {
		return a.AppPasswordFailures
	}
	return a.PasswordFailures
}

// SetFailures replaces the record of path p, for stores.
func (a *Account) SetFailures(p AuthPath, f Failures) {
	if p == PathAppPassword {
		a.AppPasswordFailures = f
	} else {
		a.PasswordFailures = f
	}
}

// LockState is what administration shows of one path's record.
type LockState struct {
	Failures    int       `json:"failures"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	// LockedUntil is set while the path is locked.
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// Locked reports whether the path was locked when the state was read.
func (l LockState) Locked() bool { return !l.LockedUntil.IsZero() }

func (s *Service) lockState(a *Account, p AuthPath) LockState {
	f, now := a.Failures(p), s.now()
	n := f.Current(now, s.opts.Lockout.Window)
	if n == 0 {
		return LockState{}
	}
	st := LockState{Failures: n, LastFailure: f.LastAt}
	if f.Locked(now) {
		st.LockedUntil = f.LockedUntil
	}
	return st
}

func (s *Service) withLockState(ui *UserInfo, a *Account) *UserInfo {
	ui.PasswordLockout = s.lockState(a, PathPassword)
	ui.AppPasswordLockout = s.lockState(a, PathAppPassword)
	return ui
}

// Unlock clears the failure records of both paths of an account, lifting
// any lock at once. It works from another process than the server's: the
// records live in the store, and the server reads them with every bind.
func (s *Service) Unlock(ctx context.Context, name string) (err error) {
	ctx, ch := s.changing(ctx, ActionUserUnlock, name, "")
	defer func() { s.changed(ctx, ch, err) }()
	a, err := s.account(ctx, name)
	if err != nil {
		return err
	}
	return committed(ch, s.store.UnlockAccount(ctx, a.ID))
}

// --- the bind path ---

// attempt is one bind's standing with the lockout.
type attempt struct {
	acct  *Account // nil: no such account
	login string
	from  string
	path  AuthPath
	// before is the path's record as read with the account.
	before Failures
	// locked: refuse whatever the credentials, after the same work.
	locked bool
	// held: the attempt holds a place in the guard, given back by settle.
	held bool
}

func (a *attempt) key() guardKey { return guardKey{a.acct.ID, a.path} }

// release gives the attempt's place in the guard back, once.
func (a *attempt) release(g *guard, wrote bool) {
	if a.held {
		a.held = false
		g.done(a.key(), wrote)
	}
}

// abandon releases a place that settle never reached.
func (a *attempt) abandon(g *guard) { a.release(g, false) }

// pathOf is the path a bind is counted on. A secret shaped like an app
// password is a guess at one, unless the account may bind with its bare
// password: such an account has no second factor and so no active app
// passwords, and the secret can only be its password.
func (s *Service) pathOf(acct *Account, appShaped bool) AuthPath {
	if appShaped && !s.bareAllowed(acct) {
		return PathAppPassword
	}
	return PathPassword
}

// bareAllowed reports whether the account may bind with its primary
// password alone. Service accounts (Dovecot, Postfix) are programs: they
// bind with their own password, which policy expects to be long and random.
func (s *Service) bareAllowed(acct *Account) bool {
	return acct != nil && !acct.TOTPEnrolled() && (!s.opts.RequireSecondFactor || acct.Role == RoleService)
}

// admit looks the account up and takes the bind's place in the lockout
// before anything is verified, so that parallel guesses cannot all pass the
// check on one stale count.
func (s *Service) admit(ctx context.Context, login, from string, appShaped bool) (*attempt, error) {
	for {
		mark := s.guard.mark()
		acct, err := s.lookup(ctx, login)
		switch {
		case errors.Is(err, ErrNotFound):
			acct = nil
		case err != nil:
			return nil, err
		}
		a := &attempt{acct: acct, login: login, from: from, path: s.pathOf(acct, appShaped)}
		if acct == nil {
			return a, nil
		}
		a.before = acct.Failures(a.path)
		now := s.now()
		if a.before.Locked(now) {
			a.locked = true
			return a, nil
		}
		v, settled := s.guard.admit(a.key(), a.before.Current(now, s.opts.Lockout.Window), s.opts.Lockout.MaxFailures, mark)
		switch v {
		case admitted:
			a.held = true
			return a, nil
		case wait:
			// Only a place is awaited here: no hashing slot, no lock.
			select {
			case <-settled:
			case <-ctx.Done():
				return nil, ErrBusy
			}
		}
	}
}

// settle records the outcome of a bind: a failure is counted, and the first
// success after failures clears them. An ordinary success writes nothing.
//
// A failure is written after the answer, not before it: only failures of
// real accounts are written, and a synchronous write would let a client tell
// them from unknown names by the time a commit takes. The bind keeps its
// place in the guard until the write has landed, so no bind of this process
// is ever verified on a count that is behind.
func (s *Service) settle(ctx context.Context, a *attempt, p *Principal, err error) (*Principal, error) {
	// The client may hang up as soon as its guess is verified; the count
	// must be written all the same.
	ctx = context.WithoutCancel(ctx)
	var af *AuthFailure
	if !errors.As(err, &af) {
		wrote := false
		if err == nil && a.held && a.before != (Failures{}) {
			if rerr := s.store.ResetAuthFailures(ctx, a.acct.ID, a.path); rerr != nil {
				s.log.Warn("clearing failed binds after a success", "account", a.acct.Name, "path", a.path, "err", rerr)
			}
			wrote = true
		}
		a.release(s.guard, wrote)
		return p, err
	}

	now := s.now()
	// A bind refused by a lock waits as long as the failure that set it
	// would have: the delay must not tell a locked account from others.
	n := a.before.Current(now, s.opts.Lockout.Window) + 1
	switch {
	case a.acct == nil:
		n = s.strangers.record(a.login, a.path, now, s.opts.Lockout)
	case a.locked || af.uncounted:
		// Not a guess that tells the guesser anything new: nothing is
		// written, and a flood against a lock costs the store nothing.
	default:
		// The place passes to the write, which gives it back.
		key := a.key()
		a.held = false
		s.recording.run(func() { s.record(ctx, a, key, now) })
	}
	a.release(s.guard, false)
	af.Delay = s.opts.Lockout.delay(n)
	return nil, af
}

// record writes one failure of an admitted bind, then gives its place back.
func (s *Service) record(ctx context.Context, a *attempt, key guardKey, now time.Time) {
	defer s.guard.done(key, true)
	rec, err := s.store.RecordAuthFailure(ctx, a.acct.ID, a.path, now, s.opts.Lockout)
	if err != nil {
		s.log.Error("recording a failed bind", "account", a.acct.Name, "path", a.path, "err", err)
		return
	}
	if rec.LockedUntil != a.before.LockedUntil && rec.Locked(now) {
		s.log.Warn("sign-in locked after repeated failures", "account", a.acct.Name, "path", a.path,
			"failures", rec.Count, "until", rec.LockedUntil.UTC().Format(time.RFC3339), "from", a.from)
	}
}

// lateWrites runs writes after the answer has gone, and lets Close wait
// for them; once closing, it runs them at once instead.
type lateWrites struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

func (w *lateWrites) run(f func()) {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		f()
		return
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		f()
	}()
}

func (w *lateWrites) close() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	w.wg.Wait()
}

// guard keeps the verifications in flight on each path of each account
// within the failures the path has left. The count lives in the store and
// is written only when a guess fails (never on an ordinary success), so
// without the guard a thousand parallel guesses would all read the same
// count of zero and all be verified. A bind that would take the path past
// its limit waits until one in flight settles, then reads the count again.
//
// It is per process: a second server on the same database keeps its own.
type guard struct {
	mu sync.Mutex
	// seq counts the failure records this process has written. A bind
	// that read its account before one of them landed reads again.
	seq     uint64
	entries map[guardKey]*guardEntry
}

type guardKey struct {
	id   int64
	path AuthPath
}

type guardEntry struct {
	pending int
	settled chan struct{} // closed when one of the pending settles
}

type admission int

const (
	admitted admission = iota
	reread             // the record read may predate a write: read it again
	wait               // the path's remaining failures are all in flight
)

func newGuard() *guard { return &guard{entries: make(map[guardKey]*guardEntry)} }

func (g *guard) mark() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seq
}

// admit reserves a place for one verification on k, whose record read after
// mark holds current failures.
func (g *guard) admit(k guardKey, current, limit int, mark uint64) (admission, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seq != mark {
		return reread, nil
	}
	e := g.entries[k]
	if e == nil {
		e = &guardEntry{settled: make(chan struct{})}
		g.entries[k] = e
	}
	// With nothing in flight, a bind always gets its turn: a count at the
	// limit without a lock only happens when the limit was lowered, and
	// the failure it may add sets the lock.
	if e.pending > 0 && current+e.pending >= limit {
		return wait, e.settled
	}
	e.pending++
	return admitted, nil
}

// done gives back a place; wrote says a record was written meanwhile.
func (g *guard) done(k guardKey, wrote bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if wrote {
		g.seq++
	}
	e := g.entries[k]
	e.pending--
	close(e.settled)
	if e.pending == 0 {
		delete(g.entries, k)
	} else {
		e.settled = make(chan struct{})
	}
}

// strangers counts, in memory only, the failures of logins that name no
// account, so that their answers slow down exactly as an account's would:
// the delay must not tell which names exist. Nothing about them reaches the
// store, so random names cannot grow the database; the table is bounded and
// forgets the oldest name first.
type strangers struct {
	mu   sync.Mutex
	seed maphash.Seed
	recs map[strangerKey]Failures
	ring []strangerKey // insertion order, for eviction
	next int
}

type strangerKey struct {
	login uint64 // a hash: bind names can be long, and are never needed back
	path  AuthPath
}

const maxStrangers = 8192

func newStrangers() *strangers {
	return &strangers{seed: maphash.MakeSeed(), recs: make(map[strangerKey]Failures)}
}

// record counts one failure as an account's path would count it, lock
// included, and returns the count the answer's delay is taken from.
func (t *strangers) record(login string, p AuthPath, now time.Time, policy LockoutPolicy) int {
	k := strangerKey{maphash.String(t.seed, foldASCII(login)), p}
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.recs[k]
	if !ok {
		if len(t.ring) < maxStrangers {
			t.ring = append(t.ring, k)
		} else {
			delete(t.recs, t.ring[t.next])
			t.ring[t.next] = k
			t.next = (t.next + 1) % maxStrangers
		}
	}
	if f.Locked(now) {
		return f.Count + 1
	}
	f = f.After(now, policy)
	t.recs[k] = f
	return f.Count
}

// foldASCII folds as the stores compare names (SQLite's NOCASE), so that
// "Bob" and "bob" count as one unknown name, as they would as one account.
func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
