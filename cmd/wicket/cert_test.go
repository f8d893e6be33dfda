package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertSelfSigned_WritesAPairTheServerCanLoad(t *testing.T) {
	c := newCLI(t, "")
	dir := t.TempDir()
	out := c.ok("", "cert", "selfsigned", "--out-dir", dir, "--host", "ldap.example.org", "--host", "192.0.2.7")
	certPath, keyPath := filepath.Join(dir, selfSignedCertFile), filepath.Join(dir, selfSignedKeyFile)
	for _, want := range []string{"[tls]", "cert_file    = \"" + certPath + "\"", "key_file     = \"" + keyPath + "\""} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("ldap.example.org"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("192.0.2.7"); err != nil {
		t.Error(err)
	}
	// Its own trust anchor, as clients are told to use it.
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "ldap.example.org"}); err != nil {
		t.Errorf("the certificate does not verify against itself: %v", err)
	}

	stderr := c.fail("", "cert", "selfsigned", "--out-dir", dir)
	if !strings.Contains(stderr, "--force") {
		t.Errorf("overwriting without --force: %s", stderr)
	}
	c.ok("", "cert", "selfsigned", "--out-dir", dir, "--force")
}

func TestCertClient_SignedByOneReusedCA(t *testing.T) {
	c := newCLI(t, "")
	dir := t.TempDir()
	c.ok("", "cert", "client", "postfix", "--out-dir", dir, "--mail", "postfix@example.org")
	c.ok("", "cert", "client", "dovecot", "--out-dir", dir)

	caPEM, err := os.ReadFile(filepath.Join(dir, clientCAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	for _, name := range []string{"postfix", "dovecot"} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		if leaf.Subject.CommonName != name {
			t.Errorf("CN = %q, want %q", leaf.Subject.CommonName, name)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s does not verify as a client against %s: %v", name, clientCAFile, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, clientCAKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v, mode %v", err, st.Mode())
	}
	if stderr := c.fail("", "cert", "client", "Not A Name", "--out-dir", dir); !strings.Contains(stderr, "account name") {
		t.Errorf("bad name: %s", stderr)
	}
}

// The commands printed to try the certificate use the configured ports and
// a name the certificate holds that reaches the listener.
func TestCertSelfSigned_TryCommandsUseTheConfiguredPortsAndTheCertificatesNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		hosts        []string
		want         []string
		note         bool
	}{
		{"a name only, on loopback", "listen = \"127.0.0.1:2389\"\n[tls]\nlisten_ldaps = \"127.0.0.1:2636\"\n",
			[]string{"ldap.example.org"},
			[]string{"-ZZ -H ldap://ldap.example.org:2389\n", "-H ldaps://ldap.example.org:2636\n"}, true},
		{"the loopback address", "listen = \"127.0.0.1:2389\"\n", []string{"ldap.example.org", "localhost", "127.0.0.1"},
			[]string{"-ZZ -H ldap://127.0.0.1:2389\n", "-H ldaps://127.0.0.1:1636\n", `listen_ldaps = "127.0.0.1:1636"`}, false},
		// OpenLDAP checks a server reached as localhost against the host's
		// own name.
		{"localhost is not taken", "listen = \"127.0.0.1:2389\"\n", []string{"localhost"},
			[]string{"-ZZ -H ldap://localhost:2389\n"}, true},
		{"the address itself", "listen = \"192.0.2.7:389\"\n[tls]\nlisten_ldaps = \"192.0.2.7:636\"\n",
			[]string{"ldap.example.org", "192.0.2.7"},
			[]string{"-ZZ -H ldap://192.0.2.7:389\n", "-H ldaps://192.0.2.7:636\n", `listen_ldaps = "192.0.2.7:636"`}, false},
		{"every address", "listen = \"0.0.0.0:389\"\n", []string{"mail.example.org"},
			[]string{"-ZZ -H ldap://mail.example.org:389\n", "-H ldaps://mail.example.org:1636\n"}, false},
		{"IPv6 loopback", "listen = \"[::1]:1389\"\n", []string{"::1"},
			[]string{"-ZZ -H ldap://[::1]:1389\n", "-H ldaps://[::1]:1636\n", `listen_ldaps = "[::1]:1636"`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// Top-level settings first, ahead of newCLI's [argon2].
			c := &cli{t: t, config: filepath.Join(dir, "wicket.toml"), db: filepath.Join(dir, "wicket.db")}
			if err := os.WriteFile(c.config, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"cert", "selfsigned", "--out-dir", dir}
			for _, h := range tc.hosts {
				args = append(args, "--host", h)
			}
			out := c.ok("", args...)
			want := append([]string{"LDAPTLS_CACERT=" + filepath.Join(dir, selfSignedCertFile) + " ldapwhoami -x"}, tc.want...)
			contains(t, tc.name, out, want...)
			if note := strings.Contains(out, "No name of the certificate"); note != tc.note {
				t.Errorf("a note that no name reaches the listener: %v, want %v:\n%s", note, tc.note, out)
			}
			var js certOutput
			decode(t, c.ok("", append(args, "--force", "--json")...), &js)
			if len(js.Commands) != 2 || !strings.HasSuffix(js.Commands[0]+"\n", tc.want[0]) {
				t.Errorf("--json commands: %q", js.Commands)
			}
		})
	}
}
