package server

import (
	"context"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

// waitAudit waits until the audit trail holds a record of action by actor
// with result, and returns it.
func (e *env) waitAudit(t *testing.T, action, actor, res string) backend.AuditRecord {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, err := e.store.ListAudit(context.Background(), backend.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Action == action && r.Actor == actor && r.Result == res {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s record by %q with result %s; the trail holds:\n%s", action, actor, res, formatRecords(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func formatRecords(recs []backend.AuditRecord) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(backend.KV("action", r.Action, "actor", r.Actor, "subject", r.Subject, "method", r.Method,
			"remote", r.Remote, "result", r.Result, "detail", r.Detail))
		b.WriteByte('\n')
	}
	return b.String()
}

// wantRecord checks the fields a test cares about; detail must contain
// each of details.
func wantRecord(t *testing.T, r backend.AuditRecord, subject, method string, details ...string) {
	t.Helper()
	if r.Subject != subject || r.Method != method || r.Remote != "127.0.0.1" {
		t.Errorf("%s by %q (%s): subject %q, method %q, remote %q; want %q, %q, 127.0.0.1",
			r.Action, r.Actor, r.Result, r.Subject, r.Method, r.Remote, subject, method)
	}
	for _, d := range details {
		if !strings.Contains(r.Detail, d) {
			t.Errorf("%s by %q (%s): detail %q, want it to contain %q", r.Action, r.Actor, r.Result, r.Detail, d)
		}
	}
}

func (e *env) appPasswordID(t *testing.T, name, label string) string {
	t.Helper()
	aps, err := e.svc.AppPasswords(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for _, ap := range aps {
		if ap.Label == label {
			return ap.ID
		}
	}
	t.Fatalf("%s has no app password labelled %q", name, label)
	return ""
}

// Each bind, whichever way it goes, leaves one record: the name as given,
// the account, the method, the client address and the outcome.
func TestAudit_BindsAreRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	laptop := e.appPasswordID(t, "alice", "Thunderbird on laptop")
	bind := func(name, password string) error {
		l := e.dial(t)
		defer l.Close()
		return l.Bind(name, password)
	}
	if err := bind("alice", e.appPassword); err != nil {
		t.Fatalf("app password: %v", err)
	}
	if err := bind(aliceDN, e.alicePasswordAndCode()); err != nil {
		t.Fatalf("password and code: %v", err)
	}
	if err := bind(aliceDN, alicePassword+wrongCode(e)); resultCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("wrong code: %v", err)
	}
	if err := bind("nobody", "some password"); resultCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("unknown name: %v", err)
	}
	if err := bind(aliceMail, e.revokedAppPassword); resultCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("revoked app password: %v", err)
	}
	if err := bind("dave", e.daveAppPassword); resultCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("disabled account: %v", err)
	}
	c := dialRaw(t, e.addr)
	c.call(message(1, simpleBind(3, aliceDN, ""))).assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultUnwillingToPerform)
	c.call(message(2, saslBind("PLAIN", []byte("\x00"+aliceMail+"\x00"+e.appPassword)))).
		assert(t, 2, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	c.call(message(3, simpleBind(3, "", ""))).assert(t, 3, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)

	const bindA = backend.ActionBind
	app, pwTOTP := string(backend.MethodAppPassword), string(backend.MethodPasswordTOTP)
	wantRecord(t, e.waitAudit(t, bindA, "alice", backend.ResultSuccess), "alice", app, "app_password="+laptop)
	wantRecord(t, e.waitAudit(t, bindA, aliceDN, backend.ResultSuccess), "alice", pwTOTP)
	wantRecord(t, e.waitAudit(t, bindA, aliceDN, backend.FailWrongCode), "alice", pwTOTP, "wrong TOTP code")
	wantRecord(t, e.waitAudit(t, bindA, "nobody", backend.FailUnknownAccount), "", pwTOTP)
	wantRecord(t, e.waitAudit(t, bindA, aliceMail, backend.FailRevokedAppPassword), "alice", app, "revoked app password")
	wantRecord(t, e.waitAudit(t, bindA, "dave", backend.FailAccountDisabled), "dave", app)
	wantRecord(t, e.waitAudit(t, bindA, aliceDN, backend.FailUnauthenticatedBind), "", "")
	wantRecord(t, e.waitAudit(t, bindA, aliceMail, backend.ResultSuccess), "alice", app, "sasl=PLAIN", "app_password="+laptop)
	wantRecord(t, e.waitAudit(t, bindA, "", backend.ResultSuccess), "", "anonymous")

	// The same records are the log lines; none shows a secret.
	logs := e.logs.String()
	for _, want := range []string{`"msg":"bind"`, `"msg":"bind failed"`, `"result":"wrong-code"`, `"actor":"nobody"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log has no %s:\n%s", want, logs)
		}
	}
	requireNoSecret(t, logs+formatRecords(e.records(t)), alicePassword, e.appPassword, e.revokedAppPassword,
		e.daveAppPassword, e.aliceSecret)
}

func (e *env) records(t *testing.T) []backend.AuditRecord {
	t.Helper()
	recs, err := e.store.ListAudit(context.Background(), backend.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func requireNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	low := strings.ToLower(text)
	for _, s := range secrets {
		for _, form := range []string{s, strings.ReplaceAll(s, "-", "")} {
			if strings.Contains(low, strings.ToLower(form)) {
				t.Errorf("the audit trail or the log shows the secret %q", form)
			}
		}
	}
}

func passwdModifyValue(old, new string) []byte {
	seq := ber.NewSequence("PasswdModifyRequestValue")
	if old != "" {
		seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, old, "oldPasswd"))
	}
	if new != "" {
		seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, new, "newPasswd"))
	}
	return seq.Bytes()
}

// Changes over LDAP are recorded by the account domain with the session's
// account as the actor; the app password of a bare-label creation, which
// its diagnostic repeats for stock tools, reaches neither record nor log.
func TestAudit_ChangesOverLDAPAreRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	c.call(message(1, simpleBind(3, aliceDN, e.alicePasswordAndCode()))).assert(t, 1, ldap.ApplicationBindResponse, 0)

	r := c.call(message(2, extended(exop.OIDAppPasswordCreate, []byte("Phone"))))
	r.assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	created, err := exop.DecodeCreateResponse(r.value)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.diag, created.Password) {
		t.Fatalf("the bare-label diagnostic %q does not repeat the password", r.diag)
	}
	c.call(message(3, extended(exop.OIDAppPasswordRevoke, exop.RevokeRequest{ID: created.ID}.Encode()))).
		assert(t, 3, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	c.call(message(4, extended(exop.OIDPasswordModify, passwdModifyValue("not my password", "a brand new password")))).
		assert(t, 4, ldap.ApplicationExtendedResponse, ldap.LDAPResultInvalidCredentials)
	c.call(message(5, extended(exop.OIDPasswordModify, passwdModifyValue(alicePassword, "a brand new password")))).
		assert(t, 5, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)

	rec := e.waitAudit(t, backend.ActionAppPasswordCreate, "alice", backend.ResultSuccess)
	wantRecord(t, rec, "alice", "extended-operation", "id="+created.ID, "label=Phone")
	wantRecord(t, e.waitAudit(t, backend.ActionAppPasswordRevoke, "alice", backend.ResultSuccess),
		"alice", "extended-operation", "id="+created.ID)
	wantRecord(t, e.waitAudit(t, backend.ActionPasswordChange, "alice", backend.FailWrongPassword),
		"alice", "password-modify", "old password did not verify")
	// The laptop's app password was still active: the change revoked it.
	wantRecord(t, e.waitAudit(t, backend.ActionPasswordChange, "alice", backend.ResultSuccess),
		"alice", "password-modify", "revoked=1")

	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"app password created"`) || !strings.Contains(logs, `"msg":"password changed"`) {
		t.Errorf("the changes are not in the log:\n%s", logs)
	}
	requireNoSecret(t, logs+formatRecords(e.records(t)), created.Password, alicePassword, "a brand new password",
		"not my password")
	if s := (result{diag: r.diag, secret: true}).String(); strings.Contains(s, created.Password) {
		t.Errorf("a secret diagnostic prints as %q", s)
	}
}

// An administrator acting as a user (a SASL authorization identity) is the
// actor of what the session changes, not the user.
func TestAudit_AdministratorActingAsUserIsTheActor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser(ctx, "bob", "bob@example.com", "bob's own password")
	if err := e.svc.SetRole(ctx, "alice", backend.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, e.addr)
	c.call(message(1, saslBind("PLAIN", []byte("u:bob\x00alice\x00"+e.alicePasswordAndCode())))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	c.call(message(2, extended(exop.OIDAppPasswordRevokeAll, nil))).
		assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)

	wantRecord(t, e.waitAudit(t, backend.ActionBind, "alice", backend.ResultSuccess),
		"alice", string(backend.MethodPasswordTOTP), "sasl=PLAIN", "as=bob")
	wantRecord(t, e.waitAudit(t, backend.ActionAppPasswordRevokeAll, "alice", backend.ResultSuccess),
		"bob", "extended-operation", "count=1")
}

// Password Modify is answered as slapd answers it (RFC 3062 defines no
// responseName): no name, and no value unless a password was generated.
// python-ldap's passwd_s refuses a response that names the request's OID,
// after the password has changed and every app password was revoked.
func TestPasswordModify_ResponseHasNoName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	c.call(message(1, simpleBind(3, aliceDN, e.alicePasswordAndCode()))).assert(t, 1, ldap.ApplicationBindResponse, 0)
	for i, tc := range []struct {
		value   []byte
		code    uint16
		genPass bool
	}{
		{passwdModifyValue(alicePassword, "a brand new password"), ldap.LDAPResultSuccess, false},
		{passwdModifyValue("a brand new password", ""), ldap.LDAPResultSuccess, true},
		{passwdModifyValue("not my password", "another new password"), ldap.LDAPResultInvalidCredentials, false},
	} {
		id := int64(2 + i)
		r := c.call(message(id, extended(exop.OIDPasswordModify, tc.value)))
		r.assert(t, id, ldap.ApplicationExtendedResponse, tc.code)
		if r.name != "" {
			t.Errorf("case %d: responseName %q, want none", i, r.name)
		}
		if r.hasValue != tc.genPass {
			t.Errorf("case %d: a response value %v, want %v (only a generated password has one)", i, r.hasValue, tc.genPass)
		}
	}
}
