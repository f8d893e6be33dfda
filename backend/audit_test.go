package backend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/memstore"
	"github.com/wicketldap/wicket/internal/testutil"
)

// logBuffer collects JSON log lines from several goroutines.
type logBuffer struct{ testutil.SyncBuffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// lines decodes the log lines whose message is msg.
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// heldStore is a store whose InsertAudit waits until released, as a
// database stuck behind a long write would.
type heldStore struct {
	*memstore.Store
	entered chan struct{}
	release chan struct{}
}

func (h *heldStore) InsertAudit(ctx context.Context, recs []backend.AuditRecord) error {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-h.release
	return h.Store.InsertAudit(ctx, recs)
}

// newAuditService is a Service the test closes itself.
func newAuditService(t *testing.T, store backend.Store, opts backend.Options) *backend.Service {
	t.Helper()
	keys, err := backend.CreateKeys(filepath.Join(t.TempDir(), "wicket.key"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Argon2 = cheap
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return backend.New(store, keys, opts)
}

func listAudit(t *testing.T, s backend.Store, f backend.AuditFilter) []backend.AuditRecord {
	t.Helper()
	recs, err := s.ListAudit(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func bindRecord(result, detail string) backend.AuditRecord {
	return backend.AuditRecord{Action: backend.ActionBind, Actor: "alice", Subject: "alice",
		Method: string(backend.MethodAppPassword), Remote: "192.0.2.1", Result: result, Detail: detail}
}

// Records of binds queue off the caller's path; Close writes every one of
// them, and a record that comes after Close is written at once rather than
// lost. A change's record is not queued: it is written with the change.
func TestAudit_QueuedRecordsAreWrittenByClose(t *testing.T) {
	store := memstore.New()
	svc := newAuditService(t, store, backend.Options{AuditFlushInterval: time.Hour})
	ctx := backend.WithActor(context.Background(), backend.Actor{Name: "root", Method: "cli"})
	if _, err := svc.AddUser(ctx, "alice", "", password, ""); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		svc.Audit(ctx, bindRecord(backend.ResultSuccess, fmt.Sprint("n=", i)))
	}
	if got := listAudit(t, store, backend.AuditFilter{}); len(got) != 1 || got[0].Action != backend.ActionUserCreate {
		t.Fatalf("before the flush interval or Close: %+v, want only the account's creation; the queue should hold the binds", got)
	}
	svc.Close()
	got := listAudit(t, store, backend.AuditFilter{})
	if len(got) != 101 {
		t.Fatalf("after Close: %d records, want 101", len(got))
	}
	oldest := got[len(got)-1]
	if oldest.Action != backend.ActionUserCreate || oldest.Actor != "root" || oldest.Method != "cli" ||
		oldest.Subject != "alice" || oldest.Result != backend.ResultSuccess {
		t.Errorf("the account's creation was recorded as %+v", oldest)
	}

	svc.Audit(ctx, bindRecord(backend.ResultSuccess, "late"))
	if got := listAudit(t, store, backend.AuditFilter{Limit: 1}); len(got) != 1 || got[0].Detail != "late" {
		t.Errorf("a record after Close: newest is %+v, want it written at once", got)
	}
}

// A database that does not take writes must not hold up binds: the queue
// stays bounded and gives way in tiers, each oldest first: successful
// binds, then summaries and failures that name no account, and only then
// failed binds of real accounts (and refused changes). A warning counts
// what went.
func TestAudit_FullQueueDropsSuccessesThenUnknownNamesNeverRealAccountsFirst(t *testing.T) {
	store := &heldStore{Store: memstore.New(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	logs := &logBuffer{}
	svc := newAuditService(t, store, backend.Options{AuditQueue: 8, AuditFlushInterval: time.Hour, Logger: logs.logger()})
	ctx := context.Background()

	// The first record is taken for writing and held there.
	svc.Audit(ctx, bindRecord(backend.ResultSuccess, "held"))
	select {
	case <-store.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("a full batch was not written early")
	}

	start := time.Now()
	account := func(i int) { svc.Audit(ctx, bindRecord(backend.FailWrongAppPassword, fmt.Sprint("account", i))) }
	for i := range 3 {
		account(i)
	}
	for i := range 2 {
		r := bindRecord(backend.FailUnknownAccount, fmt.Sprint("unknown", i))
		r.Subject = ""
		svc.Audit(ctx, r)
	}
	for range 100 {
		svc.Audit(ctx, backend.AuditRecord{Action: backend.ActionBind, Actor: "x", Remote: "192.0.2.66",
			Result: backend.FailRateLimited, Detail: "summary"})
	}
	for i := range 10 {
		svc.Audit(ctx, bindRecord(backend.ResultSuccess, fmt.Sprint("ok", i)))
	}
	// Queued: 3 account failures, 2 unknown names, one summary of 100,
	// and the last 2 successes (8 gave way). Six more account failures
	// take the 2 successes, the 2 unknown names and the summary, then the
	// oldest account failure.
	for i := 3; i < 9; i++ {
		account(i)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("queueing 121 records behind a stuck database took %v; it must not wait", d)
	}

	close(store.release)
	svc.Close()
	var got []string
	for _, r := range listAudit(t, store, backend.AuditFilter{}) {
		got = append(got, r.Detail)
	}
	slices.Sort(got)
	want := []string{"account1", "account2", "account3", "account4", "account5", "account6", "account7", "account8", "held"}
	if !slices.Equal(got, want) {
		t.Errorf("written %q, want %q", got, want)
	}

	warn := logs.lines(t, "audit queue full: records dropped")
	if len(warn) == 0 {
		t.Fatalf("no warning about dropped records in the log:\n%s", logs)
	}
	var dropped, successes, without, about float64
	for _, w := range warn {
		dropped += w["dropped"].(float64)
		successes += w["bind_successes"].(float64)
		without += w["without_account"].(float64)
		about += w["about_accounts"].(float64)
	}
	if dropped != 113 || successes != 10 || without != 102 || about != 1 {
		t.Errorf("warnings count %v dropped: %v successes, %v without an account, %v about accounts; want 113: 10, 102, 1",
			dropped, successes, without, about)
	}
}

// Every change through the account domain is recorded once, with the actor
// its context carries, and neither the record nor its log line holds a
// secret: the label is recorded, the app password and the seed are not.
func TestAudit_ChangesAreRecordedWithoutSecrets(t *testing.T) {
	logs := &logBuffer{}
	f := newFixture(t, backend.Options{MaxAppPasswords: 1, Logger: logs.logger(),
		AuditFlushInterval: time.Hour, AuditFailureFlush: time.Hour})
	ctx := backend.WithActor(context.Background(), backend.Actor{Name: "admin", Method: "extended-operation", Remote: "192.0.2.9"})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	_, err := f.svc.AddUser(ctx, "Alice", "alice@example.org", password, "")
	must(err)
	enr, err := f.svc.EnrollTOTP(ctx, "alice", nil)
	must(err)
	ap, err := f.svc.CreateAppPassword(ctx, "alice", "Thunderbird on laptop")
	must(err)
	_, err = f.svc.CreateAppPassword(ctx, "alice", "one too many")
	if !errors.Is(err, backend.ErrLimitReached) {
		t.Fatalf("second app password: %v, want the limit", err)
	}
	must(f.svc.RevokeAppPasswords(ctx, "alice", []string{strings.ToUpper(ap.ID)}))
	if err := f.svc.RevokeAppPassword(ctx, "alice", "0000000000"); !errors.Is(err, backend.ErrNoSuchAppPassword) {
		t.Fatalf("revoking an unknown id: %v", err)
	}
	second, err := f.svc.CreateAppPassword(ctx, "alice", "phone")
	must(err)
	// The password pasted where its id belongs.
	if err := f.svc.RevokeAppPasswords(ctx, "alice", []string{second.Password}); !errors.Is(err, backend.ErrNoSuchAppPassword) {
		t.Fatalf("revoking by the password: %v", err)
	}
	n, err := f.svc.SetPassword(ctx, "alice", "another long password")
	must(err)
	if n != 1 {
		t.Fatalf("password change revoked %d, want 1", n)
	}
	_, err = f.svc.RevokeAllAppPasswords(ctx, "alice")
	must(err)
	_, err = f.svc.RemoveTOTP(ctx, "alice")
	must(err)
	must(f.svc.SetRole(ctx, "alice", backend.RoleAdmin))
	must(f.svc.SetDisabled(ctx, "alice", true))
	must(f.svc.SetDisabled(ctx, "alice", false))
	must(f.svc.Unlock(ctx, "alice"))
	must(f.svc.DeleteUser(ctx, "alice"))

	type row struct{ action, result, detail string }
	want := []row{
		{backend.ActionUserCreate, backend.ResultSuccess, "role=user mail=alice@example.org"},
		{backend.ActionTOTPEnroll, backend.ResultSuccess, ""},
		{backend.ActionAppPasswordCreate, backend.ResultSuccess, `id=` + ap.ID + ` label="Thunderbird on laptop"`},
		{backend.ActionAppPasswordCreate, backend.FailLimitReached, `label="one too many"`},
		{backend.ActionAppPasswordRevoke, backend.ResultSuccess, "id=" + ap.ID},
		{backend.ActionAppPasswordRevoke, backend.FailNoSuchAppPassword, "id=0000000000"},
		{backend.ActionAppPasswordCreate, backend.ResultSuccess, "id=" + second.ID + " label=phone"},
		{backend.ActionAppPasswordRevoke, backend.FailNoSuchAppPassword, `id="(not an id)"`},
		{backend.ActionPasswordChange, backend.ResultSuccess, "revoked=1"},
		{backend.ActionAppPasswordRevokeAll, backend.ResultSuccess, "count=0"},
		{backend.ActionTOTPRemove, backend.ResultSuccess, "revoked=0"},
		{backend.ActionUserRole, backend.ResultSuccess, "role=admin was=user"},
		{backend.ActionUserDisable, backend.ResultSuccess, ""},
		{backend.ActionUserEnable, backend.ResultSuccess, ""},
		{backend.ActionUserUnlock, backend.ResultSuccess, ""},
		{backend.ActionUserDelete, backend.ResultSuccess, ""},
	}
	// Every change is in the store as soon as it returned, written with it;
	// the refusals are queued.
	var done []row
	for _, w := range want {
		if w.result == backend.ResultSuccess {
			done = append(done, w)
		}
	}
	written := listAudit(t, f.store, backend.AuditFilter{})
	if len(written) != len(done) {
		t.Fatalf("before any flush: %d records, want the %d changes made: %+v", len(written), len(done), written)
	}
	for i, w := range done {
		if r := written[len(written)-1-i]; (row{r.Action, r.Result, r.Detail}) != w {
			t.Errorf("change %d written as %+v, want %+v", i, r, w)
		}
	}
	f.svc.Close()
	recs := listAudit(t, f.store, backend.AuditFilter{})
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	// All of the same instant (the fixture's clock), so listed in the
	// order written: the changes, then the refusals queued meanwhile.
	var inOrder []row
	for _, w := range want {
		if w.result != backend.ResultSuccess {
			inOrder = append(inOrder, w)
		}
	}
	inOrder = append(done, inOrder...)
	for i, w := range inOrder {
		r := recs[len(recs)-1-i] // listed newest first
		got := row{r.Action, r.Result, r.Detail}
		if got != w {
			t.Errorf("record %d: %+v, want %+v", i, got, w)
		}
		if r.Actor != "admin" || r.Method != "extended-operation" || r.Remote != "192.0.2.9" || r.Subject != "alice" {
			t.Errorf("record %d (%s): actor %q, method %q, remote %q, subject %q; want admin, extended-operation, 192.0.2.9, alice",
				i, r.Action, r.Actor, r.Method, r.Remote, r.Subject)
		}
		if !r.At.Equal(f.clock.now()) {
			t.Errorf("record %d: at %v, want the service's clock %v", i, r.At, f.clock.now())
		}
	}

	// The log line of a record has its fields; each change has one.
	created := logs.lines(t, "app password created")
	if len(created) != 2 || created[0]["actor"] != "admin" || created[0]["subject"] != "alice" ||
		created[0]["result"] != backend.ResultSuccess || created[0]["remote"] != "192.0.2.9" ||
		!strings.Contains(created[0]["detail"].(string), ap.ID) {
		t.Errorf("log lines of the creations: %v", created)
	}

	var all strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&all, "%+v\n", r)
	}
	for where, text := range map[string]string{"the records": all.String(), "the log": logs.String()} {
		for _, secret := range []string{password, "another long password", enr.Secret, ap.Password,
			strings.ReplaceAll(ap.Password, "-", ""), second.Password, strings.ReplaceAll(second.Password, "-", "")} {
			if strings.Contains(text, secret) {
				t.Errorf("%s hold the secret %q", where, secret)
			}
		}
	}
}

// A failed bind says why as a category, which way in it tried and which
// account its name resolved to, for the audit trail.
func TestAuthenticate_FailureCarriesCategoryMethodAndAccount(t *testing.T) {
	f := newFixture(t, backend.Options{})
	secret := f.user(t, "alice")
	ctx := context.Background()
	ap, err := f.svc.CreateAppPassword(ctx, "alice", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	old, err := f.svc.CreateAppPassword(ctx, "alice", "old phone")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeAppPassword(ctx, "alice", old.ID); err != nil {
		t.Fatal(err)
	}
	good := code(t, secret, f.clock.now())
	wrongCode := "000000"
	if wrongCode == good {
		wrongCode = "111111"
	}
	for _, tc := range []struct {
		name, login, secret string
		category            string
		method              backend.Method
		account, appID      string
	}{
		{"wrong password", "alice", "wrong horse battery" + good, backend.FailWrongPassword, backend.MethodPasswordTOTP, "alice", ""},
		{"missing code", "alice", password, backend.FailCodeMissing, backend.MethodPasswordTOTP, "alice", ""},
		{"wrong code", "alice", password + wrongCode, backend.FailWrongCode, backend.MethodPasswordTOTP, "alice", ""},
		{"unknown account", "nobody", password + good, backend.FailUnknownAccount, backend.MethodPasswordTOTP, "", ""},
		{"wrong app password", "alice@example.org", "abcd-efgh-ijkl-mnop", backend.FailWrongAppPassword, backend.MethodAppPassword, "alice", ""},
		{"revoked app password", "alice", old.Password, backend.FailRevokedAppPassword, backend.MethodAppPassword, "alice", old.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Authenticate(ctx, tc.login, tc.secret, "192.0.2.1")
			var af *backend.AuthFailure
			if !errors.As(err, &af) {
				t.Fatalf("got %v, want an AuthFailure", err)
			}
			if af.Category != tc.category || af.Method != tc.method || af.Account != tc.account || af.AppPasswordID != tc.appID {
				t.Errorf("got category %q, method %q, account %q, app password %q; want %q, %q, %q, %q",
					af.Category, af.Method, af.Account, af.AppPasswordID, tc.category, tc.method, tc.account, tc.appID)
			}
			if got := backend.FailureCategory(err); got != tc.category {
				t.Errorf("FailureCategory = %q, want %q", got, tc.category)
			}
		})
	}
	if _, err := f.svc.Authenticate(ctx, "alice", ap.Password, "192.0.2.1"); err != nil {
		t.Fatalf("the active app password: %v", err)
	}
}

// Pruning takes chunks, so the writer is free between them, and stops at
// the cutoff; KeepAudit prunes once at start.
func TestAudit_PruneInChunksAndAtStart(t *testing.T) {
	store := memstore.New()
	svc := newAuditService(t, store, backend.Options{})
	defer svc.Close()
	now := time.Now()
	old := make([]backend.AuditRecord, 2500)
	for i := range old {
		old[i] = backend.AuditRecord{At: now.Add(-48*time.Hour + time.Duration(i)*time.Second), Action: backend.ActionBind,
			Result: backend.ResultSuccess}
	}
	if err := store.InsertAudit(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if err := store.InsertAudit(context.Background(), []backend.AuditRecord{{At: now, Action: backend.ActionBind,
		Result: backend.ResultSuccess, Detail: "new"}}); err != nil {
		t.Fatal(err)
	}

	n, err := svc.PruneAudit(context.Background(), now.Add(-24*time.Hour))
	if err != nil || n != 2500 {
		t.Fatalf("PruneAudit: %d, %v; want 2500", n, err)
	}
	if got := listAudit(t, store, backend.AuditFilter{}); len(got) != 1 || got[0].Detail != "new" {
		t.Fatalf("after pruning: %+v, want only the new record", got)
	}

	// Retention of a minute: the record of an hour ago goes at start.
	if err := store.InsertAudit(context.Background(), []backend.AuditRecord{{At: now.Add(-time.Hour),
		Action: backend.ActionBind, Result: backend.ResultSuccess, Detail: "hour-old"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.KeepAudit(ctx, time.Minute, time.Hour)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(listAudit(t, store, backend.AuditFilter{})) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("KeepAudit did not prune at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done

	// A zero retention keeps everything and returns at once.
	svc.KeepAudit(context.Background(), 0, time.Hour)
}

// Clients choose bind names: a record keeps them on one line and bounded.
func TestAudit_ClientTextIsKeptToOneBoundedLine(t *testing.T) {
	f := newFixture(t, backend.Options{})
	name := "mallory\n2031-01-01 bind success alice" + strings.Repeat("x", 5000) + "\xff"
	f.svc.Audit(context.Background(), backend.AuditRecord{Action: backend.ActionBind, Actor: name, Result: backend.FailUnknownAccount})
	f.svc.Close()
	r := listAudit(t, f.store, backend.AuditFilter{})[0]
	if strings.ContainsAny(r.Actor, "\n\r") || len(r.Actor) > 256 || !strings.HasPrefix(r.Actor, "mallory") ||
		!strings.HasSuffix(r.Actor, "…") {
		t.Errorf("actor recorded as %q (%d bytes); want one line of at most 256 bytes, cut with an ellipsis", r.Actor, len(r.Actor))
	}
}

// A device binding again and again is one record with a count until the
// next write; anything that tells binds apart, and every failure and
// change, stays a record of its own.
func TestAudit_RepeatedSuccessfulBindsAreOneRecordWithACount(t *testing.T) {
	store := memstore.New()
	svc := newAuditService(t, store, backend.Options{AuditFlushInterval: time.Hour})
	ctx := context.Background()
	first := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		r := bindRecord(backend.ResultSuccess, "app_password=aaaa")
		r.At = first.Add(time.Duration(i) * time.Second)
		svc.Audit(ctx, r)
	}
	other := bindRecord(backend.ResultSuccess, "app_password=aaaa")
	other.Remote, other.At = "192.0.2.99", first
	svc.Audit(ctx, other)
	svc.Audit(ctx, bindRecord(backend.ResultSuccess, "app_password=bbbb"))
	for range 2 {
		svc.Audit(ctx, bindRecord(backend.FailWrongAppPassword, ""))
	}
	svc.Close()

	counts := map[string]int{}
	total := 0
	for _, r := range listAudit(t, store, backend.AuditFilter{}) {
		counts[r.Result+" "+r.Remote+" "+r.Detail] += r.Count
		total++
		if r.Result == backend.ResultSuccess && r.Detail == "app_password=aaaa" && r.Remote == "192.0.2.1" {
			if r.Count != 5 || !r.At.Equal(first) {
				t.Errorf("repeated binds: count %d at %v, want 5 at the first one's time %v", r.Count, r.At, first)
			}
		}
	}
	if total != 5 {
		t.Errorf("%d records, want 5 (one for the repeats, one per other address and app password, one per failure): %v", total, counts)
	}
	if counts["wrong-app-password 192.0.2.1 "] != 2 {
		t.Errorf("failures: %v, want two records", counts)
	}
}

// Profile, alias and group changes are recorded too, each with the write
// that makes it; a change that changes nothing is no record.
func TestAudit_ProfileAndGroupChangesAreRecorded(t *testing.T) {
	f := newFixture(t, backend.Options{AuditFlushInterval: time.Hour, AuditFailureFlush: time.Hour})
	ctx := backend.WithActor(context.Background(), backend.Actor{Name: "root", Method: "cli"})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ptr := func(s string) *string { return &s }
	_, err := f.svc.AddUser(ctx, "alice", "alice@example.org", password, "")
	must(err)
	must(f.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{Mail: ptr("alice@example.net"), DisplayName: ptr("Alice A."),
		GivenName: ptr("")}))
	must(f.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{Aliases: &[]string{"al@example.net", "a@example.net"}}))
	must(f.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{DisplayName: ptr("Alice A.")}))
	if err := f.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{Mail: ptr("not an address")}); !errors.Is(err, backend.ErrInvalidInput) {
		t.Fatalf("a bad address: %v", err)
	}
	must(f.svc.CreateGroup(ctx, "Staff"))
	must(f.svc.SetGroupMember(ctx, "staff", "alice", true))
	must(f.svc.SetGroupMember(ctx, "staff", "alice", false))
	must(f.svc.DeleteGroup(ctx, "staff"))

	type row struct{ action, subject, result, detail string }
	want := []row{
		{backend.ActionUserCreate, "alice", backend.ResultSuccess, "role=user mail=alice@example.org"},
		{backend.ActionUserProfile, "alice", backend.ResultSuccess, `mail=alice@example.net display_name="Alice A."`},
		{backend.ActionUserAliases, "alice", backend.ResultSuccess, "aliases=al@example.net,a@example.net"},
		{backend.ActionGroupCreate, "", backend.ResultSuccess, "group=staff"},
		{backend.ActionGroupAdd, "alice", backend.ResultSuccess, "group=staff"},
		{backend.ActionGroupRemove, "alice", backend.ResultSuccess, "group=staff"},
		{backend.ActionGroupDelete, "", backend.ResultSuccess, "group=staff"},
	}
	check := func(when string, want []row) {
		t.Helper()
		recs := listAudit(t, f.store, backend.AuditFilter{})
		if len(recs) != len(want) {
			t.Fatalf("%s: %d records, want %d: %+v", when, len(recs), len(want), recs)
		}
		for i, w := range want {
			r := recs[len(recs)-1-i]
			if got := (row{r.Action, r.Subject, r.Result, r.Detail}); got != w || r.Actor != "root" || r.Method != "cli" {
				t.Errorf("%s: record %d: %+v by %s (%s), want %+v by root (cli)", when, i, got, r.Actor, r.Method, w)
			}
		}
	}
	check("before any flush", want)
	f.svc.Close()
	check("after Close", append(want, row{backend.ActionUserProfile, "alice", backend.FailInvalidInput, ""}))
}

// A monitoring probe binds anonymously every few seconds: its bind is kept
// in the audit trail but logged at debug, so that an INFO log is not one
// line per probe. A bind with credentials is still logged at INFO.
func TestAudit_AnonymousBindsAreLoggedAtDebugOnly(t *testing.T) {
	logs := &logBuffer{}
	store := memstore.New()
	svc := newAuditService(t, store, backend.Options{AuditFlushInterval: time.Hour, Logger: logs.logger()})
	ctx := context.Background()
	for range 3 {
		svc.Audit(ctx, backend.AuditRecord{Action: backend.ActionBind, Method: "anonymous", Remote: "127.0.0.1",
			Result: backend.ResultSuccess})
	}
	svc.Audit(ctx, bindRecord(backend.ResultSuccess, ""))
	svc.Close()

	var anonymous, app int
	for _, l := range logs.lines(t, "bind") {
		switch l["method"] {
		case "anonymous":
			anonymous++
		case string(backend.MethodAppPassword):
			app++
		}
	}
	if anonymous != 0 || app != 1 {
		t.Errorf("INFO log: %d lines of anonymous binds and %d of app-password binds; want 0 and 1\n%s", anonymous, app, logs.String())
	}
	var kept int
	for _, r := range listAudit(t, store, backend.AuditFilter{}) {
		if r.Method == "anonymous" {
			kept += r.Count
		}
	}
	if kept != 3 {
		t.Errorf("audit trail holds %d anonymous binds; want 3", kept)
	}
}
