package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/internal/slapdtest"
)

// upstreamWicket runs wicket with [upstream] pointing at slapd, its service
// account searching ou=people. extra is more of [upstream], then any other
// section.
func upstreamWicket(t *testing.T, s *slapdtest.Slapd, extra string) *wicket {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "upstream.pw")
	if err := os.WriteFile(pw, []byte(s.ServicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startWicket(t, fmt.Sprintf(`
[upstream]
url = %q
bind_dn = %q
bind_password_file = %q
base = %q
poll_interval = "1s"
%s
`, strings.TrimSuffix(s.URL, "/"), s.ServiceDN, pw, s.PeopleDN, extra))
}

// wicketDN is the DN wicket serves an account under.
func wicketDN(name string) string { return "uid=" + name + ",ou=people,dc=example,dc=org" }

// upBind binds with go-ldap and returns the LDAP result code (0 on
// success).
func upBind(t *testing.T, w *wicket, name, password string) int {
	t.Helper()
	c, err := ldap.DialURL(w.url())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return resultCode(t, c.Bind(name, password))
}

// waitFor retries check until it reports true, for up to a minute: the
// event a test waits on (a poll of the upstream, a breaker's backoff) comes
// when it comes on a loaded machine.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type auditRec struct {
	Action  string `json:"action"`
	Subject string `json:"subject"`
	Result  string `json:"result"`
	Detail  string `json:"detail"`
}

// audited reports whether the audit trail holds a record of action about
// name ("": any) with result and every detail fragment. A refused bind's
// record is written a moment after its answer: it is waited for.
func audited(w *wicket, name, action, result string, details ...string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if auditedNow(w, name, action, result, details...) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func auditedNow(w *wicket, name, action, result string, details ...string) bool {
	var recs []auditRec
	args := []string{"audit", "--limit", "1000"}
	if name != "" {
		args = append(args, "--user", name)
	}
	w.adminJSON(&recs, "", args...)
	for _, r := range recs {
		if r.Action != action || r.Result != result {
			continue
		}
		ok := true
		for _, d := range details {
			ok = ok && strings.Contains(r.Detail, d)
		}
		if ok {
			return true
		}
	}
	return false
}

type upstreamInfo struct {
	Name             string   `json:"name"`
	Mail             string   `json:"mail"`
	Groups           []string `json:"groups"`
	Disabled         bool     `json:"disabled"`
	HasPassword      bool     `json:"has_password"`
	Upstream         bool     `json:"upstream"`
	UpstreamDisabled bool     `json:"upstream_disabled"`
	TOTPEnrolled     bool     `json:"totp_enrolled"`
}

func showUser(w *wicket, name string) (upstreamInfo, bool) {
	var ui upstreamInfo
	out, _, err := w.run("", "user", "show", name, "--json")
	if err != nil {
		return ui, false
	}
	if err := json.Unmarshal([]byte(out), &ui); err != nil {
		w.t.Fatalf("user show %s: %v\n%s", name, err, out)
	}
	return ui, true
}

func enrollTOTP(w *wicket, name string) string {
	var enr struct {
		Secret string `json:"secret"`
	}
	w.adminJSON(&enr, "", "totp", "enroll", name)
	return enr.Secret
}

// failureTimes is the upstream's count of failed binds of dn, as the
// password policy keeps it.
func failureTimes(t *testing.T, s *slapdtest.Slapd, dn string) int {
	return len(s.Attr(t, dn, "pwdFailureTime"))
}

func TestUpstream_FirstSignInCreatesTheAccountAndTheCodeThenSignsIn(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const pw = "Upstream-Secret-Alice"
	dn := s.AddUser(t, "alice", pw)
	s.Add(t, fmt.Sprintf("dn: cn=staff,ou=groups,%s\nobjectClass: groupOfNames\ncn: staff\nmember: %s\n", s.BaseDN, dn))
	w := upstreamWicket(t, s, fmt.Sprintf("group_base = %q", "ou=groups,"+s.BaseDN))

	if _, ok := showUser(w, "alice"); ok {
		t.Fatal("alice has an account before signing in")
	}
	// Password and a code, as the user is told to type: there is no seed
	// yet, so the sign-in is refused (require_second_factor), but the
	// upstream accepted the password and the account now exists.
	if out, code := ldapwhoami(t, w.url(), wicketDN("alice"), pw+"123456"); code != 49 {
		t.Fatalf("first sign-in: ldapwhoami exit %d, want 49\n%s", code, out)
	}
	ui, ok := showUser(w, "alice")
	if !ok || !ui.Upstream || ui.HasPassword || ui.Mail != "alice@"+slapdtest.DefaultDomain || ui.TOTPEnrolled {
		t.Fatalf("after the first sign-in: %+v (exists %v), want an upstream account with the upstream's mail and no password of its own", ui, ok)
	}
	if !audited(w, "alice", "user-create", "success", "from=upstream") {
		t.Fatal("no user-create record from=upstream")
	}
	if !audited(w, "alice", "bind", "second-factor-required") {
		t.Fatal("the first sign-in is not recorded as refused for want of a second factor")
	}
	// A wrong password does not make an account.
	s.AddUser(t, "bob", "Upstream-Secret-Bob")
	if code := upBind(t, w, "bob", "not-bobs-password"); code != 49 {
		t.Fatalf("bob with a wrong password: %d, want 49", code)
	}
	if _, ok := showUser(w, "bob"); ok {
		t.Fatal("a wrong upstream password made an account")
	}

	// The administrator enrols the second factor; password + code signs in.
	codes := newStepCodes(t, user{name: "alice", secret: enrollTOTP(w, "alice")})
	out, code := ldapwhoami(t, w.url(), wicketDN("alice"), pw+codes.next())
	if code != 0 || !strings.Contains(out, "uid=alice,ou=people,dc=example,dc=org") {
		t.Fatalf("password+code: ldapwhoami exit %d\n%s", code, out)
	}
	// By the mail address too, and the group came from upstream.
	if code := upBind(t, w, "alice@"+slapdtest.DefaultDomain, pw+codes.next()); code != 0 {
		t.Fatalf("password+code by mail: %d, want 0", code)
	}
	if ui, _ := showUser(w, "alice"); len(ui.Groups) != 1 || ui.Groups[0] != "staff" {
		t.Fatalf("groups %v, want [staff] from upstream", ui.Groups)
	}
	// An app password is created and used.
	_, app := w.appPassword("alice", "Thunderbird")
	if out, code := ldapwhoami(t, w.url(), wicketDN("alice"), app); code != 0 {
		t.Fatalf("app password: ldapwhoami exit %d\n%s", code, out)
	}
	// wicket does not change a password it does not keep.
	if _, _, err := w.run("New-Password-1234\n", "user", "passwd", "alice", "--password-stdin"); err == nil {
		t.Fatal("user passwd changed the password of an upstream account")
	}
}

func TestUpstream_GuessesNeverLockTheUpstreamAccount(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const alicePW, davePW = "Upstream-Secret-Alice", "Upstream-Secret-Dave"
	aliceDN := s.AddUser(t, "alice", alicePW)
	daveDN := s.AddUser(t, "dave", davePW)
	w := upstreamWicket(t, s, "")

	// alice has an account, enrolled, with an app password.
	if code := upBind(t, w, "alice", alicePW); code != 49 {
		t.Fatalf("alice's first sign-in: %d, want 49 (no second factor yet)", code)
	}
	enrollTOTP(w, "alice")
	_, app := w.appPassword("alice", "phone")

	// 50 wrong strings shaped like app passwords, for alice and for dave
	// (who has no account here): checked here only, never sent upstream.
	for i := range 50 {
		guess := fmt.Sprintf("abcd-efgh-ijkl-%c%c%c%c", 'a'+i%26, 'a'+i/26, 'q', 'z')
		for _, name := range []string{"alice", "dave"} {
			if code := upBind(t, w, name, guess); code != 49 {
				t.Fatalf("wrong app password %d for %s: %d, want 49", i, name, code)
			}
		}
	}
	for _, dn := range []string{aliceDN, daveDN} {
		if n := failureTimes(t, s, dn); n != 0 {
			t.Fatalf("%s: the upstream counted %d failures after 50 app-password-shaped guesses, want 0", dn, n)
		}
	}
	if code := upBind(t, w, "alice", app); code != 0 {
		t.Fatalf("alice's app password after the guesses: %d, want 0", code)
	}

	// A client retrying an old password: 3 wrong passwords, each 20 times,
	// then 10 more different ones. dave has no account here, so every
	// new password could go upstream: only the first three do, the
	// repeats are answered from the negative cache, and the rest are cut
	// off below the upstream's lockout.
	for i := range 3 {
		for range 20 {
			if code := upBind(t, w, "dave", fmt.Sprintf("old-password-%d", i)); code != 49 {
				t.Fatalf("dave, wrong password %d: %d, want 49", i, code)
			}
		}
	}
	for i := range 10 {
		if code := upBind(t, w, "dave", fmt.Sprintf("another-guess-%d", i)); code != 49 {
			t.Fatalf("dave, guess %d: %d, want 49", i, code)
		}
	}
	n := failureTimes(t, s, daveDN)
	t.Logf("after 3 × 20 repeats and 10 more guesses the upstream counts %d failures of dave (lockout at %d)", n, slapdtest.MaxFailure)
	if n > 3 || n >= slapdtest.MaxFailure {
		t.Fatalf("the upstream counted %d failures of dave, want at most 3 (max_failures), below its lockout at %d", n, slapdtest.MaxFailure)
	}
	if locked := s.Attr(t, daveDN, "pwdAccountLockedTime"); len(locked) != 0 {
		t.Fatalf("dave is locked upstream: %v", locked)
	}
	// The upstream account works: dave signs in to the directory itself.
	if err := s.Bind(daveDN, davePW); err != nil {
		t.Fatalf("dave's own bind to the upstream after the guesses: %v", err)
	}
	if !strings.Contains(w.logs.String(), "cut off below the upstream's lockout") {
		t.Fatalf("the cut-off is not in the log\n%s", w.logs.String())
	}
}

func TestUpstream_PasswordChangedUpstreamRevokesTheAppPasswords(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const pw, newPW = "Upstream-Secret-Alice", "Upstream-Secret-Alice-2"
	dn := s.AddUser(t, "alice", pw)
	w := upstreamWicket(t, s, "")
	if code := upBind(t, w, "alice", pw); code != 49 {
		t.Fatalf("first sign-in: %d, want 49", code)
	}
	codes := newStepCodes(t, user{name: "alice", secret: enrollTOTP(w, "alice")})
	_, app1 := w.appPassword("alice", "laptop")
	_, app2 := w.appPassword("alice", "phone")
	for _, app := range []string{app1, app2} {
		if code := upBind(t, w, "alice", app); code != 0 {
			t.Fatalf("app password before the change: %d", code)
		}
	}

	// The directory's administrator resets the password with ldappasswd.
	s.SetPassword(t, dn, newPW)
	waitFor(t, "app passwords refused after the upstream password change", func() bool {
		return upBind(t, w, "alice", app1) == 49 && upBind(t, w, "alice", app2) == 49
	})
	if !audited(w, "alice", "password-change", "success", "from=upstream", "revoked=2") {
		t.Fatal("no password-change record from=upstream revoked=2")
	}
	if out, code := ldapwhoami(t, w.url(), wicketDN("alice"), pw+codes.next()); code != 49 {
		t.Fatalf("old password + code: exit %d, want 49\n%s", code, out)
	}
	if out, code := ldapwhoami(t, w.url(), wicketDN("alice"), newPW+codes.next()); code != 0 {
		t.Fatalf("new password + code: exit %d\n%s", code, out)
	}
}

func TestUpstream_DownKeepsAppPasswordsAndRefusesSignInAsUnavailable(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const pw = "Upstream-Secret-Alice"
	s.AddUser(t, "alice", pw)
	w := upstreamWicket(t, s, "\n[http]\nlisten = \"127.0.0.1:0\"")
	if code := upBind(t, w, "alice", pw); code != 49 {
		t.Fatalf("first sign-in: %d, want 49", code)
	}
	codes := newStepCodes(t, user{name: "alice", secret: enrollTOTP(w, "alice")})
	_, app := w.appPassword("alice", "phone")
	if m, _ := scrape(t, w); m.get("wicket_upstream_up") != 1 {
		t.Fatalf("wicket_upstream_up = %v with the upstream answering, want 1", m.get("wicket_upstream_up"))
	}

	s.Stop()
	if out, code := ldapwhoami(t, w.url(), wicketDN("alice"), app); code != 0 {
		t.Fatalf("app password with the upstream down: exit %d\n%s", code, out)
	}
	// The same code twice: a code that never reached an answer is not
	// used up.
	code := codes.next()
	for range 2 {
		if out, rc := ldapwhoami(t, w.url(), wicketDN("alice"), pw+code); rc != 52 {
			t.Fatalf("password+code with the upstream down: exit %d, want 52 (unavailable)\n%s", rc, out)
		}
	}
	if !strings.Contains(w.logs.String(), "upstream directory unreachable") {
		t.Fatalf("no log line says the upstream is unreachable\n%s", w.logs.String())
	}
	if !audited(w, "", "bind", "unavailable", "upstream directory does not answer") {
		t.Fatal("the refused sign-in is not recorded as unavailable")
	}
	m, _ := scrape(t, w)
	if m.get("wicket_upstream_up") != 0 || m.get("wicket_upstream_checks_total", "outcome", "unavailable") < 2 ||
		m.get("wicket_bind_failures_total", "reason", "unavailable") < 2 {
		t.Fatalf("with the upstream down: wicket_upstream_up %v, unavailable checks %v, unavailable binds %v; want 0, ≥2, ≥2",
			m.get("wicket_upstream_up"), m.get("wicket_upstream_checks_total", "outcome", "unavailable"),
			m.get("wicket_bind_failures_total", "reason", "unavailable"))
	}
	// Many more app-password binds: all local, all pass.
	for i := range 20 {
		if code := upBind(t, w, "alice", app); code != 0 {
			t.Fatalf("app password bind %d with the upstream down: %d", i, code)
		}
	}

	s.Restart(t)
	waitFor(t, "password+code signing in once the upstream is back", func() bool {
		rc := upBind(t, w, "alice", pw+codes.again())
		if rc != 0 && rc != 52 {
			t.Fatalf("password+code once the upstream is back: %d, want 52 until it answers, then 0", rc)
		}
		return rc == 0
	})
	if !strings.Contains(w.logs.String(), "upstream directory reachable again") {
		t.Fatal("no log line says the upstream is back")
	}
}

// An Active Directory-shaped upstream: users found by sAMAccountName or
// userPrincipalName, disabled with userAccountControl.
func TestUpstream_ActiveDirectoryShapedAccounts(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{ADSchema: true, ServiceAccount: true})
	const evePW, frankPW = "Upstream-Secret-Eve", "Upstream-Secret-Frank"
	eveDN := s.AddUser(t, "eve", evePW)
	frankDN := s.AddUser(t, "frank", frankPW)
	s.Replace(t, frankDN, "userPrincipalName", "f.smith@"+slapdtest.DefaultDomain)
	w := upstreamWicket(t, s, `
user_filter = "(&(objectClass=wicketTestADAccount)(|(sAMAccountName={login})(userPrincipalName={login})))"
uid_attribute = "sAMAccountName"
mail_attribute = "userPrincipalName"
password_changed_attributes = ["pwdLastSet"]
`)
	// By sAMAccountName.
	if code := upBind(t, w, "eve", evePW); code != 49 {
		t.Fatalf("eve's first sign-in: %d, want 49 (no second factor yet)", code)
	}
	if ui, ok := showUser(w, "eve"); !ok || !ui.Upstream {
		t.Fatalf("eve: %+v (exists %v), want an upstream account", ui, ok)
	}
	// By userPrincipalName, which is not the account's name.
	if code := upBind(t, w, "f.smith@"+slapdtest.DefaultDomain, frankPW); code != 49 {
		t.Fatalf("frank's first sign-in by UPN: %d, want 49", code)
	}
	ui, ok := showUser(w, "frank")
	if !ok || ui.Mail != "f.smith@"+slapdtest.DefaultDomain {
		t.Fatalf("frank: %+v (exists %v), want the account named by sAMAccountName with the UPN as mail", ui, ok)
	}
	eveCodes := newStepCodes(t, user{name: "eve", secret: enrollTOTP(w, "eve")})
	frankCodes := newStepCodes(t, user{name: "frank", secret: enrollTOTP(w, "frank")})
	if code := upBind(t, w, "eve", evePW+eveCodes.next()); code != 0 {
		t.Fatalf("eve by sAMAccountName with password+code: %d", code)
	}
	if code := upBind(t, w, "f.smith@"+slapdtest.DefaultDomain, frankPW+frankCodes.next()); code != 0 {
		t.Fatalf("frank by UPN with password+code: %d", code)
	}
	// A code of frank's is no key to eve: found by UPN, the code is still
	// checked against the account the upstream names.
	if code := upBind(t, w, "f.smith@"+slapdtest.DefaultDomain, frankPW+"000000"); code != 49 {
		t.Fatalf("frank by UPN with a wrong code: %d, want 49", code)
	}
	_, app := w.appPassword("eve", "phone")
	if code := upBind(t, w, "eve", app); code != 0 {
		t.Fatalf("eve's app password: %d", code)
	}

	// Disabled in AD: the sign-in is refused without asking for the
	// password, and the app passwords stop once the poll sees it.
	s.Replace(t, eveDN, "userAccountControl", fmt.Sprint(slapdtest.UACNormalAccount|slapdtest.UACAccountDisable))
	if code := upBind(t, w, "eve", evePW+eveCodes.next()); code != 49 {
		t.Fatalf("disabled eve with password+code: %d, want 49", code)
	}
	if !audited(w, "eve", "bind", "account-disabled", "userAccountControl") {
		t.Fatal("the disabled sign-in is not recorded as account-disabled")
	}
	waitFor(t, "eve's app password refused once disabled upstream", func() bool { return upBind(t, w, "eve", app) == 49 })
	if ui, _ := showUser(w, "eve"); !ui.UpstreamDisabled {
		t.Fatalf("eve: %+v, want upstream_disabled", ui)
	}
	// Enabled again: the app password works again (nothing was revoked).
	s.Replace(t, eveDN, "userAccountControl", fmt.Sprint(slapdtest.UACNormalAccount))
	waitFor(t, "eve's app password working once enabled upstream", func() bool { return upBind(t, w, "eve", app) == 0 })

	// wicket user sync creates the accounts of the others, leaving out the
	// disabled.
	s.AddUser(t, "gina", "Upstream-Secret-Gina")
	hankDN := s.AddUser(t, "hank", "Upstream-Secret-Hank")
	s.Replace(t, hankDN, "userAccountControl", fmt.Sprint(slapdtest.UACNormalAccount|slapdtest.UACAccountDisable))
	var rep struct {
		Created []string `json:"created"`
		Skipped []struct {
			Name   string `json:"name"`
			Reason string `json:"reason"`
		} `json:"skipped"`
	}
	w.adminJSON(&rep, "", "user", "sync")
	if len(rep.Created) != 1 || rep.Created[0] != "gina" {
		t.Fatalf("sync created %v, want [gina]", rep.Created)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Name != "hank" || !strings.Contains(rep.Skipped[0].Reason, "disabled") {
		t.Fatalf("sync skipped %+v, want hank as disabled", rep.Skipped)
	}
}

// A user the password policy locked (five wrong passwords typed at
// another client) is refused without a bind, so wicket adds nothing to the
// directory's count, and the app passwords stop until the lock is lifted.
func TestUpstream_LockedUpstreamIsRefusedWithoutABind(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const pw = "Upstream-Secret-Alice"
	dn := s.AddUser(t, "alice", pw)
	w := upstreamWicket(t, s, "")
	if code := upBind(t, w, "alice", pw); code != 49 {
		t.Fatalf("first sign-in: %d, want 49", code)
	}
	codes := newStepCodes(t, user{name: "alice", secret: enrollTOTP(w, "alice")})
	_, app := w.appPassword("alice", "phone")

	for range slapdtest.MaxFailure {
		if err := s.Bind(dn, "typed wrong elsewhere"); err == nil {
			t.Fatal("a wrong password bound to slapd")
		}
	}
	if len(s.Attr(t, dn, "pwdAccountLockedTime")) == 0 {
		t.Fatal("slapd did not lock alice after its threshold")
	}
	failures := failureTimes(t, s, dn)
	if code := upBind(t, w, "alice", pw+codes.next()); code != 49 {
		t.Fatalf("locked upstream, password+code: %d, want 49", code)
	}
	if n := failureTimes(t, s, dn); n != failures {
		t.Fatalf("the directory counted %d failures after wicket's refusal, had %d: wicket sent the password", n, failures)
	}
	if !audited(w, "alice", "bind", "account-disabled", "pwdAccountLockedTime") {
		t.Fatal("the refusal is not recorded as account-disabled by pwdAccountLockedTime")
	}
	waitFor(t, "the app password refused while locked upstream", func() bool { return upBind(t, w, "alice", app) == 49 })

	// The directory's administrator lifts the lock.
	s.Modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: pwdAccountLockedTime\n", dn))
	waitFor(t, "the app password working once the lock is lifted", func() bool { return upBind(t, w, "alice", app) == 0 })
}

// A user cut off after too many wrong passwords gets in again once the
// helpdesk sets a new password upstream, without waiting for the window.
func TestUpstream_NewPasswordUpstreamLiftsTheCutOff(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const pw, newPW = "Upstream-Secret-Alice", "Upstream-Secret-Alice-2"
	dn := s.AddUser(t, "alice", pw)
	w := upstreamWicket(t, s, "[auth]\nrequire_second_factor = false")
	for i := range 3 {
		if code := upBind(t, w, "alice", fmt.Sprintf("forgotten-%d", i)); code != 49 {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	if code := upBind(t, w, "alice", pw); code != 49 {
		t.Fatalf("the right password at the cut-off: %d, want 49 (not sent)", code)
	}
	if n := failureTimes(t, s, dn); n != 3 {
		t.Fatalf("the directory counts %d failures, want 3", n)
	}
	s.SetPassword(t, dn, newPW)
	if n := failureTimes(t, s, dn); n != 0 {
		t.Fatalf("the directory still counts %d failures after the reset", n)
	}
	if out, code := ldapwhoami(t, w.url(), "alice", newPW); code != 0 {
		t.Fatalf("the new password after the reset: exit %d\n%s", code, out)
	}
}

// A directory that hangs (accepts, never answers) costs a sign-in at most
// the configured timeout, is answered unavailable, and leaves app passwords
// working.
func TestUpstream_HangingDirectoryTimesOut(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const pw = "Upstream-Secret-Alice"
	s.AddUser(t, "alice", pw)
	w := upstreamWicket(t, s, `timeout = "2s"`)
	if code := upBind(t, w, "alice", pw); code != 49 {
		t.Fatalf("first sign-in: %d, want 49", code)
	}
	codes := newStepCodes(t, user{name: "alice", secret: enrollTOTP(w, "alice")})
	_, app := w.appPassword("alice", "phone")

	s.Pause(t)
	defer s.Resume(t)
	code := codes.next()
	start := time.Now()
	if rc := upBind(t, w, "alice", pw+code); rc != 52 {
		t.Fatalf("password+code with the directory hanging: %d, want 52", rc)
	}
	// The bound is the timeout (2 s); a wait of half a minute would be the
	// client's, not wicket's.
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("the hanging directory held the bind %v", took)
	}
	if rc := upBind(t, w, "alice", app); rc != 0 {
		t.Fatalf("app password with the directory hanging: %d", rc)
	}
	s.Resume(t)
	waitFor(t, "password+code once the directory answers again", func() bool {
		// A refused bind does not use its code up, but the step it
		// belongs to can leave the window while the breaker backs off.
		rc := upBind(t, w, "alice", pw+codes.again())
		if rc != 0 && rc != 52 {
			t.Fatalf("once the directory answers: %d, want 52 until it is asked again, then 0", rc)
		}
		return rc == 0
	})
}

// Active Directory stamps pwdLastSet on a password change, and a user
// deleted upstream loses every way in.
func TestUpstream_ActiveDirectoryPasswordChangeAndDeletion(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{ADSchema: true, ServiceAccount: true})
	const pw = "Upstream-Secret-Eve"
	dn := s.AddUser(t, "eve", pw)
	w := upstreamWicket(t, s, `
user_filter = "(&(objectClass=wicketTestADAccount)(|(sAMAccountName={login})(userPrincipalName={login})))"
uid_attribute = "sAMAccountName"
mail_attribute = "userPrincipalName"
password_changed_attributes = ["pwdLastSet"]
`)
	if code := upBind(t, w, "eve", pw); code != 49 {
		t.Fatalf("first sign-in: %d, want 49", code)
	}
	enrollTOTP(w, "eve")
	_, app := w.appPassword("eve", "phone")
	if code := upBind(t, w, "eve", app); code != 0 {
		t.Fatalf("app password: %d", code)
	}
	s.SetPassword(t, dn, "Upstream-Secret-Eve-2")
	waitFor(t, "the app password refused after pwdLastSet moved", func() bool { return upBind(t, w, "eve", app) == 49 })
	if !audited(w, "eve", "password-change", "success", "from=upstream", "revoked=1") {
		t.Fatal("no password-change record from=upstream revoked=1")
	}
	_, app = w.appPassword("eve", "laptop")
	if code := upBind(t, w, "eve", app); code != 0 {
		t.Fatalf("new app password: %d", code)
	}
	// Another user stays: a search that finds nobody disables nobody.
	s.AddUser(t, "frank", "Upstream-Secret-Frank")
	s.Delete(t, dn)
	waitFor(t, "the app password refused once eve is deleted upstream", func() bool { return upBind(t, w, "eve", app) == 49 })
	if !audited(w, "eve", "user-disable", "success", "from=upstream", "missing upstream") {
		t.Fatal("no user-disable record from=upstream for the deletion")
	}
}

// An upstream user turns on two-factor sign-in on the account page with the
// directory password and an invitation, then signs in there and binds with
// password and code.
func TestUpstream_AccountPageEnrolmentWithTheDirectoryPassword(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const pw = "Upstream-Secret-Alice"
	s.AddUser(t, "alice", pw)
	w := upstreamWicket(t, s, "\n[web]\nlisten = \"127.0.0.1:0\"")
	w.admin("", "user", "sync")
	var inv struct {
		Code string `json:"code"`
	}
	w.adminJSON(&inv, "", "totp", "invite", "alice")

	b := newPageBrowser(t, webURL(t, w), nil)
	_, body := b.submit("/enrol", "/enrol", url.Values{"username": {"alice"}, "password": {pw}, "invite": {inv.Code}})
	secret := strings.ReplaceAll(pageText(body, "totp-secret"), " ", "")
	m := pageCSRF.FindStringSubmatch(body)
	if secret == "" || m == nil {
		t.Fatalf("no seed shown after the directory password and the invitation: %q\n%s", pageText(body, "error"), body)
	}
	step := time.Now().Unix() / 30
	resp, err := b.c.PostForm(b.base+"/enrol/confirm", url.Values{"csrf": {m[1]},
		"code": {totpCode(t, secret, time.Unix(step*30, 0))}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ui, _ := showUser(w, "alice"); !ui.TOTPEnrolled {
		t.Fatalf("alice is not enrolled after confirming (%d)", resp.StatusCode)
	}
	// The confirmation used its step up.
	codes := newStepCodes(t, user{name: "alice", secret: secret})
	codes.last = step
	resp, body = b.submit("/signin", "/signin", url.Values{"username": {"alice"}, "password": {pw}, "code": {codes.next()}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in on the page with the directory password: %d %q", resp.StatusCode, pageText(body, "error"))
	}
	_, body = b.submit("/account", "/account/app-passwords", url.Values{"label": {"phone"}})
	app := pageText(body, "new-app-password")
	if out, code := ldapwhoami(t, w.url(), wicketDN("alice"), app); code != 0 {
		t.Fatalf("ldapwhoami with the app password made on the page: %d\n%s", code, out)
	}
	// The password is changed in the directory, not here.
	b.submit("/account", "/account/password", url.Values{"current_password": {pw},
		"new_password": {"Another-Password-1"}, "code": {"123456"}})
	if _, body = b.get("/account"); !strings.Contains(body, "kept in your organisation&#39;s directory") {
		t.Fatalf("a password change on the page does not say where to make it:\n%s", body)
	}
}

// OpenLDAP ends every search at 500 entries unless told otherwise, paged
// searches included. A directory of more users than that must not have the
// rest taken for deleted: `wicket user sync` applies nothing and says which
// limit to lift for whom, and the server's poll logs the same. With the
// limit lifted as README says (olcLimits for the service account), every
// user is listed and created.
func TestUpstream_SyncPastTheDirectorysSizeLimit(t *testing.T) {
	const n = 600
	people := func(s *slapdtest.Slapd) string {
		var b strings.Builder
		for i := range n {
			name := fmt.Sprintf("user%04d", i)
			fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@%s\n\n",
				s.UserDN(name), name, name, name, name, slapdtest.DefaultDomain)
		}
		return b.String()
	}

	s := slapdtest.Start(t, slapdtest.Options{ServiceAccount: true})
	s.Add(t, people(s))
	w := upstreamWicket(t, s, "")
	out, errOut, err := w.run("", "user", "sync")
	if err == nil || !strings.Contains(errOut, "stopped the search of users under "+s.PeopleDN+" at its size limit") ||
		!strings.Contains(errOut, "nothing was applied") || !strings.Contains(errOut, `olcLimits: dn.exact="`+s.ServiceDN+`" size=unlimited`) {
		t.Fatalf("sync past the size limit: %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	var us []struct {
		Name string `json:"name"`
	}
	w.adminJSON(&us, "", "user", "list")
	if len(us) != 0 {
		t.Errorf("%d accounts after a sync that could not list every user, want none", len(us))
	}
	waitFor(t, "the poll's log line naming the size limit", func() bool {
		return strings.Contains(w.logs.String(), "upstream poll failed") && strings.Contains(w.logs.String(), "size limit")
	})

	s = slapdtest.Start(t, slapdtest.Options{ServiceAccount: true, UnlimitedService: true})
	s.Add(t, people(s))
	w = upstreamWicket(t, s, "")
	w.admin("", "user", "sync")
	w.adminJSON(&us, "", "user", "list")
	if len(us) != n {
		t.Errorf("%d accounts after a sync with the limit lifted, want %d", len(us), n)
	}
}
