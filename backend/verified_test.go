package backend_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// readCounter counts the lookups of the full check.
type readCounter struct {
	backend.Store
	byName, byVerifier atomic.Int32
}

func (r *readCounter) AccountByName(ctx context.Context, name string) (*backend.Account, error) {
	r.byName.Add(1)
	return r.Store.AccountByName(ctx, name)
}

func (r *readCounter) AppPasswordByVerifier(ctx context.Context, id int64, v []byte) (*backend.AppPassword, error) {
	r.byVerifier.Add(1)
	return r.Store.AppPasswordByVerifier(ctx, id, v)
}

func newReadFixture(t *testing.T) (*fixture, *readCounter) {
	t.Helper()
	var rc *readCounter
	f := newFixtureOver(t, backend.Options{Lockout: testLockout}, func(s backend.Store) backend.Store {
		rc = &readCounter{Store: s}
		return rc
	})
	return f, rc
}

func (f *fixture) appPassword(t *testing.T, name string) *backend.NewAppPassword {
	t.Helper()
	p, err := f.svc.CreateAppPassword(context.Background(), name, "phone")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A device binding again is answered from memory: no lookup, the same
// principal, and its use still recorded.
func TestVerified_RepeatedAppPasswordBindSkipsTheFullCheck(t *testing.T) {
	f, rc := newReadFixture(t)
	f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	ctx := context.Background()
	first, err := f.svc.Authenticate(ctx, "alice", ap.Password, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	names, verifiers := rc.byName.Load(), rc.byVerifier.Load()
	for i := 0; i < 3; i++ {
		p, err := f.svc.Authenticate(ctx, "alice", FormatlessUpper(ap.Password), "192.0.2.2")
		if err != nil {
			t.Fatal(err)
		}
		if *p != *first {
			t.Fatalf("remembered principal %+v, full check gave %+v", *p, *first)
		}
	}
	if rc.byName.Load() != names || rc.byVerifier.Load() != verifiers {
		t.Errorf("repeated binds looked the account up %d more times and the verifier %d more",
			rc.byName.Load()-names, rc.byVerifier.Load()-verifiers)
	}
	// The login is part of what is remembered: another spelling of the
	// account is checked in full once.
	if _, err := f.svc.Authenticate(ctx, "alice@example.org", ap.Password, "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	f.svc.Close() // flushes the last-used records
	list, err := f.store.ListAppPasswords(ctx, mustID(t, f, "alice"))
	if err != nil || len(list) != 1 || list[0].LastUsedFrom != "192.0.2.2" {
		t.Errorf("last use after remembered binds: %+v, %v", list, err)
	}
}

// FormatlessUpper is an app password as some users type it: no dashes,
// capitals. It is the same password.
func FormatlessUpper(p string) string {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if c := p[i]; c != '-' {
			out = append(out, c-'a'+'A')
		}
	}
	return string(out)
}

func mustID(t *testing.T, f *fixture, name string) int64 {
	t.Helper()
	a, err := f.store.AccountByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// Whatever changes the answer takes effect at the next bind, including a
// write made straight to the store, as another process (the command line)
// makes it.
func TestVerified_ForgottenByEveryWriteThatChangesTheAnswer(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func(t *testing.T, f *fixture, ap *backend.NewAppPassword) error{
		"revoked here": func(_ *testing.T, f *fixture, ap *backend.NewAppPassword) error {
			return f.svc.RevokeAppPassword(ctx, "alice", ap.ID)
		},
		"revoked by another process": func(t *testing.T, f *fixture, ap *backend.NewAppPassword) error {
			return f.store.RevokeAppPassword(ctx, mustID(t, f, "alice"), ap.ID, f.clock.now())
		},
		"account disabled by another process": func(t *testing.T, f *fixture, ap *backend.NewAppPassword) error {
			return f.store.SetDisabled(ctx, mustID(t, f, "alice"), true)
		},
		"password changed": func(_ *testing.T, f *fixture, ap *backend.NewAppPassword) error {
			_, err := f.svc.SetPassword(ctx, "alice", "another good password")
			return err
		},
		"account deleted": func(_ *testing.T, f *fixture, ap *backend.NewAppPassword) error {
			return f.svc.DeleteUser(ctx, "alice")
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, backend.Options{Lockout: testLockout})
			f.user(t, "alice")
			ap := f.appPassword(t, "alice")
			for i := 0; i < 2; i++ {
				if err := f.auth("alice", ap.Password); err != nil {
					t.Fatal(err)
				}
			}
			if err := change(t, f, ap); err != nil {
				t.Fatal(err)
			}
			if err := f.auth("alice", ap.Password); !errors.Is(err, backend.ErrInvalidCredentials) {
				t.Fatalf("bind after the change: %v, want invalid credentials", err)
			}
		})
	}
}

// Guesses at a remembered app password, or a wrong password, flush
// nothing: the device's next bind is still answered from memory, so a
// guesser can neither slow everyone down nor learn from the timing of its
// own binds which names exist (the store's generation does not move).
func TestVerified_FailedBindsOnARealAccountKeepWhatIsRemembered(t *testing.T) {
	f, rc := newReadFixture(t)
	secret := f.user(t, "alice")
	ap := f.appPassword(t, "alice")
	ctx := context.Background()
	for range 2 {
		if _, err := f.svc.Authenticate(ctx, "alice", ap.Password, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 * testLockout.MaxFailures {
		if _, err := f.svc.Authenticate(ctx, "alice", "zzzz-zzzz-zzzz-zzzz", "198.51.100.9"); !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Fatalf("app-password guess %d: %v", i, err)
		}
		if _, err := f.svc.Authenticate(ctx, "alice", password+"000000", "198.51.100.9"); !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Fatalf("password guess %d: %v", i, err)
		}
	}
	f.clock.add(30 * time.Second)
	if _, err := f.svc.Authenticate(ctx, "alice", password+code(t, secret, f.clock.now()), "192.0.2.1"); err != nil {
		t.Fatalf("password and code (advancing the TOTP step): %v", err)
	}
	backend.WaitRecorded(f.svc)
	names, verifiers := rc.byName.Load(), rc.byVerifier.Load()
	if _, err := f.svc.Authenticate(ctx, "alice", ap.Password, "192.0.2.1"); err != nil {
		t.Fatalf("the right app password after the guesses: %v", err)
	}
	if n, v := rc.byName.Load()-names, rc.byVerifier.Load()-verifiers; n != 0 || v != 0 {
		t.Errorf("the bind after failed binds and a TOTP step made %d account and %d app-password lookups; want it answered from memory", n, v)
	}
}

// Binds and revocations racing: once RevokeAppPassword has returned, no
// bind that starts afterwards succeeds.
func TestVerified_NoBindSucceedsAfterTheRevocationReturned(t *testing.T) {
	f := newFixture(t, backend.Options{Lockout: testLockout})
	f.user(t, "alice")
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		ap := f.appPassword(t, "alice")
		var revoked atomic.Bool
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					after := revoked.Load()
					err := f.auth("alice", ap.Password)
					if after && err == nil {
						t.Errorf("round %d: a bind that began after the revocation succeeded", round)
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		if err := f.svc.RevokeAppPassword(ctx, "alice", ap.ID); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		wg.Wait()
	}
}
