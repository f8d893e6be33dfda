package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

var testPolicy = backend.LockoutPolicy{MaxFailures: 3, Window: time.Hour, Duration: time.Hour}

// A database of schema version 2 gains the failure records at zero.
func TestOpen_MigratesV2DatabaseWithCleanFailureRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	v2, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(t.Context(), v2, migrations[:2]); err != nil {
		t.Fatal(err)
	}
	_, err = v2.Exec(`INSERT INTO accounts
		(name, mail, role, disabled, password_hash, totp_seed, totp_last_step, apppw_salt, created_at, password_changed_at)
		VALUES ('alice', NULL, 'user', 0, '$argon2id$old', NULL, 0, X'73616c74', ?, ?)`, t0.UnixNano(), t0.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	v2.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.AccountByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.PasswordFailures != (backend.Failures{}) || a.AppPasswordFailures != (backend.Failures{}) {
		t.Fatalf("migrated account has failures: %+v %+v", a.PasswordFailures, a.AppPasswordFailures)
	}
	f, err := s.RecordAuthFailure(t.Context(), a.ID, backend.PathPassword, t0, testPolicy)
	if err != nil || f.Count != 1 {
		t.Fatalf("RecordAuthFailure on the migrated database: %+v, %v", f, err)
	}
	if got, _ := s.AccountByName(t.Context(), "alice"); got.PasswordHash != "$argon2id$old" || got.Name != "alice" {
		t.Errorf("a failure record changed the account: %+v", got)
	}
}

// `wicket user unlock` is another process on the same file: the server's
// next read of the account sees the lock gone.
func TestUnlockAccount_FromAnotherOpenIsSeenAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	server, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	a := seedAccount(t, server, "alice")
	for range 3 {
		if _, err := server.RecordAuthFailure(t.Context(), a.ID, backend.PathPassword, t0, testPolicy); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := server.AccountByName(t.Context(), "alice"); !got.PasswordFailures.Locked(t0) {
		t.Fatalf("not locked: %+v", got.PasswordFailures)
	}

	admin, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.UnlockAccount(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	got, err := server.AccountByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordFailures != (backend.Failures{}) {
		t.Errorf("after unlock by another process the server reads %+v", got.PasswordFailures)
	}
}
