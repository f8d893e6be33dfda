package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

func TestFoldKey_SameKeyExactlyWhenEqualFold(t *testing.T) {
	words := []string{"alice", "ALICE", "Alice", "kelvin", "\u212aelvin", "KELVIN", "sam", "\u017fam", "SAM",
		"straße", "STRASSE", "strasse", "Ωmega", "ωmega", "\xff", "\xfe", "", "a", "b", "ǅ", "ǆ", "Ǆ"}
	for _, a := range words {
		for _, b := range words {
			if eq, same := strings.EqualFold(a, b), backend.FoldKey(a) == backend.FoldKey(b); eq != same {
				t.Errorf("%q vs %q: EqualFold %v, same key %v", a, b, eq, same)
			}
		}
	}
}

// The index may name more accounts than match, never fewer: every account
// the filter matches must be among the candidates.
func TestCandidates_NeverLeaveOutAMatch(t *testing.T) {
	srv, err := New(Config{BaseDN: testBase, Logger: quietLogger()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	uuids := []backend.UUID{backend.NewUUID(), backend.NewUUID(), backend.NewUUID()}
	d := backend.NewDir(&backend.Directory{
		Accounts: []backend.DirAccount{
			{ID: 1, Name: "alice", Mail: "alice@example.org", UUID: uuids[0]},
			{ID: 2, Name: "bob", Mail: "Bob@Example.org", UUID: uuids[1]},
			{ID: 3, Name: "kate", Mail: "\u212aate@example.org"},
			{ID: 4, Name: "postfix", Role: backend.RoleService},
			{ID: 5, Name: "sam"},
		},
		Aliases: map[int64][]string{1: {"ali@example.org", "postmaster@example.org"}, 5: {"\u017fam@example.org"}},
		Groups:  map[int64][]string{1: {"staff"}},
	})
	filters := []string{
		"(uid=alice)", "(uid=ALICE)", "(uid=nobody)", "(mail=bob@example.org)", "(mail=kate@example.org)",
		"(mailAlternateAddress=postmaster@EXAMPLE.org)", "(mail=postmaster@example.org)",
		"(|(mail=ali@example.org)(mailAlternateAddress=ali@example.org))", "(mail=sam@example.org)",
		"(&(objectClass=inetOrgPerson)(uid=bob))", "(&(uid=bob)(mail=alice@example.org))",
		"(|(uid=alice)(cn=*))", "(!(uid=alice))", "(cn=bob)", "(uid=*)", "(uid;x-opt=alice)",
		"(&(|(uid=alice)(uid=bob))(objectClass=*))", "(accountStatus=active)",
		"(entryUUID=" + uuids[0].String() + ")", "(entryUUID=" + strings.ToUpper(uuids[1].String()) + ")",
		"(entryUUID=" + uuids[2].String() + ")", "(entryUUID=not-a-uuid)",
		"(|(uid=sam)(entryUUID=" + uuids[0].String() + "))",
	}
	for _, fs := range filters {
		f, err := ldap.CompileFilter(fs)
		if err != nil {
			t.Fatal(err)
		}
		set, narrowed, err := candidates(d, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range d.All() {
			e := srv.userEntry(a, nil)
			e.addOps(entryOps{uuid: a.UUID, structural: structPerson})
			if match(f, e) == fTrue && narrowed && !slices.Contains(set.accounts, a) {
				t.Errorf("%s matches %s, which the index left out (candidates %v)", fs, a.Name, set.accounts)
			}
		}
	}
	// And it narrows what mail servers and Nextcloud ask.
	for _, fs := range []string{"(uid=alice)", "(mail=bob@example.org)", "(|(mail=x@y)(mailAlternateAddress=x@y))",
		"(&(objectClass=inetOrgPerson)(uid=bob))", "(entryUUID=" + uuids[1].String() + ")",
		"(&(objectClass=inetOrgPerson)(entryUUID=" + uuids[2].String() + "))"} {
		f, _ := ldap.CompileFilter(fs)
		if set, ok, err := candidates(d, f, nil); !ok || err != nil || len(set.accounts) > 1 || set.children {
			t.Errorf("%s: candidates %+v, %v, %v; want at most one account", fs, set, ok, err)
		}
	}
}

// Narrowed searches skip app passwords only where they could not show:
// asked for, or tested by the filter, they are there.
func TestSearch_NarrowedStillShowsAppPasswordsWhenAsked(t *testing.T) {
	e := newEnv(t)
	l := e.dial(t)
	if err := l.Bind("alice", e.appPassword); err != nil {
		t.Fatal(err)
	}
	people := "ou=people," + testBase
	search := func(filter string, attrs ...string) []*ldap.Entry {
		t.Helper()
		res, err := l.Search(ldap.NewSearchRequest(people, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			filter, attrs, nil))
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		return res.Entries
	}
	if got := search("(uid=alice)", "mail"); len(got) != 1 || got[0].DN != aliceDN || got[0].GetAttributeValue("mail") != aliceMail {
		t.Errorf("(uid=alice) mail: %v", got)
	}
	if got := search("(uid=alice)", "appPasswordId"); len(got) != 1 || len(got[0].GetAttributeValues("appPasswordId")) == 0 {
		t.Errorf("(uid=alice) appPasswordId: %v", got)
	}
	if got := search("(&(uid=alice)(appPasswordId=*))", "uid"); len(got) != 1 {
		t.Errorf("(&(uid=alice)(appPasswordId=*)): %d entries, want alice's", len(got))
	}
	if got := search("(uid=alice)"); len(got) != 1 || len(got[0].GetAttributeValues("appPasswordId")) == 0 {
		t.Errorf("(uid=alice) with every attribute: %v", got)
	}
	// Not narrowed: the app password entries themselves are found.
	if got := search("(appPasswordId=*)", "appPasswordId"); len(got) < 2 {
		t.Errorf("(appPasswordId=*): %d entries, want alice's and her app passwords'", len(got))
	}
}
