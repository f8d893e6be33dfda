package main

import (
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

// Changes made from the command line are recorded at once, as the user who
// ran it; `wicket audit` lists them newest first, filtered, as a table or
// JSON, and never with a secret.
func TestAuditCommand_ListsChangesFromTheCommandLine(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	const seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	c.addUser("alice")
	c.ok(seed+"\n", "totp", "enroll", "alice", "--secret-file", "-")
	var ap struct{ ID, Password string }
	decode(t, c.ok("", "apppw", "create", "alice", "--label", "Thunderbird on laptop", "--json"), &ap)
	c.ok("", "apppw", "revoke", "alice", ap.ID)
	c.addUser("bob")

	var recs []backend.AuditRecord
	decode(t, c.ok("", "audit", "--json"), &recs)
	want := []struct{ action, subject, detail string }{
		{backend.ActionUserCreate, "bob", "role=user"},
		{backend.ActionAppPasswordRevoke, "alice", "id=" + ap.ID},
		{backend.ActionAppPasswordCreate, "alice", `id=` + ap.ID + ` label="Thunderbird on laptop"`},
		{backend.ActionTOTPEnroll, "alice", ""},
		{backend.ActionUserCreate, "alice", "role=user"},
	}
	if len(recs) != len(want) {
		t.Fatalf("wicket audit: %d records, want %d: %+v", len(recs), len(want), recs)
	}
	me := cliActor().Name
	for i, w := range want {
		r := recs[i]
		if r.Action != w.action || r.Subject != w.subject || r.Detail != w.detail || r.Result != backend.ResultSuccess ||
			r.Actor != me || r.Method != "cli" || r.Remote != "" || r.ID == 0 || r.At.IsZero() {
			t.Errorf("record %d: %+v; want %s of %s (%s) by %s via cli", i, r, w.action, w.subject, w.detail, me)
		}
	}

	decode(t, c.ok("", "audit", "--json", "--user", "ALICE", "--limit", "2", "--since", "1d"), &recs)
	if len(recs) != 2 || recs[0].Action != backend.ActionAppPasswordRevoke || recs[1].Action != backend.ActionAppPasswordCreate {
		t.Errorf("--user ALICE --limit 2: %+v, want alice's two newest records", recs)
	}
	decode(t, c.ok("", "audit", "--json", "--user", "carol"), &recs)
	if recs == nil || len(recs) != 0 {
		t.Errorf("--user carol: %+v, want an empty list", recs)
	}

	table := c.ok("", "audit")
	contains(t, "wicket audit", table, "TIME", "ACTION", "RESULT", "apppw-create", "Thunderbird on laptop", me)
	if n := strings.Count(strings.TrimSpace(table), "\n"); n != len(want) {
		t.Errorf("the table has %d rows, want %d:\n%s", n, len(want), table)
	}
	for _, secret := range []string{"correct horse battery", ap.Password, strings.ReplaceAll(ap.Password, "-", ""), seed} {
		if strings.Contains(table, secret) {
			t.Errorf("wicket audit shows the secret %q", secret)
		}
	}

	contains(t, "--since soon", c.fail("", "audit", "--since", "soon"), "--since")
	contains(t, "--limit -1", c.fail("", "audit", "--limit", "-1"), "--limit")
}
