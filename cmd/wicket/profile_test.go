package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

func (c *cli) show(name string) backend.UserInfo {
	c.t.Helper()
	var u backend.UserInfo
	decode(c.t, c.ok("", "--json", "user", "show", name), &u)
	return u
}

func (c *cli) groups() []backend.Group {
	c.t.Helper()
	var gs []backend.Group
	decode(c.t, c.ok("", "--json", "group", "list"), &gs)
	return gs
}

func TestUserSet(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice", "--mail", "alice@old.example.org")

	out := c.ok("", "user", "set", "alice", "--mail", "alice@example.org", "--alias", "al@example.org",
		"--alias", "postmaster@example.org", "--given-name", "Alice", "--surname", "Liddell",
		"--display-name", "Alice Liddell")
	contains(t, "user set", out, "changed alice", "mail:", "alice@example.org (was alice@old.example.org)",
		"aliases:", "al@example.org, postmaster@example.org (was -)", "display name:", "Alice Liddell (was -)",
		"given name:", "surname:")

	u := c.show("alice")
	if u.Mail != "alice@example.org" || !slices.Equal(u.Aliases, []string{"al@example.org", "postmaster@example.org"}) ||
		u.GivenName != "Alice" || u.Surname != "Liddell" || u.DisplayName != "Alice Liddell" {
		t.Errorf("user show --json after set: %+v", u)
	}
	out = c.ok("", "user", "show", "alice")
	contains(t, "user show", out, "aliases:", "al@example.org, postmaster@example.org", "display name:", "Alice Liddell",
		"given name:", "Alice", "surname:", "Liddell")
	if strings.Contains(out, "groups:") {
		t.Errorf("user show prints an empty groups line:\n%s", out)
	}
	for _, u := range c.users() {
		if u.Name == "alice" && len(u.Aliases) != 2 {
			t.Errorf("user list --json lacks the aliases: %+v", u)
		}
	}

	// Only the flags given change anything.
	contains(t, "set the surname only", c.ok("", "user", "set", "alice", "--surname", "Pleasance Liddell"),
		"surname:", "Pleasance Liddell (was Liddell)")
	if u := c.show("alice"); u.Mail != "alice@example.org" || len(u.Aliases) != 2 || u.GivenName != "Alice" {
		t.Errorf("after changing the surname only: %+v", u)
	}

	// --alias replaces the list, it does not add to it.
	var got backend.UserInfo
	decode(t, c.ok("", "--json", "user", "set", "alice", "--alias", "a@example.org"), &got)
	if !slices.Equal(got.Aliases, []string{"a@example.org"}) || got.Mail != "alice@example.org" {
		t.Errorf("user set --alias --json = %+v, want the one alias given", got)
	}

	// Repeats, however spelled, count once.
	c.ok("", "user", "set", "alice", "--alias", "b@example.org", "--alias", "B@Example.org")
	if u := c.show("alice"); !slices.Equal(u.Aliases, []string{"b@example.org"}) {
		t.Errorf("aliases after a repeated --alias: %q", u.Aliases)
	}

	contains(t, "same values", c.ok("", "user", "set", "alice", "--given-name", "Alice"), "nothing changed")

	contains(t, "no-aliases", c.ok("", "user", "set", "alice", "--no-aliases"), "aliases:", "- (was b@example.org)")
	if u := c.show("alice"); len(u.Aliases) != 0 {
		t.Errorf("aliases after --no-aliases: %q", u.Aliases)
	}

	// An empty value clears the attribute.
	c.ok("", "user", "set", "alice", "--display-name", "")
	if u := c.show("alice"); u.DisplayName != "" || u.Surname == "" {
		t.Errorf("after clearing the display name: %+v", u)
	}
}

// An alias made the mail address stops being an alias, and the old mail
// address can become one in the same command.
func TestUserSetPromotesAlias(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice", "--mail", "alice@example.org")
	c.ok("", "user", "set", "alice", "--alias", "a@example.org", "--alias", "b@example.org")

	c.ok("", "user", "set", "alice", "--mail", "a@example.org")
	if u := c.show("alice"); u.Mail != "a@example.org" || !slices.Equal(u.Aliases, []string{"b@example.org"}) {
		t.Errorf("after making an alias the mail address: %+v", u)
	}
	c.ok("", "user", "set", "alice", "--mail", "b@example.org", "--alias", "a@example.org")
	if u := c.show("alice"); u.Mail != "b@example.org" || !slices.Equal(u.Aliases, []string{"a@example.org"}) {
		t.Errorf("after swapping mail address and alias: %+v", u)
	}
}

func TestUserSetRefused(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice", "--mail", "alice@example.org")
	c.addUser("bob", "--mail", "bob@example.org")
	c.ok("", "user", "set", "bob", "--alias", "robert@example.org")
	c.ok("", "user", "set", "alice", "--alias", "al@example.org", "--display-name", "Alice")
	before := c.show("alice")

	for _, tc := range []struct {
		what string
		args []string
		want []string
	}{
		{"alias that is another account's mail", []string{"--alias", "BOB@example.org"},
			[]string{"BOB@example.org is already another account's address", "bob"}},
		{"alias that is another account's alias", []string{"--alias", "x@example.org", "--alias", "robert@example.org"},
			[]string{"robert@example.org is already another account's address"}},
		{"mail that is another account's alias", []string{"--mail", "robert@example.org", "--surname", "L"},
			[]string{"robert@example.org is already another account's address"}},
		// The mail address would be written before the aliases: refused
		// beforehand, nothing of the command is applied.
		{"new mail, alias taken", []string{"--mail", "alice2@example.org", "--alias", "bob@example.org"},
			[]string{"bob@example.org is already another account's address"}},
		{"alias equal to its own mail", []string{"--alias", "Alice@example.org"},
			[]string{"Alice@example.org is the mail address of alice", "another address"}},
		{"alias equal to the new mail", []string{"--mail", "new@example.org", "--alias", "new@example.org"},
			[]string{"new@example.org is the mail address of alice"}},
		{"bad mail", []string{"--mail", "not-an-address"}, []string{`"not-an-address" is not a mail address`}},
		{"bad alias", []string{"--alias", "a b@example.org"}, []string{`"a b@example.org" is not a mail address`}},
		{"control character in a name", []string{"--given-name", "A\x07"}, []string{"names must be"}},
		{"both --alias and --no-aliases", []string{"--alias", "x@example.org", "--no-aliases"},
			[]string{"either --alias or --no-aliases, not both"}},
		{"no flag", nil, []string{"nothing to change", "--mail"}},
	} {
		msg := c.fail("", append([]string{"user", "set", "alice"}, tc.args...)...)
		contains(t, tc.what, msg, tc.want...)
		if strings.Contains(msg, "invalid input") || strings.Contains(msg, "sqlite") {
			t.Errorf("%s: message not worded for the administrator: %q", tc.what, msg)
		}
		if after := c.show("alice"); !sameProfile(&before, &after) {
			t.Errorf("%s: refused, yet alice changed from %+v to %+v", tc.what, before, after)
		}
	}
	if u := c.show("bob"); u.Mail != "bob@example.org" || !slices.Equal(u.Aliases, []string{"robert@example.org"}) {
		t.Errorf("bob after alice's refused changes: %+v", u)
	}
	contains(t, "unknown account", c.fail("", "user", "set", "ghost", "--surname", "x"), "no such account: ghost")

	// An alias found malformed only after the mail address is
	// written: whatever was applied is told, never left for the
	// administrator to discover.
	msg := c.fail("", "user", "set", "alice", "--mail", "alice2@example.org", "--alias", "bad one")
	contains(t, "bad alias with a new mail", msg, `"bad one" is not a mail address`)
	if after := c.show("alice"); !sameProfile(&before, &after) {
		contains(t, "partly applied change", msg, "only part of the change was made", "alice2@example.org (was alice@example.org)")
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	c.addUser("bob")

	contains(t, "empty group list", c.ok("", "group", "list"), "no groups yet")
	if gs := c.groups(); gs == nil || len(gs) != 0 {
		t.Errorf("group list --json with no groups = %#v, want []", gs)
	}

	contains(t, "group add", c.ok("", "group", "add", "Staff"), "created group staff")
	var gr backend.Group
	decode(t, c.ok("", "--json", "group", "add", "mail-users"), &gr)
	if gr.Name != "mail-users" || gr.Members == nil || len(gr.Members) != 0 {
		t.Errorf("group add --json = %#v", gr)
	}
	contains(t, "group add twice", c.fail("", "group", "add", "STAFF"), "group staff already exists")
	msg := c.fail("", "group", "add", "bad name")
	contains(t, "bad group name", msg, `group name "bad name"`)
	if strings.Contains(msg, "account") {
		t.Errorf("bad group name: message speaks of an account: %q", msg)
	}

	contains(t, "member-add", c.ok("", "group", "member-add", "staff", "alice"), "added alice to group staff")
	contains(t, "member-add twice", c.ok("", "group", "member-add", "staff", "ALICE"), "alice was already a member of staff")
	decode(t, c.ok("", "--json", "group", "member-add", "Staff", "bob"), &gr)
	if gr.Name != "staff" || !slices.Equal(gr.Members, []string{"alice", "bob"}) {
		t.Errorf("member-add --json = %+v", gr)
	}
	c.ok("", "group", "member-add", "mail-users", "alice")

	out := c.ok("", "group", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("group list: want a header and 2 rows, got:\n%s", out)
	}
	contains(t, "group list header", lines[0], "NAME", "MEMBERS")
	contains(t, "group list", lines[1], "mail-users", "alice")
	contains(t, "group list", lines[2], "staff", "alice, bob")
	if gs := c.groups(); len(gs) != 2 || gs[1].Name != "staff" || !slices.Equal(gs[1].Members, []string{"alice", "bob"}) {
		t.Errorf("group list --json = %+v", gs)
	}

	contains(t, "user show lists groups", c.ok("", "user", "show", "alice"), "groups:", "mail-users, staff")
	if u := c.show("alice"); !slices.Equal(u.Groups, []string{"mail-users", "staff"}) {
		t.Errorf("user show --json groups = %q", u.Groups)
	}

	contains(t, "member-remove", c.ok("", "group", "member-remove", "staff", "alice"), "removed alice from group staff")
	contains(t, "member-remove twice", c.ok("", "group", "member-remove", "staff", "alice"), "alice was not a member of staff")
	if u := c.show("alice"); !slices.Equal(u.Groups, []string{"mail-users"}) {
		t.Errorf("groups after member-remove = %q", u.Groups)
	}

	contains(t, "delete", c.ok("", "group", "delete", "staff"), "deleted group staff", "1 member")
	contains(t, "delete twice", c.fail("", "group", "delete", "staff"), "no such group: staff")
	if gs := c.groups(); len(gs) != 1 || gs[0].Name != "mail-users" {
		t.Errorf("group list after delete = %+v", gs)
	}
	if u := c.show("bob"); len(u.Groups) != 0 {
		t.Errorf("bob's groups after his group was deleted = %q", u.Groups)
	}
}

func TestGroupUnknown(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "group", "add", "staff")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"group", "member-add", "ghosts", "alice"}, "no such group: ghosts"},
		{[]string{"group", "member-remove", "ghosts", "alice"}, "no such group: ghosts"},
		{[]string{"group", "member-add", "staff", "ghost"}, "no such account: ghost"},
		{[]string{"group", "member-remove", "staff", "ghost"}, "no such account: ghost"},
		{[]string{"group", "delete", "ghosts"}, "no such group: ghosts"},
	} {
		msg := c.fail("", tc.args...)
		if strings.TrimSpace(msg) != "wicket: "+tc.want {
			t.Errorf("wicket %s: stderr %q, want %q", strings.Join(tc.args, " "), msg, tc.want)
		}
	}
	if gs := c.groups(); len(gs) != 1 || len(gs[0].Members) != 0 {
		t.Errorf("groups after refused changes = %+v", gs)
	}
	if o := c.exec(nil, "group", "member-add", "staff"); o.code == 0 || !strings.Contains(o.stderr, "usage: wicket group member-add GROUP USER") {
		t.Errorf("member-add without a user: exit %d, stderr %q", o.code, o.stderr)
	}
}

// The POSIX attributes: set together, changed one by one, removed with
// --no-posix; anything refused is refused whole, with what to do.
func TestUserSet_PosixAttributes(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice", "--mail", "alice@example.org")

	msg := c.fail("", "user", "set", "alice", "--uid-number", "10001")
	contains(t, "a uid number alone", msg, "missing: gid number, home directory")
	out := c.ok("", "user", "set", "alice", "--uid-number", "10001", "--gid-number", "100",
		"--home-directory", "/home/alice", "--login-shell", "/bin/bash")
	contains(t, "user set", out, "changed alice", "uid number:", "10001 (was -)", "gid number:", "100 (was -)",
		"home directory:", "/home/alice (was -)", "login shell:", "/bin/bash (was -)")
	want := backend.Posix{UIDNumber: 10001, GIDNumber: 100, HomeDirectory: "/home/alice", LoginShell: "/bin/bash"}
	if u := c.show("alice"); u.Posix == nil || *u.Posix != want {
		t.Errorf("user show --json: posix %+v, want %+v", u.Posix, want)
	}
	contains(t, "user show", c.ok("", "user", "show", "alice"), "posix:", "uid 10001, gid 100, home /home/alice, shell /bin/bash",
		"entry UUID:")

	for _, bad := range [][]string{
		{"--uid-number", "2147483648"}, {"--gid-number", "-1"}, {"--uid-number", "ten"},
		{"--home-directory", "home/alice"}, {"--login-shell", "/bin/sh\n"}, {"--home-directory", ""},
		{"--mail", "new@example.org", "--login-shell", "zsh"},
	} {
		msg := c.fail("", append([]string{"user", "set", "alice"}, bad...)...)
		if msg == "" {
			t.Errorf("%q: no message", bad)
		}
		if u := c.show("alice"); u.Posix == nil || *u.Posix != want || u.Mail != "alice@example.org" {
			t.Errorf("%q refused, yet alice is now %+v, %s", bad, u.Posix, u.Mail)
		}
	}
	contains(t, "both ways", c.fail("", "user", "set", "alice", "--no-posix", "--uid-number", "1"), "--no-posix", "--uid-number")

	contains(t, "no shell", c.ok("", "user", "set", "alice", "--login-shell", ""), "login shell:", "- (was /bin/bash)")
	contains(t, "no-posix", c.ok("", "user", "set", "alice", "--no-posix"), "uid number:", "- (was 10001)")
	if u := c.show("alice"); u.Posix != nil {
		t.Errorf("after --no-posix: %+v", u.Posix)
	}
	if out := c.ok("", "user", "show", "alice"); strings.Contains(out, "posix:") {
		t.Errorf("user show prints POSIX attributes it has not:\n%s", out)
	}
}
