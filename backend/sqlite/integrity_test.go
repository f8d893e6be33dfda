package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The database a crash or a bad disk left with a damaged index page opens
// (nothing reads that page at start) but fails its check.
func TestCheckIntegrity_FindsADamagedIndexPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	s, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		seedAccount(t, s, name)
	}
	for _, full := range []bool{false, true} {
		if err := s.CheckIntegrity(t.Context(), full); err != nil {
			t.Fatalf("CheckIntegrity(full=%v) of a sound database: %v", full, err)
		}
	}
	var page int64
	if err := s.r.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = 'app_passwords_verifier'`).Scan(&page); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damageDBPage(t, path, page)

	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open of a database with one damaged index page: %v (the check should be what finds it)", err)
	}
	defer s.Close()
	for _, full := range []bool{false, true} {
		err := s.CheckIntegrity(t.Context(), full)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
			t.Errorf("CheckIntegrity(full=%v) of a damaged index page: %v, want ErrDamaged naming the path", full, err)
		}
	}
}

// damageDBPage overwrites the b-tree page header of page (1-based) of the
// database file with bytes no page type has.
func damageDBPage(t *testing.T, path string, page int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var size int64 = 4096
	if _, err := f.WriteAt([]byte{0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, (page-1)*size); err != nil {
		t.Fatal(err)
	}
}
