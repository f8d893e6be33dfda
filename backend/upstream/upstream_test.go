package upstream

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// adError is a refused bind as Active Directory words it.
func adError(data string) error {
	return &ldap.Error{ResultCode: ldap.LDAPResultInvalidCredentials,
		Err: fmt.Errorf("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data %s, v4563", data)}
}

func TestClassify_ActiveDirectoryReasonsAreAuditedAndOnlyWrongPasswordsCount(t *testing.T) {
	for _, c := range []struct {
		data     string
		category string
		counts   bool
	}{
		{"52e", backend.FailWrongPassword, true},
		{"525", backend.FailUnknownAccount, false},
		{"530", backend.FailLogonRestricted, false},
		{"531", backend.FailLogonRestricted, false},
		{"532", backend.FailPasswordExpired, false},
		{"533", backend.FailAccountDisabled, false},
		{"701", backend.FailAccountExpired, false},
		{"773", backend.FailPasswordMustChange, false},
		{"775", backend.FailUpstreamLocked, false},
	} {
		category, reason, counts := classify(&ldap.SimpleBindResult{}, adError(c.data))
		if category != c.category || counts != c.counts {
			t.Errorf("data %s: %s (counts %v), want %s (counts %v)", c.data, category, counts, c.category, c.counts)
		}
		if reason == "" {
			t.Errorf("data %s: no reason for the log", c.data)
		}
	}
}

func TestClassify_PasswordPolicyControl(t *testing.T) {
	pp := func(code int8) *ldap.SimpleBindResult {
		c := ldap.NewControlBeheraPasswordPolicy()
		c.Error = code
		return &ldap.SimpleBindResult{Controls: []ldap.Control{c}}
	}
	invalid := &ldap.Error{ResultCode: ldap.LDAPResultInvalidCredentials, Err: errors.New("")}
	for _, c := range []struct {
		name     string
		res      *ldap.SimpleBindResult
		err      error
		category string
		counts   bool
	}{
		{"success", &ldap.SimpleBindResult{}, nil, "", false},
		{"success, but the password must be changed", pp(2), nil, backend.FailPasswordMustChange, false},
		{"locked", pp(1), invalid, backend.FailUpstreamLocked, false},
		{"expired", pp(0), invalid, backend.FailPasswordExpired, false},
		{"plain 49", &ldap.SimpleBindResult{}, invalid, backend.FailWrongPassword, true},
	} {
		category, _, counts := classify(c.res, c.err)
		if category != c.category || counts != c.counts {
			t.Errorf("%s: %q (counts %v), want %q (counts %v)", c.name, category, counts, c.category, c.counts)
		}
	}
}

func newTestDirectory(t *testing.T, cfg Config) *Directory {
	t.Helper()
	cfg.URL = "ldap://127.0.0.1:1"
	cfg.Base = "dc=corp,dc=example"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestUser_ActiveDirectoryAttributesMap(t *testing.T) {
	d := newTestDirectory(t, Config{UIDAttribute: "sAMAccountName", MailAttribute: "mail",
		AliasAttribute: "proxyAddresses", GroupAttribute: "memberOf"})
	e := ldap.NewEntry("CN=Eve Example,OU=Staff,DC=corp,DC=example", map[string][]string{
		"sAMAccountName":     {"Eve"},
		"mail":               {"eve@corp.example"},
		"proxyAddresses":     {"SMTP:eve@corp.example", "smtp:e.example@corp.example", "X500:/o=corp/cn=eve", "sip:eve@corp.example"},
		"memberOf":           {"CN=Mail Users,OU=Groups,DC=corp,DC=example", "CN=staff,OU=Groups,DC=corp,DC=example"},
		"userAccountControl": {"514"},
		"pwdLastSet":         {"133000000000000000"},
	})
	u := d.user(e)
	if u.Name != "eve" || u.Mail != "eve@corp.example" {
		t.Fatalf("name %q mail %q", u.Name, u.Mail)
	}
	if !slices.Equal(u.Aliases, []string{"e.example@corp.example"}) {
		t.Fatalf("aliases %v, want only the smtp: one that is not the mail", u.Aliases)
	}
	if !slices.Equal(u.Groups, []string{"mail users", "staff"}) {
		t.Fatalf("groups %v", u.Groups)
	}
	if u.Disabled == "" {
		t.Fatal("userAccountControl 514 (ACCOUNTDISABLE) is not disabled")
	}
	if u.Changed != "pwdLastSet=133000000000000000" {
		t.Fatalf("changed %q", u.Changed)
	}
	for _, a := range e.Attributes {
		if a.Name == "userAccountControl" {
			a.Values = []string{"512"}
		}
	}
	if d.user(e).Disabled != "" {
		t.Fatal("userAccountControl 512 is disabled")
	}
}

func TestUserSearch_TheLoginIsEscaped(t *testing.T) {
	d := newTestDirectory(t, Config{UserFilter: "(|(uid={login})(mail={login}))"})
	req := d.userSearch("*)(uid=admin")
	if want := `(|(uid=\2a\29\28uid=admin)(mail=\2a\29\28uid=admin))`; req.Filter != want {
		t.Fatalf("filter %s, want %s", req.Filter, want)
	}
	d = newTestDirectory(t, Config{DNTemplate: "uid={login},ou=people,dc=corp,dc=example"})
	if req := d.userSearch("a,b=c"); req.BaseDN != `uid=a\,b=c,ou=people,dc=corp,dc=example` || req.Scope != ldap.ScopeBaseObject {
		t.Fatalf("base %s scope %d", req.BaseDN, req.Scope)
	}
}

func TestUpstreamFailures_OnlyWithinTheWindow(t *testing.T) {
	d := newTestDirectory(t, Config{FailureWindow: 10 * time.Minute})
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	gt := func(t time.Time) string { return t.Format("20060102150405Z") }
	e := ldap.NewEntry("uid=a,dc=corp,dc=example", map[string][]string{
		"pwdFailureTime": {gt(now.Add(-time.Hour)), gt(now.Add(-5 * time.Minute)), gt(now.Add(-time.Minute))},
	})
	if n := d.upstreamFailures(e, now); n != 2 {
		t.Fatalf("pwdFailureTime: %d within the window, want 2", n)
	}
	ft := func(t time.Time) string { return strconv.FormatInt(t.UnixNano()/100+116444736000000000, 10) }
	e = ldap.NewEntry("cn=b,dc=corp,dc=example", map[string][]string{"badPwdCount": {"4"}, "badPasswordTime": {ft(now.Add(-time.Minute))}})
	if n := d.upstreamFailures(e, now); n != 4 {
		t.Fatalf("recent badPwdCount: %d, want 4", n)
	}
	e = ldap.NewEntry("cn=b,dc=corp,dc=example", map[string][]string{"badPwdCount": {"4"}, "badPasswordTime": {ft(now.Add(-time.Hour))}})
	if n := d.upstreamFailures(e, now); n != 0 {
		t.Fatalf("badPwdCount older than the window: %d, want 0 (AD has reset it)", n)
	}
}

func TestExpiring_IsBounded(t *testing.T) {
	x := newExpiring(100)
	now := time.Now()
	for i := range 1000 {
		var k [32]byte
		k[0], k[1] = byte(i), byte(i>>8)
		x.put(k, now, now.Add(time.Minute))
		if len(x.m) > 100 {
			t.Fatalf("%d entries after %d puts, want at most 100", len(x.m), i+1)
		}
	}
	var k [32]byte
	x.put(k, now, now.Add(time.Minute))
	if !x.has(k, now) || x.has(k, now.Add(time.Minute)) {
		t.Fatal("an entry is not there until it expires")
	}
}

func TestBreaker_FailsFastThenProbesOnce(t *testing.T) {
	now := time.Unix(1000, 0)
	b := breaker{log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }}
	b.failed(errors.New("connection refused"))
	if _, ok := b.allow(); ok {
		t.Fatal("allowed right after a failure")
	}
	now = now.Add(minBackoff)
	probe, ok := b.allow()
	if !ok || !probe {
		t.Fatal("no probe after the backoff")
	}
	if _, ok := b.allow(); ok {
		t.Fatal("a second request allowed while the probe is out")
	}
	b.failed(errors.New("connection refused"))
	now = now.Add(minBackoff)
	if _, ok := b.allow(); ok {
		t.Fatal("the backoff did not grow after a failed probe")
	}
	now = now.Add(minBackoff)
	if _, ok := b.allow(); !ok {
		t.Fatal("no probe after the doubled backoff")
	}
	b.succeeded()
	if up, downs := b.state(); !up || downs != 1 {
		t.Fatalf("up %v downs %d after a good probe, want up and one outage", up, downs)
	}
}
