package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

func TestBind_PasswordPlusCodeSucceedsAndWhoAmIShowsDN(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"alice", aliceMail, aliceDN, "UID=Alice,OU=People,DC=Example,DC=Com", "ALICE"} {
		t.Run(name, func(t *testing.T) {
			l := e.dial(t)
			if err := l.Bind(name, e.alicePasswordAndCode()); err != nil {
				t.Fatalf("Bind: %v", err)
			}
			if got := whoAmI(t, l); got != "dn:"+aliceDN {
				t.Errorf("WhoAmI = %q, want %q", got, "dn:"+aliceDN)
			}
		})
	}
}

// Mail clients re-bind with the same app password all day; it must keep
// working however the user typed it.
func TestBind_AppPasswordSucceedsAgainAndAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct{ name, password string }{
		{"as shown", e.appPassword},
		{"without dashes", strings.ReplaceAll(e.appPassword, "-", "")},
		{"upper case", strings.ToUpper(e.appPassword)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := e.dial(t)
			for range 3 {
				if err := l.Bind(aliceMail, tc.password); err != nil {
					t.Fatalf("Bind: %v", err)
				}
			}
			if got := whoAmI(t, l); got != "dn:"+aliceDN {
				t.Errorf("WhoAmI = %q, want %q", got, "dn:"+aliceDN)
			}
		})
	}
}

func TestBind_ReplayedCodeIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("same connection", func(t *testing.T) {
		l := e.dial(t)
		secret := e.alicePasswordAndCode()
		if err := l.Bind("alice", secret); err != nil {
			t.Fatalf("first bind: %v", err)
		}
		if err := l.Bind("alice", secret); resultCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("replayed bind: %v, want invalidCredentials", err)
		}
	})
	t.Run("another connection", func(t *testing.T) {
		secret := e.alicePasswordAndCode()
		if err := e.dial(t).Bind(aliceDN, secret); err != nil {
			t.Fatalf("first bind: %v", err)
		}
		if err := e.dial(t).Bind(aliceMail, secret); resultCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("replayed bind: %v, want invalidCredentials", err)
		}
	})
	t.Run("code burned by a wrong password", func(t *testing.T) {
		code := e.code(e.aliceSecret)
		l := e.dial(t)
		if err := l.Bind("alice", "not the password"+code); resultCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("wrong password: %v, want invalidCredentials", err)
		}
		if err := l.Bind("alice", alicePassword+code); resultCode(err) != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("right password with the burned code: %v, want invalidCredentials", err)
		}
	})
}

// Every failed authentication gets the same answer: the client must not
// learn which part was wrong, nor whether the account exists, is disabled
// or once had that app password.
func TestBind_FailuresAllAnswer49(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type names struct{ bare, mail, dn string }
	alice := names{"alice", aliceMail, aliceDN}
	dave := names{"dave", "dave@example.com", "uid=dave,ou=people," + testBase}
	nobody := names{"nobody", "nobody@example.com", "uid=nobody,ou=people," + testBase}
	cases := []struct {
		name   string
		who    names
		secret func(t *testing.T) string
	}{
		{"wrong password", alice, func(*testing.T) string { return "not the password" + e.code(e.aliceSecret) }},
		{"wrong code", alice, func(*testing.T) string {
			e.code(e.aliceSecret)
			return alicePassword + wrongCode(e)
		}},
		{"password without code", alice, func(*testing.T) string { return alicePassword }},
		{"replayed code", alice, func(t *testing.T) string {
			s := e.alicePasswordAndCode()
			if _, err := e.svc.Authenticate(context.Background(), "alice", s, "test"); err != nil {
				t.Fatalf("first use of the code: %v", err)
			}
			return s
		}},
		{"unknown user", nobody, func(*testing.T) string { return "some password" + e.code(e.aliceSecret) }},
		{"unknown user with an app password", nobody, func(*testing.T) string { return e.appPassword }},
		{"disabled user", dave, func(*testing.T) string { return davePassword + e.code(e.daveSecret) }},
		{"disabled user's app password", dave, func(*testing.T) string { return e.daveAppPassword }},
		{"revoked app password", alice, func(*testing.T) string { return e.revokedAppPassword }},
		{"someone else's app password", alice, func(*testing.T) string { return e.daveAppPassword }},
		{"made-up app password", alice, func(*testing.T) string { return "abcd-efgh-ijkl-mnop" }},
	}

	var first *response
	check := func(t *testing.T, name, secret string) {
		t.Helper()
		r := dialRaw(t, e.addr).call(message(1, simpleBind(3, name, secret)))
		r.assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultInvalidCredentials)
		if first == nil {
			first = r
		} else if r.matchedDN != first.matchedDN || r.diag != first.diag {
			t.Errorf("answer differs from other failures: matchedDN %q diagnostic %q, elsewhere %q %q",
				r.matchedDN, r.diag, first.matchedDN, first.diag)
		}
	}
	for _, tc := range cases {
		for _, n := range []struct{ form, name string }{
			{"bare", tc.who.bare}, {"mail", tc.who.mail}, {"DN", tc.who.dn},
		} {
			t.Run(tc.name+"/"+n.form, func(t *testing.T) { check(t, n.name, tc.secret(t)) })
		}
	}
	// A DN that names no user is just another unknown user, even with a
	// secret that is right for alice.
	for _, name := range []string{
		"cn=admin," + testBase,
		"uid=alice,ou=groups," + testBase,
		"uid=alice,ou=people,dc=example,dc=org",
		"uid=alice+cn=x,ou=people," + testBase,
		"",
	} {
		t.Run("name "+name, func(t *testing.T) { check(t, name, e.appPassword) })
	}
}

// wrongCode is a 6-digit code that is none of the three accepted now.
func wrongCode(e *env) string {
	now := e.clock.Now()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		valid[totpAt(e.aliceSecret, now.Add(d))] = true
	}
	for _, c := range []string{"000000", "123456", "999999", "424242"} {
		if !valid[c] {
			return c
		}
	}
	panic("three codes cannot cover four candidates")
}

func TestBind_MalformedDNIsInvalidDNSyntax(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	err := e.dial(t).Bind("uid=alice,ou", e.appPassword)
	if resultCode(err) != ldap.LDAPResultInvalidDNSyntax {
		t.Fatalf("Bind: %v, want invalidDNSyntax", err)
	}
}

// RFC 4513 5.1.2: a name with an empty password is an unauthenticated bind.
// Answering success is how go-ldap's CVE-2017-14623 let applications take
// "no password" for "authenticated".
func TestBind_NameWithoutPasswordIsUnwillingToPerform(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{aliceDN, "alice", aliceMail, "nobody"} {
		t.Run(name, func(t *testing.T) {
			l := e.dial(t)
			if err := l.Bind("alice", e.appPassword); err != nil {
				t.Fatal(err)
			}
			err := l.UnauthenticatedBind(name)
			if resultCode(err) != ldap.LDAPResultUnwillingToPerform {
				t.Fatalf("UnauthenticatedBind: %v, want unwillingToPerform", err)
			}
			if got := whoAmI(t, l); got != "" {
				t.Errorf("WhoAmI after refused bind = %q, want anonymous", got)
			}
		})
	}
}

func TestBind_AnonymousSucceedsAndWhoAmIIsEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.dial(t)
	if got := whoAmI(t, l); got != "" {
		t.Errorf("WhoAmI before any bind = %q, want empty", got)
	}
	if err := l.UnauthenticatedBind(""); err != nil {
		t.Fatalf("anonymous bind: %v", err)
	}
	if got := whoAmI(t, l); got != "" {
		t.Errorf("WhoAmI after anonymous bind = %q, want empty", got)
	}
	if err := l.Bind("alice", e.appPassword); err != nil {
		t.Fatal(err)
	}
	if err := l.UnauthenticatedBind(""); err != nil {
		t.Fatalf("anonymous bind after a user bind: %v", err)
	}
	if got := whoAmI(t, l); got != "" {
		t.Errorf("WhoAmI after going back to anonymous = %q, want empty", got)
	}
}

// Any bind first makes the session anonymous, and a failed one leaves it
// so (DESIGN.md, "Answers leak nothing"; RFC 4513 5.1).
func TestBind_FailedBindLeavesSessionAnonymous(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name     string
		bind     *ber.Packet
		controls []*ber.Packet
	}{
		{"wrong password", simpleBind(3, "alice", "wrong password"), nil},
		{"unknown user", simpleBind(3, "nobody", e.appPassword), nil},
		{"name without password", simpleBind(3, "alice", ""), nil},
		{"password without name", simpleBind(3, "", e.appPassword), nil},
		{"SASL PLAIN with a wrong password", saslBind("PLAIN", []byte("\x00alice\x00wrong password")), nil},
		{"SASL mechanism not offered", saslBind("DIGEST-MD5", nil), nil},
		{"version 2", simpleBind(2, "alice", e.appPassword), nil},
		{"malformed", ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, ""), nil},
		// RFC 4511 4.2.1: a failed Bind, whatever made it fail, leaves the
		// connection anonymous.
		{"unknown critical control", simpleBind(3, "alice", e.appPassword),
			[]*ber.Packet{reqControl("1.3.6.1.4.1.99999.2", true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, e.addr)
			c.call(message(1, simpleBind(3, "alice", e.appPassword))).
				assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
			if r := c.call(message(2, whoAmIReq())); string(r.value) != "dn:"+aliceDN {
				t.Fatalf("WhoAmI after bind = %q", r.value)
			}
			r := c.call(message(3, tc.bind, tc.controls...))
			if r.tag != ldap.ApplicationBindResponse || r.code == ldap.LDAPResultSuccess {
				t.Fatalf("bad bind answered %v", r)
			}
			r = c.call(message(4, whoAmIReq()))
			r.assert(t, 4, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
			if len(r.value) != 0 {
				t.Errorf("WhoAmI after failed bind = %q, want anonymous", r.value)
			}
		})
	}
}

func TestBind_SASLMechanismsOtherThanPLAINAreAuthMethodNotSupported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	for i, tc := range []struct {
		mech  string
		creds []byte
	}{
		{"EXTERNAL", nil},
		{"GSSAPI", nil},
		{"NO-SUCH-MECH", []byte("x")},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			id := int64(i + 1)
			c.in(t).call(message(id, saslBind(tc.mech, tc.creds))).
				assert(t, id, ldap.ApplicationBindResponse, ldap.LDAPResultAuthMethodNotSupported)
		})
	}
}

func TestBind_Version2IsProtocolError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	for i, v := range []int64{2, 1, 4} {
		id := int64(i + 1)
		c.call(message(id, simpleBind(v, "alice", e.appPassword))).
			assert(t, id, ldap.ApplicationBindResponse, ldap.LDAPResultProtocolError)
	}
	// A refused version is the bind's answer, not the connection's end.
	c.call(message(9, whoAmIReq())).assert(t, 9, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
}

// What the backend cannot decide is not a wrong password: busy asks the
// client to retry, anything else is "other" without the error's detail.
func TestBind_BackendErrorsAreBusyOrOther(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want uint16
	}{
		{"hash slots taken", backend.ErrBusy, ldap.LDAPResultBusy},
		{"deadline", context.DeadlineExceeded, ldap.LDAPResultBusy},
		{"store broken", errors.New("disk I/O error at /var/lib/wicket/secret-path"), ldap.LDAPResultOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := startServer(t, Config{}, authFunc(func(context.Context, string, string, string) (*backend.Principal, error) {
				return nil, tc.err
			}))
			r := dialRaw(t, addr).call(message(1, simpleBind(3, "alice", "password123456")))
			r.assert(t, 1, ldap.ApplicationBindResponse, tc.want)
			if strings.Contains(r.diag, "secret-path") {
				t.Errorf("diagnostic leaks the backend's error: %q", r.diag)
			}
		})
	}
}

// A panic while answering one client closes that client's connection and
// nothing else (vjeantet/ldapserver went down on a TLS ClientHello).
func TestPanicInOperation_ClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	addr := startServer(t, Config{}, authFunc(func(_ context.Context, login, _, _ string) (*backend.Principal, error) {
		if login == "boom" {
			panic("backend bug")
		}
		return &backend.Principal{Name: login, Method: backend.MethodAppPassword}, nil
	}))
	other := dialRaw(t, addr)
	other.call(message(1, simpleBind(3, "alice", "whatever"))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)

	c := dialRaw(t, addr)
	c.call(message(1, simpleBind(3, "boom", "whatever"))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultOther)
	c.expectClosed()

	if r := other.call(message(2, whoAmIReq())); string(r.value) != "dn:"+aliceDN {
		t.Errorf("the other connection's session after the panic: %v %q", r, r.value)
	}
	fresh := dialRaw(t, addr)
	fresh.call(message(1, simpleBind(3, "alice", "whatever"))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
}

// The shortcut for plain user DNs must read every name exactly as ParseDN
// does, and leave alone what it cannot read.
func TestLoginFromName_ShortcutAgreesWithParseDN(t *testing.T) {
	srv, err := New(Config{BaseDN: "dc=example,dc=org", Logger: quietLogger()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{
		"uid=alice,ou=people,dc=example,dc=org",
		"UID=Alice.B-2,OU=People,DC=Example,DC=ORG",
		"uid=alice@example.org,ou=people,dc=example,dc=org",
		"uid=alice,ou=people,dc=example,dc=net",
		"uid=alice,ou=people,dc=example, dc=org",
		"uid=al\\2Cice,ou=people,dc=example,dc=org",
		"uid=al+ice,ou=people,dc=example,dc=org",
		"uid=,ou=people,dc=example,dc=org",
		"uid=alice,ou=groups,dc=example,dc=org",
		"uid=a,b,ou=people,dc=example,dc=org",
		"uid=alice ,ou=people,dc=example,dc=org",
		"cn=alice,ou=people,dc=example,dc=org",
		"uid=alice",
		"alice",
		"alice@example.org",
	}
	for _, name := range names {
		fast, fastOK := srv.plainUserDN(name)
		login, ok := srv.loginFromName(name)
		if fastOK && (!ok || fast != login) {
			t.Errorf("%q: shortcut %q, loginFromName %q (%v)", name, fast, login, ok)
		}
		// What ParseDN alone makes of it.
		dn, err := ldap.ParseDN(name)
		if fastOK && (err != nil || len(dn.RDNs) != 4 || dn.RDNs[0].Attributes[0].Value != fast) {
			t.Errorf("%q: shortcut read %q, ParseDN %v %v", name, fast, dn, err)
		}
	}
	if _, ok := srv.plainUserDN("uid=alice,ou=people,dc=example,dc=org"); !ok {
		t.Error("the shortcut declined the plainest user DN")
	}
}
