package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The files of deploy/systemd, checked by systemd's own tools.

func systemdFile(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(sourceRoot(t), "deploy", "systemd", name)
}

// combined runs a program and returns its exit status and everything it
// printed.
func combined(t *testing.T, name string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return 0, out.String()
}

// TestSystemdUnit_Verifies runs systemd-analyze verify against a root that
// holds the unit, the binary where ExecStart says and the distribution's
// units it orders itself against. verify reports a misspelt or unknown
// setting, and a value it cannot parse, by a warning and exit status 0:
// any output at all is a failure.
func TestSystemdUnit_Verifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	root := t.TempDir()
	for _, d := range []string{"usr/local/bin", "usr/bin", "usr/lib/systemd", "etc/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "lib"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	units := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(units, "sysinit.target")); err != nil {
		units = "/lib/systemd/system"
	}
	mustRun(t, "", "cp", "-r", units, filepath.Join(root, "usr/lib/systemd/system"))
	copyTreeFile(t, *wicketBin, filepath.Join(root, "usr/local/bin/wicket"), 0o755)
	kill, err := exec.LookPath("kill")
	if err != nil {
		t.Fatal(err)
	}
	copyTreeFile(t, kill, filepath.Join(root, "usr/bin/kill"), 0o755)
	copyTreeFile(t, systemdFile(t, "wicket.service"), filepath.Join(root, "etc/systemd/system/wicket.service"), 0o644)

	code, out := combined(t, analyze, "verify", "--root="+root, "wicket.service")
	if code != 0 || out != "" {
		t.Errorf("systemd-analyze verify wicket.service: exit %d\n%s", code, out)
	}
}

// TestSystemdUnit_SecurityExposure keeps the sandbox from eroding: the
// exposure that systemd-analyze security computes offline stays under 2.0
// ("OK"; 1.1 when the unit was written, with systemd 252).
func TestSystemdUnit_SecurityExposure(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	code, out := combined(t, analyze, "security", "--offline=yes", "--threshold=20", "--no-pager",
		systemdFile(t, "wicket.service"))
	level := regexp.MustCompile(`Overall exposure level for wicket\.service: (\d+\.\d) (\S+)`).FindStringSubmatch(out)
	if level == nil {
		t.Fatalf("systemd-analyze security printed no overall exposure (exit %d):\n%s", code, out)
	}
	t.Logf("systemd-analyze security --offline=yes: exposure %s %s", level[1], level[2])
	if code != 0 {
		t.Errorf("exposure %s %s is over 2.0:\n%s", level[1], level[2], out)
	}
	// A setting that adds to the exposure ends its line with its share.
	for _, name := range []string{"User=/DynamicUser=", "NoNewPrivileges=", "ProtectSystem=", "CapabilityBoundingSet=~CAP_SYS_ADMIN",
		"SystemCallFilter=~@privileged", "MemoryDenyWriteExecute=", "PrivateDevices=", "ProtectHome=", "RestrictAddressFamilies=~AF_NETLINK"} {
		line := regexp.MustCompile(`(?m)^\S+ ` + regexp.QuoteMeta(name) + ` .*$`).FindString(out)
		if line == "" || regexp.MustCompile(`\d\.\d\s*$`).MatchString(line) {
			t.Errorf("systemd-analyze security: %s is not in place: %q", name, line)
		}
	}
}

// TestSystemdUnit_SysusersAndTmpfilesMakeTheLayout applies the sysusers
// and tmpfiles snippets to an empty root as a package installation would:
// a system user without a login, /etc/wicket readable by its group only,
// /var/lib/wicket its own.
func TestSystemdUnit_SysusersAndTmpfilesMakeTheLayout(t *testing.T) {
	sysusers := requireTool(t, "systemd-sysusers")
	tmpfiles := requireTool(t, "systemd-tmpfiles")
	if os.Geteuid() != 0 {
		t.Skip("systemd-tmpfiles needs root to give the directories their owners")
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", sysusers, "--root="+root, systemdFile(t, "wicket.sysusers"))
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	entry := regexp.MustCompile(`(?m)^wicket:x:(\d+):(\d+):wicket LDAP authentication proxy:/var/lib/wicket:(/usr/sbin/nologin|/sbin/nologin)$`).
		FindStringSubmatch(string(passwd))
	if entry == nil {
		t.Fatalf("no system user wicket with a home of /var/lib/wicket and no login in:\n%s", passwd)
	}
	mustRun(t, "", tmpfiles, "--root="+root, "--create", systemdFile(t, "wicket.tmpfiles"))
	for dir, want := range map[string]string{"etc/wicket": "0 " + entry[2] + " 750", "var/lib/wicket": entry[1] + " " + entry[2] + " 700"} {
		if got := strings.TrimSpace(mustRun(t, "", "stat", "-c", "%u %g %a", filepath.Join(root, dir))); got != want {
			t.Errorf("/%s: owner, group and mode %q, want %q", dir, got, want)
		}
	}
}

// TestSystemdUnit_RunsUnderSystemd starts the unit under a real systemd,
// in a container of this host, and checks what an administrator would
// (scripts/test-systemd-unit.sh says what).
func TestSystemdUnit_RunsUnderSystemd(t *testing.T) {
	requireTool(t, "systemd-nspawn")
	requireTool(t, "oathtool")
	requireTool(t, "ldapwhoami")
	if os.Geteuid() != 0 {
		t.Skip("systemd-nspawn needs root")
	}
	if err := exec.Command("unshare", "--mount", "true").Run(); err != nil {
		t.Skipf("this machine cannot make a mount namespace, so no container: %v", err)
	}
	code, out := combined(t, filepath.Join(sourceRoot(t), "scripts", "test-systemd-unit.sh"), *wicketBin)
	if code != 0 {
		t.Fatalf("scripts/test-systemd-unit.sh: exit %d\n%s", code, out)
	}
	t.Logf("%s", out)
}
