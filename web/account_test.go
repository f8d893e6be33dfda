package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

var appPasswordShape = regexp.MustCompile(`^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$`)

// generate posts the generate form and returns the new password shown.
func (b *browser) generate(label string) (*response, string) {
	b.f.t.Helper()
	r := b.submit("/account", "/account/app-passwords", url.Values{"label": {label}})
	return r, byID(r.body, "new-app-password")
}

func TestAppPasswords_GenerateShowsOnceUpToTheLimit(t *testing.T) {
	f := newFixture(t, options{backend: backend.Options{MaxAppPasswords: 3}})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	b.mustSignIn("alice")
	if r := b.get("/account"); !has(r.body, "no-app-passwords") || has(r.body, "app-passwords") {
		t.Fatal("a new account's page does not say it has no app passwords")
	}
	var shown []string
	for i := range 3 {
		r, pw := b.generate("Phone " + string(rune('A'+i)))
		if r.status != http.StatusOK || !appPasswordShape.MatchString(pw) {
			t.Fatalf("generate %d: %d, #new-app-password %q, error %q", i+1, r.status, pw, byID(r.body, "error"))
		}
		if r.header.Get("Cache-Control") != "no-store" || !has(r.body, "copy") ||
			!strings.Contains(r.body, `src="/static/copy.js"`) {
			t.Errorf("generate %d: no-store %q, copy button %v", i+1, r.header.Get("Cache-Control"), has(r.body, "copy"))
		}
		// It binds as LDAP would check it.
		if p, err := f.svc.Authenticate(context.Background(), "alice", pw, "192.0.2.7"); err != nil || p.Method != backend.MethodAppPassword {
			t.Fatalf("the shown app password does not bind: %v", err)
		}
		shown = append(shown, pw)
	}
	acct := b.get("/account").body
	for _, pw := range shown {
		if strings.Contains(acct, pw) || strings.Contains(acct, strings.ReplaceAll(pw, "-", "")) {
			t.Fatal("the account page shows an app password again")
		}
	}
	if has(acct, "new-app-password") {
		t.Error("the account page has #new-app-password after the answer that showed it")
	}
	if ids := rowIDs(acct); len(ids) != 3 {
		t.Errorf("%d rows in #app-passwords, want 3", len(ids))
	}
	for _, cls := range []string{`class="label"`, `class="created"`, `class="last-used"`, `class="last-used-from"`, `class="revoke"`} {
		if !strings.Contains(acct, cls) {
			t.Errorf("the table lacks %s", cls)
		}
	}
	if !strings.Contains(acct, "192.0.2.7") {
		t.Error("the table does not show where an app password was last used from")
	}

	r, pw := b.generate("One too many")
	if pw != "" {
		t.Fatal("a fourth app password was made over a limit of 3")
	}
	if r.status == http.StatusSeeOther {
		r = b.get(r.header.Get("Location"))
	}
	if got := byID(r.body, "error"); !strings.Contains(got, "3 app passwords are active; revoke one first") {
		t.Errorf("over the limit: #error %q", got)
	}
	if n := len(f.appPasswords("alice")); n != 3 {
		t.Errorf("%d app passwords after the refusal, want 3", n)
	}
}

func TestAppPasswords_RevokeOneThenAllAfterConfirming(t *testing.T) {
	f := newFixture(t, options{})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	b.mustSignIn("alice")
	var pws []string
	for _, l := range []string{"Laptop", "Phone", "Tablet"} {
		_, pw := b.generate(l)
		pws = append(pws, pw)
	}
	ids := rowIDs(b.get("/account").body)
	if len(ids) != 3 {
		t.Fatalf("%d rows, want 3", len(ids))
	}
	ctx := context.Background()
	r := b.submit("/account", "/account/app-passwords/revoke", url.Values{"id": {ids[0]}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	if _, err := f.svc.Authenticate(ctx, "alice", pws[0], "192.0.2.7"); err == nil {
		t.Fatal("the revoked app password still binds")
	}
	page := b.get("/account").body
	if !strings.Contains(byID(page, "notice"), "revoked") || len(rowIDs(page)) != 2 {
		t.Fatalf("after revoking one: notice %q, %d rows", byID(page, "notice"), len(rowIDs(page)))
	}
	// Another account's id revokes nothing.
	f.user("bob", backend.RoleUser, false)
	bobs, err := f.svc.CreateAppPassword(ctx, "bob", "Bob's phone")
	if err != nil {
		t.Fatal(err)
	}
	b.submit("/account", "/account/app-passwords/revoke", url.Values{"id": {bobs.ID}})
	if len(f.appPasswords("bob")) != 1 {
		t.Fatal("alice revoked bob's app password")
	}

	r = b.submit("/account", "/account/app-passwords/revoke-all", nil)
	if r.status != http.StatusOK || !has(r.body, "confirm-revoke-all") {
		t.Fatalf("revoke all without confirm: %d, confirm button %v", r.status, has(r.body, "confirm-revoke-all"))
	}
	if n := len(f.appPasswords("alice")); n != 2 {
		t.Fatalf("the confirmation page revoked: %d left", n)
	}
	r = b.post("/account/app-passwords/revoke-all", url.Values{"confirm": {"yes"}, "csrf": {csrfOf(t, r.body)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("confirmed revoke all: %d", r.status)
	}
	page = b.get("/account").body
	if got := byID(page, "notice"); got != "2 app passwords were revoked." || !has(page, "no-app-passwords") {
		t.Errorf("after revoking all: notice %q", got)
	}
	for _, pw := range pws {
		if _, err := f.svc.Authenticate(ctx, "alice", pw, "192.0.2.7"); err == nil {
			t.Error("an app password binds after revoke all")
		}
	}
}

// A post without the session's token, or from another site, is refused
// with 403 and changes nothing.
func TestCSRF_ForeignPostIsRefusedAndChangesNothing(t *testing.T) {
	f := newFixture(t, options{})
	f.user("alice", backend.RoleUser, false)
	b := f.browser()
	b.mustSignIn("alice")
	b.generate("Laptop")
	token := csrfOf(t, b.get("/account").body)
	for _, tc := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {strings.Repeat("A", 43)}}, nil},
		{"another site's origin", url.Values{"csrf": {token}}, []string{"Origin", "http://evil.example"}},
		{"cross-site fetch", url.Values{"csrf": {token}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"opaque origin from another site", url.Values{"csrf": {token}}, []string{"Origin", "null", "Sec-Fetch-Site", "cross-site"}},
	} {
		for _, path := range []string{"/account/app-passwords", "/account/app-passwords/revoke-all", "/account/password", "/signout"} {
			form := url.Values{"label": {"Evil"}, "confirm": {"yes"}, "current_password": {password},
				"new_password": {"Evil-Horse-4242"}, "code": {f.code(seed)}}
			for k, v := range tc.form {
				form[k] = v
			}
			r := b.post(path, form, tc.header...)
			if r.status != http.StatusForbidden || byID(r.body, "error") == "" {
				t.Errorf("%s to %s: %d", tc.name, path, r.status)
			}
		}
	}
	if aps := f.appPasswords("alice"); len(aps) != 1 || aps[0].Label != "Laptop" {
		t.Errorf("app passwords after refused posts: %+v", aps)
	}
	if r := b.get("/account"); r.status != http.StatusOK {
		t.Errorf("the session did not survive refused posts: %d", r.status)
	}
	// The page's own post with an origin the browser will not name (as
	// Chromium sends under some referrer policies) is decided by
	// Sec-Fetch-Site and the token.
	if r := b.post("/account/app-passwords", url.Values{"csrf": {token}, "label": {"Phone"}},
		"Origin", "null", "Sec-Fetch-Site", "same-origin"); r.status != http.StatusOK || byID(r.body, "new-app-password") == "" {
		t.Errorf("own post with Origin null: %d %s", r.status, byID(r.body, "error"))
	}
	if aps := f.appPasswords("alice"); len(aps) != 2 {
		t.Errorf("app passwords after the own post: %+v", aps)
	}
	if _, err := f.svc.SignIn(context.Background(), "alice", password, f.code(seed), "192.0.2.7"); err != nil {
		t.Errorf("the password changed: %v", err)
	}
	// Before sign-in, the double-submit token guards the form.
	anon := f.browser()
	anon.get("/signin")
	r := anon.post("/signin", url.Values{"username": {"alice"}, "password": {password}, "code": {f.code(seed)}})
	if r.status != http.StatusForbidden {
		t.Errorf("sign-in without its token: %d", r.status)
	}
}

func TestPasswordChange_RevokesAllAndEndsOtherSessions(t *testing.T) {
	f := newFixture(t, options{})
	f.user("alice", backend.RoleUser, false)
	a, other := f.browser(), f.browser()
	a.mustSignIn("alice")
	other.mustSignIn("alice")
	var pws []string
	for _, l := range []string{"Laptop", "Phone"} {
		_, pw := a.generate(l)
		pws = append(pws, pw)
	}
	const next = "Battery-Staple-77"
	change := func(current, code string) string {
		r := a.submit("/account", "/account/password", url.Values{"current_password": {current}, "new_password": {next}, "code": {code}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("password change: %d", r.status)
		}
		return a.get("/account").body
	}
	// A wrong current password changes nothing.
	page := change("Wrong-Horse-42", f.code(seed))
	if byID(page, "error") == "" || len(f.appPasswords("alice")) != 2 {
		t.Fatalf("wrong current password: error %q, %d app passwords", byID(page, "error"), len(f.appPasswords("alice")))
	}
	f.nextStep()
	page = change(password, f.code(seed))
	notice := byID(page, "notice")
	if !strings.Contains(notice, "Password changed") || !strings.Contains(notice, "2 app passwords were revoked") {
		t.Fatalf("notice %q, error %q", notice, byID(page, "error"))
	}
	ctx := context.Background()
	for _, pw := range pws {
		if _, err := f.svc.Authenticate(ctx, "alice", pw, "192.0.2.7"); err == nil {
			t.Error("an app password binds after the password change")
		}
	}
	if r := other.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("the other session after the change: %d", r.status)
	}
	if r := a.get("/account"); r.status != http.StatusOK {
		t.Errorf("the session that changed it: %d", r.status)
	}
	f.nextStep()
	if r := f.browser().signIn("alice", password, f.code(seed)); byID(r.body, "error") != msgSignInFailed {
		t.Error("the old password still signs in")
	}
	f.nextStep()
	if r := f.browser().signIn("alice", next, f.code(seed)); r.status != http.StatusSeeOther {
		t.Errorf("the new password: %d %q", r.status, byID(r.body, "error"))
	}
	// A change made elsewhere (the CLI, LDAP) ends the page's sessions too.
	if _, err := f.svc.SetPassword(ctx, "alice", "Third-Horse-333"); err != nil {
		t.Fatal(err)
	}
	if r := a.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("a session after a change made elsewhere: %d", r.status)
	}
}

func TestHelpdesk_AdministratorsOnly(t *testing.T) {
	f := newFixture(t, options{backend: backend.Options{Lockout: backend.LockoutPolicy{MaxFailures: 2, AccountMaxFailures: 2}}})
	f.user("alice", backend.RoleUser, false)
	f.user("carol", backend.RoleUser, true)
	f.user("root", backend.RoleAdmin, false)
	user := f.browser()
	user.mustSignIn("alice")
	for _, path := range []string{"/admin", "/admin/user?name=alice"} {
		if r := user.get(path); r.status != http.StatusForbidden {
			t.Errorf("a user's GET %s: %d", path, r.status)
		}
	}
	if r := user.submit("/account", "/admin/user/revoke-all", url.Values{"name": {"root"}}); r.status != http.StatusForbidden {
		t.Errorf("a user's POST to the helpdesk: %d", r.status)
	}
	if _, err := f.svc.CreateAppPassword(context.Background(), "alice", "Laptop"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f.svc.SignIn(context.Background(), "alice", "Wrong-Horse-42", "000000", "192.0.2.7")
	}
	// A failure is written after its answer: wait for the lock to land.
	waitFor(t, "alice's lock in the store", func() bool {
		u, err := f.svc.Standing(context.Background(), "alice")
		return err == nil && u.PasswordLockout.Locked()
	})

	admin := f.browser()
	admin.mustSignIn("root")
	if !has(admin.get("/account").body, "helpdesk-link") {
		t.Error("an administrator has no helpdesk link")
	}
	found := admin.get("/admin?q=ALI").body
	if !strings.Contains(found, `<a class="user" href="/admin/user?name=alice">`) {
		t.Fatalf("search for ALI:\n%s", found)
	}
	page := admin.get("/admin/user?name=alice").body
	if got := byID(page, "lock-state"); !strings.Contains(got, "locked") || strings.Contains(got, "not locked") {
		t.Errorf("lock state of a locked account: %q", got)
	}
	if len(rowIDs(page)) != 1 || strings.Contains(page, `class="revoke"`) {
		t.Error("the helpdesk's table is not the read-only list of alice's app passwords")
	}
	r := admin.submit("/admin/user?name=alice", "/admin/user/unlock", url.Values{"name": {"alice"}})
	if got := byID(r.body, "lock-state"); !strings.Contains(got, "not locked") {
		t.Errorf("after unlock: %q", got)
	}
	r = admin.submit("/admin/user?name=alice", "/admin/user/revoke-all", url.Values{"name": {"alice"}})
	if byID(r.body, "notice") != "1 app passwords were revoked." || len(f.appPasswords("alice")) != 0 {
		t.Errorf("revoke all from the helpdesk: %q", byID(r.body, "notice"))
	}
	r = admin.submit("/admin/user?name=carol", "/admin/user/invite", url.Values{"name": {"carol"}})
	code := byID(r.body, "invite-code")
	if !regexp.MustCompile(`^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$`).MatchString(code) || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("invite: %q", code)
	}
	if _, err := f.svc.BeginEnrolment(context.Background(), "carol", password, code, "192.0.2.7", true); err != nil {
		t.Errorf("the helpdesk's invitation does not enrol: %v", err)
	}
	var byRoot []string
	for _, rec := range f.audit("alice") {
		if rec.Actor == "root" {
			byRoot = append(byRoot, rec.Action+" "+rec.Method)
		}
	}
	if strings.Join(byRoot, ",") != "apppw-revoke-all web,user-unlock web" {
		t.Errorf("the helpdesk's changes in the audit trail: %v", byRoot)
	}
}
