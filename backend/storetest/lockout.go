package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// policy locks on the third failure in a row; the suite moves its own clock.
var policy = backend.LockoutPolicy{MaxFailures: 3, Window: 10 * time.Minute, Duration: 15 * time.Minute}

func mustFail(t *testing.T, s backend.Store, id int64, path backend.AuthPath, at time.Time) backend.Failures {
	t.Helper()
	f, err := s.RecordAuthFailure(t.Context(), id, path, at, policy)
	if err != nil {
		t.Fatalf("RecordAuthFailure(%v at %v): %v", path, at, err)
	}
	return f
}

func sameFailures(t *testing.T, what string, got, want backend.Failures) {
	t.Helper()
	if got.Count != want.Count {
		t.Errorf("%s: count %d, want %d", what, got.Count, want.Count)
	}
	sameTime(t, what+" LastAt", got.LastAt, want.LastAt)
	sameTime(t, what+" LockedUntil", got.LockedUntil, want.LockedUntil)
}

func recordFailureLocksAtLimit(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	sameFailures(t, "new account", mustByName(t, s, "alice").PasswordFailures, backend.Failures{})
	for i := 1; i <= 2; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		sameFailures(t, "failure", mustFail(t, s, a.ID, backend.PathPassword, at), backend.Failures{Count: i, LastAt: at})
	}
	at := t0.Add(3 * time.Minute)
	want := backend.Failures{Count: 3, LastAt: at, LockedUntil: at.Add(policy.Duration)}
	sameFailures(t, "the failure that reaches the limit", mustFail(t, s, a.ID, backend.PathPassword, at), want)

	// The record comes back with the account, by either lookup.
	got := mustByName(t, s, "alice")
	sameFailures(t, "AccountByName", got.PasswordFailures, want)
	sameFailures(t, "the other path", got.AppPasswordFailures, backend.Failures{})
	byMail, err := s.AccountByMail(t.Context(), "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	sameFailures(t, "AccountByMail", byMail.PasswordFailures, want)
}

func recordFailurePathsApart(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustEnrolled(t, s, "bob")
	mustFail(t, s, a.ID, backend.PathAppPassword, t0)
	mustFail(t, s, a.ID, backend.PathAppPassword, t0)
	mustFail(t, s, a.ID, backend.PathPassword, t0)
	got := mustByName(t, s, "alice")
	if got.AppPasswordFailures.Count != 2 || got.PasswordFailures.Count != 1 {
		t.Errorf("alice: app-password path %d, password path %d; want 2 and 1",
			got.AppPasswordFailures.Count, got.PasswordFailures.Count)
	}
	if got := mustByName(t, s, "bob"); got.PasswordFailures != (backend.Failures{}) || got.AppPasswordFailures != (backend.Failures{}) {
		t.Errorf("bob's records changed by alice's failures: %+v %+v", got.PasswordFailures, got.AppPasswordFailures)
	}
}

// 16 goroutines counting on one path: every failure is counted once, and
// each caller sees a count of its own, as a read-then-write would not give.
func recordFailureParallel(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	const goroutines, each = 16, 5
	wide := backend.LockoutPolicy{MaxFailures: 100, Window: time.Hour, Duration: time.Hour}
	ctx := context.Background()
	var mu sync.Mutex
	var seen []int
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				f, err := s.RecordAuthFailure(ctx, a.ID, backend.PathAppPassword, t0, wide)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen = append(seen, f.Count)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seen)
	for i, n := range seen {
		if n != i+1 {
			t.Fatalf("counts seen by the callers: %v; want 1 to %d, each once", seen, goroutines*each)
		}
	}
	if got := mustByName(t, s, "alice").AppPasswordFailures.Count; got != goroutines*each {
		t.Errorf("stored count %d, want %d", got, goroutines*each)
	}
}

func recordFailureWindow(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustFail(t, s, a.ID, backend.PathPassword, t0)
	last := t0.Add(policy.Window - time.Second)
	if f := mustFail(t, s, a.ID, backend.PathPassword, last); f.Count != 2 {
		t.Errorf("a failure within the window: count %d, want 2", f.Count)
	}
	// A whole window without a failure forgets the count.
	at := last.Add(policy.Window)
	sameFailures(t, "after a quiet window", mustFail(t, s, a.ID, backend.PathPassword, at), backend.Failures{Count: 1, LastAt: at})
}

func recordFailureDuringLock(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	for range 3 {
		mustFail(t, s, a.ID, backend.PathPassword, t0)
	}
	until := t0.Add(policy.Duration)
	// Failures still in flight when the lock began must not stretch it.
	f := mustFail(t, s, a.ID, backend.PathPassword, t0.Add(time.Minute))
	sameFailures(t, "a failure during the lock", f, backend.Failures{Count: 4, LastAt: t0.Add(time.Minute), LockedUntil: until})
	// Once the lock has run out, the count starts again.
	at := until.Add(time.Second)
	sameFailures(t, "after the lock", mustFail(t, s, a.ID, backend.PathPassword, at), backend.Failures{Count: 1, LastAt: at})
}

func resetFailuresOnePath(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	for range 3 {
		mustFail(t, s, a.ID, backend.PathPassword, t0)
	}
	mustFail(t, s, a.ID, backend.PathAppPassword, t0)
	if err := s.ResetAuthFailures(t.Context(), a.ID, backend.PathPassword); err != nil {
		t.Fatal(err)
	}
	got := mustByName(t, s, "alice")
	sameFailures(t, "the reset path", got.PasswordFailures, backend.Failures{})
	sameFailures(t, "the other path", got.AppPasswordFailures, backend.Failures{Count: 1, LastAt: t0})
}

func unlockClearsBoth(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	for range 3 {
		mustFail(t, s, a.ID, backend.PathPassword, t0)
		mustFail(t, s, a.ID, backend.PathAppPassword, t0)
	}
	if err := s.UnlockAccount(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	got := mustByName(t, s, "alice")
	sameFailures(t, "password path", got.PasswordFailures, backend.Failures{})
	sameFailures(t, "app-password path", got.AppPasswordFailures, backend.Failures{})
	// A server holding locks per client in memory learns of the unlock
	// from the count read with the account.
	if got.Unlocks != a.Unlocks+1 {
		t.Errorf("Unlocks %d after one unlock, was %d", got.Unlocks, a.Unlocks)
	}
	// The count starts from nothing, not from where the lock was.
	if f := mustFail(t, s, a.ID, backend.PathPassword, t0.Add(time.Minute)); f.Count != 1 || !f.LockedUntil.IsZero() {
		t.Errorf("first failure after unlock: %+v", f)
	}
}

func failuresUnknownAccount(t *testing.T, s backend.Store) {
	ctx := t.Context()
	_, err := s.RecordAuthFailure(ctx, 4242, backend.PathPassword, t0, policy)
	wantErr(t, "RecordAuthFailure", err, backend.ErrNotFound)
	wantErr(t, "ResetAuthFailures", s.ResetAuthFailures(ctx, 4242, backend.PathPassword), backend.ErrNotFound)
	wantErr(t, "UnlockAccount", s.UnlockAccount(ctx, 4242), backend.ErrNotFound)
	if l, _ := s.ListAccounts(ctx); len(l) != 0 {
		t.Errorf("failures of an unknown account created %d accounts", len(l))
	}
}

func createAccountIgnoresFailures(t *testing.T, s backend.Store) {
	a := newAccount(t, "alice", "")
	a.PasswordFailures = backend.Failures{Count: 7, LastAt: t0, LockedUntil: t0.Add(time.Hour)}
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	sameFailures(t, "new account", mustByName(t, s, "alice").PasswordFailures, backend.Failures{})
}
