package slapdtest_test

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/internal/slapdtest"
)

// isCode reports whether err is slapd's answer with result code code.
func isCode(err error, code uint16) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode == code
}

// parseTime reads slapd's GeneralizedTime, with or without fractions of a
// second (pwdFailureTime has them, pwdChangedTime not).
func parseTime(v string) (time.Time, error) {
	return time.Parse("20060102150405.999999Z", v)
}

func TestStart_ListensOnLoopbackOnly(t *testing.T) {
	t0 := time.Now()
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ADSchema: true, ServiceAccount: true})
	// Informational: the brief's "well under a second" is not decided here,
	// on a machine whose load no test controls.
	t.Logf("slapd with every option up (rootdn bound) in %s", time.Since(t0))
	u, err := ldap.ParseDN(s.BaseDN)
	if err != nil || len(u.RDNs) != 2 {
		t.Fatalf("base DN %q: %v", s.BaseDN, err)
	}
	host, _, err := net.SplitHostPort(s.URL[len("ldap://") : len(s.URL)-1])
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("URL %s: want ldap://127.0.0.1:PORT/ (%v)", s.URL, err)
	}
	if err := s.Bind(s.AdminDN, s.AdminPassword); err != nil {
		t.Fatalf("rootdn bind: %v", err)
	}
	if err := s.Bind(s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatalf("service bind: %v", err)
	}
}

// Another suffix: the base entries and users follow it.
func TestStart_AnotherBaseDN(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{BaseDN: "dc=example,dc=org"})
	dn := s.AddUser(t, "ivan", "pw-ivan")
	if dn != "uid=ivan,ou=people,dc=example,dc=org" {
		t.Fatalf("user DN %s", dn)
	}
	if err := s.Bind(dn, "pw-ivan"); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if got := s.Attr(t, "dc=example,dc=org", "dc"); fmt.Sprint(got) != "[example]" {
		t.Fatalf("dc of the suffix: %q", got)
	}
}

// The ppolicy overlay locks an account after 5 consecutive wrong binds, and
// slapd records each failure in pwdFailureTime: what an upstream check must
// stay below.
func TestPPolicy_FiveWrongBindsLockTheAccount(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true})
	dn := s.AddUser(t, "alice", "Correct-Horse-42")
	if err := s.Bind(dn, "Correct-Horse-42"); err != nil {
		t.Fatalf("bind with the right password: %v", err)
	}
	for i := 1; i <= slapdtest.MaxFailure; i++ {
		err := s.Bind(dn, fmt.Sprintf("wrong-%d", i))
		if !isCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Fatalf("wrong bind %d: %v, want invalidCredentials (49)", i, err)
		}
		if got := len(s.Attr(t, dn, "pwdFailureTime")); got != i {
			t.Fatalf("after %d wrong binds pwdFailureTime has %d values", i, got)
		}
		locked := s.Attr(t, dn, "pwdAccountLockedTime")
		if i < slapdtest.MaxFailure && len(locked) != 0 {
			t.Fatalf("locked after %d wrong binds: %q", i, locked)
		}
	}
	if locked := s.Attr(t, dn, "pwdAccountLockedTime"); len(locked) != 1 {
		t.Fatalf("pwdAccountLockedTime after %d wrong binds: %q, want one value", slapdtest.MaxFailure, locked)
	}
	if err := s.Bind(dn, "Correct-Horse-42"); !isCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("right password on a locked account: %v, want invalidCredentials (49)", err)
	}
}

// A right password clears the failures counted so far.
func TestPPolicy_ASuccessfulBindResetsTheCount(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true})
	dn := s.AddUser(t, "bob", "Battery-Staple-7")
	for i := 0; i < slapdtest.MaxFailure-1; i++ {
		if err := s.Bind(dn, "wrong"); !isCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Fatalf("wrong bind: %v", err)
		}
	}
	if got := len(s.Attr(t, dn, "pwdFailureTime")); got != slapdtest.MaxFailure-1 {
		t.Fatalf("pwdFailureTime has %d values, want %d", got, slapdtest.MaxFailure-1)
	}
	if err := s.Bind(dn, "Battery-Staple-7"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if got := s.Attr(t, dn, "pwdFailureTime"); len(got) != 0 {
		t.Fatalf("pwdFailureTime after a right password: %q", got)
	}
}

// An administrative lock refuses the right password until it is lifted;
// lifting it also forgets the failures counted; a deleted user is gone.
func TestLockAccountAndDelete(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true})
	dn := s.AddUser(t, "heidi", "pw-heidi")
	if err := s.Bind(dn, "wrong"); !isCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("wrong bind: %v", err)
	}
	s.LockAccount(t, dn)
	if err := s.Bind(dn, "pw-heidi"); !isCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("right password on a locked account: %v, want invalidCredentials (49)", err)
	}
	s.UnlockAccount(t, dn)
	for _, attr := range []string{"pwdAccountLockedTime", "pwdFailureTime"} {
		if got := s.Attr(t, dn, attr); len(got) != 0 {
			t.Fatalf("%s after UnlockAccount: %q", attr, got)
		}
	}
	if err := s.Bind(dn, "pw-heidi"); err != nil {
		t.Fatalf("right password after UnlockAccount: %v", err)
	}
	s.UnlockAccount(t, dn) // nothing to remove: no error
	s.Delete(t, dn)
	if err := s.Bind(dn, "pw-heidi"); !isCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("bind of a deleted user: %v, want invalidCredentials (49)", err)
	}
}

// An upstream that goes away and comes back: same address, same entries,
// the same password policy state.
func TestStopRestart_SameAddressSameData(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true})
	dn := s.AddUser(t, "carol", "Tr0ub4dor&3")
	if err := s.Bind(dn, "wrong"); !isCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("wrong bind: %v", err)
	}
	url := s.URL
	s.Stop()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	err := s.Bind(dn, "Tr0ub4dor&3")
	if err == nil {
		t.Fatal("bind succeeded with slapd stopped")
	}
	if !isCode(err, ldap.ErrorNetwork) {
		t.Fatalf("bind with slapd stopped: %v, want a network error", err)
	}
	s.Stop() // a second Stop does nothing
	s.Restart(t)
	if s.URL != url {
		t.Fatalf("URL after Restart %s, was %s", s.URL, url)
	}
	if got := len(s.Attr(t, dn, "pwdFailureTime")); got != 1 {
		t.Fatalf("pwdFailureTime after Restart has %d values, want the 1 from before", got)
	}
	if err := s.Bind(dn, "Tr0ub4dor&3"); err != nil {
		t.Fatalf("bind after Restart: %v", err)
	}
}

// A paused slapd accepts connections and answers nothing: a client's own
// timeout is what ends its wait. Resumed, it answers again.
func TestPauseResume_AHangingDirectory(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{})
	dn := s.AddUser(t, "judy", "pw-judy")
	s.Pause(t)
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("dial a paused slapd: %v (the kernel accepts for it)", err)
	}
	// A paused process never answers, so any timeout decides; one second
	// keeps the test short.
	c.SetTimeout(time.Second)
	err = c.Bind(dn, "pw-judy")
	c.Close()
	if !isCode(err, ldap.ErrorNetwork) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("bind to a paused slapd: %v, want a timeout", err)
	}
	if !s.Running() {
		t.Fatal("a paused slapd is not Running")
	}
	s.Resume(t)
	if err := s.Bind(dn, "pw-judy"); err != nil {
		t.Fatalf("bind after Resume: %v", err)
	}
	s.Pause(t) // Stop, at the test's end, must not wait on a paused slapd
}

// ldappasswd as the directory's administrator: the new password works, the
// old one does not, and pwdChangedTime is set, then moves at each change,
// which is what an upstream poll detects.
func TestSetPassword_ChangesPwdChangedTime(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true})
	dn := s.AddUser(t, "dave", "first-Password-1")
	// Without a maximum age in the policy, ppolicy stamps a password at its
	// change only, not when the entry is added: an upstream poll must
	// expect users without pwdChangedTime.
	if got := s.Attr(t, dn, "pwdChangedTime"); len(got) != 0 {
		t.Fatalf("pwdChangedTime of a new user: %q, want none", got)
	}
	changed := func(pw string) time.Time {
		t.Helper()
		s.SetPassword(t, dn, pw)
		v := s.Attr(t, dn, "pwdChangedTime")
		if len(v) != 1 {
			t.Fatalf("pwdChangedTime after SetPassword: %q, want one value", v)
		}
		at, err := parseTime(v[0])
		if err != nil {
			t.Fatalf("pwdChangedTime %q: %v", v[0], err)
		}
		return at
	}
	first := changed("second-Password-2")
	// pwdChangedTime counts whole seconds: wait until the clock has left
	// the second it holds, so that the next change must show.
	for !time.Now().After(first.Add(time.Second)) {
		time.Sleep(time.Until(first.Add(time.Second)) + 10*time.Millisecond)
	}
	if second := changed("third-Password-3"); !second.After(first) {
		t.Fatalf("pwdChangedTime %s after a second change, was %s", second, first)
	}
	if err := s.Bind(dn, "third-Password-3"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	for _, old := range []string{"first-Password-1", "second-Password-2"} {
		if err := s.Bind(dn, old); !isCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Fatalf("old password %s: %v, want invalidCredentials (49)", old, err)
		}
	}
	// slapd hashed it: the stored value is not the password.
	if pw := s.Attr(t, dn, "userPassword"); len(pw) != 1 || !strings.HasPrefix(pw[0], "{SSHA}") {
		t.Fatalf("userPassword after ldappasswd is not one {SSHA} value")
	}
}

// A password written as {SSHA} by the rootdn: it binds, and the change is
// stamped as a directory would stamp it (pwdChangedTime by ppolicy,
// pwdLastSet on an AD-shaped account).
func TestSetSSHAPassword_BindsAndIsStamped(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ADSchema: true})
	dn := s.AddUser(t, "erin", "old-one")
	set := s.Attr(t, dn, "pwdLastSet")
	s.SetSSHAPassword(t, dn, "new-one")
	pw := s.Attr(t, dn, "userPassword")
	if len(pw) != 1 || !strings.HasPrefix(pw[0], "{SSHA}") {
		t.Fatalf("userPassword is not one {SSHA} value")
	}
	if err := s.Bind(dn, "new-one"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := s.Bind(dn, "old-one"); !isCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("old password: %v, want invalidCredentials (49)", err)
	}
	if got := s.Attr(t, dn, "pwdChangedTime"); len(got) != 1 {
		t.Fatalf("pwdChangedTime after SetSSHAPassword: %q, want one value", got)
	}
	reset := s.Attr(t, dn, "pwdLastSet")
	if len(set) != 1 || len(reset) != 1 {
		t.Fatalf("pwdLastSet %q when added, %q after SetSSHAPassword", set, reset)
	}
	before, err1 := strconv.ParseInt(set[0], 10, 64)
	after, err2 := strconv.ParseInt(reset[0], 10, 64)
	if err1 != nil || err2 != nil || after <= before {
		t.Fatalf("pwdLastSet %s after SetSSHAPassword, was %s", reset[0], set[0])
	}
}

// search is a subtree search under the people as the service account,
// returning the uids found, sorted.
func search(t *testing.T, s *slapdtest.Slapd, filter string) []string {
	t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	res, err := c.Search(ldap.NewSearchRequest(s.PeopleDN, ldap.ScopeWholeSubtree,
		ldap.NeverDerefAliases, 0, 0, false, filter, []string{"uid"}, nil))
	if err != nil {
		t.Fatalf("search %s: %v", filter, err)
	}
	var uids []string
	for _, e := range res.Entries {
		uids = append(uids, e.GetAttributeValue("uid"))
	}
	sort.Strings(uids)
	return uids
}

// Active Directory-shaped accounts: found by sAMAccountName and
// userPrincipalName whatever the case, and a disabled one told apart by
// AD's own bitwise filter on userAccountControl.
func TestADSchema_SearchAndDisabledAccounts(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{ADSchema: true, ServiceAccount: true})
	s.AddUser(t, "frank", "pw-frank")
	grace := s.AddUser(t, "grace", "pw-grace")
	s.Replace(t, grace, "userAccountControl", fmt.Sprint(slapdtest.UACNormalAccount|slapdtest.UACAccountDisable))

	for _, tc := range []struct{ filter, want string }{
		{"(sAMAccountName=frank)", "[frank]"},
		{"(sAMAccountName=FRANK)", "[frank]"},
		{"(userPrincipalName=Frank@Corp.Example)", "[frank]"},
		{"(&(objectClass=wicketTestADAccount)(|(sAMAccountName=grace)(userPrincipalName=grace)))", "[grace]"},
		{"(userAccountControl:1.2.840.113556.1.4.803:=2)", "[grace]"},
		{"(&(objectClass=wicketTestADAccount)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))", "[frank]"},
		{fmt.Sprintf("(pwdLastSet>=%d)", slapdtest.FileTime(time.Now().Add(-time.Hour))), "[frank grace]"},
		{"(sAMAccountName=nobody)", "[]"},
	} {
		if got := fmt.Sprint(search(t, s, tc.filter)); got != tc.want {
			t.Errorf("%s found %s, want %s", tc.filter, got, tc.want)
		}
	}
}

// The service account reads the people but never a password; a user reads
// their own entry (with its hash, as Debian's default ACL allows: who may
// write a value may read it) but no one else's; an anonymous client reads
// nothing.
func TestServiceAccount_ReadsPeopleButNoPassword(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.Options{ServiceAccount: true})
	alice := s.AddUser(t, "alice", "pw-alice")
	bob := s.AddUser(t, "bob", "pw-bob")
	// read searches base under the identity dn (none: anonymous) and
	// returns the uids found and how many password values came with them.
	read := func(dn, pw, base string, scope int) (uids []string, passwords int) {
		t.Helper()
		c, err := ldap.DialURL(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if dn != "" {
			if err := c.Bind(dn, pw); err != nil {
				t.Fatalf("bind %s: %v", dn, err)
			}
		}
		res, err := c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases,
			0, 0, false, "(uid=*)", []string{"uid", "userPassword"}, nil))
		// slapd hides what may not be read as noSuchObject.
		if isCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, 0
		}
		if err != nil {
			t.Fatalf("search %s as %q: %v", base, dn, err)
		}
		for _, e := range res.Entries {
			uids = append(uids, e.GetAttributeValue("uid"))
			passwords += len(e.GetAttributeValues("userPassword"))
		}
		sort.Strings(uids)
		return uids, passwords
	}
	for _, tc := range []struct {
		who, dn, pw, base string
		scope             int
		want              string
		passwords         int
	}{
		{"service account", s.ServiceDN, s.ServicePassword, s.PeopleDN, ldap.ScopeWholeSubtree, "[alice bob]", 0},
		{"service account", s.ServiceDN, s.ServicePassword, s.BaseDN, ldap.ScopeWholeSubtree, "[alice bob]", 0},
		{"alice", alice, "pw-alice", alice, ldap.ScopeBaseObject, "[alice]", 1},
		{"alice", alice, "pw-alice", bob, ldap.ScopeBaseObject, "[]", 0},
		{"anonymous", "", "", s.PeopleDN, ldap.ScopeWholeSubtree, "[]", 0},
		{"anonymous", "", "", alice, ldap.ScopeBaseObject, "[]", 0},
	} {
		uids, pws := read(tc.dn, tc.pw, tc.base, tc.scope)
		if fmt.Sprint(uids) != tc.want || pws != tc.passwords {
			t.Errorf("%s reading %s found %v and %d passwords, want %s and %d", tc.who, tc.base, uids, pws, tc.want, tc.passwords)
		}
	}
}

func TestFileTime_CountsFrom1601(t *testing.T) {
	// 116444736000000000 is the Unix epoch in FILETIME, as Windows' own
	// conversions use it.
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 116444736000000000},
		{time.Unix(1, 500), 116444736010000005},
		{time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), 0},
	} {
		if got := slapdtest.FileTime(tc.t); got != tc.want {
			t.Errorf("FileTime(%s) = %d, want %d", tc.t.UTC(), got, tc.want)
		}
	}
}
