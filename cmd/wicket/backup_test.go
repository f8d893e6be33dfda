package main

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func newKeyText(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) + "\n"
}

// A key file that does not open the database's seeds (another server's,
// or one made afresh) would make a backup that cannot be restored: it is
// refused before anything is written, and --no-key still allows a copy of
// the database alone, saying what it lacks.
func TestBackup_KeyThatDoesNotOpenTheSeedsIsRefused(t *testing.T) {
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	keyPath := filepath.Join(filepath.Dir(c.db), "wicket.key")
	if err := os.WriteFile(keyPath, []byte(newKeyText(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	msg := c.fail("", "backup", filepath.Join(out, "b.db"))
	if !strings.Contains(msg, "does not open the TOTP seed") || !strings.Contains(msg, keyPath) {
		t.Errorf("backup with a foreign key: %s", msg)
	}
	if got := names(t, out); len(got) != 0 {
		t.Errorf("a refused backup left %v", got)
	}

	got := c.ok("", "backup", "--no-key", filepath.Join(out, "b.db"))
	if !strings.Contains(got, "cannot be read without the key file "+keyPath) {
		t.Errorf("backup --no-key does not say what the backup lacks:\n%s", got)
	}
	if got := names(t, out); !slices.Equal(got, []string{"b.db"}) {
		t.Errorf("backup --no-key wrote %v", got)
	}
}

// Keys kept in $WICKET_KEYS are not written to disk by a backup; it says
// that the backup needs them.
func TestBackup_KeysFromTheEnvironmentAreNotWritten(t *testing.T) {
	t.Setenv(backend.KeyEnv, newKeyText(t))
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	out := t.TempDir()
	got := c.ok("", "backup", filepath.Join(out, "b.db"))
	if !strings.Contains(got, "the keys come from $WICKET_KEYS") || !strings.Contains(got, "1 TOTP seed") {
		t.Errorf("backup with keys in the environment:\n%s", got)
	}
	if got := names(t, out); !slices.Equal(got, []string{"b.db"}) {
		t.Errorf("backup wrote %v", got)
	}
}
