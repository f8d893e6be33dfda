package backend_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/memstore"
)

// cheap keeps argon2id fast in tests; the parameters still flow through
// the same code as in production.
var cheap = backend.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}

// clock is a settable time source shared by the service and the test.
type clock struct{ unix atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(c.unix.Load(), 0) }
func (c *clock) add(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

type fixture struct {
	svc   *backend.Service
	store *memstore.Store
	clock *clock
}

func newFixture(t *testing.T, opts backend.Options) *fixture {
	t.Helper()
	return newFixtureOver(t, opts, nil)
}

// newFixtureOver is newFixture with the service's store wrapped by wrap,
// for tests that watch what reaches the store.
func newFixtureOver(t *testing.T, opts backend.Options, wrap func(backend.Store) backend.Store) *fixture {
	t.Helper()
	keys, err := backend.CreateKeys(filepath.Join(t.TempDir(), "wicket.key"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: memstore.New(), clock: &clock{}}
	f.clock.unix.Store(1_700_000_000) // start of a 30 s step
	if opts.Argon2 == (backend.Argon2Params{}) {
		opts.Argon2 = cheap
	}
	opts.Now = f.clock.now
	var store backend.Store = f.store
	if wrap != nil {
		store = wrap(store)
	}
	f.svc = backend.New(store, keys, opts)
	t.Cleanup(f.svc.Close)
	return f
}

const password = "correct horse battery"

// user adds an account with TOTP and returns its base32 secret.
func (f *fixture) user(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := f.svc.AddUser(ctx, name, name+"@example.org", password, ""); err != nil {
		t.Fatal(err)
	}
	e, err := f.svc.EnrollTOTP(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.Secret
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) auth(login, secret string) error {
	_, err := f.svc.Authenticate(context.Background(), login, secret, "127.0.0.1")
	return err
}

func TestAuthenticate_ReplayWindow(t *testing.T) {
	f := newFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	now := f.clock.now()
	step := 30 * time.Second

	steps := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"two steps behind is outside the window", now.Add(-2 * step), false},
		{"two steps ahead is outside the window", now.Add(2 * step), false},
		{"the previous step is accepted (clock drift)", now.Add(-step), true},
		{"the same code again is a replay", now.Add(-step), false},
		{"the current step is later, so accepted", now, true},
		{"the current step again is a replay", now, false},
		{"the previous step after the current one is refused", now.Add(-step), false},
		{"the next step is accepted", now.Add(step), true},
		{"the current step after the next one is refused", now, false},
	}
	for _, s := range steps {
		err := f.auth("alice", password+code(t, secret, s.at))
		if s.ok && err != nil {
			t.Errorf("%s: got %v, want success", s.name, err)
		}
		if !s.ok && !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Errorf("%s: got %v, want ErrInvalidCredentials", s.name, err)
		}
	}
}

func TestAuthenticate_CodeWithWrongPasswordIsBurned(t *testing.T) {
	f := newFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	c := code(t, secret, f.clock.now())
	if err := f.auth("alice", "wrong password"+c); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := f.auth("alice", password+c); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("a code seen with a wrong password must not pass later: %v", err)
	}
}

func TestAuthenticate_ParallelBindsWithOneCodeGiveOneSuccess(t *testing.T) {
	f := newFixture(t, backend.Options{HashSlots: 8})
	secret := f.user(t, "alice")
	c := code(t, secret, f.clock.now())
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.auth("alice", password+c) == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d binds succeeded with one code, want exactly 1", wins.Load())
	}
}

func TestAuthenticate_FailuresAreAllInvalidCredentials(t *testing.T) {
	f := newFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	ctx := context.Background()
	ap, err := f.svc.CreateAppPassword(ctx, "alice", "phone")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeAppPassword(ctx, "alice", ap.ID); err != nil {
		t.Fatal(err)
	}
	f.user(t, "bob")
	if err := f.svc.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	cases := map[string][2]string{
		"unknown user":         {"nobody", password + code(t, secret, f.clock.now())},
		"wrong password":       {"alice", "nope" + code(t, secret, f.clock.now())},
		"missing code":         {"alice", password},
		"revoked app password": {"alice", ap.Password},
		"empty password":       {"alice", ""},
		"disabled user":        {"bob", password + "000000"},
	}
	for name, c := range cases {
		err := f.auth(c[0], c[1])
		var af *backend.AuthFailure
		if !errors.Is(err, backend.ErrInvalidCredentials) || !errors.As(err, &af) {
			t.Errorf("%s: got %v, want ErrInvalidCredentials with a reason", name, err)
			continue
		}
		if strings.Contains(af.Reason, password) || strings.Contains(af.Reason, ap.Password) {
			t.Errorf("%s: the failure reason %q contains a secret", name, af.Reason)
		}
	}
}

func TestAuthenticate_SecondFactorPolicy(t *testing.T) {
	ctx := context.Background()
	for _, require := range []bool{true, false} {
		f := newFixture(t, backend.Options{RequireSecondFactor: require})
		if _, err := f.svc.AddUser(ctx, "carol", "", password, ""); err != nil {
			t.Fatal(err)
		}
		err := f.auth("carol", password)
		if require && !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Errorf("require_second_factor=true: the bare password got %v, want a refusal", err)
		}
		if !require && err != nil {
			t.Errorf("require_second_factor=false: the bare password got %v, want success", err)
		}
	}
}

func TestCreateAppPassword_RequiresTOTP(t *testing.T) {
	f := newFixture(t, backend.Options{})
	ctx := context.Background()
	if _, err := f.svc.AddUser(ctx, "dave", "", password, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateAppPassword(ctx, "dave", "phone"); !errors.Is(err, backend.ErrSecondFactorRequired) {
		t.Fatalf("without TOTP: got %v, want ErrSecondFactorRequired", err)
	}
	if _, err := f.svc.EnrollTOTP(ctx, "dave", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateAppPassword(ctx, "dave", "phone"); err != nil {
		t.Fatalf("with TOTP: %v", err)
	}
	// Removing the second factor takes the app passwords with it.
	n, err := f.svc.RemoveTOTP(ctx, "dave")
	if err != nil || n != 1 {
		t.Fatalf("RemoveTOTP = %d, %v; want 1 revoked", n, err)
	}
}

func TestCreateAppPassword_LimitOf25(t *testing.T) {
	f := newFixture(t, backend.Options{})
	f.user(t, "erin")
	ctx := context.Background()
	var first *backend.NewAppPassword
	for i := 0; i < backend.DefaultMaxAppPasswords; i++ {
		ap, err := f.svc.CreateAppPassword(ctx, "erin", "device")
		if err != nil {
			t.Fatalf("app password %d: %v", i+1, err)
		}
		if first == nil {
			first = ap
		}
	}
	if _, err := f.svc.CreateAppPassword(ctx, "erin", "device 26"); !errors.Is(err, backend.ErrLimitReached) {
		t.Fatalf("26th: got %v, want ErrLimitReached", err)
	}
	if err := f.svc.RevokeAppPassword(ctx, "erin", first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateAppPassword(ctx, "erin", "replacement"); err != nil {
		t.Fatalf("after revoking one: %v", err)
	}
	// Every one of the 25 still authenticates: the lookup is by verifier.
	if err := f.auth("erin", strings.ToUpper(first.Password)); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Errorf("the revoked one: got %v, want refusal", err)
	}
}

func TestCreateAppPassword_LimitIsConfigurable(t *testing.T) {
	f := newFixture(t, backend.Options{MaxAppPasswords: 2})
	f.user(t, "fay")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := f.svc.CreateAppPassword(ctx, "fay", "d"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.CreateAppPassword(ctx, "fay", "d"); !errors.Is(err, backend.ErrLimitReached) {
		t.Fatalf("3rd with a limit of 2: got %v", err)
	}
}

func TestSetPassword_RevokesAllAppPasswords(t *testing.T) {
	f := newFixture(t, backend.Options{})
	f.user(t, "gus")
	ctx := context.Background()
	var pws []string
	for i := 0; i < 3; i++ {
		ap, err := f.svc.CreateAppPassword(ctx, "gus", "d")
		if err != nil {
			t.Fatal(err)
		}
		pws = append(pws, ap.Password)
	}
	n, err := f.svc.SetPassword(ctx, "gus", "a brand new password")
	if err != nil || n != 3 {
		t.Fatalf("SetPassword = %d, %v; want 3 revoked", n, err)
	}
	for _, pw := range pws {
		if err := f.auth("gus", pw); !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Errorf("app password after password change: %v", err)
		}
	}
}

func TestArgon2Params_UsedAndUpgradedOnBind(t *testing.T) {
	ctx := context.Background()
	keys, err := backend.CreateKeys(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	old := backend.New(store, keys, backend.Options{Argon2: backend.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}, RequireSecondFactor: false})
	if _, err := old.AddUser(ctx, "hal", "", password, ""); err != nil {
		t.Fatal(err)
	}
	old.Close()
	a, _ := store.AccountByName(ctx, "hal")
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q does not carry the configured parameters", a.PasswordHash)
	}

	upgraded := backend.New(store, keys, backend.Options{Argon2: backend.Argon2Params{MemoryKiB: 2048, Time: 2, Threads: 1}, RequireSecondFactor: false})
	defer upgraded.Close()
	if _, err := upgraded.Authenticate(ctx, "hal", password, ""); err != nil {
		t.Fatal(err)
	}
	a, _ = store.AccountByName(ctx, "hal")
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$m=2048,t=2,p=1$") {
		t.Fatalf("after a bind with new parameters the hash is %q, want it rehashed", a.PasswordHash)
	}
	if _, err := upgraded.Authenticate(ctx, "hal", password, ""); err != nil {
		t.Fatalf("the rehashed password no longer verifies: %v", err)
	}
}

func TestAppPasswords_LastUseVisibleBeforeFlush(t *testing.T) {
	f := newFixture(t, backend.Options{UsageFlushInterval: time.Hour})
	f.user(t, "ida")
	ctx := context.Background()
	ap, err := f.svc.CreateAppPassword(ctx, "ida", "phone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, "ida", ap.Password, "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	list, err := f.svc.AppPasswords(ctx, "ida")
	if err != nil || len(list) != 1 {
		t.Fatalf("AppPasswords = %v, %v", list, err)
	}
	if list[0].LastUsedFrom != "192.0.2.7" || !list[0].LastUsedAt.Equal(f.clock.now()) {
		t.Errorf("last use = %v from %q", list[0].LastUsedAt, list[0].LastUsedFrom)
	}
}
