package backend_test

import (
	"context"
	"errors"
	"log/slog"
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

// testLockout locks on the fifth failure in a row for ten minutes.
var testLockout = backend.LockoutPolicy{
	MaxFailures: 5, Window: 10 * time.Minute, Duration: 10 * time.Minute,
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
	if opts.Lockout == (backend.LockoutPolicy{}) {
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

func TestLockout_WrongCodesLockThePasswordPathEvenForTheRightCode(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	for i := range testLockout.MaxFailures {
		failure(t, "wrong code", f.auth("alice", password+f.wrong(t, secret)))
		if i < testLockout.MaxFailures-1 && f.state(t, "alice").PasswordLockout.Locked() {
			t.Fatalf("locked after %d failures, want %d", i+1, testLockout.MaxFailures)
		}
	}
	u := f.state(t, "alice")
	if !u.PasswordLockout.Locked() || u.PasswordLockout.Failures != testLockout.MaxFailures {
		t.Fatalf("after %d wrong codes: %+v, want locked", testLockout.MaxFailures, u.PasswordLockout)
	}
	if !u.PasswordLockout.LockedUntil.Equal(f.clock.now().Add(testLockout.Duration)) {
		t.Errorf("locked until %v, want %v", u.PasswordLockout.LockedUntil, f.clock.now().Add(testLockout.Duration))
	}

	// Locked: the right password and a fresh code get the same answer as a
	// wrong one, until the lock runs out.
	for f.clock.now().Before(u.PasswordLockout.LockedUntil.Add(-30 * time.Second)) {
		af := failure(t, "right credentials during the lock", f.auth("alice", f.fresh(t, secret)))
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

func TestLockout_AppPasswordsKeepWorkingDuringPasswordLock(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	for range testLockout.MaxFailures + 3 {
		f.auth("alice", "guess"+f.wrong(t, secret))
	}
	if !f.state(t, "alice").PasswordLockout.Locked() {
		t.Fatal("the password path is not locked")
	}
	for range 3 {
		mustAuth(t, f, "app password while the password path is locked", "alice", ap.Password)
	}
	if u := f.state(t, "alice"); u.AppPasswordLockout != (backend.LockState{}) {
		t.Errorf("app-password path: %+v, want untouched", u.AppPasswordLockout)
	}
}

func TestLockout_AppPasswordGuessesLockOnlyTheirPath(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	for range testLockout.MaxFailures {
		failure(t, "made-up app password", f.auth("alice", "abcd-efgh-ijkl-mnop"))
	}
	u := f.state(t, "alice")
	if !u.AppPasswordLockout.Locked() || u.PasswordLockout != (backend.LockState{}) {
		t.Fatalf("after app-password guesses: app-password path %+v, password path %+v", u.AppPasswordLockout, u.PasswordLockout)
	}
	failure(t, "the real app password during its path's lock", f.auth("alice", ap.Password))
	mustAuth(t, f, "password and code during the app-password lock", "alice", f.fresh(t, secret))

	f.clock.add(testLockout.Duration)
	mustAuth(t, f, "the app password once the lock ran out", "alice", ap.Password)
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
	if u := f.state(t, "alice"); u.AppPasswordLockout != (backend.LockState{}) {
		t.Fatalf("the revoked app password was counted: %+v", u.AppPasswordLockout)
	}
	if n := f.writes.records.Load(); n != 0 {
		t.Errorf("%d failure records written", n)
	}
	// Long after the revocation it is a failure like any other.
	f.clock.add(testLockout.RevokedGrace + time.Hour)
	failure(t, "long-revoked app password", f.auth("alice", ap.Password))
	if n := f.state(t, "alice").AppPasswordLockout.Failures; n != 1 {
		t.Errorf("long-revoked app password counted %d times, want 1", n)
	}
}

func TestLockout_UnlockClearsAtOnce(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	for range testLockout.MaxFailures {
		f.auth("alice", "guess"+f.wrong(t, secret))
		f.auth("alice", "abcd-efgh-ijkl-mnop")
	}
	u := f.state(t, "alice")
	if !u.PasswordLockout.Locked() || !u.AppPasswordLockout.Locked() {
		t.Fatalf("not locked: %+v %+v", u.PasswordLockout, u.AppPasswordLockout)
	}
	if err := f.svc.Unlock(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	mustAuth(t, f, "password and code after unlock", "alice", f.fresh(t, secret))
	mustAuth(t, f, "app password after unlock", "alice", ap.Password)
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
	if u := f.state(t, "alice"); u.PasswordLockout.Locked() {
		t.Errorf("locked by failures a window apart: %+v", u.PasswordLockout)
	}
}

func TestLockout_UnknownUsersAreNotStoredButSlowDownAlike(t *testing.T) {
	f := newLockFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	var known, unknown []time.Duration
	for range 9 {
		known = append(known, failure(t, "alice", f.auth("alice", "guess"+f.wrong(t, secret))).Delay)
		unknown = append(unknown, failure(t, "nobody", f.auth("nobody", "guess"+f.wrong(t, secret))).Delay)
		f.auth("nobody@example.org", "abcd-efgh-ijkl-mnop")
	}
	// Alice is locked from the fifth failure on; the unknown name must
	// answer alike, locked or not, or the delay would tell which exists.
	want := []time.Duration{0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
		time.Second, time.Second, time.Second}
	for i := range want {
		if known[i] != want[i] || unknown[i] != want[i] {
			t.Errorf("failure %d: delay %v for an account, %v for an unknown name; want %v", i+1, known[i], unknown[i], want[i])
		}
	}
	if n := f.writes.records.Load(); n != int32(testLockout.MaxFailures) {
		t.Errorf("%d failure records written, want %d (alice's, up to her lock)", n, testLockout.MaxFailures)
	}
	if l, _ := f.store.ListAccounts(context.Background()); len(l) != 1 {
		t.Errorf("the store holds %d accounts, want only alice", len(l))
	}
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
	if u := f.state(t, "dovecot"); !u.PasswordLockout.Locked() || u.AppPasswordLockout.Failures != 0 {
		t.Errorf("letter-only guesses at a service account count on its password path: %+v %+v",
			u.PasswordLockout, u.AppPasswordLockout)
	}
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
