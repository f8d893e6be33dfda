package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/web"
)

const msgEnrolFailed = "Enrolment failed: the name, password or enrolment code is wrong, or two-factor sign-in is already on for this account."

func (b *browser) enrolStart(name, pw, invite string) *response {
	b.f.t.Helper()
	form := url.Values{"username": {name}, "password": {pw}}
	if invite != "" {
		form.Set("invite", invite)
	}
	return b.submit("/enrol", "/enrol", form)
}

func (b *browser) enrolConfirm(code string) *response {
	b.f.t.Helper()
	return b.submit("/enrol", "/enrol/confirm", url.Values{"code": {code}})
}

// qrPage checks the page that shows a new second factor and returns its
// secret.
func qrPage(t *testing.T, r *response) string {
	t.Helper()
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("QR page: %d, Cache-Control %q, error %q", r.status, r.header.Get("Cache-Control"), byID(r.body, "error"))
	}
	src := attr(r.body, "totp-qr", "src")
	data, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		t.Fatalf("#totp-qr src %.40q is no PNG data: URI", src)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("#totp-qr is not a PNG of a QR code: %v", err)
	}
	if !strings.HasPrefix(attr(r.body, "totp-qr", "alt"), "QR code") {
		t.Errorf("#totp-qr alt %q", attr(r.body, "totp-qr", "alt"))
	}
	// Shown in groups of four, which authenticator apps accept as typed.
	shown := byID(r.body, "totp-secret")
	if !regexp.MustCompile(`^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$`).MatchString(shown) {
		t.Errorf("#totp-secret %q is not base32 in groups of four", shown)
	}
	secret := strings.ReplaceAll(shown, " ", "")
	if len(secret) < 32 {
		t.Fatalf("#totp-secret %q", secret)
	}
	if strings.Contains(r.body, `value="`+secret+`"`) {
		t.Fatal("the secret is in a form field")
	}
	return secret
}

func (f *fixture) invite(name string, ttl time.Duration) string {
	f.t.Helper()
	code, _, err := f.svc.IssueInvite(context.Background(), name, ttl)
	if err != nil {
		f.t.Fatal(err)
	}
	return code
}

func (f *fixture) enrolled(name string) bool {
	f.t.Helper()
	u, err := f.svc.User(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return u.TOTPEnrolled
}

func TestEnrol_WithInvitation(t *testing.T) {
	f := newFixture(t, options{})
	f.user("carol", backend.RoleUser, true)
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	page := b.get("/enrol").body
	if !strings.Contains(page, `name="invite"`) || !has(page, "enrol-start") {
		t.Fatal("the enrolment form has no invite field")
	}

	// An invitation that expired.
	old := f.invite("carol", time.Minute)
	f.clock.Add(2 * time.Minute)
	if r := b.enrolStart("carol", password, old); byID(r.body, "error") != msgEnrolFailed || has(r.body, "totp-qr") {
		t.Fatalf("expired invitation: %q", byID(r.body, "error"))
	}
	code := f.invite("carol", 0)
	for _, tc := range []struct{ name, user, pw, invite string }{
		{"wrong invitation", "carol", password, "ABCD-EFGH-JKLM-NPQR"},
		{"no invitation", "carol", password, ""},
		{"wrong password", "carol", "Wrong-Horse-42", code},
		{"someone else's invitation", "alice", password, code},
	} {
		if r := b.enrolStart(tc.user, tc.pw, tc.invite); byID(r.body, "error") != msgEnrolFailed || has(r.body, "totp-qr") {
			t.Errorf("%s: %d %q", tc.name, r.status, byID(r.body, "error"))
		}
	}
	if f.enrolled("carol") {
		t.Fatal("refusals enrolled carol")
	}

	// Lower case and without dashes, as typed from paper.
	typed := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	secret := qrPage(t, b.enrolStart("carol@example.org", password, typed))
	// A second browser with the same invitation, confirmed after the first.
	late := f.browser()
	lateSecret := qrPage(t, late.enrolStart("carol", password, code))

	r := b.enrolConfirm("000000")
	if byID(r.body, "error") == "" || qrPage(t, r) != secret {
		t.Fatalf("a wrong code: error %q", byID(r.body, "error"))
	}
	if f.enrolled("carol") {
		t.Fatal("a wrong code enrolled carol")
	}
	used := f.code(secret)
	r = b.enrolConfirm(used)
	if !strings.Contains(byID(r.body, "notice"), "Two-factor sign-in is on") || !strings.Contains(r.body, `href="/signin"`) {
		t.Fatalf("confirming: notice %q, error %q", byID(r.body, "notice"), byID(r.body, "error"))
	}
	if !f.enrolled("carol") {
		t.Fatal("carol has no TOTP after the confirmation")
	}
	// The invitation is used up, and so is the code that confirmed.
	if r := late.enrolConfirm(f.code(lateSecret)); byID(r.body, "error") != msgEnrolFailed {
		t.Errorf("the second browser's confirmation: %q", byID(r.body, "error"))
	}
	if r := f.browser().enrolStart("carol", password, code); byID(r.body, "error") != msgEnrolFailed {
		t.Errorf("the used invitation: %q", byID(r.body, "error"))
	}
	if r := f.browser().signIn("carol", password, used); byID(r.body, "error") != msgSignInFailed {
		t.Error("the code that confirmed the enrolment signs in again")
	}
	f.nextStep()
	s := f.browser()
	if r := s.signIn("carol", password, f.code(secret)); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in with the new second factor: %d %q", r.status, byID(r.body, "error"))
	}
	if _, err := f.svc.Authenticate(context.Background(), "carol", password+f.code(lateSecret), "192.0.2.7"); err == nil &&
		lateSecret != secret {
		t.Error("the second browser's seed was saved")
	}
	var got []string
	for _, rec := range f.audit("carol") {
		if rec.Action == backend.ActionTOTPEnroll && rec.Result == backend.ResultSuccess {
			got = append(got, rec.Method+" "+rec.Detail)
		}
	}
	if len(got) != 1 || got[0] != "web via=invite" {
		t.Errorf("the enrolment in the audit trail: %v", got)
	}
}

func TestEnrol_ConfirmationExpires(t *testing.T) {
	f := newFixture(t, options{})
	f.user("carol", backend.RoleUser, true)
	b := f.browser()
	secret := qrPage(t, b.enrolStart("carol", password, f.invite("carol", 0)))
	f.clock.Add(11 * time.Minute)
	if r := b.enrolConfirm(f.code(secret)); has(r.body, "totp-qr") || byID(r.body, "error") == "" || f.enrolled("carol") {
		t.Fatalf("a confirmation after 11 minutes: error %q", byID(r.body, "error"))
	}
}

func TestEnrol_PasswordModeNeedsNoInvitation(t *testing.T) {
	f := newFixture(t, options{web: web.Config{Enrolment: web.EnrolPassword}})
	f.user("carol", backend.RoleUser, true)
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	if page := b.get("/enrol").body; strings.Contains(page, `name="invite"`) {
		t.Fatal("the form asks for an invitation in password mode")
	}
	if r := b.enrolStart("carol", "Wrong-Horse-42", ""); byID(r.body, "error") != msgEnrolFailed {
		t.Fatalf("wrong password: %q", byID(r.body, "error"))
	}
	// An account that has TOTP keeps it.
	if r := b.enrolStart("alice", password, ""); byID(r.body, "error") != msgEnrolFailed {
		t.Fatalf("an enrolled account: %q", byID(r.body, "error"))
	}
	secret := qrPage(t, b.enrolStart("carol", password, ""))
	if r := b.enrolConfirm(f.code(secret)); !strings.Contains(byID(r.body, "notice"), "Two-factor sign-in is on") {
		t.Fatalf("confirming: %q", byID(r.body, "error"))
	}
	if !f.enrolled("carol") {
		t.Fatal("not enrolled")
	}
}

func TestEnrol_OffRefusesEveryone(t *testing.T) {
	f := newFixture(t, options{web: web.Config{Enrolment: web.EnrolOff}})
	f.user("carol", backend.RoleUser, true)
	b := f.browser()
	if page := b.get("/enrol").body; has(page, "enrol-start") {
		t.Fatal("the enrolment form is shown when enrolment is off")
	}
	form := url.Values{"username": {"carol"}, "password": {password}, "invite": {f.invite("carol", 0)},
		"csrf": {csrfOf(t, b.get("/signin").body)}}
	if r := b.post("/enrol", form); r.status != http.StatusForbidden || f.enrolled("carol") {
		t.Fatalf("enrolment when off: %d", r.status)
	}
}
