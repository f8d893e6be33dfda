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
