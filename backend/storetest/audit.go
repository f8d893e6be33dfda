package storetest

import (
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
