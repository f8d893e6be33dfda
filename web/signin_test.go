package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/web"
)

func TestSignIn_PasswordAndCodeOpenTheAccount(t *testing.T) {
	f := newFixture(t, options{})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	if r := b.get("/"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/signin" {
		t.Fatalf("GET / signed out: %d %s", r.status, r.header.Get("Location"))
	}
	page := b.get("/signin").body
	for _, want := range []string{`name="username"`, `name="password"`, `name="code"`, `inputmode="numeric"`,
		`autocomplete="one-time-code"`, `id="signin"`, `<label for="code">`} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	r := b.signIn("alice@example.org", password, f.code(seed))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account" {
		t.Fatalf("sign-in: %d %s %q", r.status, r.header.Get("Location"), byID(r.body, "error"))
	}
	cookie := ""
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "wicket_session=") {
			cookie = c
		}
	}
	for _, flag := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, flag) {
			t.Errorf("session cookie %q lacks %s", cookie, flag)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie %q is Secure on plain HTTP, where the browser would drop it", cookie)
	}
	acct := b.get("/account")
	if acct.status != http.StatusOK || !strings.Contains(acct.body, "App-specific passwords") || !has(acct.body, "rules") {
		t.Fatalf("account page: %d\n%s", acct.status, acct.body)
	}
	if !strings.Contains(byID(acct.body, "rules"), "at most 25") {
		t.Errorf("rules: %q", byID(acct.body, "rules"))
	}
	if has(acct.body, "helpdesk-link") {
		t.Error("a user sees the helpdesk link")
	}
	if r := b.get("/"); r.header.Get("Location") != "/account" {
		t.Errorf("GET / signed in: %s", r.header.Get("Location"))
	}
	if r := b.submit("/account", "/signout", nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/signin" {
		t.Fatalf("sign-out: %d %s", r.status, r.header.Get("Location"))
	}
	if r := b.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("account after sign-out: %d", r.status)
	}

	var signins []backend.AuditRecord
	for _, rec := range f.audit("alice") {
		if rec.Action == backend.ActionSignIn {
			signins = append(signins, rec)
		}
	}
	if len(signins) != 1 || signins[0].Result != backend.ResultSuccess || signins[0].Method != "web" || signins[0].Remote != "127.0.0.1" {
		t.Errorf("audit of the sign-in: %+v", signins)
	}
}

// Every failure answers the same words, whatever failed, and opens no
// session; an app password never signs in and is not marked used.
func TestSignIn_EveryFailureLooksTheSame(t *testing.T) {
	f := newFixture(t, options{})
	f.user("alice", backend.RoleUser, false)
	f.user("bob", backend.RoleUser, false)
	f.user("postfix", backend.RoleService, true)
	ap, err := f.svc.CreateAppPassword(context.Background(), "alice", "Thunderbird")
	if err != nil {
		t.Fatal(err)
	}
	// A code accepted once, by another browser.
	used := f.code(seed)
	if r := f.browser().signIn("bob", password, used); r.status != http.StatusSeeOther {
		t.Fatalf("bob's first sign-in: %d", r.status)
	}
	wrongCode := "000000"
	if wrongCode == f.code(seed) {
		wrongCode = "111111"
	}
	for _, tc := range []struct{ name, user, pw, code string }{
		{"wrong password", "alice", "Wrong-Horse-42", f.code(seed)},
		{"wrong code", "alice", password, wrongCode},
		{"no code", "alice", password, ""},
		{"unknown user", "nobody", password, f.code(seed)},
		{"replayed code", "bob", password, used},
		{"app password as the password", "alice", ap.Password, f.code(seed)},
		{"app password alone", "alice", ap.Password, ""},
		{"app password without dashes", "alice", strings.ReplaceAll(ap.Password, "-", ""), ""},
		{"service account", "postfix", password, ""},
	} {
		b := f.browser()
		r := b.signIn(tc.user, tc.pw, tc.code)
		if r.status != http.StatusOK || byID(r.body, "error") != msgSignInFailed {
			t.Errorf("%s: %d, error %q", tc.name, r.status, byID(r.body, "error"))
		}
		if strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), "wicket_session=") {
			t.Errorf("%s: a session cookie was set", tc.name)
		}
		if r := b.get("/account"); r.status != http.StatusSeeOther {
			t.Errorf("%s: /account answered %d", tc.name, r.status)
		}
	}
	for _, p := range f.appPasswords("alice") {
		if !p.LastUsedAt.IsZero() || p.LastUsedFrom != "" {
			t.Errorf("the app password typed on the page was marked used: %+v", p)
		}
	}
}

// A locked password path refuses the right password and code on the page
// as it does on LDAP, with the same words.
func TestSignIn_LockedAccountIsRefused(t *testing.T) {
	f := newFixture(t, options{backend: backend.Options{Lockout: backend.LockoutPolicy{MaxFailures: 3, AccountMaxFailures: 3}}})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	for range 3 {
		b.signIn("alice", "Wrong-Horse-42", f.code(seed))
	}
	// LDAP sees the lock the page's failures set.
	if _, err := f.svc.Authenticate(context.Background(), "alice", password+f.code(seed), "192.0.2.9"); err == nil {
		t.Error("an LDAP bind passed after three failed sign-ins on the page")
	}
	f.nextStep()
	r := b.signIn("alice", password, f.code(seed))
	if r.status != http.StatusOK || byID(r.body, "error") != msgSignInFailed {
		t.Fatalf("the right password and code while locked: %d %q", r.status, byID(r.body, "error"))
	}
	if err := f.svc.Unlock(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	f.nextStep()
	b.mustSignIn("alice")
}

// Past the failures an address may make, the page answers 429 before
// looking at the password, as LDAP answers busy.
func TestSignIn_ThrottledAddressGets429(t *testing.T) {
	f := newFixture(t, options{perMinute: 1, burst: 3})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	for i := range 3 {
		if r := b.signIn("alice", "Wrong-Horse-42", "123456"); r.status != http.StatusOK {
			t.Fatalf("failure %d within the burst: %d", i+1, r.status)
		}
	}
	r := b.signIn("alice", password, f.code(seed))
	if r.status != http.StatusTooManyRequests || byID(r.body, "error") != msgThrottled {
		t.Fatalf("over the limit: %d %q", r.status, byID(r.body, "error"))
	}
	// The code was never looked at, so it still works once the address
	// has its token back.
	f.clock.Add(time.Minute)
	b.mustSignIn("alice")
}

// Behind a trusted proxy the client is the last untrusted address of
// X-Forwarded-For; from anyone else the header is ignored.
func TestSignIn_ClientAddressFromTrustedProxyOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		want    string
	}{
		{"no proxy trusted", nil, "127.0.0.1"},
		{"loopback proxy", []string{"127.0.0.1/32"}, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o options
			for _, p := range tc.proxies {
				o.web.TrustedProxies = append(o.web.TrustedProxies, mustPrefix(t, p))
			}
			f := newFixture(t, o)
			f.user("alice", backend.RoleUser, false)
			b := f.browser()
			form := url.Values{"username": {"alice"}, "password": {password}, "code": {f.code(seed)},
				"csrf": {csrfOf(t, b.get("/signin").body)}}
			if r := b.post("/signin", form, "X-Forwarded-For", "203.0.113.9, 198.51.100.7"); r.status != http.StatusSeeOther {
				t.Fatalf("sign-in: %d", r.status)
			}
			for _, rec := range f.audit("alice") {
				if rec.Action == backend.ActionSignIn && rec.Remote != tc.want {
					t.Errorf("sign-in recorded from %q, want %q", rec.Remote, tc.want)
				}
			}
		})
	}
}

func TestHeaders_EveryAnswer(t *testing.T) {
	f := newFixture(t, options{})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	b.mustSignIn("alice")
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; " +
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
	}
	for _, path := range []string{"/signin", "/account", "/enrol", "/static/style.css", "/static/copy.js", "/nowhere"} {
		r := b.get(path)
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if !strings.HasPrefix(path, "/static/") && r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, r.header.Get("Cache-Control"))
		}
	}
	// No inline script or style: the CSP would block it.
	for _, path := range []string{"/signin", "/account", "/enrol"} {
		body := b.get(path).body
		if path == "/signin" {
			body = f.browser().get(path).body
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "<style") || strings.Contains(body, " style=") ||
			strings.Contains(body, " onclick=") {
			t.Errorf("%s has inline script or style", path)
		}
		if !strings.Contains(body, `name="viewport"`) {
			t.Errorf("%s lacks the viewport meta", path)
		}
	}
}

func TestSession_IdleAndAbsoluteExpiry(t *testing.T) {
	f := newFixture(t, options{web: web.Config{SessionIdle: 15 * time.Minute, SessionMax: 8 * time.Hour}})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	b.mustSignIn("alice")
	f.clock.Add(14 * time.Minute)
	if r := b.get("/account"); r.status != http.StatusOK {
		t.Fatalf("after 14 idle minutes: %d", r.status)
	}
	f.clock.Add(15 * time.Minute)
	if r := b.get("/account"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/signin" {
		t.Fatalf("after 15 idle minutes: %d %s", r.status, r.header.Get("Location"))
	}

	b = f.browser()
	b.mustSignIn("alice")
	for range 8*60/10 - 1 {
		f.clock.Add(10 * time.Minute)
		if r := b.get("/account"); r.status != http.StatusOK {
			t.Fatalf("an active session ended before 8 h: %d", r.status)
		}
	}
	f.clock.Add(10 * time.Minute)
	if r := b.get("/account"); r.status != http.StatusSeeOther {
		t.Fatalf("an active session after 8 h: %d", r.status)
	}
}

func TestSession_EndsWhenTheAccountIsDisabledOrDeleted(t *testing.T) {
	f := newFixture(t, options{})
	f.user("alice", backend.RoleUser, false)
	ctx := context.Background()
	b := f.browser()
	b.mustSignIn("alice")
	if err := f.svc.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/account"); r.status != http.StatusSeeOther {
		t.Fatalf("after the account was disabled: %d", r.status)
	}
	if err := f.svc.SetDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	// Ended, not suspended: enabling the account does not bring it back.
	if r := b.get("/account"); r.status != http.StatusSeeOther {
		t.Fatalf("after the account was enabled again: %d", r.status)
	}
	b.mustSignIn("alice")
	if err := f.svc.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/account"); r.status != http.StatusSeeOther {
		t.Fatalf("after the account was deleted: %d", r.status)
	}
}

// A flood refused by the address's limit adds one audit record per
// address and write, with its count, as refused binds do.
func TestSignIn_ThrottledFloodIsCountedNotListed(t *testing.T) {
	f := newFixture(t, options{perMinute: 1, burst: 2})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	const n = 40
	refused := 0
	for range n {
		if r := b.signIn("alice", "Wrong-Horse-42", "123456"); r.status == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != n-2 {
		t.Fatalf("%d of %d sign-ins answered 429, want all but the burst of 2", refused, n)
	}
	f.svc.Close()
	recs, err := f.svc.AuditRecords(context.Background(), backend.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rows, counted := 0, 0
	for _, rec := range recs {
		if rec.Action == backend.ActionSignIn && rec.Result == backend.FailRateLimited {
			rows++
			counted += rec.Count
		}
	}
	if counted != refused || rows > 2 {
		t.Errorf("%d refusals in %d audit rows; want %d in one or two", counted, rows, refused)
	}
}

// Behind a trusted proxy that rewrites Host, the browser's origin is
// checked against X-Forwarded-Host; from anyone else that header counts
// for nothing.
func TestOrigin_ForwardedHostFromTrustedProxyOnly(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		var o options
		if trusted {
			o.web.TrustedProxies = append(o.web.TrustedProxies, mustPrefix(t, "127.0.0.1/32"))
		}
		f := newFixture(t, o)
		f.user("alice", backend.RoleUser, false)
		b := f.browser()
		form := url.Values{"username": {"alice"}, "password": {password}, "code": {f.code(seed)},
			"csrf": {csrfOf(t, b.get("/signin").body)}}
		r := b.post("/signin", form, "Origin", "https://account.example.org", "X-Forwarded-Host", "account.example.org")
		if want := map[bool]int{false: http.StatusForbidden, true: http.StatusSeeOther}[trusted]; r.status != want {
			t.Errorf("trusted proxy %v: %d, want %d", trusted, r.status, want)
		}
	}
}
