package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestExternal_CertificateMapsToServiceAccount(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, true, nil))
	e.addService(t)
	addr := e.serveLDAPS(t)

	cases := []struct {
		name      string
		cert      tls.Certificate
		wantCode  uint16
		wantWhoAm string
	}{
		{"subject CN is the account name", pki.clientCert(svcName, nil, nil), ldap.LDAPResultSuccess, "dn:" + svcDN},
		{"email SAN is the account's mail", pki.clientCert("Postfix on mx1", []string{svcMail}, nil),
			ldap.LDAPResultSuccess, "dn:" + svcDN},
		{"DNS SAN is the account name", pki.clientCert("", nil, []string{"mx1.example.com", svcName}),
			ldap.LDAPResultSuccess, "dn:" + svcDN},
		{"a user account may not", pki.clientCert("alice", nil, nil), ldap.LDAPResultInvalidCredentials, ""},
		{"a user's mail may not", pki.clientCert("someone", []string{aliceMail}, nil), ldap.LDAPResultInvalidCredentials, ""},
		{"no account named", pki.clientCert("nobody", []string{"nobody@example.com"}, nil), ldap.LDAPResultInvalidCredentials, ""},
		// The CN is tried first and names alice: no falling through to the
		// service named further on.
		{"the first name that matches decides", pki.clientCert("alice", []string{svcMail}, nil),
			ldap.LDAPResultInvalidCredentials, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := dialLDAPS(t, addr, pki.clientConfig(tc.cert))
			err := l.ExternalBind()
			if got := resultCode(err); got != tc.wantCode {
				t.Fatalf("ExternalBind: %v; want result %d", err, tc.wantCode)
			}
			if got := whoAmI(t, l); got != tc.wantWhoAm {
				t.Fatalf("WhoAmI = %q, want %q", got, tc.wantWhoAm)
			}
		})
	}
}

func TestExternal_ServiceReadsTheDirectory(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, true, nil))
	e.addService(t)
	l := e.dial(t)
	if err := l.StartTLS(pki.clientConfig(pki.clientCert(svcName, nil, nil))); err != nil {
		t.Fatal(err)
	}
	if err := l.ExternalBind(); err != nil {
		t.Fatalf("EXTERNAL after StartTLS: %v", err)
	}
	res, err := l.Search(ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(mail="+aliceMail+")", []string{"uid"}, nil))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].DN != aliceDN {
		t.Fatalf("service search: %v %v", err, res)
	}
}

func TestExternal_DisabledServiceIsRefused(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, true, nil))
	e.addService(t)
	if err := e.svc.SetDisabled(context.Background(), svcName, true); err != nil {
		t.Fatal(err)
	}
	l := dialLDAPS(t, e.serveLDAPS(t), pki.clientConfig(pki.clientCert(svcName, nil, nil)))
	if got := resultCode(l.ExternalBind()); got != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("disabled service: result %d", got)
	}
}

func TestExternal_WithoutClientCertificate(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, true, nil))
	e.addService(t)

	// RFC 4513 5.2.3: nothing was established at a lower layer.
	for name, l := range map[string]*ldap.Conn{
		"TLS without a client certificate": dialLDAPS(t, e.serveLDAPS(t), pki.clientConfig()),
		"no TLS":                           e.dial(t),
	} {
		if got := resultCode(l.ExternalBind()); got != ldap.LDAPResultInappropriateAuthentication {
			t.Errorf("%s: EXTERNAL got %d, want inappropriateAuthentication", name, got)
		}
	}
}

func TestExternal_NotOfferedWithoutClientCA(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	e.addService(t)
	l := dialLDAPS(t, e.serveLDAPS(t), pki.clientConfig(pki.clientCert(svcName, nil, nil)))
	if got := resultCode(l.ExternalBind()); got != ldap.LDAPResultAuthMethodNotSupported {
		t.Fatalf("EXTERNAL without tls.client_ca_file: result %d", got)
	}
}

func TestExternal_CertificateFromAnotherCAFailsTheHandshake(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, true, nil))
	e.addService(t)
	otherCA, otherKey := pki.newCA("someone else's CA")
	der, key := pki.issue(&x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: svcName},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, otherCA, otherKey)
	cfg := pki.clientConfig(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
	l, err := ldap.DialURL("ldaps://"+e.serveLDAPS(t), ldap.DialWithTLSConfig(cfg))
	if err == nil {
		// TLS 1.3 reports the server's refusal on the first read.
		defer l.Close()
		err = l.ExternalBind()
	}
	if err == nil {
		t.Fatal("a certificate from an untrusted CA bound")
	}
	e.assertServing(t)
}

func TestExternal_AuthorizationIdentity(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, true, nil))
	e.addService(t)
	addr := e.serveLDAPS(t)
	cases := []struct {
		authzid string
		want    uint16
	}{
		{"", ldap.LDAPResultSuccess},
		{"dn:" + svcDN, ldap.LDAPResultSuccess},
		{"u:" + svcName, ldap.LDAPResultSuccess},
		{"u:" + svcMail, ldap.LDAPResultSuccess},
		{"u:alice", ldap.LDAPResultInsufficientAccessRights},
		{"dn:" + aliceDN, ldap.LDAPResultInsufficientAccessRights},
		{"dn:cn=admin," + testBase, ldap.LDAPResultInsufficientAccessRights},
	}
	for _, tc := range cases {
		t.Run(tc.authzid, func(t *testing.T) {
			cfg := pki.clientConfig(pki.clientCert(svcName, nil, nil))
			nc, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			s := newRawTLS(t, nc)
			s.call(message(1, saslBind("EXTERNAL", []byte(tc.authzid)))).assert(t, 1, ldap.ApplicationBindResponse, tc.want)
			who := s.call(message(2, whoAmIReq()))
			want := ""
			if tc.want == ldap.LDAPResultSuccess {
				want = "dn:" + svcDN
			}
			if string(who.value) != want {
				t.Fatalf("WhoAmI = %q, want %q", who.value, want)
			}
		})
	}
}
