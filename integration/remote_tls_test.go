package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `wicket remote` on the server's host finds the server in the server's
// configuration: ldaps:// on tls.listen_ldaps, else StartTLS on listen
// when a certificate is configured, trusting that (self-signed)
// certificate. Elsewhere -H with --starttls and --ca-file reach a server
// whose certificate no system CA signed. The server refuses every bind in
// the clear (tls.require, loopback not exempt), so a bind that succeeds
// went over TLS.
func TestRemote_AddressAndTrustFromConfigOrFlags(t *testing.T) {
	s := newTLSSetup(t)
	w := startTLSWicket(t, s, "require = true\nrequire_exempt_loopback = false\n")
	alice := w.newUser("alice", true)
	_, phone := w.appPassword("alice", "phone")
	signIn := remoteSignIn(t, alice.name, phone)
	ldapsAddr := strings.TrimPrefix(ldapsURL(t, w), "ldaps://")
	closed := strings.TrimPrefix(remoteClosedAddr(t), "ldap://")

	// A configuration as the administrator's names the server's real ports.
	config := func(listen string, cert bool, ldaps string) string {
		p := filepath.Join(t.TempDir(), "wicket.toml")
		text := fmt.Sprintf("listen = %q\n", listen)
		if cert {
			text += fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", s.certFile, s.keyFile)
		}
		if ldaps != "" {
			text += fmt.Sprintf("listen_ldaps = %q\n", ldaps)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lists := func(what string, args ...string) {
		t.Helper()
		o := wicketRun(t, args...)
		if o.code != 0 || !strings.Contains(o.stdout, "phone") {
			t.Errorf("%s: exit %d\nstdout %s\nstderr %s", what, o.code, o.stdout, o.stderr)
		}
		if strings.Contains(o.stderr, "not encrypted") {
			t.Errorf("%s: warned about a clear connection: %s", what, o.stderr)
		}
	}
	refused := func(what, want string, args ...string) {
		t.Helper()
		o := wicketRun(t, args...)
		if o.code == 0 || !strings.Contains(o.stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure saying %q", what, o.code, o.stderr, want)
		}
	}
	list := []string{"apppw", "list"}

	// listen is a closed port: only ldaps:// on listen_ldaps answers.
	lists("ldaps:// from tls.listen_ldaps",
		remoteArgs([]string{"--config", config(closed, true, ldapsAddr), "remote"}, signIn, list)...)
	lists("StartTLS on listen, with a certificate configured",
		remoteArgs([]string{"--config", config(w.addr, true, ""), "remote"}, signIn, list)...)
	// Without [tls] it connects where listen says, in the clear, and the
	// server refuses: it went to the configured port, not 1389.
	refused("listen without a certificate", "confidentiality required (13): TLS is required",
		remoteArgs([]string{"--config", config(w.addr, false, ""), "remote"}, signIn, list)...)

	ldapsURI, ldapURI := "ldaps://"+ldapsAddr, "ldap://"+w.addr
	refused("-H ldaps:// of a self-signed certificate, nothing trusted", "--ca-file",
		remoteArgs([]string{"remote", "-H", ldapsURI}, signIn, list)...)
	refused("-H ldaps:// trusting another CA", "certificate signed by unknown authority",
		remoteArgs([]string{"remote", "-H", ldapsURI, "--ca-file", s.clientCA}, signIn, list)...)
	lists("-H ldaps:// --ca-file", remoteArgs([]string{"remote", "-H", ldapsURI, "--ca-file", s.certFile}, signIn, list)...)
	lists("-H ldap:// --starttls --ca-file",
		remoteArgs([]string{"remote", "-H", ldapURI, "--starttls", "--ca-file", s.certFile}, signIn, list)...)
	refused("-H ldap:// without --starttls", "here: --starttls",
		remoteArgs([]string{"remote", "-H", ldapURI, "--ca-file", s.certFile}, signIn, list)...)
	refused("--starttls on ldaps://", "TLS from the first byte already",
		remoteArgs([]string{"remote", "-H", ldapsURI, "--starttls"}, signIn, list)...)
	refused("--ca-file of a key, no certificate", "holds no PEM certificate",
		remoteArgs([]string{"remote", "-H", ldapsURI, "--ca-file", s.keyFile}, signIn, list)...)
}

// remoteClosedAddr is an ldap:// address nobody listens on.
func remoteClosedAddr(t *testing.T) string {
	t.Helper()
	return "ldap://127.0.0.1:" + freeLoopbackPort(t)
}
