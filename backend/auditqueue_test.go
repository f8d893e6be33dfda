package backend_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/memstore"
)

// failingStore refuses audit writes while failing is set, as a full disk
// does, and counts the attempts.
type failingStore struct {
	*memstore.Store
	failing  atomic.Bool
	attempts atomic.Int64
}

func (f *failingStore) InsertAudit(ctx context.Context, recs []backend.AuditRecord) error {
	f.attempts.Add(1)
	if f.failing.Load() {
		return errors.New("database or disk is full")
	}
	return f.Store.InsertAudit(ctx, recs)
}

// waitRecords polls the store until it holds n records, for at most 15 s.
func waitRecords(t *testing.T, s backend.Store, n int) []backend.AuditRecord {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		recs := listAudit(t, s, backend.AuditFilter{})
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records after 15 s, want %d: %+v", len(recs), n, recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A write the database refuses (a full disk) does not lose its records:
// they stay queued, are tried again later and later, and are written once
// each when the database takes writes again.
func TestAudit_FailedWriteIsRetriedWithBackoff(t *testing.T) {
	store := &failingStore{Store: memstore.New()}
	store.failing.Store(true)
	logs := &logBuffer{}
	svc := newAuditService(t, store, backend.Options{AuditFlushInterval: 50 * time.Millisecond,
		AuditFailureFlush: 10 * time.Millisecond, Logger: logs.logger()})
	defer svc.Close()
	ctx := context.Background()
	for i := range 5 {
		svc.Audit(ctx, bindRecord(backend.FailWrongAppPassword, fmt.Sprint("fail", i)))
	}
	svc.Audit(ctx, bindRecord(backend.ResultSuccess, "ok"))

	time.Sleep(1600 * time.Millisecond)
	// Tried at once, then 50, 100, 200, 400 and 800 ms later: about six
	// times in 1.6 s. Every tick (32) and more without the backoff.
	attempts := store.attempts.Load()
	if attempts < 2 || attempts > 12 {
		t.Errorf("%d attempts to write in 1.6 s; want a few, each further apart", attempts)
	}
	if n := len(logs.lines(t, "writing audit records failed; they stay queued")); int64(n) != attempts {
		t.Errorf("%d error lines for %d failed attempts", n, attempts)
	}

	store.failing.Store(false)
	recs := waitRecords(t, store, 6)
	var got []string
	for _, r := range recs {
		got = append(got, r.Detail)
	}
	slices.Sort(got)
	if want := []string{"fail0", "fail1", "fail2", "fail3", "fail4", "ok"}; !slices.Equal(got, want) {
		t.Errorf("written %q, want each of %q once", got, want)
	}

	// The next failure goes at the usual pace: the backoff is over.
	svc.Audit(ctx, bindRecord(backend.FailWrongAppPassword, "after"))
	waitRecords(t, store, 7)
}

// A failed bind or a refused change is written within AuditFailureFlush
// (a tenth of a second by default), so a crash right after its answer
// loses at most that much of them; successful binds and summaries wait for
// the interval, to be counted.
func TestAudit_FailuresAreWrittenPromptlySuccessesWaitForTheInterval(t *testing.T) {
	store := memstore.New()
	svc := newAuditService(t, store, backend.Options{AuditFlushInterval: time.Hour})
	defer svc.Close()
	ctx := context.Background()
	svc.Audit(ctx, bindRecord(backend.ResultSuccess, "success"))
	svc.Audit(ctx, backend.AuditRecord{Action: backend.ActionBind, Remote: "192.0.2.66", Result: backend.FailRateLimited,
		Detail: "summary"})
	svc.Audit(ctx, bindRecord(backend.FailWrongPassword, "real account"))
	unknown := bindRecord(backend.FailUnknownAccount, "unknown name")
	unknown.Subject = ""
	svc.Audit(ctx, unknown)
	svc.Audit(ctx, backend.AuditRecord{Action: backend.ActionAppPasswordCreate, Subject: "alice",
		Result: backend.FailLimitReached, Detail: "refused change"})

	var got []string
	for _, r := range waitRecords(t, store, 3) {
		got = append(got, r.Detail)
	}
	slices.Sort(got)
	if want := []string{"real account", "refused change", "unknown name"}; !slices.Equal(got, want) {
		t.Errorf("written before the interval: %q, want %q", got, want)
	}
	svc.Close()
	if n := len(listAudit(t, store, backend.AuditFilter{})); n != 5 {
		t.Errorf("after Close: %d records, want 5", n)
	}
}

// A client refused again and again (a flood against the address limit,
// binds without a password) is one record per address and flush, with a
// count, the first refusal's time and the last's, and one log line: never
// a row or a line per refusal. A single refusal is recorded as it came;
// binds that name an account, or that the limit let through to be
// verified, stay a record each.
func TestAudit_RefusalsWithoutAnAccountAreSummarisedPerAddress(t *testing.T) {
	store := memstore.New()
	logs := &logBuffer{}
	svc := newAuditService(t, store, backend.Options{AuditFlushInterval: time.Hour, AuditFailureFlush: time.Hour,
		Logger: logs.logger()})
	ctx := context.Background()
	first := time.Unix(1_700_000_000, 0).UTC()
	refuse := func(remote, actor, result string, i int) {
		svc.Audit(ctx, backend.AuditRecord{At: first.Add(time.Duration(i) * time.Millisecond), Action: backend.ActionBind,
			Actor: actor, Remote: remote, Result: result, Detail: backend.KV("retry_in", fmt.Sprintf("%ds", i%5+1))})
	}
	for i := range 10000 {
		refuse("192.0.2.66", fmt.Sprint("guess", i), backend.FailRateLimited, i)
	}
	for i := range 3 {
		refuse(fmt.Sprint("2001:db8::", i+1), "mallory", backend.FailRateLimited, i)
	}
	refuse("192.0.2.67", "once", backend.FailRateLimited, 0)
	for i := range 50 {
		refuse("192.0.2.66", "uid=alice,ou=people,dc=example,dc=org", backend.FailUnauthenticatedBind, i)
	}
	for i := range 3 {
		r := bindRecord(backend.FailUnknownAccount, fmt.Sprint("verified", i))
		r.Subject, r.Remote = "", "192.0.2.66"
		svc.Audit(ctx, r)
	}
	const limited = "bind refused: too many failed binds from this address"
	if n := len(logs.lines(t, limited)); n != 0 {
		t.Errorf("%d log lines of refusals before their summary was written", n)
	}
	svc.Close()

	recs := listAudit(t, store, backend.AuditFilter{})
	if len(recs) != 7 {
		t.Fatalf("%d records, want 7 (3 summaries, 1 single refusal, 3 verified failures):\n%+v", len(recs), recs)
	}
	find := func(remote, result string) backend.AuditRecord {
		t.Helper()
		for _, r := range recs {
			if r.Remote == remote && r.Result == result {
				return r
			}
		}
		t.Fatalf("no %s record from %s in %+v", result, remote, recs)
		return backend.AuditRecord{}
	}
	flood := find("192.0.2.66", backend.FailRateLimited)
	last := first.Add(9999 * time.Millisecond).Format(time.RFC3339Nano)
	if flood.Count != 10000 || !flood.At.Equal(first) || flood.Actor != "" ||
		!strings.Contains(flood.Detail, "last="+last) || !strings.Contains(flood.Detail, "names=several") {
		t.Errorf("the flood's summary: %+v; want count 10000 from %v, no one name, the last at %s, names=several",
			flood, first, last)
	}
	if v6 := find("2001:db8::/64", backend.FailRateLimited); v6.Count != 3 || v6.Actor != "mallory" ||
		strings.Contains(v6.Detail, "names=") {
		t.Errorf("three refusals from one IPv6 /64: %+v; want one record of the /64, count 3, actor mallory", v6)
	}
	if once := find("192.0.2.67", backend.FailRateLimited); once.Count != 1 || once.Actor != "once" ||
		once.Detail != "retry_in=1s" {
		t.Errorf("a single refusal: %+v; want it as it came", once)
	}
	if u := find("192.0.2.66", backend.FailUnauthenticatedBind); u.Count != 50 ||
		u.Actor != "uid=alice,ou=people,dc=example,dc=org" {
		t.Errorf("binds without a password: %+v; want count 50 with the one name they gave", u)
	}
	verified := 0
	for _, r := range recs {
		if r.Result == backend.FailUnknownAccount {
			verified++
			if r.Count != 1 {
				t.Errorf("a verified failure counts %d", r.Count)
			}
		}
	}
	if verified != 3 {
		t.Errorf("%d records of verified failures, want 3", verified)
	}

	// One log line per record, with its count.
	lines := logs.lines(t, limited)
	counts := map[string]float64{}
	for _, l := range lines {
		c, _ := l["count"].(float64)
		counts[l["remote"].(string)] = c
	}
	if len(lines) != 3 || counts["192.0.2.66"] != 10000 || counts["2001:db8::/64"] != 3 || counts["192.0.2.67"] != 0 {
		t.Errorf("log lines of the refusals: %v; want 3, counting 10000, 3 and (a single one) none", lines)
	}
	if n := len(logs.lines(t, "bind refused")); n != 1 {
		t.Errorf("%d log lines of binds without a password, want 1", n)
	}
	if n := len(logs.lines(t, "bind failed")); n != 3 {
		t.Errorf("%d log lines of verified failures, want 3", n)
	}
}

// Each flush closes the summaries: refusals that come later are the next
// record, so the trail says when a flood went on.
func TestAudit_SummaryStartsAfreshAfterEachWrite(t *testing.T) {
	store := memstore.New()
	svc := newAuditService(t, store, backend.Options{AuditFlushInterval: 50 * time.Millisecond})
	ctx := context.Background()
	refuse := func() {
		svc.Audit(ctx, backend.AuditRecord{Action: backend.ActionBind, Remote: "192.0.2.66", Result: backend.FailRateLimited})
	}
	for range 100 {
		refuse()
	}
	waitRecords(t, store, 1)
	for range 100 {
		refuse()
	}
	svc.Close()
	recs := listAudit(t, store, backend.AuditFilter{})
	total := 0
	for _, r := range recs {
		total += r.Count
	}
	if len(recs) < 2 || total != 200 {
		t.Errorf("%d records counting %d refusals; want at least 2 (one per write), counting 200", len(recs), total)
	}
}
