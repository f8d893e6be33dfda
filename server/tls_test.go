package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// --- a CA for tests, written to files as an administrator would have them ---

type testPKI struct {
	t      *testing.T
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	files  CertFiles
	serial int64 // of the server certificate last written
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{t: t, dir: t.TempDir()}
	p.ca, p.caKey = p.newCA("wicket test CA")
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.files = CertFiles{
		Cert:     filepath.Join(p.dir, "server.pem"),
		Key:      filepath.Join(p.dir, "server-key.pem"),
		ClientCA: filepath.Join(p.dir, "client-ca.pem"),
	}
	p.writeFile(p.files.ClientCA, "CERTIFICATE", p.ca.Raw)
	p.writeServer(1)
	return p
}

func (p *testPKI) newCA(cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	p.t.Helper()
	key := p.key()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(100),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		p.t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	return ca, key
}

func (p *testPKI) key() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	return k
}

// issue signs tmpl with the CA (or with another CA, for a stranger's
// certificate).
func (p *testPKI) issue(tmpl *x509.Certificate, ca *x509.Certificate, caKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
	p.t.Helper()
	key := p.key()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	return der, key
}

// writeServer writes a server certificate with the given serial to the
// files the server reads.
func (p *testPKI) writeServer(serial int64) {
	p.t.Helper()
	der, key := p.issue(&x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, p.ca, p.caKey)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	p.writeFile(p.files.Key, "PRIVATE KEY", kb)
	p.writeFile(p.files.Cert, "CERTIFICATE", der)
	p.serial = serial
}

func (p *testPKI) writeFile(path, typ string, der []byte) {
	p.t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// clientCert is a client certificate for EXTERNAL, signed by the CA.
func (p *testPKI) clientCert(cn string, emails, dnsNames []string) tls.Certificate {
	p.t.Helper()
	der, key := p.issue(&x509.Certificate{
		SerialNumber:   big.NewInt(time.Now().UnixNano()),
		Subject:        pkix.Name{CommonName: cn},
		EmailAddresses: emails,
		DNSNames:       dnsNames,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.ca, p.caKey)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// clientConfig trusts the test CA, optionally presenting a client
// certificate.
func (p *testPKI) clientConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "localhost", Certificates: certs}
}

// withTLS loads the PKI's files into the server's configuration; adjust
// may change the policy. Without a client CA, EXTERNAL is off.
func withTLS(p *testPKI, clientCA bool, adjust func(*TLSConfig)) envOption {
	return func(c *Config, e *env) {
		files := p.files
		if !clientCA {
			files.ClientCA = ""
		}
		certs, err := LoadCertificates(files, quietLogger())
		if err != nil {
			e.t.Fatal(err)
		}
		c.TLS = TLSConfig{Certificates: certs}
		if adjust != nil {
			adjust(&c.TLS)
		}
	}
}

// serveLDAPS adds an ldaps:// listener to the env's server and returns its
// address. Shutdown in the env's cleanup closes it.
func (e *env) serveLDAPS(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.ServeTLS(l)
	return l.Addr().String()
}

func dialLDAPS(t *testing.T, addr string, cfg *tls.Config) *ldap.Conn {
	t.Helper()
	l, err := ldap.DialURL("ldaps://"+addr, ldap.DialWithTLSConfig(cfg))
	if err != nil {
		t.Fatalf("ldaps dial: %v", err)
	}
	l.SetTimeout(5 * time.Second)
	t.Cleanup(func() { l.Close() })
	return l
}

// servedSerial is the serial of the certificate a go-ldap connection got.
func servedSerial(t *testing.T, l *ldap.Conn) int64 {
	t.Helper()
	st, ok := l.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		t.Fatal("connection has no TLS state")
	}
	return st.PeerCertificates[0].SerialNumber.Int64()
}

// rawTLS speaks LDAP by hand over TLS, for what go-ldap's client will not
// send: StartTLS twice, an authzid with EXTERNAL.
type rawTLS struct {
	t  *testing.T
	tc *tls.Conn
	r  *bufio.Reader
}

func newRawTLS(t *testing.T, tc *tls.Conn) *rawTLS {
	t.Helper()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return &rawTLS{t: t, tc: tc, r: bufio.NewReader(tc)}
}

func (c *rawTLS) call(m *ber.Packet) *response {
	c.t.Helper()
	c.tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.tc.Write(m.Bytes()); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	p, err := ber.ReadPacket(c.r)
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	r, err := parseResponse(p)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

const startTLSOID = "1.3.6.1.4.1.1466.20037"

// --- ldaps:// ---

func TestLDAPS_BindAndWhoAmI(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	l := dialLDAPS(t, e.serveLDAPS(t), pki.clientConfig())
	if err := l.Bind(aliceDN, e.appPassword); err != nil {
		t.Fatalf("bind over ldaps: %v", err)
	}
	if got := whoAmI(t, l); got != "dn:"+aliceDN {
		t.Fatalf("WhoAmI = %q", got)
	}
	st, _ := l.TLSConnectionState()
	if st.Version < tls.VersionTLS12 {
		t.Errorf("negotiated %s", tls.VersionName(st.Version))
	}
}

func TestLDAPS_RefusesTLS11(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	cfg := pki.clientConfig()
	cfg.MaxVersion = tls.VersionTLS11
	if _, err := ldap.DialURL("ldaps://"+e.serveLDAPS(t), ldap.DialWithTLSConfig(cfg)); err == nil {
		t.Fatal("a TLS 1.1 client completed a handshake")
	}
}

func TestLDAPS_ClearTextOnTheTLSPortClosesOnlyThatConnection(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	c := dialRaw(t, e.serveLDAPS(t))
	c.send(message(1, whoAmIReq()))
	if n := c.expectClosed(); n != nil {
		t.Fatalf("got %v on a connection that never completed a handshake", n)
	}
	e.assertServing(t)
	dialLDAPS(t, e.serveLDAPS(t), pki.clientConfig())
}

func TestServeTLS_WithoutCertificateIsAnError(t *testing.T) {
	srv, err := New(Config{BaseDN: testBase, Logger: quietLogger()}, authFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ServeTLS(l); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ServeTLS without a certificate: %v", err)
	}
}

func TestNew_RequireWithoutCertificateIsAnError(t *testing.T) {
	_, err := New(Config{BaseDN: testBase, Logger: quietLogger(), TLS: TLSConfig{Require: true}}, authFunc(nil))
	if err == nil {
		t.Fatal("TLS required without a certificate was accepted")
	}
}

// --- root DSE ---

func TestRootDSE_AdvertisesStartTLSAndExternalOnlyWhenConfigured(t *testing.T) {
	pki := newPKI(t)
	cases := []struct {
		name          string
		opts          []envOption
		startTLS, ext bool
	}{
		{"no TLS", nil, false, false},
		{"TLS", []envOption{withTLS(pki, false, nil)}, true, false},
		{"TLS and client CA", []envOption{withTLS(pki, true, nil)}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			l := e.dial(t)
			res, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
				"(objectClass=*)", []string{"supportedExtension", "supportedSASLMechanisms"}, nil))
			if err != nil || len(res.Entries) != 1 {
				t.Fatalf("root DSE: %v", err)
			}
			ext := res.Entries[0].GetAttributeValues("supportedExtension")
			mechs := res.Entries[0].GetAttributeValues("supportedSASLMechanisms")
			if got := slices.Contains(ext, startTLSOID); got != tc.startTLS {
				t.Errorf("StartTLS advertised = %v, want %v (%v)", got, tc.startTLS, ext)
			}
			if got := slices.Contains(mechs, "EXTERNAL"); got != tc.ext {
				t.Errorf("EXTERNAL advertised = %v, want %v (%v)", got, tc.ext, mechs)
			}
			if !slices.Contains(mechs, "PLAIN") {
				t.Errorf("PLAIN missing from %v", mechs)
			}
		})
	}
}

// --- tls.require ---

func TestRequireTLS_ClearConnectionGetsConfidentialityRequired(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, func(c *TLSConfig) { c.Require = true }))
	l := e.dial(t)

	err := l.Bind(aliceDN, e.appPassword)
	if resultCode(err) != ldap.LDAPResultConfidentialityRequired || !strings.Contains(err.Error(), "StartTLS") {
		t.Fatalf("clear bind: %v; want confidentialityRequired saying to use StartTLS", err)
	}
	// What a client needs to find out about TLS and start it still works.
	if err := l.UnauthenticatedBind(""); err != nil {
		t.Fatalf("anonymous bind: %v", err)
	}
	if got := whoAmI(t, l); got != "" {
		t.Fatalf("anonymous WhoAmI = %q", got)
	}
	if _, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedExtension"}, nil)); err != nil {
		t.Fatalf("root DSE over a clear connection: %v", err)
	}
	_, err = l.Search(ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=alice)", nil, nil))
	if resultCode(err) != ldap.LDAPResultConfidentialityRequired {
		t.Fatalf("clear search: %v", err)
	}
	_, err = l.PasswordModify(ldap.NewPasswordModifyRequest("", "old", "new"))
	if resultCode(err) != ldap.LDAPResultConfidentialityRequired {
		t.Fatalf("clear password modify: %v", err)
	}

	if err := l.StartTLS(pki.clientConfig()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := l.Bind(aliceDN, e.appPassword); err != nil {
		t.Fatalf("bind after StartTLS: %v", err)
	}
	if _, err := l.Search(ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=alice)", nil, nil)); err != nil {
		t.Fatalf("search after StartTLS: %v", err)
	}

	ls := dialLDAPS(t, e.serveLDAPS(t), pki.clientConfig())
	if err := ls.Bind(aliceDN, e.appPassword); err != nil {
		t.Fatalf("bind over ldaps: %v", err)
	}
}

func TestRequireTLS_LoopbackExemption(t *testing.T) {
	pki := newPKI(t)
	for _, exempt := range []bool{true, false} {
		want := uint16(ldap.LDAPResultConfidentialityRequired)
		if exempt {
			want = ldap.LDAPResultSuccess
		}
		e := newEnv(t, withTLS(pki, false, func(c *TLSConfig) { c.Require, c.ExemptLoopback = true, exempt }))
		if got := resultCode(e.dial(t).Bind(aliceDN, e.appPassword)); got != want {
			t.Errorf("exempt_loopback=%v: clear bind from 127.0.0.1 got %d, want %d", exempt, got, want)
		}
	}
}

// --- certificate reload ---

func TestReload_NewConnectionsGetTheNewCertificateOldOnesKeepWorking(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	addr := e.serveLDAPS(t)
	certs := e.srv.cfg.TLS.Certificates

	before := dialLDAPS(t, addr, pki.clientConfig())
	if err := before.Bind(aliceDN, e.appPassword); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, before); got != 1 {
		t.Fatalf("first certificate has serial %d", got)
	}

	pki.writeServer(2)
	if err := certs.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := servedSerial(t, dialLDAPS(t, addr, pki.clientConfig())); got != 2 {
		t.Fatalf("ldaps after reload served serial %d, want 2", got)
	}
	l := e.dial(t)
	if err := l.StartTLS(pki.clientConfig()); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, l); got != 2 {
		t.Fatalf("StartTLS after reload served serial %d, want 2", got)
	}
	if got := whoAmI(t, before); got != "dn:"+aliceDN {
		t.Fatalf("connection from before the reload: WhoAmI = %q", got)
	}

	// A broken file, as from a renewal copied halfway, keeps the pair in use.
	if err := os.WriteFile(pki.files.Cert, []byte("-----BEGIN CERTIFICATE-----\ntrunc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := certs.Reload(); err == nil {
		t.Fatal("Reload accepted a broken certificate file")
	}
	if got := servedSerial(t, dialLDAPS(t, addr, pki.clientConfig())); got != 2 {
		t.Fatalf("after a failed reload the server serves serial %d, want 2", got)
	}
}

func TestLoadCertificates_ErrorsNameTheFile(t *testing.T) {
	pki := newPKI(t)
	cases := map[string]CertFiles{
		"tls.cert_file":      {Cert: filepath.Join(pki.dir, "missing.pem"), Key: pki.files.Key},
		"tls.client_ca_file": {Cert: pki.files.Cert, Key: pki.files.Key, ClientCA: pki.files.Key},
	}
	for want, files := range cases {
		if _, err := LoadCertificates(files, quietLogger()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want an error naming %s", files, err, want)
		}
	}
}

// A service account for EXTERNAL tests.
const (
	svcName     = "svc"
	svcMail     = "svc@example.com"
	svcPassword = "a-long-random-service-secret"
	svcDN       = "uid=svc,ou=people," + testBase
)

func (e *env) addService(t *testing.T) {
	t.Helper()
	if _, err := e.svc.AddUser(context.Background(), svcName, svcMail, svcPassword, backend.RoleService); err != nil {
		t.Fatal(err)
	}
}
