package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// freeLoopbackPort is a port nobody listens on at the moment, for a
// configuration that must name its port before the server starts.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// The commands `wicket cert selfsigned` prints work as printed, once the
// [tls] lines it prints are in the configuration: StartTLS on the
// configured listen port and ldaps:// on the configured ldaps port, by a
// name the certificate holds.
func TestCertSelfSigned_PrintedCommandsWork(t *testing.T) {
	requireTool(t, "ldapwhoami")
	ldapPort, ldapsPort := freeLoopbackPort(t), freeLoopbackPort(t)
	template := `
listen   = "127.0.0.1:` + ldapPort + `"
database = %q
base_dn  = "dc=example,dc=org"

[log]
level  = "debug"
format = "json"
%s`
	dir := t.TempDir()
	// The administrator's configuration before there is a certificate.
	before := filepath.Join(dir, "before.toml")
	ldaps := "[tls]\nlisten_ldaps = \"127.0.0.1:" + ldapsPort + "\"\n"
	if err := os.WriteFile(before, []byte("listen = \"127.0.0.1:"+ldapPort+"\"\n"+ldaps), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(*wicketBin, "--config", before, "cert", "selfsigned", "--out-dir", dir,
		"--host", "ldap.example.org", "--host", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("cert selfsigned: %v\n%s", err, out)
	}
	printed := string(out)
	lines := regexp.MustCompile(`(?m)^(cert_file|key_file) += .*$`).FindAllString(printed, -1)
	commands := regexp.MustCompile(`(?m)^LDAPTLS_CACERT=.*$`).FindAllString(printed, -1)
	if len(lines) != 2 || len(commands) != 2 {
		t.Fatalf("want the two [tls] file lines and two commands in:\n%s", printed)
	}
	w := startWicketConfig(t, template, ldaps+strings.Join(lines, "\n")+"\n")
	if w.addr != "127.0.0.1:"+ldapPort {
		t.Fatalf("listening on %s, want port %s", w.addr, ldapPort)
	}
	for _, c := range commands {
		sh := exec.Command("sh", "-c", c)
		// The test's own ldaprc must not help or hinder.
		sh.Env = append(os.Environ(), "LDAPRC=/dev/null", "HOME="+t.TempDir())
		got, err := sh.CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != "anonymous" {
			t.Errorf("%s: %v\n%s", c, err, got)
		}
	}
	for _, want := range []string{"ldap://127.0.0.1:" + ldapPort, "ldaps://127.0.0.1:" + ldapsPort} {
		if !strings.Contains(strings.Join(commands, "\n"), want) {
			t.Errorf("no command for %s:\n%s", want, printed)
		}
	}
}
