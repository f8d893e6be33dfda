// Package storetest is the conformance suite every backend.Store must pass,
// so that the in-memory fake used by fast tests and the SQLite store behave
// alike wherever the account domain can tell.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// Run runs the suite. open must return a new, empty store for each call;
// Run closes it when the subtest ends (Close must therefore tolerate being
// called twice).
func Run(t *testing.T, open func(t *testing.T) backend.Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s backend.Store)
}

// t0 is deliberately not UTC: stores must hand back the same instant in UTC.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))

const defaultLimit = 25

var tests = []test{
	{"Generation_MovesWithEveryWriteThatDecidesABind", generationMoves},
	{"CreateAccount_AssignsIDAndRoundTrips", createAccountRoundTrips},
	{"CreateAccount_DuplicateNameCaseInsensitive", createAccountDuplicateName},
	{"CreateAccount_DuplicateMailCaseInsensitive", createAccountDuplicateMail},
	{"CreateAccount_ManyWithoutMail", createAccountManyWithoutMail},
	{"CreateAccount_StoresACopy", createAccountStoresACopy},
	{"CreateAccounts_CreatesAllWithTheirRecords", createAccountsCreatesAll},
	{"CreateAccounts_AllOrNone", createAccountsAllOrNone},
	{"AccountByName_CaseInsensitive", accountByNameCaseInsensitive},
	{"AccountByMail_CaseInsensitive", accountByMailCaseInsensitive},
	{"AccountLookups_UnknownIsNotFound", accountLookupsUnknown},
	{"ListAccounts_OrderedByName", listAccountsOrdered},
	{"ListAccounts_EmptyStore", listAccountsEmpty},
	{"AccountMutations_UnknownIDIsNotFound", accountMutationsUnknown},
	{"DeleteAccount_FreesNameAndMail", deleteAccountFreesName},
	{"DeleteAccount_CascadesAppPasswords", deleteAccountCascades},
	{"SetDisabled_RoundTrips", setDisabledRoundTrips},
	{"SetRole_RoundTrips", setRoleRoundTrips},
	{"SetPasswordHash_UpdatesHashAndTime", setPasswordHashUpdates},
	{"SetPasswordHash_RevokesAllInSameTransaction", setPasswordHashRevokesAll},
	{"SetPasswordHash_WithoutRevokeKeepsAppPasswords", setPasswordHashKeeps},
	{"SetTOTPSeed_EnrolResetsLastStep", setTOTPSeedEnrol},
	{"SetTOTPSeed_RemovalRevokesAll", setTOTPSeedRemoval},
	{"AdvanceTOTPStep_OnlyLaterStepsPass", advanceOnlyLater},
	{"AdvanceTOTPStep_ParallelCallersOneWins", advanceParallel},
	{"AdvanceTOTPStep_PerAccount", advancePerAccount},
	{"AdvanceTOTPStep_UnknownAccountIsFalse", advanceUnknown},
	{"CreateAppPassword_RoundTrips", createAppRoundTrips},
	{"CreateAppPassword_RefusesPastLimit", createAppLimit},
	{"CreateAppPassword_ParallelCallersRespectLimit", createAppParallelLimit},
	{"CreateAppPassword_DuplicateIDOrVerifierExists", createAppDuplicate},
	{"CreateAppPassword_UnknownAccountIsNotFound", createAppUnknownAccount},
	{"CreateAppPassword_RefusedWithoutSecondFactor", createAppWithoutTOTP},
	{"RevokeAppPasswords_AllOrNothing", revokeSeveralAllOrNothing},
	{"GrantAppPasswords_EnrolsAndCreatesWithTheirRecords", grantAppPasswordsCreatesAll},
	{"GrantAppPasswords_AllOrNone", grantAppPasswordsAllOrNone},
	{"CreateAppPassword_RejectsEmptyIDOrVerifier", createAppEmpty},
	{"AppPasswordByVerifier_FindsRevokedToo", byVerifierFindsRevoked},
	{"AppPasswordByVerifier_ScopedToAccount", byVerifierScoped},
	{"ListAppPasswords_ActiveOldestFirst", listAppsOrdered},
	{"ListAppPasswords_UnknownAccountIsEmpty", listAppsUnknown},
	{"AllAppPasswords_ActiveByAccountOldestFirst", allAppsByAccount},
	{"RevokeAppPassword_RevokesOnlyThatOne", revokeOne},
	{"RevokeAppPassword_OtherAccountsIDIsUnknown", revokeOtherAccount},
	{"RevokeAppPassword_AlreadyRevokedIsUnknown", revokeTwice},
	{"RevokeAppPassword_ZeroTimeStillRevokes", revokeZeroTime},
	{"RevokeAllAppPasswords_CountsOnlyActive", revokeAllCounts},
	{"RecordAppPasswordUses_WritesBatch", recordBatch},
	{"RecordAppPasswordUses_OnlyMovesForward", recordForward},
	{"RecordAppPasswordUses_SkipsUnknownIDs", recordUnknown},
	{"RecordAppPasswordUses_LeavesRevokedRevoked", recordRevoked},
	{"SetProfile_ReplacesProfileAndMail", setProfileReplaces},
	{"SetProfile_MailTakenIsExists", setProfileMailTaken},
	{"SetProfile_OwnAliasBecomesMail", setProfileOwnAlias},
	{"SetAliases_ReplacesAllOrNone", setAliasesAllOrNone},
	{"SetAliases_AddressTakenByAnotherAccountIsExists", setAliasesTaken},
	{"SetAliases_OwnMailIsInvalidInput", setAliasesOwnMail},
	{"SetAliases_EmptyAddressIsInvalidInput", setAliasesEmpty},
	{"SetAliases_RepeatedAddressCountsOnce", setAliasesRepeated},
	{"AccountByMail_MatchesAlias", accountByMailAlias},
	{"CreateAccount_MailTakenAsAliasIsExists", createAccountMailIsAlias},
	{"Groups_CreateDeleteAndMembers", groupsLifecycle},
	{"CreateGroup_NameTakenCaseInsensitiveIsExists", createGroupTaken},
	{"SetGroupMember_UnknownGroupOrAccountIsNotFound", setGroupMemberUnknown},
	{"DeleteAccount_RemovesAliasesAndMemberships", deleteAccountRemovesAliasesAndMemberships},
	{"Directory_ContentsAndOrdering", directoryContents},
	{"Directory_EmptyStore", directoryEmpty},
	{"Directory_IsOneConsistentSnapshot", directorySnapshot},
	{"DirectoryChanges_FollowEveryWrite", directoryChangesFollowEveryWrite},
	{"DirectoryChanges_UnknownMarkReadsWhole", directoryChangesUnknownMark},
	{"DirectoryAccounts_ReadsOnlyThose", directoryAccountsReadsOnlyThose},
	{"UUID_DrawnForEveryEntryAndKept", uuidsAreDrawnAndKept},
	{"UUID_KeptFromAnImport", uuidKeptFromAnImport},
	{"Directory_NamespaceIsTheDatabases", namespaceIsTheDatabases},
	{"ModifiedAt_FollowsWhatTheEntryServes", modifiedAtFollowsTheEntry},
	{"SetProfile_PosixAttributesRoundTrip", setProfilePosix},
	{"RecordAuthFailure_LocksAtLimit", recordFailureLocksAtLimit},
	{"RecordAuthFailure_PathsAndAccountsApart", recordFailurePathsApart},
	{"RecordAuthFailure_ParallelCallersNoneLost", recordFailureParallel},
	{"RecordAuthFailure_QuietWindowForgets", recordFailureWindow},
	{"RecordAuthFailure_LockNotStretchedAndRestartsAfter", recordFailureDuringLock},
	{"ResetAuthFailures_ClearsOnlyThatPath", resetFailuresOnePath},
	{"UnlockAccount_ClearsBothPaths", unlockClearsBoth},
	{"AuthFailures_UnknownAccountIsNotFound", failuresUnknownAccount},
	{"CreateAccount_StartsWithoutFailures", createAccountIgnoresFailures},
	{"InsertAudit_RoundTripsNewestFirst", auditRoundTrips},
	{"InsertAudit_EmptyBatchIsNoOp", auditEmptyBatch},
	{"ListAudit_FiltersBySubjectSinceAndLimit", auditFilters},
	{"ListAudit_SameInstantLaterInsertedFirst", auditTies},
	{"PruneAudit_DeletesOldestFirstInChunks", auditPrune},
	{"Changes_RecordCommitsWithTheChange", changeRecordsCommitWithTheChange},
	{"Changes_RefusedWritesNoRecord", changeRefusedWritesNoRecord},
	{"Store_ConcurrentUse", concurrentUse},
	{"Close_IsIdempotentAndStopsCalls", closeStops},
}

// --- helpers ---

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newAccount(t *testing.T, name, mail string) *backend.Account {
	return &backend.Account{
		Name:              name,
		Mail:              mail,
		Role:              backend.RoleUser,
		PasswordHash:      "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		AppPasswordSalt:   randomBytes(t, 16),
		CreatedAt:         t0,
		PasswordChangedAt: t0,
	}
}

func mustCreate(t *testing.T, s backend.Store, name, mail string) *backend.Account {
	t.Helper()
	a := newAccount(t, name, mail)
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a
}

// mustEnrolled creates an account with a second factor, as app passwords
// require in the domain.
func mustEnrolled(t *testing.T, s backend.Store, name string) *backend.Account {
	t.Helper()
	a := newAccount(t, name, name+"@example.org")
	a.TOTPSeed = randomBytes(t, 48)
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a
}

func verifier(id string) []byte { return []byte("verifier-of-" + id) }

func mustApp(t *testing.T, s backend.Store, accountID int64, id string, created time.Time) {
	t.Helper()
	p := &backend.AppPassword{ID: id, AccountID: accountID, Label: "label " + id, CreatedAt: created}
	if err := s.CreateAppPassword(t.Context(), p, verifier(id), defaultLimit); err != nil {
		t.Fatalf("CreateAppPassword(%q): %v", id, err)
	}
}

func mustByName(t *testing.T, s backend.Store, name string) *backend.Account {
	t.Helper()
	a, err := s.AccountByName(t.Context(), name)
	if err != nil {
		t.Fatalf("AccountByName(%q): %v", name, err)
	}
	return a
}

func mustByVerifier(t *testing.T, s backend.Store, accountID int64, id string) *backend.AppPassword {
	t.Helper()
	p, err := s.AppPasswordByVerifier(t.Context(), accountID, verifier(id))
	if err != nil {
		t.Fatalf("AppPasswordByVerifier(%q): %v", id, err)
	}
	return p
}

func activeIDs(t *testing.T, s backend.Store, accountID int64) []string {
	t.Helper()
	ps, err := s.ListAppPasswords(t.Context(), accountID)
	if err != nil {
		t.Fatalf("ListAppPasswords: %v", err)
	}
	ids := make([]string, 0, len(ps))
	for _, p := range ps {
		if !p.Active() {
			t.Errorf("ListAppPasswords returned revoked %q", p.ID)
		}
		ids = append(ids, p.ID)
	}
	return ids
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// sameTime holds a store to the contract: the same instant to the second,
// handed back in UTC (the zero time stays zero).
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s: got %v, want the zero time", what, got)
		}
		return
	}
	if got.Unix() != want.Unix() {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s: location %v, want UTC", what, got.Location())
	}
}

func sameAccount(t *testing.T, what string, got, want *backend.Account) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Mail != want.Mail || got.Role != want.Role ||
		got.Disabled != want.Disabled || got.PasswordHash != want.PasswordHash ||
		!bytes.Equal(got.TOTPSeed, want.TOTPSeed) || got.TOTPLastStep != want.TOTPLastStep ||
		!bytes.Equal(got.AppPasswordSalt, want.AppPasswordSalt) ||
		got.GivenName != want.GivenName || got.Surname != want.Surname || got.DisplayName != want.DisplayName {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, what+" PasswordChangedAt", got.PasswordChangedAt, want.PasswordChangedAt)
}

// --- accounts ---

func createAccountRoundTrips(t *testing.T, s backend.Store) {
	ctx := t.Context()
	a := newAccount(t, "alice", "Alice@Example.org")
	a.Role = backend.RoleAdmin
	a.Disabled = true
	a.TOTPSeed = randomBytes(t, 48)
	a.PasswordChangedAt = t0.Add(90 * time.Minute)
	a.GivenName, a.Surname, a.DisplayName = "Alice", "Liddell", "Alice Liddell (Wonderland)"
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 {
		t.Fatal("CreateAccount left ID zero")
	}
	b := mustCreate(t, s, "bob", "")
	if b.ID == a.ID {
		t.Fatalf("two accounts got ID %d", a.ID)
	}

	sameAccount(t, "AccountByName", mustByName(t, s, "alice"), a)
	got, err := s.AccountByMail(ctx, "Alice@Example.org")
	if err != nil {
		t.Fatal(err)
	}
	sameAccount(t, "AccountByMail", got, a)
	got = mustByName(t, s, "bob")
	sameAccount(t, "account without mail or seed", got, b)
	if got.TOTPEnrolled() {
		t.Error("account created without seed is enrolled")
	}
}

func createAccountDuplicateName(t *testing.T, s backend.Store) {
	mustCreate(t, s, "Alice", "alice@example.org")
	for _, name := range []string{"Alice", "alice", "ALICE"} {
		err := s.CreateAccount(t.Context(), newAccount(t, name, name+"-other@example.org"))
		wantErr(t, "CreateAccount("+name+")", err, backend.ErrExists)
	}
	accts, err := s.ListAccounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 1 {
		t.Fatalf("%d accounts after refused duplicates, want 1", len(accts))
	}
}

func createAccountDuplicateMail(t *testing.T, s backend.Store) {
	mustCreate(t, s, "alice", "alice@example.org")
	err := s.CreateAccount(t.Context(), newAccount(t, "alice2", "ALICE@example.ORG"))
	wantErr(t, "CreateAccount with taken mail", err, backend.ErrExists)
}

func createAccountManyWithoutMail(t *testing.T, s backend.Store) {
	for _, name := range []string{"svc-dovecot", "svc-postfix", "svc-dav"} {
		mustCreate(t, s, name, "")
	}
	_, err := s.AccountByMail(t.Context(), "")
	wantErr(t, "AccountByMail(\"\")", err, backend.ErrNotFound)
}

func createAccountStoresACopy(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	want := *mustByName(t, s, "alice")
	want.TOTPSeed = bytes.Clone(want.TOTPSeed)
	want.AppPasswordSalt = bytes.Clone(want.AppPasswordSalt)

	a.TOTPSeed[0] ^= 0xff
	a.AppPasswordSalt[0] ^= 0xff
	got := mustByName(t, s, "alice")
	got.TOTPSeed[0] ^= 0xff
	got.AppPasswordSalt[0] ^= 0xff
	sameAccount(t, "after callers changed their copies", mustByName(t, s, "alice"), &want)
}

func accountByNameCaseInsensitive(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "Alice", "")
	for _, name := range []string{"alice", "ALICE", "aLiCe"} {
		got := mustByName(t, s, name)
		if got.ID != a.ID || got.Name != "Alice" {
			t.Errorf("AccountByName(%q) = %d %q, want %d \"Alice\"", name, got.ID, got.Name, a.ID)
		}
	}
}

func accountByMailCaseInsensitive(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "Alice@Example.org")
	for _, mail := range []string{"alice@example.org", "ALICE@EXAMPLE.ORG"} {
		got, err := s.AccountByMail(t.Context(), mail)
		if err != nil {
			t.Fatalf("AccountByMail(%q): %v", mail, err)
		}
		if got.ID != a.ID || got.Mail != "Alice@Example.org" {
			t.Errorf("AccountByMail(%q) = %d %q", mail, got.ID, got.Mail)
		}
	}
}

func accountLookupsUnknown(t *testing.T, s backend.Store) {
	mustCreate(t, s, "alice", "alice@example.org")
	_, err := s.AccountByName(t.Context(), "bob")
	wantErr(t, "AccountByName(bob)", err, backend.ErrNotFound)
	_, err = s.AccountByMail(t.Context(), "bob@example.org")
	wantErr(t, "AccountByMail(bob@)", err, backend.ErrNotFound)
	// A name is not a mail address and the other way round.
	_, err = s.AccountByMail(t.Context(), "alice")
	wantErr(t, "AccountByMail(alice)", err, backend.ErrNotFound)
	_, err = s.AccountByName(t.Context(), "alice@example.org")
	wantErr(t, "AccountByName(alice@example.org)", err, backend.ErrNotFound)
}

func listAccountsOrdered(t *testing.T, s backend.Store) {
	for _, name := range []string{"carol", "Alice", "dave", "bob"} {
		mustCreate(t, s, name, "")
	}
	accts, err := s.ListAccounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range accts {
		names = append(names, a.Name)
	}
	wantIDs(t, "ListAccounts", names, "Alice", "bob", "carol", "dave")
}

func listAccountsEmpty(t *testing.T, s backend.Store) {
	accts, err := s.ListAccounts(t.Context())
	if err != nil || len(accts) != 0 {
		t.Fatalf("ListAccounts on an empty store = %v, %v", accts, err)
	}
}

func accountMutationsUnknown(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "app1", t0)
	const unknown = 999_999
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"DeleteAccount", func(ctx context.Context) error { return s.DeleteAccount(ctx, unknown) }},
		{"SetDisabled", func(ctx context.Context) error { return s.SetDisabled(ctx, unknown, true) }},
		{"SetRole", func(ctx context.Context) error { return s.SetRole(ctx, unknown, backend.RoleAdmin) }},
		{"SetPasswordHash", func(ctx context.Context) error {
			_, err := s.SetPasswordHash(ctx, unknown, "x", true, t0)
			return err
		}},
		{"SetTOTPSeed", func(ctx context.Context) error {
			_, err := s.SetTOTPSeed(ctx, unknown, nil, t0)
			return err
		}},
		{"SetProfile", func(ctx context.Context) error {
			return s.SetProfile(ctx, unknown, backend.Profile{Mail: "nobody@example.org"})
		}},
		{"SetAliases", func(ctx context.Context) error {
			return s.SetAliases(ctx, unknown, []string{"nobody@example.org"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.name, tc.call(t.Context()), backend.ErrNotFound)
		})
	}
	sameAccount(t, "existing account after failed mutations", mustByName(t, s, "alice"), a)
	wantIDs(t, "app passwords after failed mutations", activeIDs(t, s, a.ID), "app1")
}

func deleteAccountFreesName(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "alice@example.org")
	keep := mustCreate(t, s, "bob", "bob@example.org")
	if err := s.DeleteAccount(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.AccountByName(t.Context(), "alice")
	wantErr(t, "AccountByName after delete", err, backend.ErrNotFound)
	_, err = s.AccountByMail(t.Context(), "alice@example.org")
	wantErr(t, "AccountByMail after delete", err, backend.ErrNotFound)
	wantErr(t, "second delete", s.DeleteAccount(t.Context(), a.ID), backend.ErrNotFound)
	mustCreate(t, s, "ALICE", "ALICE@example.org")
	sameAccount(t, "other account", mustByName(t, s, "bob"), keep)
}

func deleteAccountCascades(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	mustApp(t, s, a.ID, "a1", t0)
	mustApp(t, s, a.ID, "a2", t0)
	mustApp(t, s, b.ID, "b1", t0)
	if _, err := s.RevokeAllAppPasswords(t.Context(), a.ID, t0); err != nil {
		t.Fatal(err)
	}
	mustApp(t, s, a.ID, "a3", t0)

	if err := s.DeleteAccount(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		_, err := s.AppPasswordByVerifier(t.Context(), a.ID, verifier(id))
		wantErr(t, "AppPasswordByVerifier("+id+") after delete", err, backend.ErrNoSuchAppPassword)
	}
	wantIDs(t, "ListAppPasswords of deleted account", activeIDs(t, s, a.ID))
	wantIDs(t, "other account's app passwords", activeIDs(t, s, b.ID), "b1")
	// The rows are gone, not just hidden: their ids are free again.
	c := mustEnrolled(t, s, "carol")
	mustApp(t, s, c.ID, "a1", t0)
}

func setDisabledRoundTrips(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "")
	for _, d := range []bool{true, true, false} {
		if err := s.SetDisabled(t.Context(), a.ID, d); err != nil {
			t.Fatalf("SetDisabled(%v): %v", d, err)
		}
		if got := mustByName(t, s, "alice").Disabled; got != d {
			t.Fatalf("Disabled = %v after SetDisabled(%v)", got, d)
		}
	}
}

func setRoleRoundTrips(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "")
	for _, r := range []string{backend.RoleService, backend.RoleAdmin, backend.RoleAdmin, backend.RoleUser} {
		if err := s.SetRole(t.Context(), a.ID, r); err != nil {
			t.Fatalf("SetRole(%q): %v", r, err)
		}
		if got := mustByName(t, s, "alice").Role; got != r {
			t.Fatalf("Role = %q after SetRole(%q)", got, r)
		}
	}
}

func setPasswordHashUpdates(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "")
	at := t0.Add(time.Hour)
	n, err := s.SetPasswordHash(t.Context(), a.ID, "$argon2id$new", false, at)
	if err != nil || n != 0 {
		t.Fatalf("SetPasswordHash = %d, %v", n, err)
	}
	a.PasswordHash = "$argon2id$new"
	a.PasswordChangedAt = at
	sameAccount(t, "after SetPasswordHash", mustByName(t, s, "alice"), a)
}

func setPasswordHashRevokesAll(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	for _, id := range []string{"old", "a1", "a2", "a3"} {
		mustApp(t, s, a.ID, id, t0)
	}
	mustApp(t, s, b.ID, "b1", t0)
	earlier := t0.Add(time.Minute)
	if err := s.RevokeAppPassword(t.Context(), a.ID, "old", earlier); err != nil {
		t.Fatal(err)
	}

	at := t0.Add(time.Hour)
	n, err := s.SetPasswordHash(t.Context(), a.ID, "$argon2id$reset", true, at)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("SetPasswordHash revoked %d, want 3", n)
	}
	got := mustByName(t, s, "alice")
	if got.PasswordHash != "$argon2id$reset" {
		t.Errorf("hash not replaced: %q", got.PasswordHash)
	}
	sameTime(t, "PasswordChangedAt", got.PasswordChangedAt, at)
	wantIDs(t, "active after reset", activeIDs(t, s, a.ID))
	for _, id := range []string{"a1", "a2", "a3"} {
		sameTime(t, id+" RevokedAt", mustByVerifier(t, s, a.ID, id).RevokedAt, at)
	}
	sameTime(t, "earlier revocation kept", mustByVerifier(t, s, a.ID, "old").RevokedAt, earlier)
	wantIDs(t, "other account untouched", activeIDs(t, s, b.ID), "b1")
}

func setPasswordHashKeeps(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	mustApp(t, s, a.ID, "a2", t0)
	n, err := s.SetPasswordHash(t.Context(), a.ID, "$argon2id$rehashed", false, t0.Add(time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("SetPasswordHash = %d, %v", n, err)
	}
	wantIDs(t, "active after rehash", activeIDs(t, s, a.ID), "a1", "a2")
}

func setTOTPSeedEnrol(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	if ok, err := s.AdvanceTOTPStep(t.Context(), a.ID, 1000); err != nil || !ok {
		t.Fatalf("AdvanceTOTPStep = %v, %v", ok, err)
	}
	seed := randomBytes(t, 48)
	n, err := s.SetTOTPSeed(t.Context(), a.ID, seed, t0.Add(time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("SetTOTPSeed(new) = %d, %v", n, err)
	}
	got := mustByName(t, s, "alice")
	if !bytes.Equal(got.TOTPSeed, seed) || got.TOTPLastStep != 0 {
		t.Fatalf("after re-enrolment: seed equal %v, last step %d", bytes.Equal(got.TOTPSeed, seed), got.TOTPLastStep)
	}
	wantIDs(t, "app passwords after re-enrolment", activeIDs(t, s, a.ID), "a1")
	if ok, _ := s.AdvanceTOTPStep(t.Context(), a.ID, 1); !ok {
		t.Error("step 1 refused after the last step was reset")
	}
}

func setTOTPSeedRemoval(t *testing.T, s backend.Store) {
	for _, tc := range []struct {
		name string
		seed []byte
	}{{"nil", nil}, {"empty", []byte{}}} {
		t.Run(tc.name, func(t *testing.T) {
			a := mustEnrolled(t, s, "alice-"+tc.name)
			mustApp(t, s, a.ID, tc.name+"1", t0)
			mustApp(t, s, a.ID, tc.name+"2", t0)
			if _, err := s.AdvanceTOTPStep(t.Context(), a.ID, 77); err != nil {
				t.Fatal(err)
			}
			at := t0.Add(time.Hour)
			n, err := s.SetTOTPSeed(t.Context(), a.ID, tc.seed, at)
			if err != nil || n != 2 {
				t.Fatalf("SetTOTPSeed(%s) = %d, %v; want 2, nil", tc.name, n, err)
			}
			got := mustByName(t, s, a.Name)
			if got.TOTPEnrolled() || got.TOTPLastStep != 0 {
				t.Errorf("after removal: enrolled %v, last step %d", got.TOTPEnrolled(), got.TOTPLastStep)
			}
			wantIDs(t, "active after removal", activeIDs(t, s, a.ID))
			sameTime(t, "RevokedAt", mustByVerifier(t, s, a.ID, tc.name+"1").RevokedAt, at)
		})
	}
}

// --- TOTP steps ---

func advanceOnlyLater(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	for i, tc := range []struct {
		step int64
		want bool
	}{
		{0, false}, // the initial last step is 0
		{-1, false},
		{58_000_000, true},
		{58_000_000, false}, // replay
		{57_999_999, false}, // an earlier code still inside the drift window
		{58_000_001, true},
		{58_000_003, true},
		{58_000_002, false},
	} {
		ok, err := s.AdvanceTOTPStep(t.Context(), a.ID, tc.step)
		if err != nil {
			t.Fatal(err)
		}
		if ok != tc.want {
			t.Errorf("call %d: AdvanceTOTPStep(%d) = %v, want %v", i, tc.step, ok, tc.want)
		}
	}
	if got := mustByName(t, s, "alice").TOTPLastStep; got != 58_000_003 {
		t.Errorf("TOTPLastStep = %d, want 58000003", got)
	}
}

func advanceParallel(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	const callers = 16
	for step := int64(100); step < 105; step++ {
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			mu    sync.Mutex
			wins  int
			errs  []error
		)
		for range callers {
			wg.Go(func() {
				<-start
				ok, err := s.AdvanceTOTPStep(context.Background(), a.ID, step)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					wins++
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("step %d: %v", step, errors.Join(errs...))
		}
		if wins != 1 {
			t.Fatalf("step %d: %d of %d parallel callers won, want exactly 1", step, wins, callers)
		}
	}
}

func advancePerAccount(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	for _, id := range []int64{a.ID, b.ID} {
		if ok, err := s.AdvanceTOTPStep(t.Context(), id, 500); err != nil || !ok {
			t.Fatalf("AdvanceTOTPStep(account %d, 500) = %v, %v", id, ok, err)
		}
	}
}

func advanceUnknown(t *testing.T, s backend.Store) {
	ok, err := s.AdvanceTOTPStep(t.Context(), 999_999, 10)
	if err != nil || ok {
		t.Fatalf("AdvanceTOTPStep(unknown) = %v, %v; want false, nil", ok, err)
	}
}

// --- app passwords ---

func createAppRoundTrips(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	p := &backend.AppPassword{ID: "ap-1", AccountID: a.ID, Label: "Thunderbird on laptop", CreatedAt: t0}
	if err := s.CreateAppPassword(t.Context(), p, verifier("ap-1"), defaultLimit); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got *backend.AppPassword) {
		t.Helper()
		if got.ID != "ap-1" || got.AccountID != a.ID || got.Label != "Thunderbird on laptop" ||
			!got.Active() || got.LastUsedFrom != "" {
			t.Errorf("%s: %+v", what, got)
		}
		sameTime(t, what+" CreatedAt", got.CreatedAt, t0)
		sameTime(t, what+" LastUsedAt", got.LastUsedAt, time.Time{})
		sameTime(t, what+" RevokedAt", got.RevokedAt, time.Time{})
	}
	check("AppPasswordByVerifier", mustByVerifier(t, s, a.ID, "ap-1"))
	list, err := s.ListAppPasswords(t.Context(), a.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListAppPasswords = %v, %v", list, err)
	}
	check("ListAppPasswords", &list[0])
}

func createAppLimit(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	const limit = 3
	create := func(acct int64, id string) error {
		p := &backend.AppPassword{ID: id, AccountID: acct, Label: id, CreatedAt: t0}
		return s.CreateAppPassword(t.Context(), p, verifier(id), limit)
	}
	for i := range limit {
		if err := create(a.ID, fmt.Sprint("a", i)); err != nil {
			t.Fatalf("create %d of %d: %v", i+1, limit, err)
		}
	}
	wantErr(t, "create past the limit", create(a.ID, "a-extra"), backend.ErrLimitReached)
	wantIDs(t, "active after refusal", activeIDs(t, s, a.ID), "a0", "a1", "a2")
	_, err := s.AppPasswordByVerifier(t.Context(), a.ID, verifier("a-extra"))
	wantErr(t, "refused password stored", err, backend.ErrNoSuchAppPassword)

	// The limit is per account and counts active passwords only.
	if err := create(b.ID, "b0"); err != nil {
		t.Fatalf("other account: %v", err)
	}
	if err := s.RevokeAppPassword(t.Context(), a.ID, "a1", t0); err != nil {
		t.Fatal(err)
	}
	if err := create(a.ID, "a3"); err != nil {
		t.Fatalf("create after a revocation: %v", err)
	}
	wantErr(t, "create past the limit again", create(a.ID, "a4"), backend.ErrLimitReached)
	wantErr(t, "limit 0", s.CreateAppPassword(t.Context(),
		&backend.AppPassword{ID: "b-zero", AccountID: b.ID, CreatedAt: t0}, verifier("b-zero"), 0), backend.ErrLimitReached)
}

func createAppParallelLimit(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	const (
		limit   = 5
		callers = 16
	)
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		mu      sync.Mutex
		created int
		errs    []error
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			id := fmt.Sprint("p", i)
			err := s.CreateAppPassword(context.Background(),
				&backend.AppPassword{ID: id, AccountID: a.ID, Label: id, CreatedAt: t0}, verifier(id), limit)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case !errors.Is(err, backend.ErrLimitReached):
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if created != limit {
		t.Fatalf("%d of %d parallel creations succeeded, want %d", created, callers, limit)
	}
	if n := len(activeIDs(t, s, a.ID)); n != limit {
		t.Fatalf("%d active, want %d", n, limit)
	}
}

func createAppDuplicate(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	mustApp(t, s, a.ID, "dup", t0)
	err := s.CreateAppPassword(t.Context(),
		&backend.AppPassword{ID: "dup", AccountID: b.ID, CreatedAt: t0}, []byte("another verifier"), defaultLimit)
	wantErr(t, "same id", err, backend.ErrExists)
	err = s.CreateAppPassword(t.Context(),
		&backend.AppPassword{ID: "other", AccountID: a.ID, CreatedAt: t0}, verifier("dup"), defaultLimit)
	wantErr(t, "same verifier, same account", err, backend.ErrExists)
	// Verifiers are salted per account; equal bytes elsewhere are no clash.
	err = s.CreateAppPassword(t.Context(),
		&backend.AppPassword{ID: "other", AccountID: b.ID, CreatedAt: t0}, verifier("dup"), defaultLimit)
	if err != nil {
		t.Fatalf("same verifier, other account: %v", err)
	}
	wantIDs(t, "alice's after refusals", activeIDs(t, s, a.ID), "dup")
}

func createAppUnknownAccount(t *testing.T, s backend.Store) {
	err := s.CreateAppPassword(t.Context(),
		&backend.AppPassword{ID: "x", AccountID: 999_999, CreatedAt: t0}, verifier("x"), defaultLimit)
	wantErr(t, "CreateAppPassword for unknown account", err, backend.ErrNotFound)
}

func createAppWithoutTOTP(t *testing.T, s backend.Store) {
	a := mustCreate(t, s, "alice", "")
	err := s.CreateAppPassword(t.Context(), &backend.AppPassword{ID: "x", AccountID: a.ID, CreatedAt: t0}, verifier("x"), defaultLimit)
	wantErr(t, "CreateAppPassword without TOTP", err, backend.ErrSecondFactorRequired)
	wantIDs(t, "active", activeIDs(t, s, a.ID))
}

func revokeSeveralAllOrNothing(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	for _, id := range []string{"a1", "a2", "a3"} {
		mustApp(t, s, a.ID, id, t0)
	}
	mustApp(t, s, b.ID, "b1", t0)
	err := s.RevokeAppPasswords(t.Context(), a.ID, []string{"a1", "b1"}, t0)
	wantErr(t, "revoking one's own with another's", err, backend.ErrNoSuchAppPassword)
	err = s.RevokeAppPasswords(t.Context(), a.ID, []string{"a1", "nonexistent"}, t0)
	wantErr(t, "revoking with an unknown id", err, backend.ErrNoSuchAppPassword)
	wantIDs(t, "active after refused revocations", activeIDs(t, s, a.ID), "a1", "a2", "a3")
	if err := s.RevokeAppPasswords(t.Context(), a.ID, []string{"a1", "a3", "a1"}, t0); err != nil {
		t.Fatalf("RevokeAppPasswords: %v", err)
	}
	wantIDs(t, "active", activeIDs(t, s, a.ID), "a2")
	wantIDs(t, "bob's", activeIDs(t, s, b.ID), "b1")
}

func createAppEmpty(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	err := s.CreateAppPassword(t.Context(), &backend.AppPassword{AccountID: a.ID, CreatedAt: t0}, verifier("x"), defaultLimit)
	wantErr(t, "empty id", err, backend.ErrInvalidInput)
	err = s.CreateAppPassword(t.Context(), &backend.AppPassword{ID: "x", AccountID: a.ID, CreatedAt: t0}, nil, defaultLimit)
	wantErr(t, "empty verifier", err, backend.ErrInvalidInput)
	wantIDs(t, "active", activeIDs(t, s, a.ID))
}

func byVerifierFindsRevoked(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "phone", t0)
	at := t0.Add(time.Hour)
	if err := s.RevokeAppPassword(t.Context(), a.ID, "phone", at); err != nil {
		t.Fatal(err)
	}
	// The bind path must recognise an old phone retrying with a revoked
	// password, so that it is refused without counting as a guess.
	p := mustByVerifier(t, s, a.ID, "phone")
	if p.ID != "phone" || p.Active() {
		t.Fatalf("got %+v, want revoked \"phone\"", p)
	}
	sameTime(t, "RevokedAt", p.RevokedAt, at)
}

func byVerifierScoped(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	mustApp(t, s, a.ID, "a1", t0)
	_, err := s.AppPasswordByVerifier(t.Context(), b.ID, verifier("a1"))
	wantErr(t, "alice's verifier under bob", err, backend.ErrNoSuchAppPassword)
	_, err = s.AppPasswordByVerifier(t.Context(), a.ID, []byte("no such verifier"))
	wantErr(t, "unknown verifier", err, backend.ErrNoSuchAppPassword)
}

func listAppsOrdered(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "newest", t0.Add(3*time.Hour))
	mustApp(t, s, a.ID, "oldest", t0)
	mustApp(t, s, a.ID, "revoked", t0.Add(time.Hour))
	mustApp(t, s, a.ID, "middle-1", t0.Add(2*time.Hour))
	mustApp(t, s, a.ID, "middle-2", t0.Add(2*time.Hour))
	if err := s.RevokeAppPassword(t.Context(), a.ID, "revoked", t0); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ListAppPasswords", activeIDs(t, s, a.ID), "oldest", "middle-1", "middle-2", "newest")
}

func allAppsByAccount(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	c := mustEnrolled(t, s, "carol")
	mustApp(t, s, a.ID, "a-newest", t0.Add(3*time.Hour))
	mustApp(t, s, b.ID, "b-only", t0.Add(2*time.Hour))
	mustApp(t, s, a.ID, "a-oldest", t0)
	mustApp(t, s, a.ID, "a-revoked", t0.Add(time.Hour))
	mustApp(t, s, c.ID, "c-revoked", t0)
	for _, r := range []struct {
		id int64
		ap string
	}{{a.ID, "a-revoked"}, {c.ID, "c-revoked"}} {
		if err := s.RevokeAppPassword(t.Context(), r.id, r.ap, t0); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AllAppPasswords(t.Context())
	if err != nil {
		t.Fatalf("AllAppPasswords: %v", err)
	}
	ids := func(ps []backend.AppPassword) []string {
		var out []string
		for _, p := range ps {
			if p.AccountID != ps[0].AccountID {
				t.Errorf("AllAppPasswords: %q of account %d listed with account %d's", p.ID, p.AccountID, ps[0].AccountID)
			}
			out = append(out, p.ID)
		}
		return out
	}
	wantIDs(t, "AllAppPasswords of alice", ids(all[a.ID]), "a-oldest", "a-newest")
	wantIDs(t, "AllAppPasswords of bob", ids(all[b.ID]), "b-only")
	if len(all) != 2 {
		t.Errorf("AllAppPasswords lists %d accounts, want 2 (carol has none active): %v", len(all), all)
	}
	// The same as one account's list, field for field.
	one, err := s.ListAppPasswords(t.Context(), a.ID)
	if err != nil || !reflect.DeepEqual(one, all[a.ID]) {
		t.Errorf("ListAppPasswords(alice) = %+v, %v; AllAppPasswords has %+v", one, err, all[a.ID])
	}
}

func listAppsUnknown(t *testing.T, s backend.Store) {
	ps, err := s.ListAppPasswords(t.Context(), 999_999)
	if err != nil || len(ps) != 0 {
		t.Fatalf("ListAppPasswords(unknown) = %v, %v", ps, err)
	}
}

func revokeOne(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	for _, id := range []string{"a1", "a2", "a3"} {
		mustApp(t, s, a.ID, id, t0)
	}
	at := t0.Add(time.Hour)
	if err := s.RevokeAppPassword(t.Context(), a.ID, "a2", at); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "active", activeIDs(t, s, a.ID), "a1", "a3")
	sameTime(t, "RevokedAt", mustByVerifier(t, s, a.ID, "a2").RevokedAt, at)
}

func revokeOtherAccount(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	mustApp(t, s, b.ID, "bobs", t0)
	err := s.RevokeAppPassword(t.Context(), a.ID, "bobs", t0)
	wantErr(t, "revoke bob's id as alice", err, backend.ErrNoSuchAppPassword)
	wantIDs(t, "bob's", activeIDs(t, s, b.ID), "bobs")
	err = s.RevokeAppPassword(t.Context(), a.ID, "nonexistent", t0)
	wantErr(t, "revoke unknown id", err, backend.ErrNoSuchAppPassword)
}

func revokeTwice(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	first := t0.Add(time.Hour)
	if err := s.RevokeAppPassword(t.Context(), a.ID, "a1", first); err != nil {
		t.Fatal(err)
	}
	err := s.RevokeAppPassword(t.Context(), a.ID, "a1", first.Add(time.Hour))
	wantErr(t, "second revocation", err, backend.ErrNoSuchAppPassword)
	sameTime(t, "RevokedAt keeps the first revocation", mustByVerifier(t, s, a.ID, "a1").RevokedAt, first)
}

func revokeZeroTime(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	mustApp(t, s, a.ID, "a2", t0)
	mustApp(t, s, a.ID, "a3", t0)
	if err := s.RevokeAppPassword(t.Context(), a.ID, "a1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RevokeAllAppPasswords(t.Context(), a.ID, time.Time{}); err != nil || n != 2 {
		t.Fatalf("RevokeAllAppPasswords(zero time) = %d, %v", n, err)
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		if mustByVerifier(t, s, a.ID, id).Active() {
			t.Errorf("%s still active after a revocation at the zero time", id)
		}
	}
}

func revokeAllCounts(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	b := mustEnrolled(t, s, "bob")
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		mustApp(t, s, a.ID, id, t0)
	}
	mustApp(t, s, b.ID, "b1", t0)
	if err := s.RevokeAppPassword(t.Context(), a.ID, "a4", t0); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	n, err := s.RevokeAllAppPasswords(t.Context(), a.ID, at)
	if err != nil || n != 3 {
		t.Fatalf("RevokeAllAppPasswords = %d, %v; want 3", n, err)
	}
	sameTime(t, "RevokedAt", mustByVerifier(t, s, a.ID, "a1").RevokedAt, at)
	sameTime(t, "earlier RevokedAt kept", mustByVerifier(t, s, a.ID, "a4").RevokedAt, t0)
	n, err = s.RevokeAllAppPasswords(t.Context(), a.ID, at)
	if err != nil || n != 0 {
		t.Fatalf("second RevokeAllAppPasswords = %d, %v; want 0", n, err)
	}
	wantIDs(t, "bob's", activeIDs(t, s, b.ID), "b1")
	n, err = s.RevokeAllAppPasswords(t.Context(), 999_999, at)
	if err != nil || n != 0 {
		t.Fatalf("RevokeAllAppPasswords(unknown) = %d, %v; want 0, nil", n, err)
	}
}

func recordBatch(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	mustApp(t, s, a.ID, "a2", t0)
	mustApp(t, s, a.ID, "a3", t0)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	err := s.RecordAppPasswordUses(t.Context(), []backend.AppPasswordUse{
		{ID: "a1", At: t1, From: "192.0.2.10"},
		{ID: "a2", At: t2, From: "2001:db8::1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   string
		at   time.Time
		from string
	}{{"a1", t1, "192.0.2.10"}, {"a2", t2, "2001:db8::1"}, {"a3", time.Time{}, ""}} {
		p := mustByVerifier(t, s, a.ID, tc.id)
		sameTime(t, tc.id+" LastUsedAt", p.LastUsedAt, tc.at)
		if p.LastUsedFrom != tc.from {
			t.Errorf("%s LastUsedFrom = %q, want %q", tc.id, p.LastUsedFrom, tc.from)
		}
	}
	list, err := s.ListAppPasswords(t.Context(), a.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListAppPasswords = %v, %v", list, err)
	}
	sameTime(t, "listed LastUsedAt", list[0].LastUsedAt, t1)
	if err := s.RecordAppPasswordUses(t.Context(), nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func recordForward(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	record := func(uses ...backend.AppPasswordUse) {
		t.Helper()
		if err := s.RecordAppPasswordUses(t.Context(), uses); err != nil {
			t.Fatal(err)
		}
	}
	want := func(at time.Time, from string) {
		t.Helper()
		p := mustByVerifier(t, s, a.ID, "a1")
		sameTime(t, "LastUsedAt", p.LastUsedAt, at)
		if p.LastUsedFrom != from {
			t.Errorf("LastUsedFrom = %q, want %q", p.LastUsedFrom, from)
		}
	}
	record(backend.AppPasswordUse{ID: "a1", At: t0.Add(10 * time.Second), From: "A"})
	record(backend.AppPasswordUse{ID: "a1", At: t0.Add(5 * time.Second), From: "B"})
	want(t0.Add(10*time.Second), "A")
	record(backend.AppPasswordUse{ID: "a1", At: t0.Add(10 * time.Second), From: "same instant"})
	want(t0.Add(10*time.Second), "A")
	// Within one batch, the latest use wins whatever its position.
	record(
		backend.AppPasswordUse{ID: "a1", At: t0.Add(30 * time.Second), From: "C"},
		backend.AppPasswordUse{ID: "a1", At: t0.Add(20 * time.Second), From: "D"},
	)
	want(t0.Add(30*time.Second), "C")
	record(backend.AppPasswordUse{ID: "a1", At: time.Time{}, From: "zero"})
	want(t0.Add(30*time.Second), "C")
}

func recordUnknown(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	// Uses are written after the bind; the account may be gone by then.
	err := s.RecordAppPasswordUses(t.Context(), []backend.AppPasswordUse{
		{ID: "gone", At: t0, From: "x"},
		{ID: "a1", At: t0.Add(time.Second), From: "192.0.2.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "LastUsedAt", mustByVerifier(t, s, a.ID, "a1").LastUsedAt, t0.Add(time.Second))
}

func recordRevoked(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	if err := s.RevokeAppPassword(t.Context(), a.ID, "a1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A use from just before the revocation, flushed just after it.
	err := s.RecordAppPasswordUses(t.Context(), []backend.AppPasswordUse{{ID: "a1", At: t0.Add(30 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	p := mustByVerifier(t, s, a.ID, "a1")
	if p.Active() {
		t.Fatal("recording a use re-activated a revoked app password")
	}
	sameTime(t, "RevokedAt", p.RevokedAt, t0.Add(time.Minute))
}

// concurrentUse mixes the bind path's reads and writes, for the race
// detector and for lock ordering between the read and write paths.
func concurrentUse(t *testing.T, s backend.Store) {
	a := mustEnrolled(t, s, "alice")
	mustApp(t, s, a.ID, "a1", t0)
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				if _, err := s.AccountByName(ctx, "alice"); err != nil {
					errc <- err
					return
				}
				if _, err := s.AppPasswordByVerifier(ctx, a.ID, verifier("a1")); err != nil {
					errc <- err
					return
				}
				if _, err := s.AdvanceTOTPStep(ctx, a.ID, int64(i)); err != nil {
					errc <- err
					return
				}
				at := t0.Add(time.Duration(g*100+i) * time.Second)
				if err := s.RecordAppPasswordUses(ctx, []backend.AppPasswordUse{{ID: "a1", At: at}}); err != nil {
					errc <- err
					return
				}
				if _, err := s.ListAppPasswords(ctx, a.ID); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	sameTime(t, "LastUsedAt", mustByVerifier(t, s, a.ID, "a1").LastUsedAt, t0.Add(324*time.Second))
}

func closeStops(t *testing.T, s backend.Store) {
	mustCreate(t, s, "alice", "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.AccountByName(t.Context(), "alice"); err == nil {
		t.Error("AccountByName after Close succeeded")
	}
	if err := s.CreateAccount(t.Context(), newAccount(t, "bob", "")); err == nil {
		t.Error("CreateAccount after Close succeeded")
	}
}

// A bind's answer may be remembered only while the generation stays: every
// write that can change it must move the generation; bookkeeping must not.
func generationMoves(t *testing.T, s backend.Store) {
	ctx := t.Context()
	last, err := s.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[backend.Generation]string{last: "the start"}
	check := func(what string, err error, wantMove bool) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		g, err := s.Generation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case wantMove && g == last:
			t.Errorf("%s left the generation at %+v", what, g)
		case wantMove && seen[g] != "":
			t.Errorf("%s moved the generation back to %+v, seen after %s", what, g, seen[g])
		case !wantMove && g != last:
			t.Errorf("%s moved the generation from %+v to %+v: bookkeeping must not flush caches", what, last, g)
		}
		seen[g] = what
		last = g
	}
	moved := func(what string, err error) { t.Helper(); check(what, err, true) }
	stayed := func(what string, err error) { t.Helper(); check(what, err, false) }

	a := mustEnrolled(t, s, "alice")
	moved("creating and enrolling an account", nil)
	mustApp(t, s, a.ID, "ap-1", t0)
	moved("creating an app password", nil)
	for _, path := range []backend.AuthPath{backend.PathPassword, backend.PathAppPassword} {
		stayed("recording a failed bind on the "+path.String()+" path", func() error {
			_, err := s.RecordAuthFailure(ctx, a.ID, path, t0, backend.LockoutPolicy{MaxFailures: 1, Window: time.Hour, Duration: time.Hour})
			return err
		}())
		stayed("clearing failed binds", s.ResetAuthFailures(ctx, a.ID, path))
	}
	stayed("unlocking", s.UnlockAccount(ctx, a.ID))
	stayed("advancing the TOTP step", func() error {
		_, err := s.AdvanceTOTPStep(ctx, a.ID, 1000)
		return err
	}())
	stayed("recording an app password's use", s.RecordAppPasswordUses(ctx, []backend.AppPasswordUse{{ID: "ap-1", At: t0, From: "192.0.2.1"}}))
	stayed("writing an audit record", s.InsertAudit(ctx, []backend.AuditRecord{{At: t0, Action: backend.ActionBind, Result: backend.FailWrongPassword, Subject: "alice"}}))
	moved("revoking an app password", s.RevokeAppPassword(ctx, a.ID, "ap-1", t0))
	moved("disabling", s.SetDisabled(ctx, a.ID, true))
	moved("changing the role", s.SetRole(ctx, a.ID, backend.RoleAdmin))
	moved("setting aliases", s.SetAliases(ctx, a.ID, []string{"al@example.org"}))
	moved("creating a group", s.CreateGroup(ctx, "staff"))
	moved("adding a member", s.SetGroupMember(ctx, "staff", a.ID, true))
	moved("removing a member", s.SetGroupMember(ctx, "staff", a.ID, false))
	moved("deleting a group", s.DeleteGroup(ctx, "staff"))
	moved("changing the profile", s.SetProfile(ctx, a.ID, backend.Profile{Mail: "alice@example.org", GivenName: "Alice"}))
	moved("giving POSIX attributes", s.SetProfile(ctx, a.ID, backend.Profile{Mail: "alice@example.org", GivenName: "Alice",
		Posix: &backend.Posix{UIDNumber: 10001, GIDNumber: 100, HomeDirectory: "/home/alice"}}))
	moved("changing the password", func() error {
		_, err := s.SetPasswordHash(ctx, a.ID, "hash", true, t0)
		return err
	}())
	moved("removing the second factor", func() error {
		_, err := s.SetTOTPSeed(ctx, a.ID, nil, t0)
		return err
	}())
	moved("deleting the account", s.DeleteAccount(ctx, a.ID))
}
