package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

// dirEntries lists the names in dir, to show what a command left there.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// A revocation the server committed a moment ago lives only in the -wal
// file until a checkpoint; the copy must hold it all the same, as a copy
// of the database file alone does not.
func TestCopyDatabase_HoldsCommitsStillInTheWAL(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	a := seedAccount(t, s, "alice")
	for i := range 20 {
		p := fmt.Sprintf("extra%d", i)
		seedOne(t, s, a.ID, p)
		if err := s.RevokeAppPassword(t.Context(), a.ID, p, t0); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(s.path + "-wal"); err != nil || st.Size() == 0 {
		t.Fatalf("the test needs commits in the WAL: %v", err)
	}

	out := t.TempDir()
	c, err := CopyDatabase(t.Context(), s.path, out, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Install(filepath.Join(out, "backup.db"), false); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(t.Context(), filepath.Join(out, "backup.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Accounts != 1 || info.AppPasswords != 2 || info.RevokedAppPasswords != 20 || info.TOTPSeeds != 1 {
		t.Errorf("copy holds %+v, want 1 account, 2 active and 20 revoked app passwords, 1 seed", info)
	}
	if info.SchemaVersion != SchemaVersion() {
		t.Errorf("copy has schema version %d, want %d", info.SchemaVersion, SchemaVersion())
	}
	// One self-contained file, readable by its owner only.
	if got := dirEntries(t, out); !slices.Equal(got, []string{"backup.db"}) {
		t.Errorf("backup directory holds %v, want the backup alone", got)
	}
	st, err := os.Stat(filepath.Join(out, "backup.db"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %04o, want 0600", st.Mode().Perm())
	}
	var mode string
	if err := rawDB(t, filepath.Join(out, "backup.db")).QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "delete" {
		t.Errorf("backup journal mode %q (%v), want delete", mode, err)
	}
}

func seedOne(t *testing.T, s *Store, accountID int64, id string) {
	t.Helper()
	p := &backend.AppPassword{ID: id, AccountID: accountID, Label: id, CreatedAt: t0}
	if err := s.CreateAppPassword(t.Context(), p, []byte(id), 1000); err != nil {
		t.Fatal(err)
	}
}

func TestCopyDatabase_MissingOrForeignSourceLeavesNothing(t *testing.T) {
	in := t.TempDir()
	empty := filepath.Join(in, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(in, "foreign.db")
	if _, err := rawDB(t, foreign).Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ src, want string }{
		{filepath.Join(in, "missing.db"), "does not exist"},
		{filepath.Join(in, "nodir", "wicket.db"), "does not exist"},
		{empty, "empty (0 bytes)"},
		{foreign, "not a wicket database"},
	} {
		out := t.TempDir()
		_, err := CopyDatabase(t.Context(), tc.src, out, CopyOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("copy of %s: %v, want an error saying %q", filepath.Base(tc.src), err, tc.want)
		}
		if got := dirEntries(t, out); len(got) != 0 {
			t.Errorf("copy of %s left %v", filepath.Base(tc.src), got)
		}
	}
	if _, err := os.Stat(filepath.Join(in, "missing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing database was created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(in, "nodir")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing directory was created: %v", err)
	}
}

// A damaged index page is copied as it is; the copy's check must refuse
// it rather than leave a backup that cannot be trusted.
func TestCopyDatabase_RefusesACopyThatFailsItsCheck(t *testing.T) {
	s := openTemp(t)
	seedAccount(t, s, "alice")
	path := s.path
	var root, pageSize int
	if err := s.r.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 'app_passwords_verifier'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damagePage(t, path, root, pageSize)

	out := t.TempDir()
	_, err := CopyDatabase(t.Context(), path, out, CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), "quick_check") {
		t.Fatalf("copy of a damaged database: %v, want its quick_check failure", err)
	}
	if got := dirEntries(t, out); len(got) != 0 {
		t.Errorf("a refused copy left %v", got)
	}
}

// damagePage overwrites the b-tree header of page n (1-based).
func damagePage(t *testing.T, path string, n, pageSize int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := []byte(strings.Repeat("\xff", 64))
	if _, err := f.WriteAt(junk, int64((n-1)*pageSize)); err != nil {
		t.Fatal(err)
	}
}

func TestCopyDatabase_SeedCheckRefusesTheCopy(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	seedAccount(t, s, "alice")
	out := t.TempDir()
	wrongKey := errors.New("does not open")
	_, err := CopyDatabase(t.Context(), s.path, out, CopyOptions{Seed: func(int64, []byte) error { return wrongKey }})
	if !errors.Is(err, wrongKey) {
		t.Fatalf("copy with a key that opens nothing: %v", err)
	}
	if got := dirEntries(t, out); len(got) != 0 {
		t.Errorf("a refused copy left %v", got)
	}
}

func TestInstall_RefusesAnExistingFileUnlessReplacing(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	seedAccount(t, s, "alice")
	out := t.TempDir()
	dst := filepath.Join(out, "backup.db")
	if err := os.WriteFile(dst, []byte("an older backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := CopyDatabase(t.Context(), s.path, out, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Install(dst, false); !errors.Is(err, fs.ErrExist) {
		t.Errorf("install over an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "an older backup" {
		t.Errorf("the existing file was changed")
	}
	if err := c.Install(dst, true); err != nil {
		t.Fatalf("install replacing: %v", err)
	}
	if info, err := Inspect(t.Context(), dst, nil); err != nil || info.Accounts != 1 {
		t.Errorf("replaced file: %+v, %v", info, err)
	}
	if got := dirEntries(t, out); !slices.Equal(got, []string{"backup.db"}) {
		t.Errorf("directory holds %v after install", got)
	}
}
