package integration

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
)

// auditRecord is one record as `wicket audit --json` prints it: the view a
// script has, so the field names are spelt out here.
type auditRecord struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Subject string    `json:"subject"`
	Method  string    `json:"method"`
	Remote  string    `json:"remote"`
	Result  string    `json:"result"`
	Detail  string    `json:"detail"`
	Count   int       `json:"count"`
}

func (w *wicket) audit(args ...string) []auditRecord {
	w.t.Helper()
	var recs []auditRecord
	w.adminJSON(&recs, "", append([]string{"audit", "--limit", "0"}, args...)...)
	return recs
}

// findAudit returns the newest record of action by actor with result whose
// detail holds each of details, if any.
func findAudit(recs []auditRecord, action, actor, result string, details ...string) (auditRecord, bool) {
next:
	for _, r := range recs {
		if r.Action != action || r.Actor != actor || r.Result != result {
			continue
		}
		for _, d := range details {
			if !strings.Contains(r.Detail, d) {
				continue next
			}
		}
		return r, true
	}
	return auditRecord{}, false
}

// requireAudit checks the record of action by actor with result whose
// detail holds details: its subject, method and address.
func requireAudit(t *testing.T, recs []auditRecord, action, actor, result, subject, method, remote string, details ...string) {
	t.Helper()
	r, ok := findAudit(recs, action, actor, result, details...)
	if !ok {
		b, _ := json.MarshalIndent(recs, "", "  ")
		t.Errorf("no %s record by %q with result %s and detail %q in:\n%s", action, actor, result, details, b)
		return
	}
	if r.Subject != subject || r.Method != method || r.Remote != remote || r.ID == 0 || time.Since(r.At) > 5*time.Minute {
		t.Errorf("%s by %q (%s): %+v; want subject %q, method %q, remote %q, a recent time", action, actor, result, r,
			subject, method, remote)
	}
}

// Binds and changes over LDAP are recorded by the running server, written
// within seconds and all of them by a clean stop; changes from the command
// line are recorded as the user who ran it. `wicket audit --json` reads
// them back, and neither it nor the server log shows a secret.
func TestAudit_BindsAndChangesReadBackWithWicketAudit(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("iris", true)
	codes := newStepCodes(t, u)
	firstPassword := u.password

	c := dialBound(t, w, u.dn, codes.withCode(u))
	phone := exopCreate(t, c, "Phone of Iris", "")
	laptop := exopCreate(t, c, "Laptop", "")
	if _, rc := goLDAPBind(t, w.url(), u.mail, phone.Password); rc != 0 {
		t.Fatalf("app-password bind: result %d", rc)
	}
	// Not the real one: 75 bits are not guessed by chance.
	const wrongApp = "abcd-efgh-ijkl-mnop"
	if _, rc := goLDAPBind(t, w.url(), u.dn, wrongApp); rc != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("wrong app password: result %d", rc)
	}
	if _, rc := goLDAPBind(t, w.url(), "nobody", "whatever it is"); rc != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("unknown name: result %d", rc)
	}
	if err := c.Del(ldap.NewDelRequest(appPasswordDN(u, phone.ID), nil)); err != nil {
		t.Fatalf("ldapdelete of the phone's app password: %v", err)
	}
	newPassword := "Brand-New-Password-For-Iris"
	if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", u.password, newPassword)); err != nil {
		t.Fatalf("password change: %v", err)
	}

	// The server writes its records in batches, every two seconds.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, ok := findAudit(w.audit("--user", "iris"), backend.ActionPasswordChange, "iris", backend.ResultSuccess); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the running server did not write its audit records within 15 s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	w.stop()

	recs := w.audit()
	const local = "127.0.0.1"
	requireAudit(t, recs, "bind", u.dn, "success", "iris", "password+totp", local)
	requireAudit(t, recs, "apppw-create", "iris", "success", "iris", "extended-operation", local,
		"id="+phone.ID, `label="Phone of Iris"`)
	requireAudit(t, recs, "bind", u.mail, "success", "iris", "app-password", local, "app_password="+phone.ID)
	requireAudit(t, recs, "bind", u.dn, "wrong-app-password", "iris", "app-password", local, "wrong app password")
	requireAudit(t, recs, "bind", "nobody", "unknown-account", "", "password+totp", local)
	requireAudit(t, recs, "apppw-revoke", "iris", "success", "iris", "delete", local, "id="+phone.ID)
	requireAudit(t, recs, "password-change", "iris", "success", "iris", "password-modify", local, "revoked=1")
	// From the command line: no address, the method is the command line.
	var cliActor string
	for _, r := range recs {
		if r.Action == "user-create" && r.Subject == "iris" {
			cliActor = r.Actor
		}
	}
	if cliActor == "" {
		t.Fatal("the account's creation by wicket user add was not recorded")
	}
	requireAudit(t, recs, "user-create", cliActor, "success", "iris", "cli", "", "role=user")
	requireAudit(t, recs, "totp-enroll", cliActor, "success", "iris", "cli", "")
	for i := 1; i < len(recs); i++ {
		if recs[i].At.After(recs[i-1].At) {
			t.Errorf("records are not newest first: %v before %v", recs[i-1].At, recs[i].At)
		}
	}

	// The log line of each record has the same fields.
	var sawCreate, sawFailure bool
	for line := range strings.Lines(w.logs.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		switch {
		case m["msg"] == "app password created" && strings.Contains(m["detail"].(string), phone.ID):
			sawCreate = m["action"] == "apppw-create" && m["actor"] == "iris" && m["subject"] == "iris" &&
				m["method"] == "extended-operation" && m["remote"] == local && m["result"] == "success"
		case m["msg"] == "bind failed" && m["result"] == "wrong-app-password":
			sawFailure = m["actor"] == u.dn && m["subject"] == "iris" && m["remote"] == local
		}
	}
	if !sawCreate || !sawFailure {
		t.Errorf("the log lines of the creation (%v) and of the failed bind (%v) do not carry the record's fields:\n%s",
			sawCreate, sawFailure, w.logs.String())
	}

	all := w.admin("", "audit", "--limit", "0") + w.admin("", "audit", "--json", "--limit", "0") + w.logs.String()
	requireNoSecret(t, "wicket audit and the server log", all, firstPassword, newPassword, u.secret,
		phone.Password, laptop.Password)
}

// Records older than audit.retention are deleted when the server starts
// (and every hour); younger ones stay.
func TestAudit_RetentionPrunesOldRecordsAtStart(t *testing.T) {
	w := startWicket(t, "[audit]\nretention = \"1m\"\n")
	w.newUser("jay", false)
	w.stop()

	store, err := sqlite.Open(filepath.Join(w.dir, "wicket.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = store.InsertAudit(context.Background(), []backend.AuditRecord{
		{At: now.Add(-2 * time.Hour), Actor: "two hours ago", Action: backend.ActionBind, Result: backend.ResultSuccess},
		{At: now.Add(-61 * time.Second), Actor: "a minute ago", Action: backend.ActionBind, Result: backend.ResultSuccess},
		{At: now.Add(-5 * time.Second), Actor: "just now", Action: backend.ActionBind, Result: backend.ResultSuccess},
	})
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if recs := w.audit(); len(recs) != 4 {
		t.Fatalf("before the start: %d records, want the account's creation and the 3 inserted: %+v", len(recs), recs)
	}

	w.start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		recs := w.audit()
		_, old := findAudit(recs, backend.ActionBind, "two hours ago", backend.ResultSuccess)
		_, minute := findAudit(recs, backend.ActionBind, "a minute ago", backend.ResultSuccess)
		if !old && !minute {
			if _, ok := findAudit(recs, backend.ActionBind, "just now", backend.ResultSuccess); !ok {
				t.Errorf("a record younger than the retention was pruned: %+v", recs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records older than the retention are still there 15 s after the start: %+v", recs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(w.logs.String(), `"msg":"pruned audit records"`) {
		t.Errorf("the pruning was not logged:\n%s", w.logs.String())
	}
}
