package server

import (
	"crypto/tls"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

func startTLSReq() *ber.Packet { return extended(startTLSOID, nil) }

func TestStartTLS_BindsOverTheUpgradedConnection(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	l := e.dial(t)
	if err := l.StartTLS(pki.clientConfig()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if st, ok := l.TLSConnectionState(); !ok || st.Version < tls.VersionTLS12 {
		t.Fatalf("after StartTLS: TLS state %v, %v", ok, st.Version)
	}
	if err := l.Bind(aliceDN, e.alicePasswordAndCode()); err != nil {
		t.Fatalf("bind after StartTLS: %v", err)
	}
	if got := whoAmI(t, l); got != "dn:"+aliceDN {
		t.Fatalf("WhoAmI = %q", got)
	}
}

func TestStartTLS_WithoutCertificateIsUnavailable(t *testing.T) {
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	r := c.call(message(1, startTLSReq()))
	r.assert(t, 1, ldap.ApplicationExtendedResponse, ldap.LDAPResultUnavailable)
	if r.name != startTLSOID {
		t.Errorf("responseName %q, want the StartTLS OID", r.name)
	}
	// Refused, the session goes on in the clear.
	c.call(message(2, whoAmIReq())).assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
}

func TestStartTLS_ResponseInTheClearThenHandshakeOnTheSameSocket(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	c := dialRaw(t, e.addr)
	c.call(message(1, simpleBind(3, "alice", e.appPassword))).assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	r := c.call(message(2, startTLSReq()))
	r.assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	if r.name != startTLSOID || r.hasValue {
		t.Fatalf("StartTLS response: name %q, value %v", r.name, r.hasValue)
	}
	s := newRawTLS(t, tls.Client(c.nc, pki.clientConfig()))

	// RFC 4513 3.1.2: the bind survives the upgrade.
	who := s.call(message(3, whoAmIReq()))
	who.assert(t, 3, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	if string(who.value) != "dn:"+aliceDN {
		t.Fatalf("WhoAmI over TLS = %q", who.value)
	}
	// A second StartTLS is a sequencing error (RFC 4513 3.1.1); TLS stays.
	s.call(message(4, startTLSReq())).assert(t, 4, ldap.ApplicationExtendedResponse, ldap.LDAPResultOperationsError)
	// Abandon cannot reach StartTLS: its ID is not an operation in flight.
	s.tc.Write(message(5, abandon(2)).Bytes())
	s.call(message(6, whoAmIReq())).assert(t, 6, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
}

func TestStartTLS_RefusedWhileAnOperationIsOutstanding(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withGate(), withQueuedBinds(), withTLS(pki, false, nil))
	c := dialRaw(t, e.addr)
	c.send(message(1, simpleBind(3, "alice", e.appPassword)))
	e.auth.waitEntered(t)
	c.send(message(2, startTLSReq()))
	c.next().assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultOperationsError)

	e.auth.open()
	c.next().assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	// Everything answered: now StartTLS goes through, and the bind stays.
	c.call(message(3, startTLSReq())).assert(t, 3, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	s := newRawTLS(t, tls.Client(c.nc, pki.clientConfig()))
	if who := s.call(message(4, whoAmIReq())); string(who.value) != "dn:"+aliceDN {
		t.Fatalf("WhoAmI over TLS = %q", who.value)
	}
}

func TestStartTLS_RequestPipelinedBehindItIsRefused(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	c := dialRaw(t, e.addr)
	// The WhoAmI bytes arrive in the clear, where a handshake would choke
	// on them: StartTLS is refused and the WhoAmI answered in the clear.
	c.send(message(1, startTLSReq()), message(2, whoAmIReq()))
	c.next().assert(t, 1, ldap.ApplicationExtendedResponse, ldap.LDAPResultOperationsError)
	c.next().assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
}

func TestStartTLS_WithRequestValueIsAProtocolError(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	c := dialRaw(t, e.addr)
	c.call(message(1, extended(startTLSOID, []byte("x")))).assert(t, 1, ldap.ApplicationExtendedResponse,
		ldap.LDAPResultProtocolError)
	c.call(message(2, startTLSReq(), reqControl("1.2.3.4", true))).assert(t, 2, ldap.ApplicationExtendedResponse,
		ldap.LDAPResultUnavailableCriticalExtension)
}

func TestStartTLS_FailedHandshakeClosesOnlyThatConnection(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	c := dialRaw(t, e.addr)
	c.call(message(1, startTLSReq())).assert(t, 1, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	// LDAP where the ClientHello belongs.
	c.send(message(2, whoAmIReq()))
	c.expectClosed()
	e.assertServing(t)
}

func TestStartTLS_ClientThatDistrustsTheCertificateFails(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	l := e.dial(t)
	if err := l.StartTLS(&tls.Config{ServerName: "localhost"}); err == nil {
		t.Fatal("StartTLS succeeded with a certificate the client does not trust")
	}
	e.assertServing(t)
}

// A client may send StartTLS as soon as it has read the last answer, which
// can be before the worker has finished with that operation: that is not an
// outstanding operation.
func TestStartTLS_RightAfterAnAnswerIsNotRefused(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, withTLS(pki, false, nil))
	for i := range 50 {
		l := e.dial(t)
		if err := l.Bind("alice", e.appPassword); err != nil {
			t.Fatal(err)
		}
		if err := l.StartTLS(pki.clientConfig()); err != nil {
			t.Fatalf("round %d: StartTLS right after a bind: %v", i, err)
		}
		l.Close()
	}
}
