package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

// --- helpers for profiles, aliases and groups ---

func mustSetProfile(t *testing.T, s backend.Store, id int64, p backend.Profile) {
	t.Helper()
	if err := s.SetProfile(t.Context(), id, p); err != nil {
		t.Fatalf("SetProfile(%d, %+v): %v", id, p, err)
	}
}

func mustSetAliases(t *testing.T, s backend.Store, id int64, aliases ...string) {
	t.Helper()
	if err := s.SetAliases(t.Context(), id, aliases); err != nil {
		t.Fatalf("SetAliases(%d, %q): %v", id, aliases, err)
	}
}

func mustCreateGroup(t *testing.T, s backend.Store, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := s.CreateGroup(t.Context(), name); err != nil {
			t.Fatalf("CreateGroup(%q): %v", name, err)
		}
	}
}

func mustSetMember(t *testing.T, s backend.Store, group string, id int64, member bool) {
	t.Helper()
	if err := s.SetGroupMember(t.Context(), group, id, member); err != nil {
		t.Fatalf("SetGroupMember(%q, %d, %v): %v", group, id, member, err)
	}
}

func mustDirectory(t *testing.T, s backend.Store) *backend.Directory {
	t.Helper()
	d, err := s.Directory(t.Context())
	if err != nil {
		t.Fatalf("Directory: %v", err)
	}
	return d
}

// holder is the name of the account AccountByMail finds, "" for none.
func holder(t *testing.T, s backend.Store, mail string) string {
	t.Helper()
	a, err := s.AccountByMail(t.Context(), mail)
	if errors.Is(err, backend.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("AccountByMail(%q): %v", mail, err)
	}
	return a.Name
}

func wantHolder(t *testing.T, s backend.Store, mail, want string) {
	t.Helper()
	if got := holder(t, s, mail); got != want {
		t.Fatalf("AccountByMail(%q) found %q, want %q", mail, got, want)
	}
}

func aliasesOf(t *testing.T, s backend.Store, id int64) []string {
	t.Helper()
	return mustDirectory(t, s).Aliases[id]
}

// membership is groups with their names and members only: the rest is
// drawn (UUID) or the store's time, checked on its own.
func membership(groups []backend.Group) []backend.Group {
	out := make([]backend.Group, len(groups))
	for i, g := range groups {
		out[i] = backend.Group{Name: g.Name, Members: g.Members}
	}
	return out
}

func groupNames(d *backend.Directory) []string {
	var names []string
	for _, g := range d.AllGroups {
		names = append(names, g.Name)
	}
	return names
}

// --- profiles ---

func setProfileReplaces(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	b := mustCreate(t, s, "bob", "bob@example.org")
	p := backend.Profile{Mail: "Alice.Liddell@Example.org", GivenName: "Alice", Surname: "Liddell", DisplayName: "Alice L."}
	mustSetProfile(t, s, a.ID, p)
	a.Mail, a.GivenName, a.Surname, a.DisplayName = p.Mail, p.GivenName, p.Surname, p.DisplayName
	sameAccount(t, "after SetProfile", mustByName(t, s, "alice"), a)
	wantHolder(t, s, "alice.liddell@example.org", "alice")
	wantHolder(t, s, "alice@example.org", "")
	mustCreate(t, s, "carol", "ALICE@example.org")

	// The account's own address in another case is no conflict; the
	// profile is replaced as a whole, not merged.
	mustSetProfile(t, s, a.ID, backend.Profile{Mail: "alice.liddell@EXAMPLE.ORG"})
	a.Mail, a.GivenName, a.Surname, a.DisplayName = "alice.liddell@EXAMPLE.ORG", "", "", ""
	sameAccount(t, "after replacing the profile", mustByName(t, s, "alice"), a)

	mustSetProfile(t, s, a.ID, backend.Profile{DisplayName: "no mail"})
	if got := mustByName(t, s, "alice"); got.Mail != "" || got.DisplayName != "no mail" {
		t.Fatalf("after removing the mail: %q, %q", got.Mail, got.DisplayName)
	}
	wantHolder(t, s, "alice.liddell@example.org", "")
	sameAccount(t, "other account", mustByName(t, s, "bob"), b)
}

func setProfileMailTaken(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	b := mustCreate(t, s, "bob", "bob@example.org")
	mustSetAliases(t, s, b.ID, "bobby@example.org")
	for _, mail := range []string{"bob@example.org", "BOB@Example.ORG", "bobby@example.org", "Bobby@EXAMPLE.org"} {
		err := s.SetProfile(t.Context(), a.ID, backend.Profile{Mail: mail, GivenName: "changed"})
		wantErr(t, "SetProfile with "+mail, err, backend.ErrExists)
	}
	sameAccount(t, "after refused updates", mustByName(t, s, "alice"), a)
	wantHolder(t, s, "bobby@example.org", "bob")
	wantHolder(t, s, "bob@example.org", "bob")
}

func setProfileOwnAlias(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	b := mustCreate(t, s, "bob", "bob@example.org")
	mustSetAliases(t, s, a.ID, "ally@example.org", "a.liddell@example.org")
	mustSetAliases(t, s, b.ID, "bobby@example.org")
	mustSetProfile(t, s, a.ID, backend.Profile{Mail: "ALLY@example.org"})
	if got := mustByName(t, s, "alice").Mail; got != "ALLY@example.org" {
		t.Fatalf("Mail = %q after promoting an alias", got)
	}
	wantIDs(t, "aliases after the promotion", aliasesOf(t, s, a.ID), "a.liddell@example.org")
	wantHolder(t, s, "ally@example.org", "alice")
	wantHolder(t, s, "alice@example.org", "")

	// The old mail may now become an alias: a swap, in two steps.
	mustSetAliases(t, s, a.ID, "alice@example.org", "a.liddell@example.org")
	wantHolder(t, s, "alice@example.org", "alice")

	// Promoting the last alias leaves none.
	mustSetProfile(t, s, b.ID, backend.Profile{Mail: "bobby@example.org"})
	if got, ok := mustDirectory(t, s).Aliases[b.ID]; ok {
		t.Fatalf("bob's aliases after promoting the only one: %q", got)
	}
}

// --- aliases ---

func setAliasesAllOrNone(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	b := mustCreate(t, s, "bob", "bob@example.org")
	mustSetAliases(t, s, a.ID, "a2@example.org", "a1@example.org")
	wantIDs(t, "aliases", aliasesOf(t, s, a.ID), "a1@example.org", "a2@example.org")

	mustSetAliases(t, s, a.ID, "a2@example.org", "a3@example.org")
	wantIDs(t, "aliases after replacing", aliasesOf(t, s, a.ID), "a2@example.org", "a3@example.org")
	wantHolder(t, s, "a1@example.org", "")

	err := s.SetAliases(t.Context(), a.ID, []string{"a4@example.org", "bob@example.org"})
	wantErr(t, "SetAliases with a taken address", err, backend.ErrExists)
	wantIDs(t, "aliases after a refusal", aliasesOf(t, s, a.ID), "a2@example.org", "a3@example.org")
	wantHolder(t, s, "a4@example.org", "")
	wantHolder(t, s, "a3@example.org", "alice")

	mustSetAliases(t, s, a.ID)
	wantIDs(t, "aliases after clearing", aliasesOf(t, s, a.ID))
	wantHolder(t, s, "a2@example.org", "")
	mustSetAliases(t, s, b.ID, "a3@example.org")
	wantHolder(t, s, "a3@example.org", "bob")
}

func setAliasesTaken(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	b := mustCreate(t, s, "bob", "bob@example.org")
	mustSetAliases(t, s, a.ID, "ally@example.org")
	mustSetAliases(t, s, b.ID, "bobby@example.org")
	for _, addr := range []string{"bob@example.org", "BOB@EXAMPLE.ORG", "bobby@example.org", "Bobby@Example.Org"} {
		err := s.SetAliases(t.Context(), a.ID, []string{"new@example.org", addr})
		wantErr(t, "SetAliases with "+addr, err, backend.ErrExists)
	}
	wantIDs(t, "alice's aliases", aliasesOf(t, s, a.ID), "ally@example.org")
	wantIDs(t, "bob's aliases", aliasesOf(t, s, b.ID), "bobby@example.org")
	wantHolder(t, s, "new@example.org", "")
}

func setAliasesOwnMail(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "Alice@Example.org")
	mustSetAliases(t, s, a.ID, "ally@example.org")
	err := s.SetAliases(t.Context(), a.ID, []string{"new@example.org", "alice@example.org"})
	wantErr(t, "SetAliases with the own mail", err, backend.ErrInvalidInput)
	wantIDs(t, "aliases", aliasesOf(t, s, a.ID), "ally@example.org")
}

func setAliasesEmpty(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "")
	err := s.SetAliases(t.Context(), a.ID, []string{"ally@example.org", ""})
	wantErr(t, "SetAliases with an empty address", err, backend.ErrInvalidInput)
	wantIDs(t, "aliases", aliasesOf(t, s, a.ID))
	wantHolder(t, s, "ally@example.org", "")
}

func setAliasesRepeated(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	mustSetAliases(t, s, a.ID, "Ally@example.org", "b@example.org", "ally@EXAMPLE.org", "Ally@example.org")
	wantIDs(t, "aliases", aliasesOf(t, s, a.ID), "Ally@example.org", "b@example.org")
}

func accountByMailAlias(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	b := mustCreate(t, s, "bob", "")
	mustSetAliases(t, s, a.ID, "Ally@Example.org", "a.liddell@example.org")
	for _, mail := range []string{"ally@example.org", "ALLY@EXAMPLE.ORG", "a.liddell@example.org", "alice@example.org"} {
		got, err := s.AccountByMail(t.Context(), mail)
		if err != nil {
			t.Fatalf("AccountByMail(%q): %v", mail, err)
		}
		sameAccount(t, "AccountByMail("+mail+")", got, a)
	}
	// An account without a primary address may still receive mail.
	mustSetAliases(t, s, b.ID, "bob@example.org")
	got, err := s.AccountByMail(t.Context(), "bob@example.org")
	if err != nil {
		t.Fatal(err)
	}
	sameAccount(t, "AccountByMail of an account without mail", got, b)

	mustSetAliases(t, s, a.ID)
	wantHolder(t, s, "ally@example.org", "")
	wantHolder(t, s, "alice@example.org", "alice")
	_, err = s.AccountByMail(t.Context(), "")
	wantErr(t, `AccountByMail("")`, err, backend.ErrNotFound)
}

func createAccountMailIsAlias(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	mustSetAliases(t, s, a.ID, "shared@example.org")
	err := s.CreateAccount(t.Context(), newAccount(t, "bob", "SHARED@example.org"))
	wantErr(t, "CreateAccount with another's alias", err, backend.ErrExists)
	_, err = s.AccountByName(t.Context(), "bob")
	wantErr(t, "refused account stored", err, backend.ErrNotFound)
	wantHolder(t, s, "shared@example.org", "alice")
}

// --- groups ---

func groupsLifecycle(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "")
	b := mustCreate(t, s, "Bob", "")
	mustCreateGroup(t, s, "staff")
	mustSetMember(t, s, "staff", a.ID, true)
	mustSetMember(t, s, "staff", a.ID, true)
	mustSetMember(t, s, "STAFF", b.ID, true)
	d := mustDirectory(t, s)
	if want := []backend.Group{{Name: "staff", Members: []string{"alice", "Bob"}}}; !reflect.DeepEqual(membership(d.AllGroups), want) {
		t.Fatalf("AllGroups = %+v, want %+v", d.AllGroups, want)
	}
	wantIDs(t, "alice's groups", d.Groups[a.ID], "staff")

	mustSetMember(t, s, "staff", a.ID, false)
	mustSetMember(t, s, "staff", a.ID, false)
	d = mustDirectory(t, s)
	if want := []backend.Group{{Name: "staff", Members: []string{"Bob"}}}; !reflect.DeepEqual(membership(d.AllGroups), want) {
		t.Fatalf("AllGroups after a removal = %+v, want %+v", d.AllGroups, want)
	}
	if g, ok := d.Groups[a.ID]; ok {
		t.Fatalf("alice's groups after her removal: %q", g)
	}

	if err := s.DeleteGroup(t.Context(), "Staff"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	d = mustDirectory(t, s)
	if len(d.AllGroups) != 0 || len(d.Groups) != 0 {
		t.Fatalf("after DeleteGroup: %+v, %v", d.AllGroups, d.Groups)
	}
	wantErr(t, "second DeleteGroup", s.DeleteGroup(t.Context(), "staff"), backend.ErrNotFound)

	// A group of the same name is a new group, without the old members.
	mustCreateGroup(t, s, "staff")
	d = mustDirectory(t, s)
	if want := []backend.Group{{Name: "staff", Members: []string{}}}; !reflect.DeepEqual(membership(d.AllGroups), want) {
		t.Fatalf("recreated group = %+v, want %+v", d.AllGroups, want)
	}
}

func createGroupTaken(t *testing.T, s backend.Store) {
	mustCreateGroup(t, s, "Staff")
	for _, name := range []string{"Staff", "staff", "STAFF"} {
		wantErr(t, "CreateGroup("+name+")", s.CreateGroup(t.Context(), name), backend.ErrExists)
	}
	wantErr(t, `CreateGroup("")`, s.CreateGroup(t.Context(), ""), backend.ErrInvalidInput)
	wantIDs(t, "groups", groupNames(mustDirectory(t, s)), "Staff")
}

func setGroupMemberUnknown(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "")
	mustCreateGroup(t, s, "staff")
	for _, member := range []bool{true, false} {
		err := s.SetGroupMember(t.Context(), "nope", a.ID, member)
		wantErr(t, fmt.Sprintf("SetGroupMember(unknown group, %v)", member), err, backend.ErrNotFound)
		err = s.SetGroupMember(t.Context(), "staff", 999_999, member)
		wantErr(t, fmt.Sprintf("SetGroupMember(unknown account, %v)", member), err, backend.ErrNotFound)
	}
	d := mustDirectory(t, s)
	if len(d.AllGroups) != 1 || len(d.AllGroups[0].Members) != 0 || len(d.Groups) != 0 {
		t.Fatalf("after refused changes: %+v, %v", d.AllGroups, d.Groups)
	}
}

func deleteAccountRemovesAliasesAndMemberships(t *testing.T, s backend.Store) {
	b := mustCreate(t, s, "bob", "")
	// Created last, so that a store reusing the highest id hands it out
	// again below.
	a := mustCreate(t, s, "alice", "alice@example.org")
	mustSetAliases(t, s, a.ID, "ally@example.org")
	mustCreateGroup(t, s, "staff", "admins")
	mustSetMember(t, s, "staff", a.ID, true)
	mustSetMember(t, s, "admins", a.ID, true)
	mustSetMember(t, s, "staff", b.ID, true)

	if err := s.DeleteAccount(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	wantHolder(t, s, "ally@example.org", "")
	d := mustDirectory(t, s)
	want := []backend.Group{{Name: "admins", Members: []string{}}, {Name: "staff", Members: []string{"bob"}}}
	if !reflect.DeepEqual(membership(d.AllGroups), want) {
		t.Fatalf("AllGroups = %+v, want %+v", d.AllGroups, want)
	}
	if len(d.Aliases) != 0 || len(d.Groups) != 1 {
		t.Fatalf("Aliases %v, Groups %v: want only bob's membership", d.Aliases, d.Groups)
	}

	// The address is free again, and a new account inherits nothing.
	c := mustCreate(t, s, "carol", "ally@example.org")
	d = mustDirectory(t, s)
	if len(d.Aliases[c.ID]) != 0 || len(d.Groups[c.ID]) != 0 {
		t.Fatalf("new account %d has aliases %q, groups %q", c.ID, d.Aliases[c.ID], d.Groups[c.ID])
	}
}

// --- directory ---

func directoryContents(t *testing.T, s backend.Store) {
	carol := mustCreate(t, s, "carol", "carol@example.org")
	alice := mustCreate(t, s, "alice", "")
	bob := mustCreate(t, s, "Bob", "bob@example.org")
	mustCreate(t, s, "dave", "")
	profile := backend.Profile{Mail: "carol@example.org", GivenName: "Carol", Surname: "Example", DisplayName: "Carol E."}
	mustSetProfile(t, s, carol.ID, profile)
	carol.GivenName, carol.Surname, carol.DisplayName = profile.GivenName, profile.Surname, profile.DisplayName
	mustSetAliases(t, s, carol.ID, "z@example.org", "B@example.org", "a@example.org")
	mustSetAliases(t, s, bob.ID, "robert@example.org")
	mustCreateGroup(t, s, "staff", "Admins", "empty")
	for _, id := range []int64{carol.ID, alice.ID, bob.ID} {
		mustSetMember(t, s, "staff", id, true)
	}
	mustSetMember(t, s, "Admins", bob.ID, true)

	check := func(what string, d *backend.Directory) {
		t.Helper()
		var names []string
		for _, a := range d.Accounts {
			names = append(names, a.Name)
		}
		// Case-insensitive order, as names compare: "Bob" after "alice".
		wantIDs(t, what+": accounts", names, "alice", "Bob", "carol", "dave")
		sameDirAccount(t, what+": carol", d.Accounts[2], carol)
		wantAliases := map[int64][]string{
			carol.ID: {"a@example.org", "B@example.org", "z@example.org"},
			bob.ID:   {"robert@example.org"},
		}
		if !reflect.DeepEqual(d.Aliases, wantAliases) {
			t.Errorf("%s: Aliases = %v, want %v", what, d.Aliases, wantAliases)
		}
		wantGroups := map[int64][]string{
			alice.ID: {"staff"},
			bob.ID:   {"Admins", "staff"},
			carol.ID: {"staff"},
		}
		if !reflect.DeepEqual(d.Groups, wantGroups) {
			t.Errorf("%s: Groups = %v, want %v", what, d.Groups, wantGroups)
		}
		wantAll := []backend.Group{
			{Name: "Admins", Members: []string{"Bob"}},
			// Never nil, so that it encodes as [] rather than null.
			{Name: "empty", Members: []string{}},
			{Name: "staff", Members: []string{"alice", "Bob", "carol"}},
		}
		if !reflect.DeepEqual(membership(d.AllGroups), wantAll) {
			t.Errorf("%s: AllGroups = %+v, want %+v", what, d.AllGroups, wantAll)
		}
	}
	d := mustDirectory(t, s)
	check("Directory", d)

	// What the caller gets is its own: changing it changes nothing stored.
	d.Aliases[carol.ID][0] = "changed"
	d.Groups[bob.ID][0] = "changed"
	d.AllGroups[2].Members[0] = "changed"
	d.Accounts[2].GivenName = "changed"
	check("Directory after the caller changed its copy", mustDirectory(t, s))
}

func directoryEmpty(t *testing.T, s backend.Store) {
	d := mustDirectory(t, s)
	if len(d.Accounts) != 0 || len(d.Aliases) != 0 || len(d.Groups) != 0 || len(d.AllGroups) != 0 {
		t.Fatalf("Directory of an empty store = %+v", d)
	}
}

// directorySnapshot reads the directory while a writer creates an account,
// gives it an alias and a group, and deletes it again, over and over. Each
// step is atomic on its own, so any mix of before and after within one
// Directory shows as a reference to an account the same result lacks.
func directorySnapshot(t *testing.T, s backend.Store) {
	base := mustCreate(t, s, "alice", "alice@example.org")
	mustCreateGroup(t, s, "staff")
	mustSetMember(t, s, "staff", base.ID, true)
	const rounds = 25
	accts := make([]*backend.Account, rounds)
	for i := range accts {
		accts[i] = newAccount(t, fmt.Sprint("tmp", i), fmt.Sprint("tmp", i, "@example.org"))
	}

	ctx := context.Background()
	var (
		wg    sync.WaitGroup
		done  = make(chan struct{})
		mu    sync.Mutex
		errs  []error
		reads int
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	wg.Go(func() {
		defer close(done)
		for _, a := range accts {
			err := s.CreateAccount(ctx, a)
			if err == nil {
				err = s.SetAliases(ctx, a.ID, []string{a.Name + "-alias@example.org"})
			}
			if err == nil {
				err = s.SetGroupMember(ctx, "staff", a.ID, true)
			}
			if err == nil {
				err = s.DeleteAccount(ctx, a.ID)
			}
			if err != nil {
				fail(err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for {
				d, err := s.Directory(ctx)
				if err == nil {
					err = consistent(d)
				}
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				reads++
				mu.Unlock()
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	t.Logf("%d consistent reads during %d rounds of writes", reads, rounds)
}

// consistent checks that every part of d refers only to accounts and
// groups of d itself, and that the two views of membership agree.
func consistent(d *backend.Directory) error {
	names := map[int64]string{}
	for _, a := range d.Accounts {
		names[a.ID] = a.Name
	}
	for id := range d.Aliases {
		if _, ok := names[id]; !ok {
			return fmt.Errorf("aliases %q of account %d, which is not in the same directory", d.Aliases[id], id)
		}
	}
	members := map[string]bool{}
	for _, g := range d.AllGroups {
		for _, m := range g.Members {
			members[g.Name+"\x00"+m] = true
		}
	}
	n := 0
	for id, groups := range d.Groups {
		name, ok := names[id]
		if !ok {
			return fmt.Errorf("groups %q of account %d, which is not in the same directory", groups, id)
		}
		for _, g := range groups {
			if !members[g+"\x00"+name] {
				return fmt.Errorf("%s is in group %s by Groups but not by AllGroups", name, g)
			}
			n++
		}
	}
	if n != len(members) {
		return fmt.Errorf("AllGroups lists %d memberships, Groups %d", len(members), n)
	}
	return nil
}

func sameDirAccount(t *testing.T, what string, got backend.DirAccount, want *backend.Account) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Mail != want.Mail || got.Role != want.Role ||
		got.Disabled != want.Disabled ||
		got.GivenName != want.GivenName || got.Surname != want.Surname || got.DisplayName != want.DisplayName {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" CreatedAt", got.CreatedAt, want.CreatedAt)
}

// sameDir compares a directory kept by applying changes with one read
// whole, entry by entry.
func sameDir(t *testing.T, what string, kept, fresh *backend.Dir) {
	t.Helper()
	a, b := kept.All(), fresh.All()
	if len(a) != len(b) {
		t.Fatalf("%s: %d accounts kept, %d read whole", what, len(a), len(b))
	}
	for i := range a {
		x, y := *a[i], *b[i]
		x.CreatedAt, y.CreatedAt = x.CreatedAt.UTC(), y.CreatedAt.UTC()
		x.ModifiedAt, y.ModifiedAt = x.ModifiedAt.UTC(), y.ModifiedAt.UTC()
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s: account %d kept as\n %+v\nread whole as\n %+v", what, i, x, y)
		}
		for _, addr := range append([]string{x.Mail}, x.Aliases...) {
			if addr == "" {
				continue
			}
			if l := kept.ByAddress(addr); len(l) != 1 || l[0].ID != x.ID {
				t.Errorf("%s: address %s kept for %v, want account %d", what, addr, l, x.ID)
			}
		}
		if e := kept.Account(x.Name); e == nil || e.ID != x.ID {
			t.Errorf("%s: name %s kept for %v", what, x.Name, e)
		}
		if e := kept.ByUUID(x.UUID); e == nil || e.ID != x.ID {
			t.Errorf("%s: UUID %s kept for %v", what, x.UUID, e)
		}
	}
	if !reflect.DeepEqual(kept.Groups(), fresh.Groups()) {
		t.Errorf("%s: groups kept as %+v, read whole as %+v", what, kept.Groups(), fresh.Groups())
	}
}

// directoryChangesFollowEveryWrite keeps a directory by applying the
// store's changes after each kind of write, and compares it with one read
// whole. A store may answer nil (no log); the kept directory is then read
// whole, as Service.Directory does.
func directoryChangesFollowEveryWrite(t *testing.T, s backend.Store) {
	ctx := t.Context()
	kept := backend.NewDir(mustDirectory(t, s))
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		ch, err := s.DirectoryChanges(ctx, kept.Mark())
		if err != nil {
			t.Fatalf("%s: DirectoryChanges: %v", what, err)
		}
		if ch == nil {
			kept = backend.NewDir(mustDirectory(t, s))
			return
		}
		kept.Apply(ch)
		sameDir(t, what, kept, backend.NewDir(mustDirectory(t, s)))
	}
	alice := mustEnrolled(t, s, "alice")
	step("creating alice", nil)
	bob := mustCreate(t, s, "bob", "bob@example.org")
	step("creating bob", nil)
	step("a profile", s.SetProfile(ctx, alice.ID, backend.Profile{Mail: "alice@example.org", GivenName: "Alice", DisplayName: "Alice L."}))
	step("aliases", s.SetAliases(ctx, alice.ID, []string{"a@example.org", "al@example.org"}))
	step("other aliases", s.SetAliases(ctx, alice.ID, []string{"al@example.org", "lice@example.org"}))
	step("an alias becomes the mail", s.SetProfile(ctx, alice.ID, backend.Profile{Mail: "lice@example.org"}))
	posix := &backend.Posix{UIDNumber: 10001, GIDNumber: 100, HomeDirectory: "/home/alice", LoginShell: "/bin/bash"}
	step("POSIX attributes", s.SetProfile(ctx, alice.ID, backend.Profile{Mail: "lice@example.org", Posix: posix}))
	step("another login shell", s.SetProfile(ctx, alice.ID, backend.Profile{Mail: "lice@example.org",
		Posix: &backend.Posix{UIDNumber: 10001, GIDNumber: 100, HomeDirectory: "/home/alice", LoginShell: "/bin/zsh"}}))
	if e := kept.Account("alice"); e == nil || e.Posix == nil || e.Posix.LoginShell != "/bin/zsh" {
		t.Errorf("the kept directory's alice after a new shell: %+v", e)
	}
	step("a group", s.CreateGroup(ctx, "staff"))
	step("a member", s.SetGroupMember(ctx, "staff", alice.ID, true))
	step("another member", s.SetGroupMember(ctx, "staff", bob.ID, true))
	step("another group", s.CreateGroup(ctx, "admins"))
	step("a member of both", s.SetGroupMember(ctx, "admins", bob.ID, true))
	step("a member leaves", s.SetGroupMember(ctx, "staff", alice.ID, false))
	step("disabled", s.SetDisabled(ctx, bob.ID, true))
	step("a role", s.SetRole(ctx, bob.ID, backend.RoleService))
	step("a group deleted", s.DeleteGroup(ctx, "admins"))
	bobUUID := kept.Account("bob").UUID
	step("an account deleted", s.DeleteAccount(ctx, bob.ID))
	if e := kept.ByUUID(bobUUID); e != nil {
		t.Errorf("deleted bob's UUID still finds %+v", e)
	}
	carol := mustCreate(t, s, "carol", "bob@example.org")
	step("an address taken again", s.SetAliases(ctx, carol.ID, []string{"a@example.org"}))

	// Bookkeeping and secrets change nothing in the directory.
	before := kept.Mark()
	mustApp(t, s, alice.ID, "ap-1", t0)
	if _, err := s.RecordAuthFailure(ctx, alice.ID, backend.PathPassword, t0, policy); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdvanceTOTPStep(ctx, alice.ID, 99); err != nil {
		t.Fatal(err)
	}
	ch, err := s.DirectoryChanges(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	if ch != nil && (len(ch.Accounts) > 0 || len(ch.Gone) > 0 || ch.AllGroups != nil) {
		t.Errorf("an app password, a failed bind and a TOTP step changed the directory: %+v", ch)
	}
}

// A mark the log no longer holds (pruned, or from a database since
// replaced) is answered nil: the reader must read everything again, never
// take a partial delta for the whole.
func directoryChangesUnknownMark(t *testing.T, s backend.Store) {
	ctx := t.Context()
	a := mustCreate(t, s, "alice", "")
	old := mustDirectory(t, s).Mark
	for i := range 5 {
		if err := s.SetAliases(ctx, a.ID, []string{fmt.Sprint("a", i, "@example.org")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PruneDirectoryChanges(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if ch, err := s.DirectoryChanges(ctx, old); err != nil || ch != nil {
		t.Errorf("changes after a pruned mark: %+v, %v; want nil, nil", ch, err)
	}
	forged := mustDirectory(t, s).Mark
	forged.Tag++
	if ch, err := s.DirectoryChanges(ctx, forged); err != nil || ch != nil {
		t.Errorf("changes after a mark whose tag differs: %+v, %v; want nil, nil", ch, err)
	}
}

// directoryAccountsReadsOnlyThose: one account's view, as a command needs
// it, the same as the whole directory shows it.
func directoryAccountsReadsOnlyThose(t *testing.T, s backend.Store) {
	ctx := t.Context()
	alice := mustCreate(t, s, "alice", "alice@example.org")
	bob := mustCreate(t, s, "bob", "")
	mustSetAliases(t, s, alice.ID, "b@example.org", "a@example.org")
	mustCreateGroup(t, s, "staff")
	mustSetMember(t, s, "staff", alice.ID, true)
	ch, err := s.DirectoryAccounts(ctx, []int64{alice.ID, 4242})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Accounts) != 1 || ch.Accounts[0].ID != alice.ID || ch.Accounts[0].Mail != "alice@example.org" {
		t.Fatalf("accounts %+v, want alice alone", ch.Accounts)
	}
	if !reflect.DeepEqual(ch.Aliases[alice.ID], []string{"a@example.org", "b@example.org"}) ||
		!reflect.DeepEqual(ch.Groups[alice.ID], []string{"staff"}) {
		t.Errorf("alice's aliases %v and groups %v", ch.Aliases[alice.ID], ch.Groups[alice.ID])
	}
	if _, ok := ch.Aliases[bob.ID]; ok {
		t.Error("bob, not asked for, was read")
	}
	if !reflect.DeepEqual(ch.Gone, []int64{4242}) {
		t.Errorf("Gone %v, want the unknown id", ch.Gone)
	}
}
