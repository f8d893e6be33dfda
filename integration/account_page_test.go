package integration

// The account page, in a real headless chromium against the real binary:
// what a user does there, checked with the clients that use what they did
// (ldapwhoami, Dovecot).

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// inviteFormat is an enrolment code as `wicket totp invite` prints it:
// groups of letters and digits joined by dashes.
var inviteFormat = regexp.MustCompile(`\b[A-Z0-9]{4}(?:-[A-Z0-9]{4}){3,}\b`)

// invite issues an enrolment code as an administrator would.
func invite(t *testing.T, w *wicket, name string) string {
	t.Helper()
	out := w.admin("", "totp", "invite", name)
	code := inviteFormat.FindString(out)
	if code == "" {
		t.Fatalf("wicket totp invite %s printed no enrolment code:\n%s", name, out)
	}
	return code
}

// startEnrol fills the enrolment form and returns the secret the next page
// shows as text, after checking that the QR code beside it is a PNG.
func (b *tab) startEnrol(name, password, code string) string {
	b.t.Helper()
	b.open("/enrol")
	b.fill("", map[string]string{"username": name, "password": password, "invite": code})
	if st := b.click("#enrol-start"); st != http.StatusOK {
		b.t.Fatalf("starting enrolment: status %d\n%s", st, b.describe())
	}
	secret := strings.ToUpper(strings.Join(strings.Fields(b.text("#totp-secret")), ""))
	if !regexp.MustCompile(`^[A-Z2-7]{16,}=*$`).MatchString(secret) {
		b.t.Fatalf("#totp-secret shows %q, want a base32 secret", secret)
	}
	b.checkQR()
	return secret
}

// checkQR checks that #totp-qr is an image of a QR code's size, in a PNG
// carried in the page itself.
func (b *tab) checkQR() {
	b.t.Helper()
	attrs := run(b, "reading #totp-qr", chromedp.Attributes(chromedp.ID("totp-qr")))
	if !strings.HasPrefix(attrs["alt"], "QR code") {
		b.t.Errorf("#totp-qr's alt is %q, want it to start with \"QR code\"", attrs["alt"])
	}
	data, ok := strings.CutPrefix(attrs["src"], "data:image/png;base64,")
	if !ok {
		b.t.Fatalf("#totp-qr's src is not a PNG data: URL: %.60q", attrs["src"])
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b.t.Fatalf("#totp-qr's src: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		b.t.Fatalf("#totp-qr is not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 100 || r.Dx() != r.Dy() {
		b.t.Errorf("#totp-qr is %dx%d; want a square a phone's camera can read", r.Dx(), r.Dy())
	}
	// The browser rendered it: a broken image has no natural width.
	type shown struct {
		Natural int `json:"natural"`
		Width   int `json:"width"`
	}
	s := run(b, "rendering #totp-qr", chromedp.Evaluate[shown](
		`(i => ({natural: i.naturalWidth, width: i.width}))(document.getElementById("totp-qr"))`))
	if s.Natural == 0 || s.Width == 0 {
		b.t.Errorf("the browser did not render #totp-qr: %+v", s)
	}
	b.t.Logf("#totp-qr: a %d px PNG shown %d px wide", s.Natural, s.Width)
}

// enrol goes through enrolment with an invitation and returns the account
// with the secret read from the page, and the codes that follow the one
// used to confirm.
func (b *tab) enrol(u user, code string) (user, *stepCodes) {
	b.t.Helper()
	u.secret = b.startEnrol(u.name, u.password, code)
	if c := b.cookie("wicket_enrol", "/enrol"); c == nil || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
		b.t.Errorf("the enrolment cookie is %+v; want wicket_enrol, HttpOnly, SameSite=Strict", c)
	}
	// A mistyped code is refused and the same secret offered again.
	b.fill("", map[string]string{"code": wrongCode(b.t, u.secret)})
	b.click("#enrol-confirm")
	b.wantError("a wrong code at enrolment", "That code is wrong.")
	if again := strings.ToUpper(strings.Join(strings.Fields(b.text("#totp-secret")), "")); again != u.secret {
		b.t.Fatalf("after a wrong code the page shows the secret %q, before %q", again, u.secret)
	}
	codes := newStepCodes(b.t, u)
	b.fill("", map[string]string{"code": codes.next()})
	if st := b.click("#enrol-confirm"); st != http.StatusOK {
		b.t.Fatalf("confirming enrolment: status %d\n%s", st, b.describe())
	}
	if got := b.text("#notice"); !strings.Contains(got, "Two-factor sign-in is on") {
		b.t.Fatalf("after confirming, #notice says %q, want \"Two-factor sign-in is on\"", got)
	}
	if b.count(`a[href="/signin"]`) == 0 {
		b.t.Errorf("the enrolment's last page has no link to /signin\n%s", b.describe())
	}
	return u, codes
}

// revoke presses the revoke button of one app password's row.
func (b *tab) revoke(id string) {
	b.t.Helper()
	b.open("/account")
	if st := b.click(`#app-passwords tr.app-password[data-id="` + id + `"] button.revoke`); st != http.StatusOK {
		b.t.Fatalf("revoking %s: status %d\n%s", id, st, b.describe())
	}
	if _, ok := b.rows()[id]; ok {
		b.t.Fatalf("app password %s is still listed after its revoke button\n%s", id, b.describe())
	}
}

// idOf is the id of the listed app password with that label.
func (b *tab) idOf(label string) string {
	b.t.Helper()
	for id, l := range b.rows() {
		if l == label {
			return id
		}
	}
	b.t.Fatalf("no app password labelled %q is listed\n%s", label, b.describe())
	return ""
}

// Must-show 1. An administrator issues an invitation; the user enrols a
// phone on the page with it, signs in, and manages app passwords, and what
// the page did is what ldapwhoami and Dovecot see: a generated password
// works, a revoked one fails at the next bind, revoke-all and a password
// change end every one of them.
func TestAccountPage_EnrolSignInAndManageAppPasswords(t *testing.T) {
	t.Parallel()
	w, base := startWebWicket(t, "", "")
	s := mailNewStack(t, w)
	s.startDovecot()
	u := w.newUser("alice", false)
	code := invite(t, w, u.name)

	b := newTab(t, base)
	u, codes := b.enrol(u, code)
	// The invitation was used once; the account now has a second factor,
	// and enrolling again changes nothing.
	b.open("/enrol")
	b.fill("", map[string]string{"username": u.name, "password": u.password, "invite": code})
	b.click("#enrol-start")
	b.wantError("enrolling again with the used invitation", msgEnrolmentFailed)
	if b.count("#totp-secret") != 0 {
		t.Fatal("a second enrolment showed a new secret")
	}

	b.mustSignIn(u, codes)
	c := b.cookie("wicket_session", "/")
	if c == nil || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" {
		t.Fatalf("the session cookie is %+v; want wicket_session, HttpOnly, SameSite=Strict, Path=/", c)
	}

	// Generate: shown once, works for LDAP and IMAP.
	thunderbird := b.generate("Thunderbird")
	if b.count("#copy") == 0 {
		t.Error("the new app password has no copy button")
	}
	b.open("/account")
	if b.count("#new-app-password") != 0 || strings.Contains(b.text("body"), thunderbird) {
		t.Fatal("the account page shows the app password again")
	}
	id := b.idOf("Thunderbird")
	whoamiWants(t, w, "the generated app password", u, thunderbird, 0)
	s.requireIMAPLogin("the generated app password", u.name, thunderbird, true)

	// Revoke one: the very next bind fails.
	b.revoke(id)
	whoamiWants(t, w, "the revoked app password", u, thunderbird, 49)
	s.requireIMAPLogin("the revoked app password", u.name, thunderbird, false)

	// Revoke all, after a confirmation.
	phone, tablet := b.generate("Phone"), b.generate("Tablet")
	whoamiWants(t, w, "Phone's app password", u, phone, 0)
	b.open("/account")
	b.click("#revoke-all-form button")
	b.text("#confirm-revoke-all")
	whoamiWants(t, w, "Tablet's app password, revoke-all not yet confirmed", u, tablet, 0)
	b.click("#confirm-revoke-all")
	if got := b.text("#notice"); !strings.Contains(got, "2 app passwords were revoked") {
		t.Errorf("after revoke-all, #notice says %q; want \"2 app passwords were revoked\"", got)
	}
	if n := len(b.rows()); n != 0 {
		t.Errorf("after revoke-all the page lists %d app passwords", n)
	}
	for what, pw := range map[string]string{"Phone": phone, "Tablet": tablet} {
		whoamiWants(t, w, what+"'s app password after revoke-all", u, pw, 49)
		s.requireIMAPLogin(what+"'s app password after revoke-all", u.name, pw, false)
	}

	// A password change ends every app password; the new password with a
	// code signs in.
	laptop := b.generate("Laptop")
	whoamiWants(t, w, "Laptop's app password", u, laptop, 0)
	b.open("/account")
	newPassword := "Battery-Staple-" + u.name
	b.fill("#password-form", map[string]string{"current_password": u.password, "new_password": newPassword, "code": codes.next()})
	b.click("#change-password")
	got := b.text("#notice")
	if !strings.Contains(got, "Password changed") || !strings.Contains(got, "1 app passwords were revoked") {
		t.Errorf("after the password change, #notice says %q; want \"Password changed\" and \"1 app passwords were revoked\"", got)
	}
	whoamiWants(t, w, "Laptop's app password after the password change", u, laptop, 49)
	s.requireIMAPLogin("Laptop's app password after the password change", u.name, laptop, false)
	oldPassword := u.password
	u.password = newPassword
	whoamiWants(t, w, "the new password with a code", u, codes.withCode(u), 0)

	// Everything done on the page is in the audit trail, as done on the
	// page from the browser's address, and no secret is in it or the log.
	w.stop() // writes the records still queued
	recs := w.audit("--user", u.name)
	for _, action := range []string{"sign-in", "totp-enroll", "apppw-create", "apppw-revoke", "apppw-revoke-all", "password-change"} {
		if !hasWebRecord(recs, action, u.name) {
			t.Errorf("no %s record of %s with method web from 127.0.0.1 in the audit trail:\n%+v", action, u.name, recs)
		}
	}
	all := w.admin("", "audit", "--json", "--limit", "0") + w.logs.String()
	requireNoSecret(t, "the audit trail and the server log", all,
		oldPassword, newPassword, u.secret, code, thunderbird, phone, tablet, laptop)
}

// hasWebRecord tells whether recs hold a successful action on the account
// done on the page from the loopback address.
func hasWebRecord(recs []auditRecord, action, subject string) bool {
	for _, r := range recs {
		if r.Action == action && r.Subject == subject && r.Method == "web" && r.Remote == "127.0.0.1" && r.Result == "success" {
			return true
		}
	}
	return false
}

// wantSignInRefused signs in and expects the one refusal the page gives
// for every kind of failure.
func (b *tab) wantSignInRefused(what, name, password, code string) {
	b.t.Helper()
	st := b.signIn(name, password, code)
	if st != http.StatusOK || strings.HasSuffix(b.location(), "/account") {
		b.t.Fatalf("%s: status %d at %s; want the sign-in page again\n%s", what, st, b.location(), b.describe())
	}
	b.wantError(what, msgSignInFailed)
	if b.open("/account"); !strings.HasSuffix(b.location(), "/signin") {
		b.t.Fatalf("%s: refused, yet the browser opens %s\n%s", what, b.location(), b.describe())
	}
}

// Must-show 2. The page keeps the rules of LDAP binds: a code works once,
// a locked account stays out, an app password never opens the page, the
// 26th app password is refused with the limit's message, and a password
// change ends the account's other sessions as it ends its app passwords.
func TestAccountPage_SameRulesAsLDAPBinds(t *testing.T) {
	t.Parallel()
	w, base := startWebWicket(t, "", `
[lockout]
max_failures         = 3
account_max_failures = 3
lockout_duration     = "10m"
failure_delay        = "0s"
`)

	t.Run("ReplayedCodeIsRefused", func(t *testing.T) {
		t.Parallel()
		u := w.newUser("bob", true)
		codes := newStepCodes(t, u)
		b := newTab(t, base)
		code := codes.next()
		if st := b.signIn(u.name, u.password, code); st != http.StatusOK || !strings.HasSuffix(b.location(), "/account") {
			t.Fatalf("first sign-in: status %d at %s\n%s", st, b.location(), b.describe())
		}
		if st := b.click("#signout"); st != http.StatusOK || !strings.HasSuffix(b.location(), "/signin") {
			t.Fatalf("signing out: status %d at %s", st, b.location())
		}
		if st := b.open("/account"); !strings.HasSuffix(b.location(), "/signin") {
			t.Fatalf("after signing out, /account answered %d at %s", st, b.location())
		}
		b.wantSignInRefused("the same code again", u.name, u.password, code)
		// The code, not the account, was refused.
		b.mustSignIn(u, codes)
	})

	t.Run("LockedAccountIsRefused", func(t *testing.T) {
		t.Parallel()
		u := w.newUser("carol", true)
		codes := newStepCodes(t, u)
		// Locked as an LDAP guesser locks it: wrong codes, through ldapwhoami.
		for range 3 {
			whoamiWants(t, w, "a wrong code", u, u.password+wrongCode(t, u.secret), 49)
		}
		waitLocked(t, w, u.name)
		b := newTab(t, base)
		b.wantSignInRefused("the right password and code, locked", u.name, u.password, codes.next())
		w.admin("", "user", "unlock", u.name)
		b.mustSignIn(u, codes)
	})

	t.Run("AppPasswordIsNotAPagePassword", func(t *testing.T) {
		t.Parallel()
		u := w.newUser("dave", true)
		codes := newStepCodes(t, u)
		_, app := w.appPassword(u.name, "Thunderbird")
		b := newTab(t, base)
		b.wantSignInRefused("an app password as the password", u.name, app, codes.next())
		// It is a good app password all the same.
		whoamiWants(t, w, "the same app password over LDAP", u, app, 0)
	})

	t.Run("PasswordChangeSignsOutOtherBrowsers", func(t *testing.T) {
		t.Parallel()
		u := w.newUser("frank", true)
		codes := newStepCodes(t, u)
		b, other := newTab(t, base), newTab(t, base)
		b.mustSignIn(u, codes)
		other.mustSignIn(u, codes)
		b.open("/account")
		b.fill("#password-form", map[string]string{"current_password": u.password, "new_password": "Battery-Staple-frank", "code": codes.next()})
		b.click("#change-password")
		if got := b.text("#notice"); !strings.Contains(got, "Password changed") {
			t.Fatalf("after the password change, #notice says %q", got)
		}
		if other.open("/account"); !strings.HasSuffix(other.location(), "/signin") {
			t.Errorf("after the password change the other browser still opens %s", other.location())
		}
		if b.open("/account"); !strings.HasSuffix(b.location(), "/account") {
			t.Errorf("the password change signed out the browser that made it: %s", b.location())
		}
	})

	t.Run("TwentySixthAppPasswordIsRefused", func(t *testing.T) {
		t.Parallel()
		u := w.newUser("erin", true)
		codes := newStepCodes(t, u)
		for i := range 25 {
			w.appPassword(u.name, "device "+strconv.Itoa(i+1))
		}
		b := newTab(t, base)
		b.mustSignIn(u, codes)
		if n := len(b.rows()); n != 25 {
			t.Fatalf("the account page lists %d app passwords, want 25", n)
		}
		b.fill("#generate-form", map[string]string{"label": "one too many"})
		b.click("#generate")
		b.wantError("the 26th app password", "25 app passwords are active; revoke one first")
		if b.count("#new-app-password") != 0 {
			t.Fatal("the 26th app password was shown")
		}
		if ids := activeIDs(w, u.name); len(ids) != 25 {
			t.Fatalf("%d app passwords are active, want 25", len(ids))
		}
	})
}

// waitLocked waits until the account's password path is locked: the
// server records a failure just after answering it.
func waitLocked(t *testing.T, w *wicket, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pw, _ := w.lockStates(name); !pw.LockedUntil.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not locked after 3 wrong codes", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
