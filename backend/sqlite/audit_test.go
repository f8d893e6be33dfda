package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// A database of schema version 3, with accounts, gains an empty audit table.
func TestOpen_MigratesV3DatabaseWithAnAuditTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	v3, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(t.Context(), v3, migrations[:3]); err != nil {
		t.Fatal(err)
	}
	if tableExists(t, v3, "audit") {
		t.Fatal("schema version 3 already has the audit table")
	}
	v3.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := userVersion(t, s.r); v != len(migrations) {
		t.Fatalf("user_version = %d, want %d", v, len(migrations))
	}
	if recs, err := s.ListAudit(t.Context(), backend.AuditFilter{}); err != nil || len(recs) != 0 {
		t.Fatalf("ListAudit on the migrated database: %v, %v", recs, err)
	}
}

// The audit table grows with every bind: listing one account's records and
// pruning the oldest must go through an index, never a scan of the table.
func TestAudit_QueriesUseTheIndexes(t *testing.T) {
	s, err := Create(filepath.Join(t.TempDir(), "wicket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plan := func(query string, args ...any) string {
		t.Helper()
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			b.WriteString(detail + "\n")
		}
		return b.String()
	}
	now := time.Now().UnixNano()
	for _, tc := range []struct {
		name, query, index string
		args               []any
	}{
		{"one account", `SELECT id FROM audit WHERE subject = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT 10`,
			"audit_subject", []any{"alice", now}},
		{"newest first", `SELECT id FROM audit ORDER BY at DESC, id DESC LIMIT 10`, "audit_at", nil},
		{"pruning", `SELECT id FROM audit WHERE at < ? ORDER BY at LIMIT ?`, "audit_at", []any{now, 1000}},
	} {
		p := plan(tc.query, tc.args...)
		if !strings.Contains(p, tc.index) {
			t.Errorf("%s: the plan does not use %s:\n%s", tc.name, tc.index, p)
		}
	}
}
