package main

import (
	"context"
	"strings"
	"testing"
)

// line is the line of out that starts with key.
func line(out, key string) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, key) {
			return l
		}
	}
	return ""
}

// Failed binds made through a service on the database (as the server would)
// show in `user show` and `user list`, and `user unlock`, run as another
// process would, clears them for the very next bind.
func TestUserUnlock_ShowsAndClearsLocks(t *testing.T) {
	c := newCLI(t, "[lockout]\nmax_failures = 3\naccount_max_failures = 3\n[auth]\nrequire_second_factor = false\n")
	c.addUser("alice")
	c.addUser("bob")
	c.ok("", "totp", "enroll", "bob") // so that a guess shaped like an app password is one
	e := c.service()
	ctx := context.Background()
	for range 3 {
		e.svc.Authenticate(ctx, "alice", "not the password", "192.0.2.7")
	}
	e.svc.Authenticate(ctx, "bob", "abcd-efgh-ijkl-mnop", "192.0.2.7")
	// Failures are written after their answer; Close waits for them.
	e.Close()
	e = c.service()
	defer e.Close()

	out := c.ok("", "user", "show", "alice")
	contains(t, "user show of a locked account", line(out, "status:"), "password locked")
	contains(t, "user show of a locked account", line(out, "password sign-in:"), "locked until", "after 3 failures")
	// App-password guesses are never counted on the account.
	out = c.ok("", "user", "show", "bob")
	contains(t, "user show of bob", line(out, "password sign-in:"), "no failures")
	contains(t, "user list", c.ok("", "user", "list"), "password locked")

	if _, err := e.svc.Authenticate(ctx, "alice", "correct horse battery", "192.0.2.7"); err == nil {
		t.Fatal("the right password passed during the lock")
	}
	contains(t, "user unlock", c.ok("", "user", "unlock", "alice"), "unlocked alice", "locked until")
	if _, err := e.svc.Authenticate(ctx, "alice", "correct horse battery", "192.0.2.7"); err != nil {
		t.Fatalf("the right password after unlock: %v", err)
	}

	var u struct {
		Password struct {
			Failures int `json:"failures"`
		} `json:"password_lockout"`
	}
	decode(t, c.ok("", "--json", "user", "show", "alice"), &u)
	if u.Password.Failures != 0 {
		t.Errorf("user show --json after unlock and a success: %+v", u)
	}
	contains(t, "user unlock of a clean account", c.ok("", "user", "unlock", "alice"), "no failed binds on the account")
	contains(t, "user unlock of an unknown account", c.fail("", "user", "unlock", "nobody"), "no such account: nobody")
}
