package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Store {
		return openTemp(t)
	})
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Create(filepath.Join(t.TempDir(), "wicket.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawDB opens the file without the store, as an administrator's sqlite3
// shell would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func seedAccount(t *testing.T, s *Store, name string) *backend.Account {
	t.Helper()
	a := &backend.Account{
		Name: name, Mail: name + "@example.org", Role: backend.RoleUser,
		PasswordHash: "$argon2id$old", TOTPSeed: []byte("sealed seed"),
		AppPasswordSalt: []byte("salt"), CreatedAt: t0, PasswordChangedAt: t0,
	}
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p1", "p2"} {
		p := &backend.AppPassword{ID: name + id, AccountID: a.ID, Label: id, CreatedAt: t0}
		if err := s.CreateAppPassword(t.Context(), p, []byte(name+id), 25); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// Open never makes a database up: not for a missing path, nor from an
// empty file or another program's SQLite file, which SQLite would happily
// take for a new database. Nothing is left behind.
func TestOpen_RefusesWhatIsNoWicketDatabase(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	db := rawDB(t, other)
	if _, err := db.Exec(`CREATE TABLE notes (x TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	text := filepath.Join(dir, "wicket.toml")
	if err := os.WriteFile(text, []byte("listen = \"127.0.0.1:1389\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, dir)
	for _, c := range []struct {
		name, path string
		want       error
		says       string
	}{
		{"missing", filepath.Join(dir, "wicket.db"), fs.ErrNotExist, "does not exist"},
		{"missing directory", filepath.Join(dir, "nowhere", "wicket.db"), fs.ErrNotExist, "does not exist"},
		{"empty", empty, ErrEmptyFile, "0 bytes"},
		{"another program's", other, ErrNotWicket, "not a wicket database"},
		{"not SQLite", text, nil, "not a database"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(c.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", c.path)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("Open: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("Open: %q, want the path and %q", err, c.says)
			}
		})
	}
	if after := listDir(t, dir); after != before {
		t.Errorf("the refused opens changed the directory:\nbefore %s\nafter  %s", before, after)
	}
	if v := userVersion(t, rawDB(t, other)); v != 0 {
		t.Errorf("another program's database was migrated to version %d", v)
	}
}

// listDir is the names, sizes and modes in dir, to compare.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %v; ", e.Name(), fi.Size(), fi.Mode())
	}
	return b.String()
}

func TestCreate_File0600OnlyWhereNothingIs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wicket.db")
	s, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seedAccount(t, s, "alice")
	// The WAL holds the same secrets as the database until a checkpoint.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	// No temporary file of the creation is left.
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("files beside the database: %v, want the database, its WAL and its index", entries)
	}

	if _, err := Create(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing database: %v, want fs.ErrExist", err)
	}
	if got, err := s.AccountByName(t.Context(), "alice"); err != nil || got.Name != "alice" {
		t.Errorf("the database after a refused Create: %v, %v", got, err)
	}
	missing := filepath.Join(dir, "var", "lib", "wicket")
	if _, err := Create(filepath.Join(missing, "wicket.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create in a missing directory: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "var")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create made the missing directory")
	}
}

func TestOpen_PathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?dir#%41", "wicket.db")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	seedAccount(t, s, "alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("database not at %q: %v", path, err)
	}
	entries, err := os.ReadDir(filepath.Dir(filepath.Dir(path)))
	if err != nil || len(entries) != 1 {
		t.Fatalf("stray files next to the database directory: %v, %v", entries, err)
	}
}

func TestOpen_ReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	s, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	a := seedAccount(t, s, "alice")
	if ok, err := s.AdvanceTOTPStep(t.Context(), a.ID, 42); err != nil || !ok {
		t.Fatalf("AdvanceTOTPStep = %v, %v", ok, err)
	}
	if err := s.RevokeAppPassword(t.Context(), a.ID, "alicep1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.AccountByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.TOTPLastStep != 42 || string(got.TOTPSeed) != "sealed seed" || !got.CreatedAt.Equal(t0) {
		t.Errorf("after reopen: %+v", got)
	}
	ps, err := s.ListAppPasswords(t.Context(), a.ID)
	if err != nil || len(ps) != 1 || ps[0].ID != "alicep2" {
		t.Errorf("active after reopen: %v, %v", ps, err)
	}
	if v := userVersion(t, s.r); v != len(migrations) {
		t.Errorf("user_version = %d after reopen", v)
	}
}

// TestOpen_MigratesV1DatabaseKeepingData opens a database as the first
// release left it: its accounts must come through step 2 unchanged, with
// empty profile attributes, and the new tables must work at once.
func TestOpen_MigratesV1DatabaseKeepingData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	v1, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(t.Context(), v1, migrations[:1]); err != nil {
		t.Fatal(err)
	}
	_, err = v1.Exec(`INSERT INTO accounts
		(name, mail, role, disabled, password_hash, totp_seed, totp_last_step, apppw_salt, created_at, password_changed_at)
		VALUES ('alice', 'Alice@Example.org', 'admin', 1, '$argon2id$old', X'5345', 7, X'73616c74', ?, ?)`,
		t0.UnixNano(), t0.Add(time.Hour).UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	if err := v1.Close(); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := userVersion(t, s.r); v != len(migrations) {
		t.Fatalf("user_version = %d, want %d", v, len(migrations))
	}
	want := backend.Account{
		Name: "alice", Mail: "Alice@Example.org", Role: backend.RoleAdmin, Disabled: true,
		PasswordHash: "$argon2id$old", TOTPSeed: []byte("SE"), TOTPLastStep: 7, AppPasswordSalt: []byte("salt"),
		CreatedAt: t0, PasswordChangedAt: t0.Add(time.Hour),
	}
	got, err := s.AccountByMail(t.Context(), "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	want.ID = got.ID
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("migrated account:\n got %+v\nwant %+v", *got, want)
	}
	// When it last changed is not known: the migration's time stands for it.
	if d, err := s.Directory(t.Context()); err != nil || len(d.Accounts) != 1 || d.Accounts[0].UUID.IsZero() ||
		d.Accounts[0].ModifiedAt.Before(before.Truncate(time.Millisecond)) || d.Accounts[0].ModifiedAt.After(time.Now()) {
		t.Errorf("migrated account in the directory: %+v, %v; want a UUID and the migration's time", d, err)
	}

	mustNot := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s on the migrated database: %v", what, err)
		}
	}
	mustNot("SetProfile", s.SetProfile(t.Context(), got.ID, backend.Profile{Mail: got.Mail, GivenName: "Alice"}))
	mustNot("SetAliases", s.SetAliases(t.Context(), got.ID, []string{"ally@example.org"}))
	mustNot("CreateGroup", s.CreateGroup(t.Context(), "staff"))
	mustNot("SetGroupMember", s.SetGroupMember(t.Context(), "staff", got.ID, true))
	d, err := s.Directory(t.Context())
	mustNot("Directory", err)
	if len(d.Accounts) != 1 || d.Accounts[0].GivenName != "Alice" ||
		fmt.Sprint(d.Aliases[got.ID]) != "[ally@example.org]" || fmt.Sprint(d.Groups[got.ID]) != "[staff]" {
		t.Fatalf("directory of the migrated database: %+v", d)
	}
}

// TestOpen_MigrationGivesEachRowItsOwnUUID opens a database as step 8 left
// it: every account, app password and group must come out with a random
// UUID of its own, which no later write changes, and the database with a
// namespace for the entries that have no row.
func TestOpen_MigrationGivesEachRowItsOwnUUID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	old := rawDB(t, path)
	if err := migrate(t.Context(), old, migrations[:8]); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		_, err := old.Exec(`INSERT INTO accounts (name, role, disabled, password_hash, totp_seed, apppw_salt, created_at, password_changed_at)
			VALUES (?, 'user', 0, 'x', X'01', X'02', 1, 1)`, fmt.Sprint("user", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(`INSERT INTO app_passwords (id, account_id, label, verifier, created_at) VALUES (?, ?, 'l', ?, 1)`,
			fmt.Sprint("ap", i), i+1, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(`INSERT INTO groups (name) VALUES (?)`, fmt.Sprint("group", i)); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[backend.UUID]string{}
	check := func(what string, u backend.UUID) {
		t.Helper()
		switch {
		case u[6]>>4 != 4 || u[8]&0xc0 != 0x80:
			t.Errorf("%s: %s is not a version 4 UUID", what, u)
		case seen[u] != "":
			t.Errorf("%s has the UUID of %s: %s", what, seen[u], u)
		}
		seen[u] = what
	}
	d, err := s.Directory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Accounts {
		check("account "+a.Name, a.UUID)
	}
	for _, g := range d.AllGroups {
		check("group "+g.Name, g.UUID)
		if g.CreatedAt.IsZero() || g.ModifiedAt.IsZero() {
			t.Errorf("group %s: created %v, modified %v", g.Name, g.CreatedAt, g.ModifiedAt)
		}
	}
	for i := range n {
		aps, err := s.ListAppPasswords(t.Context(), int64(i+1))
		if err != nil || len(aps) != 1 {
			t.Fatalf("app passwords of account %d: %v, %v", i+1, aps, err)
		}
		check("app password "+aps[0].ID, aps[0].UUID)
	}
	if len(seen) != 3*n {
		t.Fatalf("%d UUIDs, want %d", len(seen), 3*n)
	}
	if d.Namespace.IsZero() {
		t.Error("no namespace")
	}

	// Nothing, not even the shell, changes a UUID or leaves one out.
	raw := rawDB(t, path)
	for _, q := range []string{
		`UPDATE accounts SET uuid = randomblob(16) WHERE id = 1`,
		`UPDATE app_passwords SET uuid = NULL WHERE account_id = 1`,
		`UPDATE groups SET uuid = randomblob(16) WHERE id = 1`,
		`INSERT INTO groups (name) VALUES ('no uuid')`,
		`INSERT INTO accounts (name, role, disabled, password_hash, apppw_salt, created_at, password_changed_at, uuid)
			VALUES ('short', 'user', 0, 'x', X'02', 1, 1, X'0102')`,
	} {
		if _, err := raw.Exec(q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
}

func TestOpen_RefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	s, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	seedAccount(t, s, "alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	newer := len(migrations) + 1
	raw := rawDB(t, path)
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database from a newer schema")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(newer)) {
		t.Errorf("error does not name the database's version: %v", err)
	}
	if v := userVersion(t, raw); v != newer {
		t.Errorf("user_version changed to %d by a refused Open", v)
	}
}

func TestMigrate_AppliesPendingStepsInOrder(t *testing.T) {
	db := rawDB(t, filepath.Join(t.TempDir(), "m.db"))
	steps := []string{`CREATE TABLE a (x)`, `CREATE TABLE b (x); INSERT INTO b SELECT x FROM a`}
	if err := migrate(t.Context(), db, steps[:1]); err != nil {
		t.Fatal(err)
	}
	if v := userVersion(t, db); v != 1 {
		t.Fatalf("user_version = %d, want 1", v)
	}
	if err := migrate(t.Context(), db, steps); err != nil {
		t.Fatal(err)
	}
	if v := userVersion(t, db); v != 2 || !tableExists(t, db, "b") {
		t.Fatalf("user_version = %d, table b %v", v, tableExists(t, db, "b"))
	}
	if err := migrate(t.Context(), db, steps); err != nil {
		t.Fatalf("migrating an up-to-date database: %v", err)
	}
}

func TestMigrate_FailedStepLeavesNoTrace(t *testing.T) {
	db := rawDB(t, filepath.Join(t.TempDir(), "m.db"))
	steps := []string{`CREATE TABLE a (x)`, `CREATE TABLE b (x); CREATE TABLE a (y)`}
	err := migrate(t.Context(), db, steps)
	if err == nil {
		t.Fatal("a failing step succeeded")
	}
	if v := userVersion(t, db); v != 1 {
		t.Errorf("user_version = %d, want 1 (the step before the failure)", v)
	}
	if tableExists(t, db, "b") {
		t.Error("the failed step's first statement was kept")
	}
}

// TestDSN_EveryConnectionIsDurable holds several read connections at once,
// so the pool must open fresh ones, and checks each got the settings.
func TestDSN_EveryConnectionIsDurable(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()

	type conn struct {
		name      string
		c         *sql.Conn
		queryOnly int
	}
	var conns []conn
	wc, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, conn{"writer", wc, 0})
	for i := range 3 {
		rc, err := s.r.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn{fmt.Sprint("reader ", i), rc, 1})
	}
	defer func() {
		for _, c := range conns {
			c.c.Close()
		}
	}()

	for _, c := range conns {
		var mode string
		if err := c.c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Errorf("%s: journal_mode = %q, want wal", c.name, mode)
		}
		for _, p := range []struct {
			pragma string
			want   int
		}{
			{"synchronous", 2}, // FULL
			{"foreign_keys", 1},
			{"busy_timeout", busyTimeoutMS},
			{"query_only", c.queryOnly},
		} {
			var got int
			if err := c.c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("%s: %s = %d, want %d", c.name, p.pragma, got, p.want)
			}
		}
	}
}

func TestReadPool_RefusesWrites(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	_, err := s.r.ExecContext(t.Context(), `UPDATE accounts SET role = 'admin'`)
	if err == nil {
		t.Fatal("the read pool accepted a write")
	}
}

// TestWriter_TransactionsAreImmediate checks that a writer transaction holds
// the write lock from BEGIN, before it has written anything: the guarantee
// the read-check-write methods rely on.
func TestWriter_TransactionsAreImmediate(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	tx, err := s.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM accounts`).Scan(&n); err != nil {
		t.Fatal(err)
	}

	other := rawDB(t, "file:"+s.path+"?_busy_timeout=0&_txlock=immediate")
	otx, err := other.BeginTx(t.Context(), nil)
	if err == nil {
		otx.Rollback()
		t.Fatal("a second writer began while the store's transaction was open")
	}
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
		t.Fatalf("second writer: %v, want SQLITE_BUSY", err)
	}
}

// failRevocations makes every revocation fail inside SQLite, after the
// account row has already been updated in the same transaction.
func failRevocations(t *testing.T, s *Store) {
	t.Helper()
	_, err := s.w.ExecContext(t.Context(), `CREATE TRIGGER fail_revocation BEFORE UPDATE OF revoked_at ON app_passwords
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestSetPasswordHash_RevokeFailureRollsBackPasswordChange(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	a := seedAccount(t, s, "alice")
	failRevocations(t, s)

	if _, err := s.SetPasswordHash(t.Context(), a.ID, "$argon2id$new", true, t0.Add(time.Hour)); err == nil {
		t.Fatal("SetPasswordHash succeeded although its revocation failed")
	}
	got, err := s.AccountByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != "$argon2id$old" || !got.PasswordChangedAt.Equal(t0) {
		t.Errorf("password changed without its revocation: %q at %v", got.PasswordHash, got.PasswordChangedAt)
	}
}

func TestSetTOTPSeed_RevokeFailureRollsBackRemoval(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	a := seedAccount(t, s, "alice")
	if _, err := s.AdvanceTOTPStep(t.Context(), a.ID, 9); err != nil {
		t.Fatal(err)
	}
	failRevocations(t, s)

	if _, err := s.SetTOTPSeed(t.Context(), a.ID, nil, t0.Add(time.Hour)); err == nil {
		t.Fatal("SetTOTPSeed(nil) succeeded although its revocation failed")
	}
	got, err := s.AccountByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !got.TOTPEnrolled() || got.TOTPLastStep != 9 {
		t.Errorf("second factor removed without revoking app passwords: enrolled %v, step %d",
			got.TOTPEnrolled(), got.TOTPLastStep)
	}
}

// TestHotStatements_UseIndexes keeps the bind path at one index probe per
// lookup whatever the number of accounts and app passwords.
func TestHotStatements_UseIndexes(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, tc := range []struct {
		query string
		args  []any
	}{
		{qAccountByName, []any{"alice"}},
		{qAccountByMail, []any{"alice@example.org", "alice@example.org"}},
		{qMailOwner, []any{"alice@example.org"}},
		{qAliasOwner, []any{"alice@example.org"}},
		// Replacing one account's aliases; the cascades of deleting an
		// account or a group look rows up the same ways.
		{`DELETE FROM aliases WHERE account_id = ?`, []any{int64(1)}},
		{`DELETE FROM group_members WHERE account_id = ?`, []any{int64(1)}},
		{`DELETE FROM group_members WHERE group_id = ?`, []any{int64(1)}},
		{`SELECT id FROM groups WHERE name = ?`, []any{"staff"}},
		{qAppPasswordByVerifier, []any{int64(1), []byte("v")}},
		{qAppPasswordByUUID, []any{[]byte("0123456789abcdef")}},
		{qAdvanceTOTPStep, []any{int64(5), int64(1), int64(5)}},
		{`SELECT count(*) FROM app_passwords WHERE account_id = ? AND revoked_at IS NULL`, []any{int64(1)}},
	} {
		rows, err := s.w.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		// A constant row (the decoy of the account lookups) scans no table.
		tables := strings.ReplaceAll(joined, "SCAN CONSTANT ROW", "")
		if strings.Contains(tables, "SCAN") || !strings.Contains(joined, "SEARCH") {
			t.Errorf("%s\n  plan: %s", tc.query, joined)
		}
	}
}

// TestDirectory_DoesNotWaitForTheWriter holds the single writer connection
// in an open transaction: a search must still be answered, from the read
// pool, rather than queue behind an administrator's write.
func TestDirectory_DoesNotWaitForTheWriter(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	seedAccount(t, s, "alice")
	tx, err := s.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE accounts SET role = 'admin'`); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	d, err := s.Directory(ctx)
	if err != nil {
		t.Fatalf("Directory while a write is open: %v", err)
	}
	if len(d.Accounts) != 1 || d.Accounts[0].Role != backend.RoleUser {
		t.Fatalf("Directory saw uncommitted data: %+v", d.Accounts)
	}
}

func TestClose_FinalizesAndCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	s, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	seedAccount(t, s, "alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The last connection to close checkpoints and removes the WAL; a
	// leftover prepared statement would have kept a connection open.
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WAL still present after Close: %v", err)
	}
}

// A small change is a small delta: the changed account alone, read by id,
// not the whole directory again; a large one asks for a whole read.
func TestDirectoryChanges_SmallChangeIsADelta(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	var ids []int64
	for i := range 50 {
		a := &backend.Account{Name: fmt.Sprintf("user%02d", i), Role: backend.RoleUser, PasswordHash: "x",
			AppPasswordSalt: []byte("salt"), CreatedAt: time.Now(), PasswordChangedAt: time.Now()}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	d, err := s.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetAliases(ctx, ids[7], []string{"seven@example.org"}); err != nil {
		t.Fatal(err)
	}
	ch, err := s.DirectoryChanges(ctx, d.Mark)
	if err != nil || ch == nil {
		t.Fatalf("DirectoryChanges: %+v, %v; want a delta", ch, err)
	}
	if len(ch.Accounts) != 1 || ch.Accounts[0].ID != ids[7] || len(ch.Gone) != 0 || ch.AllGroups != nil {
		t.Errorf("delta of one alias: %+v", ch)
	}
	if got := ch.Aliases[ids[7]]; len(got) != 1 || got[0] != "seven@example.org" {
		t.Errorf("delta's aliases %v", got)
	}
	if ch.Mark == d.Mark {
		t.Error("the mark did not move")
	}
	ch2, err := s.DirectoryChanges(ctx, ch.Mark)
	if err != nil || ch2 == nil || len(ch2.Accounts) != 0 || ch2.Mark != ch.Mark {
		t.Errorf("nothing changed since: %+v, %v", ch2, err)
	}
}

func TestHoldsSecrets(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	if held, err := s.HoldsSecrets(t.Context()); err != nil || held {
		t.Fatalf("a new database: HoldsSecrets = %v, %v; want false", held, err)
	}
	a := &backend.Account{Name: "nopass", Role: backend.RoleUser, AppPasswordSalt: []byte("salt"),
		CreatedAt: t0, PasswordChangedAt: t0}
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if held, err := s.HoldsSecrets(t.Context()); err != nil || held {
		t.Fatalf("an account without password or seed: HoldsSecrets = %v, %v; want false", held, err)
	}
	seedAccount(t, s, "alice")
	if held, err := s.HoldsSecrets(t.Context()); err != nil || !held {
		t.Fatalf("an account with a password hash: HoldsSecrets = %v, %v; want true", held, err)
	}
}

// CheckWritable passes while the database takes writes and fails while
// another connection holds the write lock past the busy timeout, as a
// change would; it writes nothing: the generation stays, and no audit
// record appears.
func TestCheckWritable_FailsWhileAnotherWriterHoldsTheLockAndWritesNothing(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	seedAccount(t, s, "alice")
	gen, err := s.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.CheckWritable(ctx); err != nil {
			t.Fatalf("CheckWritable of a database that takes writes: %v", err)
		}
	}

	other := rawDB(t, "file:"+s.path+"?_txlock=immediate")
	otx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.CheckWritable(ctx)
	otx.Rollback()
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("CheckWritable while another writer holds the lock: %v, want database is locked", err)
	}
	if err := s.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable once the lock is released: %v", err)
	}

	if got, err := s.Generation(ctx); err != nil || got != gen {
		t.Errorf("generation %+v, %v after the checks; want %+v", got, err, gen)
	}
	if recs, err := s.ListAudit(ctx, backend.AuditFilter{}); err != nil || len(recs) != 0 {
		t.Errorf("audit trail after the checks: %v, %v; want nothing", recs, err)
	}
}

// A health check must see what writes will meet: once the file is deleted,
// CheckWritable fails although SQLite would still take the write.
func TestCheckWritable_FailsOnceTheFileIsDeleted(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	if err := s.CheckWritable(t.Context()); err != nil {
		t.Fatalf("CheckWritable of a database in place: %v", err)
	}
	if err := os.Remove(s.path); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckWritable(t.Context()); err == nil {
		t.Fatal("CheckWritable after the file was deleted: nil, want an error")
	}
}
