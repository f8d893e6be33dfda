package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Mistakes are refused before any change, and a run that enrolled nobody
// leaves no directory behind.
func TestTOTPEnrollBulk_RefusesBeforeAnyChange(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	contains(t, "no accounts named", c.fail("", "totp", "enroll-bulk", "--out", out), "--users FILE", "--all-without-totp")
	contains(t, "both", c.fail("alice\n", "totp", "enroll-bulk", "--users", "-", "--all-without-totp", "--out", out),
		"none of the others can be")
	contains(t, "no --out", c.fail("", "totp", "enroll-bulk", "--all-without-totp"), "out")
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	contains(t, "--out a file", c.fail("", "totp", "enroll-bulk", "--all-without-totp", "--out", file), "not a directory")
	contains(t, "bad names", c.fail("alice\nNot A Name\n", "totp", "enroll-bulk", "--users", "-", "--out", out),
		"line 2", "nothing created")
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused runs left %s behind: %v", out, err)
	}
	if u := c.users(); u[0].TOTPEnrolled {
		t.Error("a refused run enrolled alice")
	}

	c.ok("", "totp", "enroll", "alice")
	c.ok("", "totp", "enroll-bulk", "--all-without-totp", "--out", out)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a run that enrolled nobody left %s behind: %v", out, err)
	}
}
