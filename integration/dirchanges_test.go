package integration

import (
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// Changes made with the command line while the server runs, another
// process, show in the very next search: the server keeps its directory by
// applying the store's log of changes, and must not miss one.
func TestDirectory_CommandLineChangesShowInTheNextSearch(t *testing.T) {
	d := dirSetup(t)
	w := d.w
	l := dialBound(t, w, d.dovecot.dn, d.dovecot.password)
	lookup := func(filter string, attrs ...string) []*ldap.Entry {
		t.Helper()
		res, err := l.Search(ldap.NewSearchRequest(dirPeople, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			filter, attrs, nil))
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		return res.Entries
	}
	one := func(what, filter, attr string, want ...string) {
		t.Helper()
		got := lookup(filter, attr)
		if len(got) != 1 {
			t.Fatalf("%s: %s found %d entries, want 1", what, filter, len(got))
		}
		if vals := got[0].GetAttributeValues(attr); !slices.Equal(vals, want) {
			t.Errorf("%s: %s %s = %q, want %q", what, filter, attr, vals, want)
		}
	}
	none := func(what, filter string) {
		t.Helper()
		if got := lookup(filter, "uid"); len(got) != 0 {
			t.Errorf("%s: %s found %d entries, want none", what, filter, len(got))
		}
	}

	// Warm the server's copy, then change it from outside.
	one("before", "(mailAlternateAddress=alice@example.net)", "uid", "alice")
	w.admin("", "user", "set", "alice", "--alias", "liddell@example.net")
	none("an alias replaced", "(mailAlternateAddress=alice@example.net)")
	one("an alias replaced", "(mailAlternateAddress=liddell@example.net)", "uid", "alice")
	w.admin("", "user", "set", "carol", "--mail", "carol@example.net", "--display-name", "Carol C.")
	one("a new mail", "(mail=carol@example.net)", "displayName", "Carol C.")
	w.admin("", "user", "set", "carol", "--uid-number", "10003", "--gid-number", "100", "--home-directory", "/home/carol")
	one("POSIX attributes", "(&(objectClass=posixAccount)(uidNumber=10003))", "homeDirectory", "/home/carol")
	w.admin("", "user", "set", "carol", "--home-directory", "/srv/mail/carol")
	one("another home", "(uidNumber=10003)", "homeDirectory", "/srv/mail/carol")
	w.admin("", "user", "set", "carol", "--no-posix")
	none("POSIX attributes removed", "(objectClass=posixAccount)")
	w.admin("", "group", "member-remove", "staff", "bob")
	one("a member left", "(uid=bob)", "memberOf")
	w.admin("", "group", "member-add", "admins", "alice")
	one("a member joined", "(uid=alice)", "memberOf", dirGroupDN("admins"), dirGroupDN("staff"))
	w.admin("", "group", "delete", "staff")
	one("a group deleted", "(uid=alice)", "memberOf", dirGroupDN("admins"))
	w.admin("", "user", "disable", "bob")
	one("disabled", "(uid=bob)", "accountStatus", "disabled")
	w.admin("", "user", "delete", "bob")
	none("deleted", "(uid=bob)")
	none("deleted, by address", "(mailAlternateAddress=bob@example.net)")
	w.newUser("bob", false)
	one("created again", "(uid=bob)", "accountStatus", "active")
}
