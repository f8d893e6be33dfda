package main

import (
	"os"
	"path/filepath"
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

// What decides who may send as an address (mail, aliases), what the
// directory shows (names, POSIX, groups), the role and the key the seeds
// are sealed with: each change made from the command line is a record of
// `wicket audit`, by the user who ran it, saying what changed and no secret.
func TestAuditCommand_RecordsProfileGroupRoleAndKeyChanges(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	const seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	c.addUser("alice")
	c.ok(seed+"\n", "totp", "enroll", "alice", "--secret-file", "-")
	var before []backend.AuditRecord
	decode(t, c.ok("", "audit", "--json"), &before)

	c.ok("", "user", "set", "alice", "--mail", "alice@example.org", "--alias", "al@example.org", "--alias", "a.l@example.org")
	c.ok("", "user", "set", "alice", "--given-name", "Alice", "--surname", "Liddell", "--display-name", "Alice L")
	c.ok("", "user", "set", "alice", "--uid-number", "10001", "--gid-number", "100", "--home-directory", "/home/alice")
	c.ok("", "user", "set", "alice", "--no-aliases")
	c.ok("", "user", "role", "alice", "admin")
	c.ok("", "group", "add", "staff")
	c.ok("", "group", "member-add", "staff", "alice")
	c.ok("", "group", "member-remove", "staff", "alice")
	c.ok("", "group", "delete", "staff")
	c.ok("", "key", "rotate")

	var recs []backend.AuditRecord
	decode(t, c.ok("", "audit", "--json"), &recs)
	recs = recs[:len(recs)-len(before)]
	want := []struct{ action, subject, detail string }{
		{backend.ActionKeyRotate, "", "key=2 resealed=1"},
		{backend.ActionGroupDelete, "", "group=staff"},
		{backend.ActionGroupRemove, "alice", "group=staff"},
		{backend.ActionGroupAdd, "alice", "group=staff"},
		{backend.ActionGroupCreate, "", "group=staff"},
		{backend.ActionUserRole, "alice", "role=admin was=user"},
		{backend.ActionUserAliases, "alice", `aliases=""`},
		{backend.ActionUserProfile, "alice", "uid_number=10001 gid_number=100 home_directory=/home/alice"},
		{backend.ActionUserProfile, "alice", `given_name=Alice surname=Liddell display_name="Alice L"`},
		{backend.ActionUserAliases, "alice", "aliases=al@example.org,a.l@example.org"},
		{backend.ActionUserProfile, "alice", "mail=alice@example.org"},
	}
	if len(recs) != len(want) {
		t.Fatalf("wicket audit: %d new records, want %d:\n%+v", len(recs), len(want), recs)
	}
	me := cliActor().Name
	for i, w := range want {
		r := recs[i]
		if r.Action != w.action || r.Subject != w.subject || r.Detail != w.detail || r.Result != backend.ResultSuccess ||
			r.Actor != me || r.Method != "cli" {
			t.Errorf("record %d: %+v; want %s of %q (%s) by %s via cli", i, r, w.action, w.subject, w.detail, me)
		}
	}
	table := c.ok("", "audit")
	contains(t, "wicket audit", table, "key-rotate", "key=2 resealed=1", "user-aliases", "group-add")
	keys, err := os.ReadFile(filepath.Join(filepath.Dir(c.db), "wicket.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range append(strings.Fields(string(keys)), seed, "correct horse battery") {
		if len(secret) >= 16 && strings.Contains(table, secret) {
			t.Errorf("wicket audit shows the secret %q", secret)
		}
	}
}
