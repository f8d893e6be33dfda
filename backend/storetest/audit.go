package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

func mustInsertAudit(t *testing.T, s backend.Store, recs ...backend.AuditRecord) {
	t.Helper()
	if err := s.InsertAudit(t.Context(), recs); err != nil {
		t.Fatalf("InsertAudit: %v", err)
	}
}

func mustListAudit(t *testing.T, s backend.Store, f backend.AuditFilter) []backend.AuditRecord {
	t.Helper()
	recs, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	return recs
}

// auditAt is a record at t0+minutes, told apart by its detail.
func auditAt(minutes int, subject, detail string) backend.AuditRecord {
	return backend.AuditRecord{At: t0.Add(time.Duration(minutes) * time.Minute), Action: backend.ActionBind,
		Subject: subject, Result: backend.ResultSuccess, Detail: detail}
}

func details(recs []backend.AuditRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Detail
	}
	return out
}

func sameDetails(t *testing.T, what string, got []backend.AuditRecord, want ...string) {
	t.Helper()
	if g := details(got); !slices.Equal(g, want) {
		t.Errorf("%s: records %q, want %q", what, g, want)
	}
}

func auditRoundTrips(t *testing.T, s backend.Store) {
	full := backend.AuditRecord{
		At:      t0.Add(time.Minute + 123456789), // sub-second precision is kept
		Actor:   "uid=alice,ou=people,dc=example,dc=org",
		Action:  backend.ActionAppPasswordCreate,
		Subject: "alice",
		Method:  "extended-operation",
		Remote:  "192.0.2.7",
		Result:  backend.ResultSuccess,
		Detail:  `id=0123456789 label="Thunderbird on laptop"`,
		Count:   40,
	}
	// Only the required fields: the optional ones come back empty, and
	// the record stands for one event.
	bare := backend.AuditRecord{At: t0, Action: backend.ActionBind, Result: backend.FailUnknownAccount}
	mustInsertAudit(t, s, bare, full)

	got := mustListAudit(t, s, backend.AuditFilter{})
	if len(got) != 2 {
		t.Fatalf("ListAudit: %d records, want 2", len(got))
	}
	if got[0].ID == 0 || got[1].ID == 0 || got[0].ID == got[1].ID {
		t.Errorf("IDs %d and %d, want two distinct non-zero ones", got[0].ID, got[1].ID)
	}
	for i, want := range []backend.AuditRecord{full, bare} {
		g := got[i]
		if !g.At.Equal(want.At) || g.At.Location() != time.UTC {
			t.Errorf("record %d: At %v, want %v in UTC", i, g.At, want.At)
		}
		g.ID, g.At, want.At = 0, time.Time{}, time.Time{}
		want.Count = max(1, want.Count)
		if g != want {
			t.Errorf("record %d: got %+v, want %+v", i, g, want)
		}
	}
}

func auditEmptyBatch(t *testing.T, s backend.Store) {
	mustInsertAudit(t, s)
	if got := mustListAudit(t, s, backend.AuditFilter{}); len(got) != 0 {
		t.Errorf("after an empty batch: %d records", len(got))
	}
}

func auditFilters(t *testing.T, s backend.Store) {
	mustInsertAudit(t, s,
		auditAt(1, "alice", "a1"),
		auditAt(2, "bob", "b2"),
		auditAt(3, "", "unknown3"),
	)
	// A second batch, written out of time order, is still read in it.
	mustInsertAudit(t, s, auditAt(5, "alice", "a5"), auditAt(4, "alice", "a4"))

	for _, tc := range []struct {
		name string
		f    backend.AuditFilter
		want []string
	}{
		{"all", backend.AuditFilter{}, []string{"a5", "a4", "unknown3", "b2", "a1"}},
		{"subject", backend.AuditFilter{Subject: "alice"}, []string{"a5", "a4", "a1"}},
		{"subject without records", backend.AuditFilter{Subject: "carol"}, nil},
		{"since, inclusive", backend.AuditFilter{Since: t0.Add(3 * time.Minute)}, []string{"a5", "a4", "unknown3"}},
		{"limit keeps the newest", backend.AuditFilter{Limit: 2}, []string{"a5", "a4"}},
		{"all three", backend.AuditFilter{Subject: "alice", Since: t0.Add(2 * time.Minute), Limit: 1}, []string{"a5"}},
		{"subject and since", backend.AuditFilter{Subject: "alice", Since: t0.Add(2 * time.Minute)}, []string{"a5", "a4"}},
		{"since after everything", backend.AuditFilter{Since: t0.Add(time.Hour)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sameDetails(t, "ListAudit", mustListAudit(t, s, tc.f), tc.want...)
		})
	}
}

func auditTies(t *testing.T, s backend.Store) {
	mustInsertAudit(t, s, auditAt(1, "alice", "first"), auditAt(1, "alice", "second"))
	mustInsertAudit(t, s, auditAt(1, "alice", "third"))
	sameDetails(t, "ListAudit", mustListAudit(t, s, backend.AuditFilter{}), "third", "second", "first")
}

func auditPrune(t *testing.T, s backend.Store) {
	// Inserted out of time order, so "oldest first" is not insertion order.
	mustInsertAudit(t, s,
		auditAt(3, "alice", "old3"),
		auditAt(1, "alice", "old1"),
		auditAt(10, "alice", "new10"),
		auditAt(2, "bob", "old2"),
		auditAt(4, "bob", "old4"),
		auditAt(5, "alice", "at-cutoff5"),
	)
	cutoff := t0.Add(5 * time.Minute)
	n, err := s.PruneAudit(t.Context(), cutoff, 2)
	if err != nil || n != 2 {
		t.Fatalf("first chunk: pruned %d, %v; want 2", n, err)
	}
	sameDetails(t, "after the first chunk", mustListAudit(t, s, backend.AuditFilter{}), "new10", "at-cutoff5", "old4", "old3")
	for _, want := range []int{2, 0} {
		if n, err := s.PruneAudit(t.Context(), cutoff, 2); err != nil || n != want {
			t.Fatalf("next chunk: pruned %d, %v; want %d", n, err, want)
		}
	}
	// A record exactly at the cutoff is not older than it.
	sameDetails(t, "after pruning", mustListAudit(t, s, backend.AuditFilter{}), "new10", "at-cutoff5")
}

// withChange is a context carrying the record of a change, told apart by
// its detail; the detail ends with the count the store reports.
func withChange(t *testing.T, what string) context.Context {
	c := backend.NewChange(backend.AuditRecord{At: t0, Actor: "admin", Action: backend.ActionUserRole, Subject: "alice",
		Method: "cli", Result: backend.ResultSuccess, Detail: what},
		func(n int) string { return fmt.Sprintf("%s n=%d", what, n) })
	return backend.WithChange(t.Context(), c)
}

// A change's record is written by the store with the change, counting what
// only the transaction knows (the app passwords it revoked); writes made
// without one leave no record.
func changeRecordsCommitWithTheChange(t *testing.T, s backend.Store) {
	alice := mustEnrolled(t, s, "alice")
	bob := mustCreate(t, s, "bob", "bob@example.org")
	for _, id := range []string{"app1", "app2", "app3"} {
		mustApp(t, s, alice.ID, id, t0)
	}
	if got := mustListAudit(t, s, backend.AuditFilter{}); len(got) != 0 {
		t.Fatalf("writes without a change's record left %d records", len(got))
	}
	steps := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"CreateAccount", func(ctx context.Context) error { return s.CreateAccount(ctx, newAccount(t, "carol", "")) }},
		{"SetDisabled", func(ctx context.Context) error { return s.SetDisabled(ctx, alice.ID, true) }},
		{"SetRole", func(ctx context.Context) error { return s.SetRole(ctx, alice.ID, backend.RoleAdmin) }},
		{"CreateAppPassword", func(ctx context.Context) error {
			return s.CreateAppPassword(ctx, &backend.AppPassword{ID: "app4", AccountID: alice.ID, Label: "four", CreatedAt: t0},
				verifier("app4"), defaultLimit)
		}},
		{"RevokeAppPassword", func(ctx context.Context) error { return s.RevokeAppPassword(ctx, alice.ID, "app1", t0) }},
		{"RevokeAppPasswords", func(ctx context.Context) error {
			return s.RevokeAppPasswords(ctx, alice.ID, []string{"app2"}, t0)
		}},
		{"SetPasswordHash", func(ctx context.Context) error {
			_, err := s.SetPasswordHash(ctx, alice.ID, "$argon2id$new", true, t0)
			return err
		}},
		{"RevokeAllAppPasswords", func(ctx context.Context) error {
			mustApp(t, s, alice.ID, "app5", t0)
			_, err := s.RevokeAllAppPasswords(ctx, alice.ID, t0)
			return err
		}},
		{"ResealTOTPSeeds", func(ctx context.Context) error {
			_, err := s.ResealTOTPSeeds(ctx, func(_ int64, sealed []byte) ([]byte, error) { return sealed, nil })
			return err
		}},
		{"SetTOTPSeed", func(ctx context.Context) error {
			mustApp(t, s, alice.ID, "app6", t0)
			mustApp(t, s, alice.ID, "app7", t0)
			mustApp(t, s, alice.ID, "app8", t0)
			_, err := s.SetTOTPSeed(ctx, alice.ID, nil, t0)
			return err
		}},
		{"UnlockAccount", func(ctx context.Context) error { return s.UnlockAccount(ctx, alice.ID) }},
		{"SetProfile", func(ctx context.Context) error {
			return s.SetProfile(ctx, alice.ID, backend.Profile{Mail: "alice@example.net", DisplayName: "Alice"})
		}},
		{"SetAliases", func(ctx context.Context) error { return s.SetAliases(ctx, alice.ID, []string{"al@example.net"}) }},
		{"CreateGroup", func(ctx context.Context) error { return s.CreateGroup(ctx, "staff") }},
		{"SetGroupMember", func(ctx context.Context) error { return s.SetGroupMember(ctx, "staff", alice.ID, true) }},
		{"DeleteGroup", func(ctx context.Context) error { return s.DeleteGroup(ctx, "staff") }},
		{"DeleteAccount", func(ctx context.Context) error { return s.DeleteAccount(ctx, bob.ID) }},
	}
	var want []string
	for _, st := range steps {
		if err := st.do(withChange(t, st.name)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		n := 0
		switch st.name {
		case "SetPasswordHash":
			n = 2 // app3 and app4
		case "RevokeAllAppPasswords":
			n = 1
		case "SetTOTPSeed":
			n = 3
		case "ResealTOTPSeeds":
			n = 1 // alice's seed
		}
		want = append([]string{fmt.Sprintf("%s n=%d", st.name, n)}, want...)
		// Written before the call returned: nothing is left for later.
		got := mustListAudit(t, s, backend.AuditFilter{Limit: 1})
		if len(got) != 1 || got[0].Detail != want[0] {
			t.Fatalf("after %s: newest record %+v, want detail %q", st.name, got, want[0])
		}
		if r := got[0]; r.Actor != "admin" || r.Action != backend.ActionUserRole || r.Subject != "alice" ||
			r.Method != "cli" || r.Result != backend.ResultSuccess || r.Count != 1 || !r.At.Equal(t0) {
			t.Errorf("after %s: record %+v, want the change's fields", st.name, r)
		}
	}
	sameDetails(t, "ListAudit", mustListAudit(t, s, backend.AuditFilter{}), want...)
}

// A change the store refuses commits nothing, its record included: the
// account domain records the refusal itself.
func changeRefusedWritesNoRecord(t *testing.T, s backend.Store) {
	alice := mustEnrolled(t, s, "alice")
	bob := mustCreate(t, s, "bob", "bob@example.org")
	mustApp(t, s, alice.ID, "app1", t0)
	const unknown = 999999
	for _, st := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"CreateAccount taken", func(ctx context.Context) error { return s.CreateAccount(ctx, newAccount(t, "Alice", "")) }},
		{"SetDisabled unknown", func(ctx context.Context) error { return s.SetDisabled(ctx, unknown, true) }},
		{"CreateAppPassword past the limit", func(ctx context.Context) error {
			return s.CreateAppPassword(ctx, &backend.AppPassword{ID: "app2", AccountID: alice.ID, Label: "two", CreatedAt: t0},
				verifier("app2"), 1)
		}},
		{"RevokeAppPassword unknown", func(ctx context.Context) error { return s.RevokeAppPassword(ctx, alice.ID, "nope", t0) }},
		{"RevokeAppPasswords one unknown", func(ctx context.Context) error {
			return s.RevokeAppPasswords(ctx, alice.ID, []string{"app1", "nope"}, t0)
		}},
		{"SetPasswordHash unknown", func(ctx context.Context) error {
			_, err := s.SetPasswordHash(ctx, unknown, "$argon2id$new", true, t0)
			return err
		}},
		{"SetAliases taken", func(ctx context.Context) error {
			return s.SetAliases(ctx, alice.ID, []string{"bob@example.org"})
		}},
		{"SetGroupMember unknown group", func(ctx context.Context) error {
			return s.SetGroupMember(ctx, "nobody", bob.ID, true)
		}},
		{"DeleteGroup unknown", func(ctx context.Context) error { return s.DeleteGroup(ctx, "nobody") }},
		{"UnlockAccount unknown", func(ctx context.Context) error { return s.UnlockAccount(ctx, unknown) }},
		{"ResealTOTPSeeds failing", func(ctx context.Context) error {
			_, err := s.ResealTOTPSeeds(ctx, func(int64, []byte) ([]byte, error) { return nil, errors.New("no such key") })
			return err
		}},
	} {
		if err := st.do(withChange(t, st.name)); err == nil {
			t.Errorf("%s: succeeded, want a refusal", st.name)
		}
	}
	if got := mustListAudit(t, s, backend.AuditFilter{}); len(got) != 0 {
		t.Errorf("refused changes left records: %q", details(got))
	}
	if ids := activeIDs(t, s, alice.ID); !slices.Equal(ids, []string{"app1"}) {
		t.Errorf("active app passwords %q after the refusals, want app1 alone", ids)
	}
}
