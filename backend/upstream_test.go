package backend_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// directory is an upstream in memory: its users' passwords and change
// markers, and every password it was asked to check. The real one, slapd,
// runs in integration/upstream_test.go; this one counts what reaches it.
type directory struct {
	mu    sync.Mutex
	users map[string]*dirUser // by every login: name, mail
	asked []string            // logins asked about, in order
	down  bool
}

type dirUser struct {
	backend.UpstreamUser
	password string
}

func newDirectory() *directory { return &directory{users: map[string]*dirUser{}} }

func (d *directory) add(name, mail, password string) *dirUser {
	u := &dirUser{UpstreamUser: backend.UpstreamUser{DN: "uid=" + name + ",ou=people,dc=corp", Name: name, Mail: mail,
		Changed: "pwdChangedTime=1"}, password: password}
	d.users[name], d.users[mail] = u, u
	return u
}

func (d *directory) VerifyPrimary(_ context.Context, login, password string) (*backend.UpstreamUser, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, backend.ErrUpstreamUnavailable
	}
	d.asked = append(d.asked, login)
	u := d.users[login]
	switch {
	case u == nil:
		return nil, &backend.AuthFailure{Category: backend.FailUnknownAccount, Reason: "unknown upstream"}
	case u.password != password:
		return nil, &backend.AuthFailure{Category: backend.FailWrongPassword, Reason: "wrong password (upstream)"}
	}
	cp := u.UpstreamUser
	return &cp, nil
}

func (d *directory) Users(context.Context) ([]backend.UpstreamUser, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[*dirUser]bool{}
	var out []backend.UpstreamUser
	for _, u := range d.users {
		if !seen[u] {
			seen[u] = true
			out = append(out, u.UpstreamUser)
		}
	}
	return out, nil
}

func (d *directory) askedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.asked)
}

const upstreamPW = "Upstream-Secret"

// upstreamUser makes alice's account by her first sign-in, enrols her and
// returns her TOTP secret.
func upstreamUser(t *testing.T, f *fixture, d *directory) string {
	t.Helper()
	d.add("alice", "alice@corp.example", upstreamPW)
	if err := f.auth("alice", upstreamPW); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("first sign-in without a second factor: %v, want refused", err)
	}
	e, err := f.svc.EnrollTOTP(context.Background(), "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.Secret
}

func TestUpstream_WhatWicketDecidesNeverReachesTheUpstream(t *testing.T) {
	d := newDirectory()
	f := newFixture(t, backend.Options{Upstream: d, RequireSecondFactor: true})
	secret := upstreamUser(t, f, d)
	before := d.askedCount()
	for name, guess := range map[string]string{
		"a secret shaped like an app password": "abcd-efgh-ijkl-mnop",
		"the password without a code":          upstreamPW,
		"a wrong code":                         upstreamPW + "000000",
	} {
		if name == "a wrong code" && code(t, secret, f.clock.now()) == "000000" {
			continue
		}
		if err := f.auth("alice", guess); !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	if n := d.askedCount() - before; n != 0 {
		t.Fatalf("the upstream was asked %d times, want 0", n)
	}
	if err := f.auth("alice", upstreamPW+code(t, secret, f.clock.now())); err != nil {
		t.Fatalf("password+code: %v", err)
	}
	if n := d.askedCount() - before; n != 1 {
		t.Fatalf("the upstream was asked %d times for one sign-in, want 1", n)
	}
}

func TestUpstream_UnavailableKeepsTheCodeAndTheAppPasswords(t *testing.T) {
	d := newDirectory()
	f := newFixture(t, backend.Options{Upstream: d, RequireSecondFactor: true})
	secret := upstreamUser(t, f, d)
	app, err := f.svc.CreateAppPassword(context.Background(), "alice", "phone")
	if err != nil {
		t.Fatal(err)
	}
	d.down = true
	c := code(t, secret, f.clock.now())
	if err := f.auth("alice", upstreamPW+c); !errors.Is(err, backend.ErrUpstreamUnavailable) || !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("with the upstream down: %v, want ErrUpstreamUnavailable", err)
	}
	if err := f.auth("alice", app.Password); err != nil {
		t.Fatalf("app password with the upstream down: %v", err)
	}
	d.down = false
	if err := f.auth("alice", upstreamPW+c); err != nil {
		t.Fatalf("the same code once the upstream is back: %v, want success (it never reached an answer)", err)
	}
}

func TestUpstream_PasswordChangedUpstreamRevokesAppPasswords(t *testing.T) {
	d := newDirectory()
	f := newFixture(t, backend.Options{Upstream: d, RequireSecondFactor: true})
	upstreamUser(t, f, d)
	ctx := context.Background()
	app, err := f.svc.CreateAppPassword(ctx, "alice", "phone")
	if err != nil {
		t.Fatal(err)
	}
	// A poll that finds nothing changed changes nothing.
	rep, err := f.svc.SyncUpstream(ctx, false)
	if err != nil || len(rep.PasswordChanged) != 0 {
		t.Fatalf("sync with nothing changed: %+v, %v", rep, err)
	}
	if err := f.auth("alice", app.Password); err != nil {
		t.Fatalf("app password: %v", err)
	}
	d.users["alice"].Changed = "pwdChangedTime=2"
	rep, err = f.svc.SyncUpstream(ctx, false)
	if err != nil || len(rep.PasswordChanged) != 1 {
		t.Fatalf("sync after a change upstream: %+v, %v", rep, err)
	}
	if err := f.auth("alice", app.Password); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("app password after the change upstream: %v, want refused", err)
	}
	// Gone upstream: refused, and back again once it is back.
	app2, err := f.svc.CreateAppPassword(ctx, "alice", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	kept := d.users["alice"]
	delete(d.users, "alice")
	delete(d.users, "alice@corp.example")
	d.add("someone", "someone@corp.example", "x")
	if rep, err = f.svc.SyncUpstream(ctx, false); err != nil || len(rep.Disabled) != 1 {
		t.Fatalf("sync with alice gone: %+v, %v", rep, err)
	}
	if err := f.auth("alice", app2.Password); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("app password with alice gone upstream: %v, want refused", err)
	}
	d.users["alice"], d.users["alice@corp.example"] = kept, kept
	if rep, err = f.svc.SyncUpstream(ctx, false); err != nil || len(rep.Enabled) != 1 {
		t.Fatalf("sync with alice back: %+v, %v", rep, err)
	}
	if err := f.auth("alice", app2.Password); err != nil {
		t.Fatalf("app password with alice back: %v", err)
	}
}

func TestUpstream_PasswordOfAnUpstreamAccountIsNotSetHere(t *testing.T) {
	d := newDirectory()
	f := newFixture(t, backend.Options{Upstream: d, RequireSecondFactor: true})
	upstreamUser(t, f, d)
	if _, err := f.svc.SetPassword(context.Background(), "alice", "A-New-Password"); !errors.Is(err, backend.ErrUpstreamManaged) {
		t.Fatalf("SetPassword: %v, want ErrUpstreamManaged", err)
	}
	ui, err := f.svc.User(context.Background(), "alice")
	if err != nil || !ui.Upstream || ui.HasPassword {
		t.Fatalf("alice: %+v, %v; want upstream, no password here", ui, err)
	}
}

func TestUpstream_AccountPageSignInAndEnrolmentAskTheUpstream(t *testing.T) {
	d := newDirectory()
	d.add("alice", "alice@corp.example", upstreamPW)
	f := newSQLiteFixture(t, backend.Options{Upstream: d, RequireSecondFactor: true}, nil)
	ctx := context.Background()
	// The first enrolment, on the page, with the upstream password: the
	// account is made from the upstream.
	pe, err := f.svc.BeginEnrolment(ctx, "alice", upstreamPW, "", "192.0.2.7", false)
	if err != nil {
		t.Fatalf("enrolment with the upstream password: %v", err)
	}
	if err := f.svc.ConfirmEnrolment(ctx, pe, code(t, pe.Secret, f.clock.now())); err != nil {
		t.Fatal(err)
	}
	f.clock.add(30 * time.Second)
	before := d.askedCount()
	// An app password typed as the password, a missing or wrong code:
	// refused without asking.
	for _, c := range []struct{ pw, code string }{
		{"abcd-efgh-ijkl-mnop", code(t, pe.Secret, f.clock.now())},
		{upstreamPW, ""},
		{upstreamPW, "000000"},
	} {
		if c.code == "000000" && code(t, pe.Secret, f.clock.now()) == "000000" {
			continue
		}
		if _, err := f.svc.SignIn(ctx, "alice", c.pw, c.code, "192.0.2.7"); !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Errorf("sign-in %q/%q: %v, want refused", c.pw, c.code, err)
		}
	}
	if n := d.askedCount() - before; n != 0 {
		t.Fatalf("the upstream was asked %d times, want 0", n)
	}
	f.clock.add(30 * time.Second)
	if _, err := f.svc.SignIn(ctx, "alice", upstreamPW, code(t, pe.Secret, f.clock.now()), "192.0.2.7"); err != nil {
		t.Fatalf("sign-in with the upstream password and a code: %v", err)
	}
	// An invitation wrong: the upstream is not asked either.
	d.add("bob", "bob@corp.example", "Bob-Upstream")
	if _, err := f.svc.SyncUpstream(ctx, true); err != nil {
		t.Fatal(err)
	}
	before = d.askedCount()
	if _, err := f.svc.BeginEnrolment(ctx, "bob", "Bob-Upstream", "not-an-invitation", "192.0.2.7", true); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("enrolment with a wrong invitation: %v", err)
	}
	if n := d.askedCount() - before; n != 0 {
		t.Fatalf("a wrong invitation asked the upstream %d times", n)
	}
	inv, _, err := f.svc.IssueInvite(ctx, "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.BeginEnrolment(ctx, "bob", "Bob-Upstream", inv, "192.0.2.7", true); err != nil {
		t.Fatalf("enrolment with the invitation and the upstream password: %v", err)
	}
}
