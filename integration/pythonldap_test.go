package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requirePythonLDAP finds Debian's python3 with its python-ldap module
// (python3-ldap): the interpreter first in PATH may be another one.
func requirePythonLDAP(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import ldap").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python-ldap is not installed for %s (run scripts/install-test-deps.sh): %v", py, err)
		}
		t.Skipf("python-ldap is not installed for %s (run scripts/install-test-deps.sh)", py)
	}
	return py
}

// python-ldap's passwd_s, as a web application or a script changes a
// password: it returns without an error (it raised PROTOCOL_ERROR on a
// responseName after the change was made), the new password binds, and the
// user's app passwords are revoked.
func TestPythonLDAP_PasswordModifyReturnsAndRevokes(t *testing.T) {
	py := requirePythonLDAP(t)
	w := startWicket(t, "")
	alice := w.newUser("alice", true)
	_, app := w.appPassword("alice", "phone")
	whoamiWants(t, w, "the app password before", alice, app, 0)

	script := `
import sys, ldap
url, dn, bindpw, old, new = sys.argv[1:6]
l = ldap.initialize(url)
l.simple_bind_s(dn, bindpw)
print(repr(l.passwd_s(dn, old, new)))
`
	const newPassword = "Brand-New-Password-7"
	out, err := exec.Command(py, "-c", script, w.url(), alice.dn,
		alice.password+totpCode(t, alice.secret, time.Now()), alice.password, newPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("passwd_s: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "(None, None)" {
		t.Errorf("passwd_s returned %s, want (None, None) as against slapd", got)
	}
	whoamiWants(t, w, "the app password after the change", alice, app, 49)
	whoamiWants(t, w, "the new password", alice, newPassword+totpCode(t, alice.secret, time.Now().Add(30*time.Second)), 0)
}
