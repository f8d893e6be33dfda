package backend_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// sshaOfPassword is slappasswd's form of the fixture's password with the salt
// a1b2c3d4e5f60718, computed independently with Python's hashlib.
const sshaOfPassword = "{SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA=="

func (f *fixture) storedHash(t *testing.T, name string) string {
	t.Helper()
	a, err := f.store.AccountByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a.PasswordHash
}

// An account imported with {SSHA} and TOTP binds with password+code, is
// rehashed to argon2id by that bind, keeps its app passwords, and binds
// again afterwards.
func TestAddUserWithHash_SSHABindsThenRehashes(t *testing.T) {
	f := newFixture(t, backend.Options{RequireSecondFactor: true})
	ctx := context.Background()
	ui, err := f.svc.AddUserWithHash(ctx, "Alice", "alice@example.org", sshaOfPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	if ui.Name != "alice" || !ui.HasPassword || ui.Role != backend.RoleUser {
		t.Errorf("created %+v", ui)
	}
	before, err := f.svc.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.svc.EnrollTOTP(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := f.svc.CreateAppPassword(ctx, "alice", "phone")
	if err != nil {
		t.Fatal(err)
	}

	if err := f.auth("alice", "wrong password"+code(t, e.Secret, f.clock.now())); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if got := f.storedHash(t, "alice"); got != sshaOfPassword {
		t.Fatalf("a failed bind changed the hash to %q", got)
	}
	f.clock.add(30 * time.Second)

	if err := f.auth("alice@example.org", password+code(t, e.Secret, f.clock.now())); err != nil {
		t.Fatalf("bind with the imported password: %v", err)
	}
	if got := f.storedHash(t, "alice"); !strings.HasPrefix(got, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("after the first bind the hash is %q, want the configured argon2id", got)
	}
	after, err := f.svc.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !after.PasswordChangedAt.Equal(before.PasswordChangedAt) {
		t.Errorf("rehashing moved the password-change time from %v to %v", before.PasswordChangedAt, after.PasswordChangedAt)
	}
	if err := f.auth("alice", ap.Password); err != nil {
		t.Errorf("the app password stopped working after the rehash: %v", err)
	}

	f.clock.add(30 * time.Second)
	if err := f.auth("alice", password+code(t, e.Secret, f.clock.now())); err != nil {
		t.Errorf("bind after the rehash: %v", err)
	}
	f.clock.add(30 * time.Second)
	if err := f.auth("alice", "wrong password"+code(t, e.Secret, f.clock.now())); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Errorf("wrong password after the rehash: %v", err)
	}
}

// Without a second factor, where policy allows it, each imported scheme
// binds with the password alone and is rehashed.
func TestAddUserWithHash_PasswordAloneEachScheme(t *testing.T) {
	f := newFixture(t, backend.Options{RequireSecondFactor: false})
	ctx := context.Background()
	for name, hash := range map[string]string{
		"ssha":  sshaOfPassword,
		"crypt": "{CRYPT}$2b$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS",
		// SHA-crypt of the spec: salt "saltstring", password "Hello world!".
		"sha512crypt": "{crypt}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	} {
		pw := password
		if name == "sha512crypt" {
			pw = "Hello world!"
		}
		if _, err := f.svc.AddUserWithHash(ctx, name, "", hash, ""); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := f.auth(name, pw+"x"); !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Errorf("%s: wrong password: %v", name, err)
		}
		if err := f.auth(name, pw); err != nil {
			t.Errorf("%s: bind with the imported password: %v", name, err)
		}
		if got := f.storedHash(t, name); !strings.HasPrefix(got, "$argon2id$") {
			t.Errorf("%s: hash after the bind is %q", name, got)
		}
		if err := f.auth(name, pw); err != nil {
			t.Errorf("%s: bind after the rehash: %v", name, err)
		}
	}
}

func TestAddUserWithHash_RefusesBadHashAndCreatesNothing(t *testing.T) {
	f := newFixture(t, backend.Options{})
	ctx := context.Background()
	for _, h := range []string{"", "secret", "{SSHA}!!", "{MD5}X03MO1qnZdYdgyfeuILPmQ==",
		"{CRYPT}$2b$20$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS"} {
		if _, err := f.svc.AddUserWithHash(ctx, "bob", "", h, ""); !errors.Is(err, backend.ErrInvalidInput) {
			t.Errorf("hash %q: got %v, want ErrInvalidInput", h, err)
		}
	}
	if _, err := f.svc.User(ctx, "bob"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("a refused import left an account behind: %v", err)
	}
	if _, err := f.svc.AddUserWithHash(ctx, "Not Valid", "", sshaOfPassword, ""); !errors.Is(err, backend.ErrInvalidInput) {
		t.Errorf("bad name: %v", err)
	}
}

// Setting an imported hash on an existing account is a password change: it
// revokes the app passwords, as SetPassword does.
func TestSetPasswordHash_RevokesAppPasswords(t *testing.T) {
	f := newFixture(t, backend.Options{})
	ctx := context.Background()
	secret := f.user(t, "carol")
	ap, err := f.svc.CreateAppPassword(ctx, "carol", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	const other = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" // "password"
	if _, err := f.svc.SetPasswordHash(ctx, "carol", "{SHA}short"); !errors.Is(err, backend.ErrInvalidInput) {
		t.Fatalf("bad hash: %v", err)
	}
	n, err := f.svc.SetPasswordHash(ctx, "carol", other)
	if err != nil || n != 1 {
		t.Fatalf("SetPasswordHash = %d, %v; want 1 revoked", n, err)
	}
	if err := f.auth("carol", ap.Password); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Errorf("app password after the change: %v", err)
	}
	if err := f.auth("carol", "password"+code(t, secret, f.clock.now())); err != nil {
		t.Errorf("bind with the new imported password: %v", err)
	}
	if _, err := f.svc.SetPasswordHash(ctx, "nobody", other); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}

// VerifyPassword, which a password change asks of the old password, accepts
// an imported hash too.
func TestVerifyPassword_ImportedHash(t *testing.T) {
	f := newFixture(t, backend.Options{})
	ctx := context.Background()
	if _, err := f.svc.AddUserWithHash(ctx, "dave", "", sshaOfPassword, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.VerifyPassword(ctx, "dave", password); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := f.svc.VerifyPassword(ctx, "dave", "nope"); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
}
