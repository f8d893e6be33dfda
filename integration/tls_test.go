package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Transport security with the real binary and OpenLDAP's tools: StartTLS
// (-ZZ), ldaps://, tls.require, SASL EXTERNAL with a client certificate,
// and certificate reload on SIGHUP. Every certificate comes from
// `wicket cert`, as an administrator would make them.

// tlsSetup is the files `wicket cert` wrote for one test.
type tlsSetup struct {
	dir                      string
	certFile, keyFile        string
	serial                   string // of the server certificate, hex
	clientCA                 string
	svcCert, svcKey          string // client certificate of the service account
	aliceCert, aliceKey      string // client certificate naming a user account
	svcName, svcDN, password string
}

type certJSON struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	CAFile   string `json:"ca_file"`
	Serial   string `json:"serial"`
}

// wicketCert runs `wicket cert ...` (which needs no configuration) and
// decodes its --json output.
func wicketCert(t *testing.T, args ...string) certJSON {
	t.Helper()
	out, err := exec.Command(*wicketBin, append(append([]string{"cert"}, args...), "--json")...).CombinedOutput()
	if err != nil {
		t.Fatalf("wicket cert %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var c certJSON
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("wicket cert %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return c
}

func newTLSSetup(t *testing.T) *tlsSetup {
	t.Helper()
	dir := t.TempDir()
	srv := wicketCert(t, "selfsigned", "--out-dir", dir, "--host", "127.0.0.1", "--host", "localhost")
	if st, err := os.Stat(srv.KeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v, mode %v; want 0600", srv.KeyFile, err, st.Mode())
	}
	svc := wicketCert(t, "client", "svc", "--out-dir", dir, "--mail", "svc@example.org")
	alice := wicketCert(t, "client", "alice", "--out-dir", dir)
	if svc.CAFile != alice.CAFile {
		t.Fatalf("two client certificates from one directory have different CAs: %s, %s", svc.CAFile, alice.CAFile)
	}
	return &tlsSetup{
		dir: dir, certFile: srv.CertFile, keyFile: srv.KeyFile, serial: srv.Serial,
		clientCA: svc.CAFile, svcCert: svc.CertFile, svcKey: svc.KeyFile,
		aliceCert: alice.CertFile, aliceKey: alice.KeyFile,
		svcName: "svc", svcDN: "uid=svc,ou=people,dc=example,dc=org", password: "a-long-random-service-secret",
	}
}

// config is the [tls] section for these files, plus extra lines.
func (s *tlsSetup) config(extra string) string {
	return fmt.Sprintf(`
[tls]
cert_file      = %q
key_file       = %q
listen_ldaps   = "127.0.0.1:0"
client_ca_file = %q
%s`, s.certFile, s.keyFile, s.clientCA, extra)
}

// startTLSWicket starts wicket with TLS and a service account svc.
func startTLSWicket(t *testing.T, s *tlsSetup, extra string) *wicket {
	t.Helper()
	w := startWicket(t, s.config(extra))
	w.admin(s.password+"\n", "user", "add", s.svcName, "--role", "service", "--mail", "svc@example.org", "--password-stdin")
	return w
}

// ldapsURL is the ldaps:// address from the server's "listening" line.
func ldapsURL(t *testing.T, w *wicket) string {
	t.Helper()
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			LDAPS string `json:"ldaps_addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" && rec.LDAPS != "" {
			return rec.LDAPS
		}
	}
	t.Fatalf("no ldaps_addr in the listening line:\n%s", w.logs.String())
	return ""
}

// tlsTool runs an ldap-utils program with LDAPTLS_* settings in its
// environment, returning its stdout and the LDAP result code it reports.
func tlsTool(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(t, name), args...)
	// Settings from the user's ldaprc must not change what is tested.
	cmd.Env = append(os.Environ(), "LDAPRC=/dev/null", "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err == nil {
		return o.String(), 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("%s: %v", name, err)
	}
	if m := resultLine.FindStringSubmatch(e.String() + o.String()); m == nil {
		t.Logf("%s %s exited with %d:\n%s%s", name, strings.Join(args, " "), ee.ExitCode(), o.String(), e.String())
	}
	return o.String() + e.String(), ee.ExitCode()
}

func TestTLS_LDAPWhoAmIWithStartTLS(t *testing.T) {
	s := newTLSSetup(t)
	w := startTLSWicket(t, s, "")
	alice := w.newUser("alice", true)
	_, appPW := w.appPassword("alice", "laptop")
	trust := []string{"LDAPTLS_CACERT=" + s.certFile}

	out, code := tlsTool(t, trust, "ldapwhoami", "-ZZ", "-x", "-H", w.url(), "-D", alice.dn, "-w", appPW)
	if code != 0 || strings.TrimSpace(out) != "dn:"+alice.dn {
		t.Fatalf("ldapwhoami -ZZ: exit %d\n%s", code, out)
	}
	// Without the certificate as trust anchor, -ZZ must fail rather than
	// fall back to the clear.
	if out, code := tlsTool(t, []string{"LDAPTLS_CACERT=" + s.clientCA}, "ldapwhoami", "-ZZ", "-x", "-H", w.url(),
		"-D", alice.dn, "-w", appPW); code == 0 {
		t.Fatalf("ldapwhoami -ZZ trusted a certificate it should not:\n%s", out)
	}
}

func TestTLS_LDAPWhoAmIOverLDAPS(t *testing.T) {
	s := newTLSSetup(t)
	w := startTLSWicket(t, s, "")
	out, code := tlsTool(t, []string{"LDAPTLS_CACERT=" + s.certFile}, "ldapwhoami", "-x", "-H", ldapsURL(t, w),
		"-D", s.svcDN, "-w", s.password)
	if code != 0 || strings.TrimSpace(out) != "dn:"+s.svcDN {
		t.Fatalf("ldapwhoami -H ldaps://: exit %d\n%s", code, out)
	}
}

func TestTLS_RequireAnswersClearBindsWithConfidentialityRequired(t *testing.T) {
	s := newTLSSetup(t)
	// Every test client is on loopback, so the exemption is turned off.
	w := startTLSWicket(t, s, "require = true\nrequire_exempt_loopback = false\n")
	trust := []string{"LDAPTLS_CACERT=" + s.certFile}

	out, code := tlsTool(t, trust, "ldapwhoami", "-x", "-H", w.url(), "-D", s.svcDN, "-w", s.password)
	if code != 13 || !strings.Contains(out, "StartTLS") {
		t.Fatalf("clear bind under tls.require: exit %d, want 13 with advice to use StartTLS\n%s", code, out)
	}
	// The root DSE stays readable in the clear, and shows StartTLS.
	out, code = tlsTool(t, nil, "ldapsearch", "-x", "-LLL", "-H", w.url(), "-b", "", "-s", "base", "supportedExtension")
	if code != 0 || !strings.Contains(out, "1.3.6.1.4.1.1466.20037") {
		t.Fatalf("root DSE in the clear: exit %d\n%s", code, out)
	}
	out, code = tlsTool(t, trust, "ldapwhoami", "-ZZ", "-x", "-H", w.url(), "-D", s.svcDN, "-w", s.password)
	if code != 0 || strings.TrimSpace(out) != "dn:"+s.svcDN {
		t.Fatalf("bind after StartTLS under tls.require: exit %d\n%s", code, out)
	}
	out, code = tlsTool(t, trust, "ldapwhoami", "-x", "-H", ldapsURL(t, w), "-D", s.svcDN, "-w", s.password)
	if code != 0 || strings.TrimSpace(out) != "dn:"+s.svcDN {
		t.Fatalf("bind over ldaps under tls.require: exit %d\n%s", code, out)
	}
}

func TestTLS_SASLExternalMapsClientCertificateToServiceAccount(t *testing.T) {
	s := newTLSSetup(t)
	w := startTLSWicket(t, s, "")
	w.newUser("alice", true)
	asSvc := []string{"LDAPTLS_CACERT=" + s.certFile, "LDAPTLS_CERT=" + s.svcCert, "LDAPTLS_KEY=" + s.svcKey}

	out, code := tlsTool(t, asSvc, "ldapwhoami", "-Q", "-Y", "EXTERNAL", "-H", ldapsURL(t, w))
	if code != 0 || strings.TrimSpace(out) != "dn:"+s.svcDN {
		t.Fatalf("ldapwhoami -Y EXTERNAL over ldaps: exit %d\n%s", code, out)
	}
	out, code = tlsTool(t, asSvc, "ldapwhoami", "-ZZ", "-Q", "-Y", "EXTERNAL", "-H", w.url())
	if code != 0 || strings.TrimSpace(out) != "dn:"+s.svcDN {
		t.Fatalf("ldapwhoami -ZZ -Y EXTERNAL: exit %d\n%s", code, out)
	}
	// A certificate naming a user account does not sign a user in.
	asAlice := []string{"LDAPTLS_CACERT=" + s.certFile, "LDAPTLS_CERT=" + s.aliceCert, "LDAPTLS_KEY=" + s.aliceKey}
	if out, code := tlsTool(t, asAlice, "ldapwhoami", "-Q", "-Y", "EXTERNAL", "-H", ldapsURL(t, w)); code != 49 {
		t.Fatalf("EXTERNAL with a user's certificate: exit %d, want 49\n%s", code, out)
	}
	if !strings.Contains(w.logs.String(), `"method":"sasl-external"`) {
		t.Errorf("no bind with method sasl-external in the log:\n%s", w.logs.String())
	}
}

func TestTLS_SIGHUPServesTheNewCertificateAndKeepsConnections(t *testing.T) {
	s := newTLSSetup(t)
	w := startTLSWicket(t, s, "")
	addr := strings.TrimPrefix(ldapsURL(t, w), "ldaps://")

	before, err := ldap.DialURL("ldaps://"+addr, ldap.DialWithTLSConfig(trusting(t, s.certFile)))
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	before.SetTimeout(10 * time.Second)
	if err := before.Bind(s.svcDN, s.password); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, s.certFile); got != s.serial {
		t.Fatalf("served serial %s, want %s", got, s.serial)
	}

	loads := strings.Count(w.logs.String(), "TLS certificate loaded")
	renewed := wicketCert(t, "selfsigned", "--out-dir", s.dir, "--host", "127.0.0.1", "--host", "localhost", "--force")
	if renewed.Serial == s.serial {
		t.Fatal("the renewed certificate has the old serial")
	}
	if err := w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, w, func(logs string) bool { return strings.Count(logs, "TLS certificate loaded") > loads })

	if got := servedSerial(t, addr, s.certFile); got != renewed.Serial {
		t.Fatalf("after SIGHUP the server serves serial %s, want %s", got, renewed.Serial)
	}
	r, err := before.WhoAmI(nil)
	if err != nil || r.AuthzID != "dn:"+s.svcDN {
		t.Fatalf("connection opened before SIGHUP: %v %+v", err, r)
	}
	out, code := tlsTool(t, []string{"LDAPTLS_CACERT=" + s.certFile}, "ldapwhoami", "-x", "-H", ldapsURL(t, w),
		"-D", s.svcDN, "-w", s.password)
	if code != 0 {
		t.Fatalf("ldapwhoami with the renewed certificate: exit %d\n%s", code, out)
	}

	// A broken file keeps the renewed pair, and the process.
	renewedCopy := filepath.Join(t.TempDir(), "renewed.pem")
	if b, err := os.ReadFile(s.certFile); err != nil || os.WriteFile(renewedCopy, b, 0o600) != nil {
		t.Fatal("copying the renewed certificate")
	}
	if err := os.WriteFile(s.certFile, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, w, func(logs string) bool { return strings.Contains(logs, "TLS reload failed") })
	if got := servedSerial(t, addr, renewedCopy); got != renewed.Serial {
		t.Fatalf("after a failed reload the server serves serial %s, want %s", got, renewed.Serial)
	}
}

// trusting is a client configuration whose only trust anchor is the
// certificate in file.
func trusting(t *testing.T, file string) *tls.Config {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", file)
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// servedSerial connects with crypto/tls and returns the serial of the
// certificate the server presents, which must chain to trustFile.
func servedSerial(t *testing.T, addr, trustFile string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, trusting(t, trustFile))
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

// waitForLog polls the server's log for an event, failing after a while.
func waitForLog(t *testing.T, w *wicket, done func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done(w.logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("the expected log line did not appear:\n%s", w.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
