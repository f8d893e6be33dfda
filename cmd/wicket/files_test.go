package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/config"
)

// runWicket runs the command line in-process without the test's --config,
// as an administrator types it.
func runWicket(stdin string, args ...string) outcome {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return outcome{out.String(), errOut.String(), code}
}

// Without --config and $WICKET_CONFIG, a command reads the system file the
// service reads, when it exists; else the built-in defaults, whose
// ./wicket.db it refuses to make up.
func TestCommands_ReadTheSystemConfigurationWithoutTheFlag(t *testing.T) {
	dir := t.TempDir()
	system := filepath.Join(dir, "wicket.toml")
	db := filepath.Join(dir, "wicket.db")
	if err := os.WriteFile(system, fmt.Appendf(nil, "database = %q\n%s", db, cheapArgon2), 0o600); err != nil {
		t.Fatal(err)
	}
	old := config.SystemPath
	t.Cleanup(func() { config.SystemPath = old })
	config.SystemPath = system
	t.Setenv(config.PathEnv, "")
	cwd := t.TempDir()
	t.Chdir(cwd)

	for _, step := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"init"}},
		{"correct horse battery\n", []string{"user", "add", "eve", "--password-stdin"}},
	} {
		if o := runWicket(step.stdin, step.args...); o.code != 0 {
			t.Fatalf("wicket %s: %s", strings.Join(step.args, " "), o.stderr)
		}
	}
	if o := runWicket("", "user", "list"); o.code != 0 || !strings.Contains(o.stdout, "eve") {
		t.Errorf("user list through %s: exit %d, %q %q; want eve", system, o.code, o.stdout, o.stderr)
	}

	config.SystemPath = filepath.Join(dir, "absent.toml")
	o := runWicket("", "user", "list")
	if o.code == 0 || !strings.Contains(o.stderr, "./wicket.db does not exist") || !strings.Contains(o.stderr, "built-in defaults") {
		t.Errorf("user list with no configuration: exit %d, %q; want ./wicket.db refused", o.code, o.stderr)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Errorf("files made in the working directory: %v", entries)
	}
}
