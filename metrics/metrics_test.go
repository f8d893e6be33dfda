package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/server"
)

func TestObserve_CountsByFixedLabels(t *testing.T) {
	m := New("1.2.3")
	ms := time.Millisecond
	for _, o := range []server.Outcome{
		{Op: server.OpBind, Method: server.MethodAppPassword, Took: ms},
		{Op: server.OpBind, Method: server.MethodAppPassword, Took: ms},
		{Op: server.OpBind, Method: server.MethodPasswordTOTP, Reason: backend.FailReplayedCode,
			Code: ldap.LDAPResultInvalidCredentials, Took: 2 * time.Second},
		{Op: server.OpBind, Method: server.MethodUnknown, Reason: backend.FailBusy, Code: ldap.LDAPResultBusy},
		{Op: server.OpBind, Method: server.MethodUnknown, Reason: "something new", Code: 4096},
		{Op: server.OpSearch, Lookup: true},
		{Op: server.OpSearch, Code: server.Abandoned},
		{Op: server.OpCompare, Code: ldap.LDAPResultCompareFalse},
		{Op: server.OpExtended, Extended: server.ExtAppPasswordCreate, Code: ldap.LDAPResultAdminLimitExceeded},
		{Op: server.OpDelete, Code: ldap.LDAPResultInsufficientAccessRights},
		{Op: server.OpOther, Code: ldap.LDAPResultUnwillingToPerform},
	} {
		m.Observe(o)
	}
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.binds.vec.WithLabelValues("app-password", "success")), 2, "app-password success"},
		{testutil.ToFloat64(m.binds.vec.WithLabelValues("password+totp", "invalid_credentials")), 1, "password+totp invalid_credentials"},
		{testutil.ToFloat64(m.binds.vec.WithLabelValues("unknown", "busy")), 1, "unknown busy"},
		{testutil.ToFloat64(m.binds.vec.WithLabelValues("unknown", "other")), 1, "a code beyond RFC 4511's"},
		{testutil.ToFloat64(m.bindFailures[backend.FailReplayedCode]), 1, "replayed-code"},
		{testutil.ToFloat64(m.bindOther), 1, "a reason not in the list"},
		{testutil.ToFloat64(m.searches.vec.WithLabelValues("lookup", "success")), 1, "lookup success"},
		{testutil.ToFloat64(m.searches.vec.WithLabelValues("scan", "abandoned")), 1, "scan abandoned"},
		{testutil.ToFloat64(m.compares.vec.WithLabelValues("compare_false")), 1, "compare_false"},
		{testutil.ToFloat64(m.extended.vec.WithLabelValues("appPasswordCreate", "admin_limit_exceeded")), 1, "appPasswordCreate admin_limit_exceeded"},
		{testutil.ToFloat64(m.changes.vec.WithLabelValues("delete", "insufficient_access_rights")), 1, "delete insufficient_access_rights"},
		{testutil.ToFloat64(m.changes.vec.WithLabelValues("other", "unwilling_to_perform")), 1, "other unwilling_to_perform"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v; want %v", c.what, c.got, c.want)
		}
	}
	// Labels are from fixed sets: whatever codes and reasons come, the
	// series of a counter stay within them.
	if n := testutil.CollectAndCount(m.bindFailures[backend.FailBusy]); n != 1 {
		t.Errorf("a reason's counter is %d series", n)
	}
	for code := range uint16(5000) {
		m.Observe(server.Outcome{Op: server.OpCompare, Code: code})
	}
	if n := testutil.CollectAndCount(m.compares.vec); n > resultSlots {
		t.Errorf("compares: %d series after every code up to 5000; want at most %d", n, resultSlots)
	}
}

// The hot path allocates nothing once a series exists.
func TestObserve_AllocatesNothing(t *testing.T) {
	m := New("test")
	for _, o := range []server.Outcome{
		{Op: server.OpBind, Method: server.MethodAppPassword, Took: time.Millisecond},
		{Op: server.OpBind, Method: server.MethodPasswordTOTP, Reason: backend.FailWrongCode, Code: ldap.LDAPResultInvalidCredentials},
		{Op: server.OpSearch, Lookup: true, Took: time.Millisecond},
		{Op: server.OpExtended, Extended: server.ExtWhoAmI},
	} {
		m.Observe(o) // makes the series
		if n := testing.AllocsPerRun(1000, func() { m.Observe(o) }); n != 0 {
			t.Errorf("Observe(%+v): %v allocations", o, n)
		}
	}
}

// The page passes Prometheus's own checks (those of promtool check
// metrics), with every metric wicket has.
func TestMetrics_PassLint(t *testing.T) {
	m := New("test")
	m.Watch(func() server.Stats { return server.Stats{Refused: map[string]uint64{"full": 1}} },
		func() backend.Stats { return backend.Stats{Accounts: 3} })
	m.Observe(server.Outcome{Op: server.OpBind, Method: server.MethodAnonymous})
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{"wicket_connections_open", "wicket_directory_accounts", "wicket_audit_dropped_total",
		"wicket_sign_in_locks_total", "wicket_build_info", "go_goroutines", "process_open_fds"} {
		if n, err := testutil.GatherAndCount(m.reg, want); err != nil || n == 0 {
			t.Errorf("%s: %d series, %v", want, n, err)
		}
	}
}

func TestResultLabels_AreSnakeCaseNames(t *testing.T) {
	for code, want := range map[uint16]string{
		ldap.LDAPResultSuccess: "success", ldap.LDAPResultInvalidCredentials: "invalid_credentials",
		ldap.LDAPResultBusy: "busy", ldap.LDAPResultUnavailable: "unavailable", ldap.LDAPResultSaslBindInProgress: "sasl_bind_in_progress",
		ldap.LDAPResultOther: "other", 9: "other", 200: "other", server.Abandoned: "abandoned",
	} {
		if got := resultLabels[resultSlot(code)]; got != want {
			t.Errorf("code %d: %q; want %q", code, got, want)
		}
	}
	for _, l := range resultLabels {
		if l == "" || strings.ContainsAny(l, " ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Errorf("result label %q", l)
		}
	}
}
