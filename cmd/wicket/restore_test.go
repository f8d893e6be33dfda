package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A restore checks the backup and its key before it touches anything.
func TestRestore_RefusesBeforeChangingAnything(t *testing.T) {
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	bdir := t.TempDir()
	b := filepath.Join(bdir, "b.db")
	c.ok("", "backup", b)
	target := newCLI(t, "")
	target.addUser("bob")
	dir := filepath.Dir(target.db)
	before := names(t, dir)

	newer := filepath.Join(bdir, "newer.db")
	copyFile(t, b, newer)
	copyFile(t, b+".key", newer+".key")
	db, err := sql.Open("sqlite3", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	foreignKey := filepath.Join(bdir, "foreign.key")
	if err := os.WriteFile(foreignKey, []byte(newKeyText(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bdir, "loose.key"), []byte(newKeyText(t)), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		what string
		args []string
		want string
	}{
		{"a missing backup", []string{filepath.Join(bdir, "none.db")}, "does not exist"},
		{"a backup without its key file", []string{b, "--key", filepath.Join(bdir, "none.key")}, "none.key does not exist"},
		{"another server's key", []string{b, "--key", foreignKey}, "does not open the TOTP seed"},
		{"a key file others can read", []string{b, "--key", filepath.Join(bdir, "loose.key")}, "chmod 600"},
		{"the target's own key (--no-key)", []string{b, "--no-key"}, "does not open the TOTP seed"},
		{"a newer schema", []string{newer}, "schema version 99"},
	} {
		msg := target.fail("", append([]string{"restore"}, tc.args...)...)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("restore of %s: %q, want it to say %q", tc.what, msg, tc.want)
		}
		if got := names(t, dir); !slices.Equal(got, before) {
			t.Errorf("restore of %s changed the directory: %v, was %v", tc.what, got, before)
		}
	}
	if us := target.users(); len(us) != 1 || us[0].Name != "bob" {
		t.Errorf("the target database changed: %v", us)
	}

	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "wicket.db")
	msg := c.fail("", "--db", missing, "restore", b)
	if !strings.Contains(msg, "does not exist: create it first") {
		t.Errorf("restore into a missing directory: %s", msg)
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Error("restore created the missing directory")
	}
}

// Run as root, a restore gives the files to the user the server runs as:
// the owner of the database it replaces, or of the directory.
func TestRestore_AsRootKeepsTheServersOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	b := filepath.Join(t.TempDir(), "b.db")
	c.ok("", "backup", b)

	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const dirUID, dbUID = 65534, 65533
	if err := os.Chown(dir, dirUID, dirUID); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "wicket.db")
	owner := func(path string) int {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		uid, _, _ := fileOwner(st)
		return uid
	}
	out := c.ok("", "--db", db, "restore", b)
	if owner(db) != dirUID || owner(filepath.Join(dir, "wicket.key")) != dirUID {
		t.Errorf("restore into an empty directory owned by %d: database owned by %d, key by %d\n%s",
			dirUID, owner(db), owner(filepath.Join(dir, "wicket.key")), out)
	}
	if err := os.Chown(db, dbUID, dbUID); err != nil {
		t.Fatal(err)
	}
	c.ok("", "--db", db, "restore", b)
	if owner(db) != dbUID {
		t.Errorf("restore over a database owned by %d: now owned by %d", dbUID, owner(db))
	}
	requireFileMode(t, db, 0o600)
	requireFileMode(t, filepath.Join(dir, "wicket.key"), 0o600)
}

func requireFileMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %04o, want %04o", path, st.Mode().Perm(), want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
