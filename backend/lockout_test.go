package backend_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// writeCounter counts the writes of failure records, to hold the service
// to "no write on an ordinary success" and "nothing stored for strangers".
type writeCounter struct {
	backend.Store
	records, resets atomic.Int32
}

func (w *writeCounter) RecordAuthFailure(ctx context.Context, id int64, p backend.AuthPath, at time.Time, pol backend.LockoutPolicy) (backend.Failures, error) {
	w.records.Add(1)
	return w.Store.RecordAuthFailure(ctx, id, p, at, pol)
}

func (w *writeCounter) ResetAuthFailures(ctx context.Context, id int64, p backend.AuthPath) error {
	w.resets.Add(1)
	return w.Store.ResetAuthFailures(ctx, id, p)
}

// testLockout locks one client source's password sign-in on its fifth
// failure in a row, and the account's from everywhere on the eighth, for
// ten minutes.
var testLockout = backend.LockoutPolicy{
	MaxFailures: 5, AccountMaxFailures: 8, Window: 10 * time.Minute, Duration: 10 * time.Minute,
	Delay: 250 * time.Millisecond, MaxDelay: 5 * time.Second, RevokedGrace: 7 * 24 * time.Hour,
}

type lockFixture struct {
	*fixture
	writes *writeCounter
}

func newLockFixture(t *testing.T, opts backend.Options) *lockFixture {
	t.Helper()
	var w *writeCounter
	opts.Logger = slog.New(slog.DiscardHandler)
	if opts.Lockout.MaxFailures == 0 {
		opts.Lockout = testLockout
	}
	f := newFixtureOver(t, opts, func(s backend.Store) backend.Store {
		w = &writeCounter{Store: s}
		return w
	})
	return &lockFixture{fixture: f, writes: w}
}

// auth binds and waits for the failure record, written after the answer.
func (f *lockFixture) auth(login, secret string) error {
	err := f.fixture.auth(login, secret)
	backend.WaitRecorded(f.svc)
	return err
}

// authFrom binds from another client address than auth's.
func (f *lockFixture) authFrom(from, login, secret string) error {
	_, err := f.svc.Authenticate(context.Background(), login, secret, from)
	backend.WaitRecorded(f.svc)
	return err
}

// wrong is a code that none of the accepted steps has at the clock's time.
func (f *lockFixture) wrong(t *testing.T, secret string) string {
	t.Helper()
	now := f.clock.now()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		valid[code(t, secret, now.Add(d))] = true
	}
	for _, c := range []string{"000000", "123456", "999999", "424242"} {
		if !valid[c] {
			return c
		}
	}
	panic("three codes cannot cover four candidates")
}

// fresh moves the clock one TOTP step on and returns password+code there,
// a credential never seen before.
func (f *lockFixture) fresh(t *testing.T, secret string) string {
	t.Helper()
	f.clock.add(30 * time.Second)
	return password + code(t, secret, f.clock.now())
}

func (f *lockFixture) appPassword(t *testing.T, name string) *backend.NewAppPassword {
	t.Helper()
	ap, err := f.svc.CreateAppPassword(context.Background(), name, "phone")
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func failure(t *testing.T, what string, err error) *backend.AuthFailure {
	t.Helper()
	var af *backend.AuthFailure
	if !errors.As(err, &af) || !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("%s: got %v, want invalid credentials", what, err)
	}
	return af
}

func mustAuth(t *testing.T, f *lockFixture, what, login, secret string) {
	t.Helper()
	if err := f.auth(login, secret); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func (f *lockFixture) state(t *testing.T, name string) *backend.UserInfo {
	t.Helper()
	u, err := f.svc.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLockout_WrongCodesLockTheirSourceEvenForTheRightCode(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	for range testLockout.MaxFailures {
		failure(t, "wrong code", f.auth("alice", password+f.wrong(t, secret)))
	}
	if u := f.state(t, "alice"); u.PasswordLockout.Locked() || u.PasswordLockout.Failures != testLockout.MaxFailures {
		t.Fatalf("the account after %d failures from one source: %+v; want them counted, not locked", testLockout.MaxFailures, u.PasswordLockout)
	}

	// The source is locked: the right password and a fresh code get the
	// same answer as a wrong one there, until the lock runs out.
	lockedUntil := f.clock.now().Add(testLockout.Duration)
	for f.clock.now().Before(lockedUntil.Add(-30 * time.Second)) {
		af := failure(t, "right credentials from the locked source", f.auth("alice", f.fresh(t, secret)))
		if !strings.Contains(af.Reason, "locked") {
			t.Errorf("reason %q, want it to name the lock", af.Reason)
		}
	}
	f.clock.add(time.Minute)
	mustAuth(t, f, "right credentials once the lock ran out", "alice", f.fresh(t, secret))
	if u := f.state(t, "alice"); u.PasswordLockout != (backend.LockState{}) {
		t.Errorf("after a success: %+v, want a clean record", u.PasswordLockout)
	}
}

// A guesser at one address must not stop the user's correct password and
// code from another; behind the mail servers (trusted), where the users'
// addresses are unknown, they all count as one source.
func TestLockout_AGuesserAtOneSourceDoesNotStopAnother(t *testing.T) {
	lock := testLockout
	lock.TrustedClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
	f := newLockFixture(t, backend.Options{Lockout: lock})
	secret := f.user(t, "alice")
	for _, c := range []struct{ guesser, user string }{
		{"198.51.100.66", "198.51.100.77"},
		{"2001:db8:1:2::66", "2001:db8:1:3::77"},
		{"10.0.0.25", "198.51.100.77"}, // a mail server, and the user at home
	} {
		for range 2 * testLockout.MaxFailures {
			f.authFrom(c.guesser, "alice", password+f.wrong(t, secret))
		}
		af := failure(t, "right credentials at the guesser's source", f.authFrom(c.guesser, "alice", f.fresh(t, secret)))
		if !strings.Contains(af.Reason, "locked") {
			t.Errorf("%s: reason %q, want the lock", c.guesser, af.Reason)
		}
		if err := f.authFrom(c.user, "alice", f.fresh(t, secret)); err != nil {
			t.Errorf("guesses from %s stopped the user's password and code from %s: %v", c.guesser, c.user, err)
		}
	}
	// Another address of the same IPv6 /64, or another trusted client,
	// is the same source.
	failure(t, "same /64", f.authFrom("2001:db8:1:2::99", "alice", f.fresh(t, secret)))
	failure(t, "another mail server", f.authFrom("10.0.0.26", "alice", f.fresh(t, secret)))
}

// Guesses from many sources together lock the account from everywhere at
// AccountMaxFailures: the bound on guesses at one account.
func TestLockout_ManySourcesLockTheAccount(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	for i := range testLockout.AccountMaxFailures {
		from := fmt.Sprintf("198.51.100.%d", 1+i/(testLockout.MaxFailures-1))
		failure(t, "guess", f.authFrom(from, "alice", password+f.wrong(t, secret)))
	}
	if u := f.state(t, "alice"); !u.PasswordLockout.Locked() || u.PasswordLockout.Failures != testLockout.AccountMaxFailures {
		t.Fatalf("after %d guesses from several sources: %+v, want the account locked", testLockout.AccountMaxFailures, u.PasswordLockout)
	}
	failure(t, "right credentials from a new source", f.authFrom("203.0.113.5", "alice", f.fresh(t, secret)))
	if err := f.svc.Unlock(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	mustAuth(t, f, "after unlock", "alice", f.fresh(t, secret))
}

func TestLockout_AppPasswordsKeepWorkingDuringPasswordLock(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	for i := range testLockout.AccountMaxFailures + 3 {
		f.authFrom(fmt.Sprint("198.51.100.", i), "alice", "guess"+f.wrong(t, secret))
	}
	if !f.state(t, "alice").PasswordLockout.Locked() {
		t.Fatal("the password path is not locked")
	}
	for range 3 {
		mustAuth(t, f, "app password while the password path is locked", "alice", ap.Password)
	}
}

// An app password has about 75 bits: guessing cannot find one, so guesses
// are slowed but never lock, write nothing, and the right one always works.
func TestLockout_AppPasswordGuessesNeverLock(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	var last time.Duration
	for range 100 {
		last = failure(t, "made-up app password", f.authFrom("198.51.100.66", "alice", "abcd-efgh-ijkl-mnop")).Delay
	}
	if last != testLockout.MaxDelay {
		t.Errorf("the 100th guess waits %v, want the cap %v", last, testLockout.MaxDelay)
	}
	for _, from := range []string{"198.51.100.66", "198.51.100.77", "127.0.0.1"} {
		if err := f.authFrom(from, "alice", ap.Password); err != nil {
			t.Errorf("the real app password from %s after 100 guesses: %v", from, err)
		}
	}
	if n := f.writes.records.Load(); n != 0 {
		t.Errorf("app-password guesses wrote %d failure records", n)
	}
	if u := f.state(t, "alice"); u.PasswordLockout != (backend.LockState{}) {
		t.Errorf("app-password guesses counted on the password path: %+v", u.PasswordLockout)
	}
	mustAuth(t, f, "password and code", "alice", f.fresh(t, secret))
}

func TestLockout_RecentlyRevokedAppPasswordIsRefusedButNotCounted(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	f.user(t, "alice")
	ctx := context.Background()
	ap := f.appPassword(t, "alice")
	if err := f.svc.RevokeAppPassword(ctx, "alice", ap.ID); err != nil {
		t.Fatal(err)
	}
	// An old phone retrying all day.
	for range 3 * testLockout.MaxFailures {
		af := failure(t, "revoked app password", f.auth("alice", ap.Password))
		if af.Delay != 0 {
			t.Fatalf("a revoked app password's answer is delayed by %v", af.Delay)
		}
	}
	// Long after the revocation it is a failure like any other: slowed in
	// its turn, but still never stored.
	f.clock.add(testLockout.RevokedGrace + time.Hour)
	var delays []time.Duration
	for range 4 {
		delays = append(delays, failure(t, "long-revoked app password", f.auth("alice", ap.Password)).Delay)
	}
	if delays[3] != testLockout.Delay {
		t.Errorf("long-revoked app password delays %v, want the fourth to wait %v", delays, testLockout.Delay)
	}
	if n := f.writes.records.Load(); n != 0 {
		t.Errorf("%d failure records written", n)
	}
}

// A client sending again the password and code that just worked, even
// many times at once, is refused but never locks the user's sign-in.
func TestLockout_ReplaysOfAnAcceptedCodeDoNotLock(t *testing.T) {
	f := newLockFixture(t, backend.Options{HashSlots: 4})
	secret := f.user(t, "alice")
	cred := f.fresh(t, secret)
	mustAuth(t, f, "first use", "alice", cred)
	var wg sync.WaitGroup
	for range 19 {
		wg.Go(func() {
			af := failure(t, "replay", f.fixture.auth("alice", cred))
			if af.Category != backend.FailReplayedCode {
				t.Errorf("replay refused as %q, want %q", af.Category, backend.FailReplayedCode)
			}
		})
	}
	wg.Wait()
	backend.WaitRecorded(f.svc)
	mustAuth(t, f, "the next fresh code", "alice", f.fresh(t, secret))
	if n := f.writes.records.Load(); n != 0 {
		t.Errorf("replays wrote %d failure records", n)
	}
	// A replayed code with a wrong password is a guess.
	cred = f.fresh(t, secret)
	mustAuth(t, f, "use", "alice", cred)
	af := failure(t, "old code, wrong password", f.auth("alice", "not-the-password"+cred[len(password):]))
	if af.Category != backend.FailWrongPassword {
		t.Errorf("wrong password with a used code refused as %q, want %q", af.Category, backend.FailWrongPassword)
	}
}

func TestLockout_UnlockClearsAtOnce(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	for range testLockout.MaxFailures {
		f.auth("alice", "guess"+f.wrong(t, secret))
	}
	failure(t, "locked source", f.auth("alice", f.fresh(t, secret)))
	// As `wicket user unlock` does it, from another process: straight in
	// the store, which the server reads with every bind.
	a, err := f.store.AccountByName(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.UnlockAccount(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	mustAuth(t, f, "password and code after unlock", "alice", f.fresh(t, secret))
	if err := f.svc.Unlock(context.Background(), "nobody"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Unlock of an unknown account: %v", err)
	}
}

func TestLockout_SuccessResetsAndOrdinarySuccessWritesNothing(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	for range 10 {
		mustAuth(t, f, "app password", "alice", ap.Password)
		mustAuth(t, f, "password and code", "alice", f.fresh(t, secret))
	}
	if r, z := f.writes.records.Load(), f.writes.resets.Load(); r != 0 || z != 0 {
		t.Fatalf("ordinary successes wrote %d failure records and %d resets", r, z)
	}
	// Failures short of the limit, then a success: the count starts over,
	// so the limit is of failures in a row.
	for range testLockout.MaxFailures - 1 {
		f.auth("alice", "guess"+f.wrong(t, secret))
	}
	mustAuth(t, f, "password and code after failures", "alice", f.fresh(t, secret))
	if z := f.writes.resets.Load(); z != 1 {
		t.Errorf("the first success after failures wrote %d resets, want 1", z)
	}
	mustAuth(t, f, "the next success", "alice", f.fresh(t, secret))
	if z := f.writes.resets.Load(); z != 1 {
		t.Errorf("a second success wrote again (%d resets)", z)
	}
	for range testLockout.MaxFailures - 1 {
		f.auth("alice", "guess"+f.wrong(t, secret))
	}
	if u := f.state(t, "alice"); u.PasswordLockout.Locked() || u.PasswordLockout.Failures != testLockout.MaxFailures-1 {
		t.Errorf("after a success and %d failures: %+v", testLockout.MaxFailures-1, u.PasswordLockout)
	}
	mustAuth(t, f, "a success after failures short of the limit", "alice", f.fresh(t, secret))
}

func TestLockout_QuietWindowForgetsFailures(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	for range testLockout.MaxFailures - 1 {
		f.auth("alice", "guess"+f.wrong(t, secret))
	}
	f.clock.add(testLockout.Window)
	if n := f.state(t, "alice").PasswordLockout.Failures; n != 0 {
		t.Errorf("after a quiet window: %d failures in force, want 0", n)
	}
	for range testLockout.MaxFailures - 1 {
		f.auth("alice", "guess"+f.wrong(t, secret))
	}
	mustAuth(t, f, "failures a window apart lock nothing", "alice", f.fresh(t, secret))
}

func TestLockout_UnknownUsersAreNotStoredButSlowDownAlike(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	type series struct{ known, unknown []time.Duration }
	var pw, app series
	for range 9 {
		pw.known = append(pw.known, failure(t, "alice", f.auth("alice", "guess"+f.wrong(t, secret))).Delay)
		pw.unknown = append(pw.unknown, failure(t, "nobody", f.auth("nobody", "guess"+f.wrong(t, secret))).Delay)
		app.known = append(app.known, failure(t, "alice", f.auth("alice@example.org", "abcd-efgh-ijkl-mnop")).Delay)
		app.unknown = append(app.unknown, failure(t, "nobody", f.auth("nobody@example.org", "abcd-efgh-ijkl-mnop")).Delay)
	}
	// Alice's source is locked from the fifth failure on; the unknown name
	// must answer alike, locked or not, or the delay would tell which
	// exists.
	want := []time.Duration{0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
		2 * time.Second, 4 * time.Second, 5 * time.Second}
	for i := range want {
		if pw.known[i] != want[i] || pw.unknown[i] != want[i] || app.known[i] != want[i] || app.unknown[i] != want[i] {
			t.Errorf("failure %d: delay %v/%v (password, account/unknown), %v/%v (app password); want %v",
				i+1, pw.known[i], pw.unknown[i], app.known[i], app.unknown[i], want[i])
		}
	}
	if n := f.writes.records.Load(); n != int32(testLockout.MaxFailures) {
		t.Errorf("%d failure records written, want %d (alice's password guesses, up to her source's lock)", n, testLockout.MaxFailures)
	}
	if l, _ := f.store.ListAccounts(context.Background()); len(l) != 1 {
		t.Errorf("the store holds %d accounts, want only alice", len(l))
	}
}

// A failed bind that cannot be recorded must not become an uncounted
// guess: the account's password sign-in answers unavailable until the
// store takes the record, which is then counted.
func TestLockout_AFailureThatCannotBeRecordedFailsClosed(t *testing.T) {
	var broken atomic.Bool
	f := &lockFixture{fixture: newFixtureOver(t, backend.Options{Lockout: testLockout, Logger: slog.New(slog.DiscardHandler)}, func(s backend.Store) backend.Store {
		return &fullDisk{Store: s, broken: &broken}
	})}
	secret := f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	broken.Store(true)
	failure(t, "guess while the disk is full", f.auth("alice", "guess"+code(t, secret, f.clock.now())))
	backend.WaitRecorded(f.svc)
	for range 3 {
		if err := f.auth("alice", f.fresh(t, secret)); !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("password bind while a failure is unrecorded: %v, want ErrUnavailable", err)
		}
	}
	if err := f.auth("alice", ap.Password); err != nil {
		t.Errorf("app password while a failure is unrecorded: %v", err)
	}
	broken.Store(false)
	if err := f.auth("alice", "guess"+f.wrong(t, secret)); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("once the store works again: %v", err)
	}
	backend.WaitRecorded(f.svc)
	if u, _ := f.svc.User(context.Background(), "alice"); u.PasswordLockout.Failures != 2 {
		t.Errorf("failures recorded %d, want 2 (the one held back, then the new one)", u.PasswordLockout.Failures)
	}
}

// fullDisk refuses to record failed binds while broken is set.
type fullDisk struct {
	backend.Store
	broken *atomic.Bool
}

func (s *fullDisk) RecordAuthFailure(ctx context.Context, id int64, p backend.AuthPath, at time.Time, pol backend.LockoutPolicy) (backend.Failures, error) {
	if s.broken.Load() {
		return backend.Failures{}, errors.New("database or disk is full")
	}
	return s.Store.RecordAuthFailure(ctx, id, p, at, pol)
}

// Parallel guesses must not all pass the check on one stale count: no more
// than the limit are ever verified, the rest get the locked answer.
func TestLockout_ParallelGuessesStopAtTheLimit(t *testing.T) {
	f := newLockFixture(t, backend.Options{HashSlots: 4})
	secret := f.user(t, "alice")
	wrong := f.wrong(t, secret)
	var mu sync.Mutex
	reasons := map[string]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			af := failure(t, "parallel guess", f.fixture.auth("alice", "guess"+wrong))
			mu.Lock()
			reasons[af.Reason]++
			mu.Unlock()
		})
	}
	wg.Wait()
	backend.WaitRecorded(f.svc)
	if n := reasons["wrong password"]; n != testLockout.MaxFailures {
		t.Errorf("%d guesses verified, want exactly %d; answers: %v", n, testLockout.MaxFailures, reasons)
	}
	if n := f.writes.records.Load(); n != int32(testLockout.MaxFailures) {
		t.Errorf("%d failure records written, want %d", n, testLockout.MaxFailures)
	}
}

// Parallel right binds are never refused for the guard's sake: beyond the
// failures left they wait for their turn.
func TestLockout_ParallelSuccessesAllPass(t *testing.T) {
	f := newLockFixture(t, backend.Options{HashSlots: 4})
	f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if f.fixture.auth("alice", ap.Password) != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of 40 parallel binds with a right app password failed", n)
	}
}

func TestLockout_ServiceAccountWithLetterOnlyPasswordBinds(t *testing.T) {
	f := newLockFixture(t, backend.Options{RequireSecondFactor: true})
	const pw = "dovecotpostfixab" // sixteen letters: shaped like an app password
	if _, err := f.svc.AddUser(context.Background(), "dovecot", "", pw, backend.RoleService); err != nil {
		t.Fatal(err)
	}
	mustAuth(t, f, "service account", "dovecot", pw)
	for range testLockout.MaxFailures {
		f.auth("dovecot", "abcdabcdabcdabcd")
	}
	if u := f.state(t, "dovecot"); u.PasswordLockout.Failures != testLockout.MaxFailures {
		t.Errorf("letter-only guesses at a service account: %+v, want them counted on its password", u.PasswordLockout)
	}
	failure(t, "the service's password from the locked source", f.auth("dovecot", pw))
}

func TestLockout_DelayDoublesFromTheFourthFailureUpToTheCap(t *testing.T) {
	f := newLockFixture(t, backend.Options{Lockout: backend.LockoutPolicy{
		MaxFailures: 100, Delay: 100 * time.Millisecond, MaxDelay: time.Second,
	}})
	f.user(t, "alice")
	want := []time.Duration{0, 0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, time.Second, time.Second}
	for i, w := range want {
		if d := failure(t, "guess", f.auth("alice", "abcd-efgh-ijkl-mnop")).Delay; d != w {
			t.Errorf("failure %d: delay %v, want %v", i+1, d, w)
		}
	}
}
