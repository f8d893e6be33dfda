package backend

import (
	"context"
	"errors"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"time"
)

// AuthPath is one of the two ways into an account, counted apart. Only the
// password path can be locked (DESIGN.md, "Locks protect what can be
// guessed"): an app password has about 75 bits, which no online guesser
// finds, so a lock on it would only hand an attacker a switch that turns a
// user's mail off.
type AuthPath int

const (
	// PathPassword is the primary password, with a TOTP code or alone.
	PathPassword AuthPath = iota
	// PathAppPassword is every app password of the account together:
	// wrong guesses are slowed, never locked.
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
	// MaxFailures in a row from one client source lock password sign-in
	// for that source only, so that a guesser at one address does not stop
	// the user's correct password and code from another. A source is an
	// address (an IPv6 /64); all TrustedClients together are one source,
	// since behind a mail server the users' own addresses are unknown.
	MaxFailures int
	// AccountMaxFailures in a row from all sources together lock password
	// sign-in from everywhere: the bound NIST SP 800-63B-4 3.2.2 puts on
	// guesses at one account (at most 100).
	AccountMaxFailures int
	// TrustedClients are the mail servers (see MaxFailures).
	TrustedClients []netip.Prefix
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
// 10 per source (two-factor typing errors are common and a guess needs the
// code too) and NIST's 100 for the account.
var DefaultLockout = LockoutPolicy{
	MaxFailures:        10,
	AccountMaxFailures: 100,
	Window:             10 * time.Minute,
	Duration:           10 * time.Minute,
	Delay:              250 * time.Millisecond,
	MaxDelay:           5 * time.Second,
	RevokedGrace:       7 * 24 * time.Hour,
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
	if p.AccountMaxFailures <= 0 {
		p.AccountMaxFailures = max(d.AccountMaxFailures, p.MaxFailures)
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
	return ui
}

// Unlock clears the failure records of an account, lifting any lock at
// once, the locks a server keeps per client source included. It works from
// another process than the server's: the records and the count of unlocks
// live in the store, and the server reads them with every bind.
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
	// source is the client source the bind counts against (sourceOf).
	source string
	path   AuthPath
	// before is the account's password record as read with the account.
	before Failures
	// locked: refuse whatever the credentials, after the same work.
	locked bool
	// places are the attempt's places in the guard, given back by settle:
	// the source's and the account's, on the password path only.
	places []guardKey
}

// release gives the attempt's places back, once; wrote says a record was
// written meanwhile.
func (a *attempt) release(g *guard, wrote bool) {
	for _, k := range a.places {
		g.done(k, wrote)
	}
	a.places = nil
}

// abandon releases places that settle never reached.
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

// trustedSource is the one source every trusted client counts as.
const trustedSource = "trusted"

// sourceOf is the client source a bind from address from counts against:
// the address (an IPv6 /64, which one host commonly holds whole), or one
// source for all trusted clients.
func (s *Service) sourceOf(from string) string {
	a, err := netip.ParseAddr(from)
	if err != nil {
		if host, _, serr := net.SplitHostPort(from); serr == nil {
			a, err = netip.ParseAddr(host)
		}
	}
	if err != nil {
		// No IP address (a test, a pipe): one source for all such.
		return from
	}
	a = a.Unmap().WithZone("")
	for _, p := range s.opts.Lockout.TrustedClients {
		if p.Contains(a) {
			return trustedSource
		}
	}
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

// admit looks the account up and, on the password path, takes the bind's
// places in the lockout before anything is verified, so that parallel
// guesses cannot all pass the check on one stale count. The app-password
// path has no lock and so takes no place.
func (s *Service) admit(ctx context.Context, login, from string, appShaped bool) (*attempt, error) {
	source := s.sourceOf(from)
	for {
		mark := s.guard.mark()
		acct, err := s.lookup(ctx, login)
		switch {
		case errors.Is(err, ErrNotFound):
			acct = nil
		case err != nil:
			return nil, err
		}
		a := &attempt{acct: acct, login: login, from: from, source: source, path: s.pathOf(acct, appShaped)}
		if acct == nil || a.path == PathAppPassword {
			return a, nil
		}
		if err := s.unrecorded.flush(ctx, s, acct); err != nil {
			return nil, err
		}
		now, p := s.now(), s.opts.Lockout
		a.before = acct.PasswordFailures
		src := s.sources.get(acct.ID, source, acct.Unlocks)
		if a.before.Locked(now) || src.Locked(now) {
			a.locked = true
			return a, nil
		}
		places := []place{
			{guardKey{acct.ID, source}, src.Current(now, p.Window), p.MaxFailures},
			{guardKey{acct.ID, ""}, a.before.Current(now, p.Window), p.AccountMaxFailures},
		}
		v, settled := s.guard.admit(places, mark)
		switch v {
		case admitted:
			a.places = []guardKey{places[0].key, places[1].key}
			return a, nil
		case wait:
			// Only a place is awaited here: no hashing slot, no lock.
			err := s.wait(ctx, func(timeout <-chan time.Time) error {
				select {
				case <-settled:
					return nil
				case <-ctx.Done():
				case <-timeout:
				}
				return ErrBusy
			})
			if err != nil {
				return nil, err
			}
		}
	}
}

// settle records the outcome of a bind and says how long a failure's answer
// waits. Everything the answer depends on is done here, in memory, the same
// for a real account and an unknown name: the count the delay comes from,
// and the source's lock. What only a real account has, its record in the
// store, is written after the answer: a write before it would tell real
// accounts from unknown names by the time a commit takes. The bind keeps
// its place for the account until that write has landed, so no bind of
// this process is verified on a count that is behind.
func (s *Service) settle(ctx context.Context, a *attempt, p *Principal, err error) (*Principal, error) {
	// The client may hang up as soon as its guess is verified; the count
	// must be written all the same.
	ctx = context.WithoutCancel(ctx)
	var af *AuthFailure
	now := s.now()
	if !errors.As(err, &af) {
		wrote := false
		if err == nil {
			s.delays.forget(a.login, a.source, a.path)
			if a.acct != nil && a.path == PathPassword {
				s.sources.forget(a.acct.ID, a.source)
				if a.before != (Failures{}) && len(a.places) > 0 {
					if rerr := s.store.ResetAuthFailures(ctx, a.acct.ID, a.path); rerr != nil {
						s.log.Warn("clearing failed binds after a success", "account", a.acct.Name, "err", rerr)
					}
					wrote = true
				}
			}
		}
		a.release(s.guard, wrote)
		return p, err
	}
	if af.uncounted == uncountedEntirely {
		a.release(s.guard, false)
		return nil, af
	}
	af.Delay = s.opts.Lockout.delay(s.delays.record(a.login, a.source, a.path, now, s.opts.Lockout.Window))
	if a.acct == nil || a.path == PathAppPassword || a.locked || af.uncounted == uncountedByLock {
		// Nothing to lock: an unknown name, an app password (never locked),
		// a bind already refused by a lock (a flood against a lock costs the
		// store nothing), or a replayed code with the right password.
		a.release(s.guard, false)
		return nil, af
	}
	src := s.sources.fail(a.acct.ID, a.source, a.acct.Unlocks, now, s.opts.Lockout)
	if src.Locked(now) && src.Count == s.opts.Lockout.MaxFailures {
		s.counts.sourceLocks.Add(1)
		s.log.Warn("password sign-in locked for one client source after repeated failures", "account", a.acct.Name,
			"source", a.source, "failures", src.Count, "until", src.LockedUntil.UTC().Format(time.RFC3339), "from", a.from)
	}
	// The source's place goes back now, its count being in memory, and as
	// a record written: a bind that read the count before it reads again.
	// The account's place passes to the write, which gives it back.
	acctKey := a.places[1]
	a.places = a.places[:1]
	a.release(s.guard, true)
	s.recording.run(func() { s.record(ctx, a, acctKey, now) })
	return nil, af
}

// accountPolicy is the policy the account's record in the store follows.
func (s *Service) accountPolicy() LockoutPolicy {
	p := s.opts.Lockout
	p.MaxFailures = p.AccountMaxFailures
	return p
}

// record writes one failure of an admitted bind, then gives its place back.
// A write that fails is kept and retried by the account's next bind, which
// is refused as unavailable until it succeeds: a failure is never left
// uncounted (DESIGN.md, "fails closed").
func (s *Service) record(ctx context.Context, a *attempt, key guardKey, now time.Time) {
	rec, err := s.store.RecordAuthFailure(ctx, a.acct.ID, PathPassword, now, s.accountPolicy())
	if err != nil {
		s.unrecorded.add(a.acct.ID, now)
		s.guard.done(key, false)
		s.log.Error("recording a failed bind failed; password sign-in refused as unavailable until it is recorded",
			"account", a.acct.Name, "err", err)
		return
	}
	s.guard.done(key, true)
	if rec.LockedUntil != a.before.LockedUntil && rec.Locked(now) {
		s.counts.accountLocks.Add(1)
		s.log.Warn("password sign-in locked for every client after repeated failures", "account", a.acct.Name,
			"failures", rec.Count, "until", rec.LockedUntil.UTC().Format(time.RFC3339), "from", a.from)
	}
}

// unrecorded keeps the failures whose write failed, by account, until a
// later write takes them.
type unrecorded struct {
	mu sync.Mutex
	m  map[int64]*pendingFailures
}

type pendingFailures struct {
	at []time.Time
	// flushing: a bind is writing them now; others are refused meanwhile
	// rather than wait on a failing disk.
	flushing bool
}

func (u *unrecorded) add(id int64, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = make(map[int64]*pendingFailures)
	}
	p := u.m[id]
	if p == nil {
		p = &pendingFailures{}
		u.m[id] = p
	}
	// A failing disk can keep failing: what is kept per account stays
	// bounded, the oldest going first (the lock needs the latest).
	if len(p.at) >= 128 {
		p.at = p.at[1:]
	}
	p.at = append(p.at, at)
}

// flush writes the account's unwritten failures, or says why the bind must
// be refused as unavailable. Only this account's binds wait for it.
func (u *unrecorded) flush(ctx context.Context, s *Service, acct *Account) error {
	u.mu.Lock()
	p := u.m[acct.ID]
	switch {
	case p == nil:
		u.mu.Unlock()
		return nil
	case p.flushing:
		u.mu.Unlock()
		return ErrUnavailable
	}
	p.flushing = true
	pending := p.at
	p.at = nil
	u.mu.Unlock()

	var err error
	for len(pending) > 0 {
		if _, err = s.store.RecordAuthFailure(context.WithoutCancel(ctx), acct.ID, PathPassword, pending[0], s.accountPolicy()); err != nil {
			break
		}
		pending = pending[1:]
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	p.flushing = false
	// Failures added while this one wrote follow the ones still pending.
	p.at = append(pending, p.at...)
	if len(p.at) > 128 {
		p.at = p.at[len(p.at)-128:]
	}
	if err != nil {
		s.log.Error("failed binds still cannot be recorded; password sign-in refused as unavailable", "account", acct.Name, "err", err)
		return ErrUnavailable
	}
	if len(p.at) == 0 {
		delete(u.m, acct.ID)
		return nil
	}
	return ErrUnavailable
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

// guard keeps the verifications in flight on the password path within the
// failures left, per client source and per account. The account's count
// lives in the store and is written only when a guess fails (never on an
// ordinary success), so without the guard a thousand parallel guesses
// would all read the same count of zero and all be verified. A bind that
// would take a count past its limit waits until one in flight settles,
// then reads the count again.
//
// It is per process: a second server on the same database keeps its own.
type guard struct {
	mu sync.Mutex
	// seq counts the failure records this process has written. A bind
	// that read its account before one of them landed reads again.
	seq     uint64
	entries map[guardKey]*guardEntry
}

// guardKey is an account's source, or with source "" the account itself.
type guardKey struct {
	id     int64
	source string
}

type guardEntry struct {
	pending int
	settled chan struct{} // closed when one of the pending settles
}

// place is one count a bind must stay within: current failures recorded,
// and the limit that locks.
type place struct {
	key            guardKey
	current, limit int
}

type admission int

const (
	admitted admission = iota
	reread             // the record read may predate a write: read it again
	wait               // a count's remaining failures are all in flight
)

func newGuard() *guard { return &guard{entries: make(map[guardKey]*guardEntry)} }

func (g *guard) mark() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seq
}

// admit reserves a place in every count for one verification, or in none,
// from records read after mark.
func (g *guard) admit(places []place, mark uint64) (admission, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seq != mark {
		return reread, nil
	}
	for _, p := range places {
		// With nothing in flight, a bind always gets its turn: a count at
		// the limit without a lock only happens when the limit was
		// lowered, and the failure it may add sets the lock.
		if e := g.entries[p.key]; e != nil && e.pending > 0 && p.current+e.pending >= p.limit {
			return wait, e.settled
		}
	}
	for _, p := range places {
		e := g.entries[p.key]
		if e == nil {
			e = &guardEntry{settled: make(chan struct{})}
			g.entries[p.key] = e
		}
		e.pending++
	}
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

// ring is a bounded table that forgets its oldest key first: what a client
// can make the server remember must stay bounded, however many names or
// addresses it sends.
type ring[K comparable, V any] struct {
	mu    sync.Mutex
	m     map[K]V
	order []K
	next  int
	max   int
}

func newRing[K comparable, V any](max int) *ring[K, V] {
	return &ring[K, V]{m: make(map[K]V), max: max}
}

// put stores v under k; call with mu held.
func (r *ring[K, V]) put(k K, v V) {
	if _, ok := r.m[k]; !ok {
		if len(r.order) < r.max {
			r.order = append(r.order, k)
		} else {
			delete(r.m, r.order[r.next])
			r.order[r.next] = k
			r.next = (r.next + 1) % r.max
		}
	}
	r.m[k] = v
}

// delays counts failures in a row per bind name, client source and path, in
// memory only, for the delay of each failure's answer. Real accounts and
// unknown names go through exactly this and nothing else before their
// answer, so the delay cannot tell which names exist, and nothing about
// unknown names reaches the store.
type delays struct {
	seed maphash.Seed
	t    *ring[delayKey, delayRec]
}

type delayKey struct {
	name uint64 // a hash of the folded bind name and the source
	path AuthPath
}

type delayRec struct {
	count int
	last  time.Time
}

const maxDelayEntries = 65536

func newDelays() *delays {
	return &delays{seed: maphash.MakeSeed(), t: newRing[delayKey, delayRec](maxDelayEntries)}
}

func (d *delays) key(login, source string, p AuthPath) delayKey {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(foldASCII(login))
	h.WriteByte(0)
	h.WriteString(source)
	return delayKey{h.Sum64(), p}
}

// record counts one failure and returns the failures in a row it makes.
func (d *delays) record(login, source string, p AuthPath, now time.Time, window time.Duration) int {
	k := d.key(login, source, p)
	d.t.mu.Lock()
	defer d.t.mu.Unlock()
	r := d.t.m[k]
	if now.Sub(r.last) >= window {
		r.count = 0
	}
	r.count++
	r.last = now
	d.t.put(k, r)
	return r.count
}

// forget drops the count of a name that has just succeeded.
func (d *delays) forget(login, source string, p AuthPath) {
	k := d.key(login, source, p)
	d.t.mu.Lock()
	defer d.t.mu.Unlock()
	if _, ok := d.t.m[k]; ok {
		// Left in the ring's order; it will be overwritten in its turn.
		delete(d.t.m, k)
	}
}

// sources keeps the password-path record of each client source of each
// account, in memory: the lock that stops one guesser without stopping the
// user elsewhere. A restart forgets them, and so does an unlock from any
// process (Account.Unlocks); the account's own record in the store still
// bounds the guesses of all sources together.
type sources struct {
	t *ring[guardKey, sourceRec]
}

type sourceRec struct {
	f       Failures
	unlocks int64
}

const maxSourceEntries = 65536

func newSources() *sources { return &sources{t: newRing[guardKey, sourceRec](maxSourceEntries)} }

// get is the record of the account's source, void when the account was
// unlocked since it began.
func (s *sources) get(id int64, source string, unlocks int64) Failures {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	r, ok := s.t.m[guardKey{id, source}]
	if !ok || r.unlocks != unlocks {
		return Failures{}
	}
	return r.f
}

// fail counts one failure of the source and returns its record.
func (s *sources) fail(id int64, source string, unlocks int64, now time.Time, p LockoutPolicy) Failures {
	k := guardKey{id, source}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	r := s.t.m[k]
	if r.unlocks != unlocks {
		r = sourceRec{unlocks: unlocks}
	}
	r.f = r.f.After(now, p)
	s.t.put(k, r)
	return r.f
}

func (s *sources) forget(id int64, source string) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	delete(s.t.m, guardKey{id, source})
}

// foldASCII folds as the stores compare names (SQLite's NOCASE), so that
// "Bob" and "bob" count as one name, as they would as one account.
func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
