package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// --- entryUUID and modifyTimestamp ---

func wantRandomUUID(t *testing.T, what string, u backend.UUID, seen map[backend.UUID]string) {
	t.Helper()
	switch {
	case u[6]>>4 != 4 || u[8]&0xc0 != 0x80:
		t.Errorf("%s: %s is not a random (version 4) UUID", what, u)
	case seen[u] != "":
		t.Errorf("%s: %s is already the UUID of %s", what, u, seen[u])
	}
	seen[u] = what
}

func dirAccount(t *testing.T, s backend.Store, name string) backend.DirAccount {
	t.Helper()
	for _, a := range mustDirectory(t, s).Accounts {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("%s is not in the directory", name)
	return backend.DirAccount{}
}

func dirGroup(t *testing.T, s backend.Store, name string) backend.Group {
	t.Helper()
	for _, g := range mustDirectory(t, s).AllGroups {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("group %s is not in the directory", name)
	return backend.Group{}
}

// nextMillisecond returns once the clock has left the millisecond of
// every time read so far, so that a time the store takes after it differs
// from those before it: SQLite keeps milliseconds.
func nextMillisecond() time.Time {
	start := time.Now().Truncate(time.Millisecond)
	for {
		if now := time.Now(); now.Truncate(time.Millisecond).After(start) {
			return now.Truncate(time.Millisecond)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// uuidKeptFromAnImport: an account created with the entryUUID it had in
// another directory keeps it, whatever its version; one already another
// account's is refused with ErrUUIDTaken, alone or in a batch, and the
// batch creates nothing.
func uuidKeptFromAnImport(t *testing.T, s backend.Store) {
	kept, err := backend.ParseUUID("2F1C9E4A-0B6D-11EF-9A7C-0242AC120002") // version 1, as slapd draws them
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, "alice", "alice@example.org")
	a.KeepUUID = kept
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatalf("CreateAccount with a kept UUID: %v", err)
	}
	if got := dirAccount(t, s, "alice").UUID; got != kept {
		t.Errorf("alice's entryUUID is %s, want the kept %s", got, kept)
	}
	got, err := s.AccountByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !got.KeepUUID.IsZero() {
		t.Errorf("AccountByName hands back KeepUUID %s; it is read at creation only", got.KeepUUID)
	}

	b := newAccount(t, "bob", "bob@example.org")
	b.KeepUUID = kept
	wantErr(t, "CreateAccount with alice's UUID", s.CreateAccount(t.Context(), b), backend.ErrUUIDTaken)
	other := backend.NewUUID()
	for name, batch := range map[string][]backend.AccountCreation{
		"alice's UUID": {creation(t, "carol", ""), {Account: b}},
		"one UUID twice": {creation(t, "carol", ""),
			{Account: &backend.Account{Name: "dave", Role: backend.RoleUser, KeepUUID: other, AppPasswordSalt: randomBytes(t, 16)}},
			{Account: &backend.Account{Name: "erin", Role: backend.RoleUser, KeepUUID: other, AppPasswordSalt: randomBytes(t, 16)}}},
	} {
		wantErr(t, "CreateAccounts with "+name, s.CreateAccounts(t.Context(), batch), backend.ErrUUIDTaken)
		if n := len(mustDirectory(t, s).Accounts); n != 1 {
			t.Errorf("%s: %d accounts after the refused batch, want alice alone", name, n)
		}
	}
}

// uuidsAreDrawnAndKept: every account, app password and group gets a UUID
// of its own when it is created, the store hands it back everywhere, no
// change alters it, and a name created again gets a new one.
func uuidsAreDrawnAndKept(t *testing.T, s backend.Store) {
	ctx := t.Context()
	seen := map[backend.UUID]string{}
	alice := mustEnrolled(t, s, "alice")
	bob := mustCreate(t, s, "bob", "")
	batch := []backend.AccountCreation{{Account: newAccount(t, "carol", "")}, {Account: newAccount(t, "dave", "")}}
	if err := s.CreateAccounts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	created := map[string]backend.UUID{}
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		created[name] = dirAccount(t, s, name).UUID
		wantRandomUUID(t, name, created[name], seen)
	}

	p := &backend.AppPassword{ID: "ap-1", AccountID: alice.ID, Label: "phone", CreatedAt: t0}
	if err := s.CreateAppPassword(ctx, p, verifier("ap-1"), defaultLimit); err != nil {
		t.Fatal(err)
	}
	wantRandomUUID(t, "app password ap-1", p.UUID, seen)
	grants := []backend.AppPasswordGrant{{AppPassword: backend.AppPassword{ID: "ap-2", AccountID: alice.ID, Label: "laptop", CreatedAt: t0},
		Verifier: verifier("ap-2")}}
	if err := s.GrantAppPasswords(ctx, grants, defaultLimit); err != nil {
		t.Fatal(err)
	}
	wantRandomUUID(t, "app password ap-2", grants[0].AppPassword.UUID, seen)
	mustCreateGroup(t, s, "staff", "admins")
	staff, admins := dirGroup(t, s, "staff"), dirGroup(t, s, "admins")
	wantRandomUUID(t, "group staff", staff.UUID, seen)
	wantRandomUUID(t, "group admins", admins.UUID, seen)

	// Every change an entry can see, then every place its UUID shows.
	mustSetProfile(t, s, alice.ID, backend.Profile{Mail: "liddell@example.org", GivenName: "Alice", DisplayName: "Alice L.",
		Posix: &backend.Posix{UIDNumber: 1, GIDNumber: 1, HomeDirectory: "/"}})
	mustSetAliases(t, s, alice.ID, "al@example.org")
	mustSetMember(t, s, "staff", alice.ID, true)
	if err := s.SetRole(ctx, alice.ID, backend.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, alice.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPasswordHash(ctx, bob.ID, "other", true, t0); err != nil {
		t.Fatal(err)
	}
	if got := dirAccount(t, s, "alice").UUID; got != created["alice"] {
		t.Errorf("Directory: alice's UUID %s, created as %s", got, created["alice"])
	}
	ch, err := s.DirectoryAccounts(ctx, []int64{bob.ID})
	if err != nil || len(ch.Accounts) != 1 || ch.Accounts[0].UUID != created["bob"] {
		t.Errorf("DirectoryAccounts: bob %+v, %v; created with UUID %s", ch, err, created["bob"])
	}
	if got := dirGroup(t, s, "staff").UUID; got != staff.UUID {
		t.Errorf("staff's UUID %s after a member joined, created as %s", got, staff.UUID)
	}
	aps, err := s.ListAppPasswords(ctx, alice.ID)
	if err != nil || len(aps) != 2 || aps[0].UUID != p.UUID || aps[1].UUID != grants[0].AppPassword.UUID {
		t.Errorf("ListAppPasswords: %+v, %v; want the UUIDs %s, %s", aps, err, p.UUID, grants[0].AppPassword.UUID)
	}
	if got := mustByVerifier(t, s, alice.ID, "ap-1").UUID; got != p.UUID {
		t.Errorf("AppPasswordByVerifier: UUID %s, created as %s", got, p.UUID)
	}
	if got, err := s.AppPasswordByUUID(ctx, p.UUID); err != nil || got.ID != "ap-1" || got.AccountID != alice.ID {
		t.Errorf("AppPasswordByUUID: %+v, %v; want ap-1 of alice", got, err)
	}

	// A revoked app password is no entry, and nothing else is one either.
	if err := s.RevokeAppPassword(ctx, alice.ID, "ap-1", t0); err != nil {
		t.Fatal(err)
	}
	for what, u := range map[string]backend.UUID{"revoked ap-1": p.UUID, "alice, an account": created["alice"], "unknown": backend.NewUUID()} {
		if got, err := s.AppPasswordByUUID(ctx, u); !errors.Is(err, backend.ErrNoSuchAppPassword) {
			t.Errorf("AppPasswordByUUID(%s): %+v, %v; want ErrNoSuchAppPassword", what, got, err)
		}
	}

	// A name or group created again is another entry.
	if err := s.DeleteAccount(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "bob", "")
	wantRandomUUID(t, "bob created again", dirAccount(t, s, "bob").UUID, seen)
	if err := s.DeleteGroup(ctx, "admins"); err != nil {
		t.Fatal(err)
	}
	mustCreateGroup(t, s, "admins")
	wantRandomUUID(t, "admins created again", dirGroup(t, s, "admins").UUID, seen)
}

// namespaceIsTheDatabases: one per store, the same on every read.
func namespaceIsTheDatabases(t *testing.T, s backend.Store) {
	first := mustDirectory(t, s).Namespace
	if first.IsZero() {
		t.Fatal("the directory has no namespace")
	}
	mustCreate(t, s, "alice", "")
	mustCreateGroup(t, s, "staff")
	if got := mustDirectory(t, s).Namespace; got != first {
		t.Errorf("namespace %s, then %s", first, got)
	}
}

// modifiedAtFollowsTheEntry: an account's ModifiedAt starts as its
// CreatedAt and moves with what its entry serves (profile, aliases,
// groups, role, state), a group's with its members; secrets, second
// factors, app passwords and bookkeeping leave both alone.
func modifiedAtFollowsTheEntry(t *testing.T, s backend.Store) {
	ctx := t.Context()
	alice := mustEnrolled(t, s, "alice")
	if got := dirAccount(t, s, "alice").ModifiedAt; !got.Equal(t0) {
		t.Fatalf("a new account modified at %v, want its creation %v", got, t0)
	}
	mustCreateGroup(t, s, "staff")
	mustApp(t, s, alice.ID, "ap-1", t0)
	stays := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := dirAccount(t, s, "alice").ModifiedAt; !got.Equal(t0) {
			t.Errorf("%s moved alice's modifyTimestamp to %v", what, got)
		}
	}
	_, err := s.AdvanceTOTPStep(ctx, alice.ID, 77)
	stays("a TOTP step", err)
	_, err = s.RecordAuthFailure(ctx, alice.ID, backend.PathPassword, t0, policy)
	stays("a failed bind", err)
	stays("clearing failures", s.ResetAuthFailures(ctx, alice.ID, backend.PathPassword))
	stays("an unlock", s.UnlockAccount(ctx, alice.ID))
	stays("an app password's use", s.RecordAppPasswordUses(ctx, []backend.AppPasswordUse{{ID: "ap-1", At: t0.Add(time.Hour), From: "192.0.2.1"}}))
	mustApp(t, s, alice.ID, "ap-2", t0)
	stays("an app password's creation", nil)
	stays("an app password's revocation", s.RevokeAppPassword(ctx, alice.ID, "ap-2", t0))
	_, err = s.SetPasswordHash(ctx, alice.ID, "new hash", true, t0)
	stays("a new password", err)
	_, err = s.SetTOTPSeed(ctx, alice.ID, randomBytes(t, 48), t0)
	stays("a new second factor", err)
	stays("the same role again", s.SetRole(ctx, alice.ID, alice.Role))
	stays("the same state again", s.SetDisabled(ctx, alice.ID, false))
	stays("another account's change", func() error {
		bob := mustCreate(t, s, "bob", "")
		return s.SetGroupMember(ctx, "staff", bob.ID, true)
	}())

	moves := func(what, name string, change func(id int64) error) {
		t.Helper()
		a := mustCreate(t, s, name, "")
		before := nextMillisecond()
		if err := change(a.ID); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		after := time.Now()
		ch, err := s.DirectoryAccounts(ctx, []int64{a.ID})
		if err != nil || len(ch.Accounts) != 1 {
			t.Fatal(ch, err)
		}
		for _, got := range []time.Time{ch.Accounts[0].ModifiedAt, dirAccount(t, s, name).ModifiedAt} {
			if got.Before(before) || got.After(after) {
				t.Errorf("%s: modified at %v, want between %v and %v", what, got, before, after)
			}
		}
	}
	moves("a profile", "p1", func(id int64) error { return s.SetProfile(ctx, id, backend.Profile{DisplayName: "P. One"}) })
	moves("a mail address", "p2", func(id int64) error { return s.SetProfile(ctx, id, backend.Profile{Mail: "p2@example.org"}) })
	moves("aliases", "p3", func(id int64) error { return s.SetAliases(ctx, id, []string{"p3@example.org"}) })
	moves("a role", "p4", func(id int64) error { return s.SetRole(ctx, id, backend.RoleService) })
	moves("disabled", "p5", func(id int64) error { return s.SetDisabled(ctx, id, true) })
	moves("POSIX attributes", "p9", func(id int64) error {
		return s.SetProfile(ctx, id, backend.Profile{Posix: &backend.Posix{UIDNumber: 1, GIDNumber: 1, HomeDirectory: "/"}})
	})
	moves("joining a group", "p6", func(id int64) error { return s.SetGroupMember(ctx, "staff", id, true) })
	moves("leaving a group", "p7", func(id int64) error {
		mustSetMember(t, s, "staff", id, true)
		nextMillisecond()
		return s.SetGroupMember(ctx, "staff", id, false)
	})
	moves("a group deleted", "p8", func(id int64) error {
		mustCreateGroup(t, s, "short-lived")
		mustSetMember(t, s, "short-lived", id, true)
		nextMillisecond()
		return s.DeleteGroup(ctx, "short-lived")
	})

	// A group moves with its members, and only then.
	groupMoves := func(what string, change func() error, want bool) {
		t.Helper()
		was := dirGroup(t, s, "staff").ModifiedAt
		before := nextMillisecond()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := dirGroup(t, s, "staff").ModifiedAt
		switch {
		case want && got.Before(before):
			t.Errorf("%s: staff modified at %v, want at least %v", what, got, before)
		case !want && !got.Equal(was):
			t.Errorf("%s moved staff's modifyTimestamp from %v to %v", what, was, got)
		}
	}
	carol := mustCreate(t, s, "carol", "")
	groupMoves("a member joins", func() error { return s.SetGroupMember(ctx, "staff", carol.ID, true) }, true)
	groupMoves("the member joins again", func() error { return s.SetGroupMember(ctx, "staff", carol.ID, true) }, false)
	groupMoves("a member's profile", func() error { return s.SetProfile(ctx, carol.ID, backend.Profile{GivenName: "Carol"}) }, false)
	groupMoves("another group", func() error { return s.CreateGroup(ctx, "others") }, false)
	groupMoves("a member leaves", func() error { return s.SetGroupMember(ctx, "staff", carol.ID, false) }, true)
	mustSetMember(t, s, "staff", carol.ID, true)
	groupMoves("a member is deleted", func() error { return s.DeleteAccount(ctx, carol.ID) }, true)

	created := dirGroup(t, s, "others")
	if created.CreatedAt.IsZero() || !created.ModifiedAt.Equal(created.CreatedAt) {
		t.Errorf("a new group: created %v, modified %v; want the same time", created.CreatedAt, created.ModifiedAt)
	}
	if created.CreatedAt.Location() != time.UTC {
		t.Errorf("a group's time in %v, want UTC", created.CreatedAt.Location())
	}
}

// setProfilePosix: the POSIX attributes are part of the profile, written
// whole with it, read back by the directory's reads, and removed with nil.
func setProfilePosix(t *testing.T, s backend.Store) {
	alice := mustCreate(t, s, "alice", "alice@example.org")
	posixOf := func(what string) *backend.Posix {
		t.Helper()
		whole := dirAccount(t, s, "alice").Posix
		ch, err := s.DirectoryAccounts(t.Context(), []int64{alice.ID})
		if err != nil || len(ch.Accounts) != 1 {
			t.Fatal(ch, err)
		}
		if !reflect.DeepEqual(whole, ch.Accounts[0].Posix) {
			t.Errorf("%s: Directory says %+v, DirectoryAccounts %+v", what, whole, ch.Accounts[0].Posix)
		}
		return whole
	}
	if got := posixOf("a new account"); got != nil {
		t.Errorf("a new account has POSIX attributes %+v", got)
	}
	posix := &backend.Posix{UIDNumber: 10001, GIDNumber: 100, HomeDirectory: "/home/alice", LoginShell: "/bin/bash"}
	mustSetProfile(t, s, alice.ID, backend.Profile{Mail: alice.Mail, GivenName: "Alice", Posix: posix})
	if got := posixOf("after SetProfile"); !reflect.DeepEqual(got, posix) {
		t.Errorf("after SetProfile: %+v, want %+v", got, posix)
	}
	if a := mustByName(t, s, "alice"); a.GivenName != "Alice" || a.Mail != alice.Mail {
		t.Errorf("the profile written with them: %+v", a)
	}

	// No login shell is no login shell, not an empty one; 0 is an id.
	noShell := &backend.Posix{UIDNumber: 0, GIDNumber: 2147483647, HomeDirectory: "/"}
	mustSetProfile(t, s, alice.ID, backend.Profile{Mail: alice.Mail, Posix: noShell})
	if got := posixOf("root's uid and no shell"); !reflect.DeepEqual(got, noShell) {
		t.Errorf("root's uid and no shell: %+v", got)
	}

	// What the caller keeps is its own.
	noShell.HomeDirectory = "/changed"
	if got := posixOf("after the caller changed its value"); got == nil || got.HomeDirectory != "/" {
		t.Errorf("the store shares the caller's value: %+v", got)
	}
	mustSetProfile(t, s, alice.ID, backend.Profile{Mail: alice.Mail})
	if got := posixOf("after SetProfile without"); got != nil {
		t.Errorf("after SetProfile without: %+v", got)
	}
}
