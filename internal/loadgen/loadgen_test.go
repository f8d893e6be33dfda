package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func testUsers(n int) []User {
	us := make([]User, n)
	for i := range us {
		us[i] = User{Name: fmt.Sprintf("uid=user%d,ou=people,dc=example,dc=org", i), Password: "pw"}
	}
	return us
}

func testConfig(r *responder, mode Mode, users []User) Config {
	return Config{Addr: r.addr, URL: "ldap://" + r.addr, Mode: mode, Users: users,
		Concurrency: 4, Count: 200, Timeout: 5 * time.Second}
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func checkCounts(t *testing.T, rep *Report, ops, failed uint64) {
	t.Helper()
	if rep.Operations != ops || rep.Failed != failed || rep.Succeeded != ops-failed {
		t.Errorf("%d operations, %d succeeded, %d failed; want %d, %d, %d (errors %v)",
			rep.Operations, rep.Succeeded, rep.Failed, ops, ops-failed, failed, rep.Errors)
	}
	l := rep.Latency
	if rep.Operations > 0 && !(0 < l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max && l.Mean <= l.Max) {
		t.Errorf("latencies out of order: %+v", l)
	}
}

// usesOf is how many of count operations, split among concurrency workers
// that each start at user i and step by concurrency, use user k of n.
func usesOf(k, n, concurrency, count int) int {
	uses := 0
	for i := range concurrency {
		quota := count / concurrency
		if i < count%concurrency {
			quota++
		}
		for u := i % n; quota > 0; quota-- {
			if u == k {
				uses++
			}
			u = (u + concurrency) % n
		}
	}
	return uses
}

// --count splits the operations evenly, and stepping by the concurrency
// through the list reaches every user, also when the two share a divisor.
func TestRun_CountUsesEveryUserAsPlanned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ users, concurrency, count int }{
		{5, 4, 200}, {6, 4, 203}, {3, 8, 40}, {1, 2, 7},
	} {
		t.Run(fmt.Sprintf("%d users %d workers %d ops", tc.users, tc.concurrency, tc.count), func(t *testing.T) {
			t.Parallel()
			r := startResponder(t, &responder{binds: map[string]int{}})
			cfg := testConfig(r, ModeBind, testUsers(tc.users))
			cfg.Concurrency, cfg.Count = tc.concurrency, tc.count
			rep := run(t, cfg)
			checkCounts(t, rep, uint64(tc.count), 0)
			for k, u := range cfg.Users {
				want := usesOf(k, tc.users, tc.concurrency, tc.count)
				if got := r.bindsOf(u.Name); got != want || want == 0 {
					t.Errorf("%s bound %d times, want %d (and more than none)", u.Name, got, want)
				}
			}
			if got := r.conns.Load(); got != int64(tc.concurrency) {
				t.Errorf("bind mode opened %d connections, want one per worker, %d", got, tc.concurrency)
			}
			if rep.Concurrency != tc.concurrency || rep.Users != tc.users || rep.Mode != ModeBind || rep.Duration <= 0 {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// The binds of a user with a wrong password are each counted as
// invalidCredentials, and the connection goes on.
func TestRun_WrongPasswordCountedByResult(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{})
	users := testUsers(5)
	users[2].Password = "wrong"
	rep := run(t, testConfig(r, ModeBind, users))
	want := uint64(usesOf(2, 5, 4, 200))
	checkCounts(t, rep, 200, want)
	if len(rep.Errors) != 1 || rep.Errors[0].Code != ldapInvalidCredentials || rep.Errors[0].Count != want {
		t.Errorf("errors %v, want invalidCredentials (49): %d", rep.Errors, want)
	}
	if r.conns.Load() != 4 {
		t.Errorf("%d connections; a failed bind should not cost one", r.conns.Load())
	}
}

func TestRun_ConnectBindConnectsPerOperation(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{})
	rep := run(t, testConfig(r, ModeConnectBind, testUsers(3)))
	checkCounts(t, rep, 200, 0)
	// One more: the connection that checks the server can be reached.
	if got := r.conns.Load(); got != 201 {
		t.Errorf("%d connections, want 201", got)
	}
}

func TestRun_BindSearch(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{})
	rep := run(t, testConfig(r, ModeBindSearch, testUsers(5)))
	checkCounts(t, rep, 200, 0)

	// A search that finds nothing fails the operation, so that a run with
	// the wrong base or filter shows.
	cfg := testConfig(r, ModeBindSearch, testUsers(5))
	cfg.Base = "ou=empty"
	rep = run(t, cfg)
	checkCounts(t, rep, 200, 200)
	if len(rep.Errors) != 1 || rep.Errors[0].Code != CodeNoEntry {
		t.Errorf("errors %v, want noEntry: 200", rep.Errors)
	}
}

// The search is for the bind name's first RDN's value, escaped, under its
// parent unless a base is given.
func TestTargets_BaseAndFilterFromTheBindName(t *testing.T) {
	t.Parallel()
	cfg := Config{Mode: ModeBindSearch, Users: []User{
		{Name: "uid=alice,ou=people,dc=example,dc=org", Password: "pw"},
		{Name: "cn=a*(b)\\5c,ou=staff,dc=example,dc=org", Password: "pw"},
	}}
	ts, err := cfg.targets()
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].base != "ou=people,dc=example,dc=org" || ts[1].base != "ou=staff,dc=example,dc=org" {
		t.Errorf("bases %q, %q", ts[0].base, ts[1].base)
	}
	// (uid=alice): equalityMatch [3] { "uid", "alice" }
	if want := "\xa3\x0c\x04\x03uid\x04\x05alice"; string(ts[0].filter) != want {
		t.Errorf("filter %x, want %x", ts[0].filter, want)
	}
	// The value a*(b)\ itself, not a substrings filter.
	if want := "\xa3\x0d\x04\x03uid\x04\x06a*(b)\\"; string(ts[1].filter) != want {
		t.Errorf("filter %x, want %x", ts[1].filter, want)
	}

	cfg.Base, cfg.Filter = "dc=example,dc=org", "(&(objectClass=person)(mail=%u@example.org))"
	cfg.Users = []User{{Name: "alice", Password: "pw"}}
	ts, err = cfg.targets()
	if err != nil || ts[0].base != "dc=example,dc=org" || !strings.Contains(string(ts[0].filter), "alice@example.org") {
		t.Errorf("a bare name with --base: %+v, %v", ts, err)
	}

	for _, tc := range []struct {
		users        []User
		base, filter string
		want         string
	}{
		{[]User{{Name: "alice", Password: "pw"}}, "", "", `"alice" is not a DN with a parent`},
		{[]User{{Name: "uid=alice", Password: "pw"}}, "", "", `"uid=alice" is not a DN with a parent`},
		{[]User{{Name: "alice", Password: "pw"}}, "dc=x", "(uid=%u", "filter (uid=alice (for alice)"},
	} {
		cfg := Config{Mode: ModeBindSearch, Users: tc.users, Base: tc.base, Filter: tc.filter}
		if _, err := cfg.targets(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc, err, tc.want)
		}
	}
}

func TestRun_UnreachableServerIsAnError(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, mode := range []Mode{ModeBind, ModeConnectBind, ModeBindSearch, ModeLookup} {
		cfg := Config{Addr: addr, URL: "ldap://" + addr, Mode: mode, Users: testUsers(1), Concurrency: 2, Count: 10, Timeout: time.Second,
			Service: User{Name: "uid=postfix,ou=people,dc=example,dc=org", Password: "pw"}}
		_, err := Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "cannot connect to ldap://"+addr) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v", mode, err)
		}
	}
}

// A server that stops answering costs timeouts; one that hangs up costs
// network errors; both are counted and the workers connect again.
func TestRun_TimeoutsAndHangUpsCounted(t *testing.T) {
	t.Parallel()
	mute := startResponder(t, &responder{mute: true})
	cfg := testConfig(mute, ModeBind, testUsers(2))
	cfg.Count, cfg.Timeout = 4, 50*time.Millisecond
	rep := run(t, cfg)
	checkCounts(t, rep, 4, 4)
	if len(rep.Errors) != 1 || rep.Errors[0].Code != CodeTimeout || rep.Latency.P50 < 50*time.Millisecond {
		t.Errorf("errors %v, latency %+v; want 4 timeouts of at least 50ms", rep.Errors, rep.Latency)
	}

	hangUp := startResponder(t, &responder{hangUpAfter: 3})
	cfg = testConfig(hangUp, ModeBind, testUsers(2))
	cfg.Concurrency, cfg.Count = 1, 10
	rep = run(t, cfg)
	// 3 answered, 1 lost, reconnect; 3 answered, 1 lost, reconnect; 2.
	checkCounts(t, rep, 10, 2)
	if len(rep.Errors) != 1 || rep.Errors[0].Code != CodeNetwork || !strings.Contains(rep.Errors[0].Example, "closed") {
		t.Errorf("errors %v, want network: 2, the server closed the connection", rep.Errors)
	}
}

// A server that refuses connections with a Notice of Disconnection has
// its result code counted, with what it said.
func TestRun_NoticeOfDisconnectionCountedByItsCode(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{notice: true})
	cfg := testConfig(r, ModeBind, testUsers(1))
	cfg.Concurrency, cfg.Count = 2, 6
	rep := run(t, cfg)
	checkCounts(t, rep, 6, 6)
	if len(rep.Errors) != 1 || rep.Errors[0].Code != ldapBusy || !strings.Contains(rep.Errors[0].Example, "too many connections") {
		t.Errorf("errors %v, want busy (51): 6 with the server's words", rep.Errors)
	}
}

// The warmup runs the load unrecorded; the measured run then does exactly
// its count.
func TestRun_WarmupIsNotRecorded(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{binds: map[string]int{}})
	cfg := testConfig(r, ModeBind, testUsers(1))
	cfg.Warmup, cfg.Count = 200*time.Millisecond, 50
	rep := run(t, cfg)
	checkCounts(t, rep, 50, 0)
	if got := r.bindsOf(cfg.Users[0].Name); got <= 50 {
		t.Errorf("the server saw %d binds; the warmup made none", got)
	}
}

// A run for a duration reports progress once a second, and its measured
// duration is the one asked for, give or take an operation.
func TestRun_DurationWithProgress(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{})
	cfg := testConfig(r, ModeBind, testUsers(3))
	cfg.Count, cfg.Duration = 0, 1300*time.Millisecond
	var mu sync.Mutex
	var seen []Progress
	cfg.Progress = func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p)
	}
	rep := run(t, cfg)
	if rep.Duration < cfg.Duration || rep.Duration > cfg.Duration+time.Second || rep.Operations == 0 || rep.Failed != 0 {
		t.Errorf("duration %v, %d operations, %d failed", rep.Duration, rep.Operations, rep.Failed)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].Operations == 0 || seen[0].Rate <= 0 || seen[0].Warmup {
		t.Fatalf("progress %+v, want one report with operations", seen)
	}
	if s := seen[0].String(); !strings.HasPrefix(s, "1s: ") || !strings.HasSuffix(s, ", 0 errors") {
		t.Errorf("progress line %q", s)
	}
}

// Cancelling the run stops it and reports what was done.
func TestRun_CancelReportsSoFar(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{})
	cfg := testConfig(r, ModeBind, testUsers(3))
	cfg.Count, cfg.Duration = 0, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil || !rep.Interrupted || rep.Operations == 0 || rep.Duration > 10*time.Second {
		t.Errorf("report %+v, %v", rep, err)
	}
}

func TestRun_ConfigChecked(t *testing.T) {
	t.Parallel()
	good := Config{Addr: "127.0.0.1:1", Mode: ModeBind, Users: testUsers(1), Concurrency: 1, Count: 1, Timeout: time.Second}
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Concurrency = 0 }, "concurrency must be at least 1"},
		{func(c *Config) { c.Users = nil }, "no users"},
		{func(c *Config) { c.Count = -1 }, "count"},
		{func(c *Config) { c.Count = 0 }, "duration must be positive"},
		{func(c *Config) { c.Timeout = 0 }, "timeout"},
		{func(c *Config) { c.Warmup = -time.Second }, "warmup"},
		{func(c *Config) { c.Mode = "search" }, `unknown mode "search"`},
		{func(c *Config) { c.Rate = -1 }, "the rate must be a number of operations a second"},
		{func(c *Config) { c.Rate = math.NaN() }, "the rate must be"},
		{func(c *Config) { c.Rate = math.Inf(1) }, "the rate must be"},
	} {
		cfg := good
		tc.change(&cfg)
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}

// lookupUses is how many of count operations, split among concurrency
// workers that each start at name i×n/concurrency and take the names in
// turn, look up name k of n.
func lookupUses(k, n, concurrency, count int) int {
	uses := 0
	for i := range concurrency {
		quota := count / concurrency
		if i < count%concurrency {
			quota++
		}
		for u := i * n / concurrency; quota > 0; quota-- {
			if u == k {
				uses++
			}
			u = (u + 1) % n
		}
	}
	return uses
}

func lookupConfig(r *responder, names []User) Config {
	cfg := testConfig(r, ModeLookup, names)
	cfg.Service = User{Name: "uid=postfix,ou=people,dc=example,dc=org", Password: "service-pw"}
	return cfg
}

// names are users without passwords, as lookup mode reads them.
func names(n int) []User {
	us := testUsers(n)
	for i := range us {
		us[i].Password = ""
	}
	return us
}

// Lookup binds each connection once as the service account, never as the
// users, and then searches for every name in turn: the responder answers
// a search only on a bound connection.
func TestRun_LookupBindsOncePerConnectionThenSearchesEachName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ users, concurrency, count int }{
		{5, 4, 200}, {100, 8, 40}, {3, 8, 40}, {1, 2, 7},
	} {
		t.Run(fmt.Sprintf("%d names %d workers %d ops", tc.users, tc.concurrency, tc.count), func(t *testing.T) {
			t.Parallel()
			r := startResponder(t, &responder{binds: map[string]int{}, searches: map[string]int{}})
			cfg := lookupConfig(r, names(tc.users))
			cfg.Concurrency, cfg.Count = tc.concurrency, tc.count
			rep := run(t, cfg)
			checkCounts(t, rep, uint64(tc.count), 0)
			if got := r.bindsOf(cfg.Service.Name); got != tc.concurrency {
				t.Errorf("the service account bound %d times, want once per connection, %d", got, tc.concurrency)
			}
			ts, err := cfg.targets()
			if err != nil {
				t.Fatal(err)
			}
			for k, u := range cfg.Users {
				if n := r.bindsOf(u.Name); n != 0 {
					t.Errorf("%s bound %d times; lookup binds as the service account only", u.Name, n)
				}
				if got, want := r.searchesOf(ts[k].filter), lookupUses(k, tc.users, tc.concurrency, tc.count); got != want {
					t.Errorf("%s looked up %d times, want %d", u.Name, got, want)
				}
			}
			if rep.Mode != ModeLookup || rep.Service != cfg.Service.Name ||
				rep.Base != "ou=people,dc=example,dc=org" || rep.Filter != "(mail=%u@example.org)" {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// In a short run the lookups reach all of a long list: the workers start
// spread over it.
func TestRun_LookupStartsSpreadOverTheNames(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{searches: map[string]int{}})
	cfg := lookupConfig(r, names(1000))
	cfg.Concurrency, cfg.Count = 4, 8
	run(t, cfg)
	ts, err := cfg.targets()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{0, 1, 250, 251, 500, 501, 750, 751} {
		if r.searchesOf(ts[k].filter) != 1 {
			t.Errorf("name %d not looked up once", k)
		}
	}
}

// A search that finds nothing is noEntry and one that finds more than one
// entry is tooMany, each with the name and base as its example; the
// connection goes on without binding again.
func TestRun_LookupNoEntryAndTooMany(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{binds: map[string]int{}})
	users := names(5)
	users[3].Name = "uid=nobody,ou=people,dc=example,dc=org"
	cfg := lookupConfig(r, users)
	rep := run(t, cfg)
	want := uint64(lookupUses(3, 5, 4, 200))
	checkCounts(t, rep, 200, want)
	if len(rep.Errors) != 1 || rep.Errors[0].Code != CodeNoEntry || rep.Errors[0].Count != want ||
		rep.Errors[0].Example != "nothing found for uid=nobody,ou=people,dc=example,dc=org under ou=people,dc=example,dc=org" {
		t.Errorf("errors %v, want noEntry: %d", rep.Errors, want)
	}
	if got := r.bindsOf(cfg.Service.Name); got != 4 {
		t.Errorf("the service account bound %d times, want 4", got)
	}

	cfg = lookupConfig(r, names(5))
	cfg.Base = "ou=many"
	rep = run(t, cfg)
	checkCounts(t, rep, 200, 200)
	if len(rep.Errors) != 1 || rep.Errors[0].Code != CodeTooMany || !strings.Contains(rep.Errors[0].Example, "more than one entry found for uid=user") {
		t.Errorf("errors %v, want tooMany: 200", rep.Errors)
	}
}

// A service account that cannot bind stops the run before it starts, with
// the server's answer.
func TestRun_LookupServiceRefusedIsAnError(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{})
	cfg := lookupConfig(r, names(3))
	cfg.Service.Password = "wrong"
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "the service account uid=postfix,ou=people,dc=example,dc=org cannot bind to ldap://") ||
		!strings.Contains(err.Error(), "invalidCredentials (49)") {
		t.Errorf("%v", err)
	}
	cfg.Service = User{}
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "lookup binds as a service account") {
		t.Errorf("no service account: %v", err)
	}
}

// A connection lost is opened again and bound again before the next
// search: 3 requests per connection are one bind and two searches.
func TestRun_LookupBindsAgainOnANewConnection(t *testing.T) {
	t.Parallel()
	r := startResponder(t, &responder{hangUpAfter: 3, binds: map[string]int{}})
	cfg := lookupConfig(r, names(2))
	cfg.Concurrency, cfg.Count = 1, 10
	rep := run(t, cfg)
	// 2 found, 1 lost; bind again, 2 found, 1 lost; again; 1 found.
	checkCounts(t, rep, 10, 3)
	if len(rep.Errors) != 1 || rep.Errors[0].Code != CodeNetwork {
		t.Errorf("errors %v, want network: 3 (and no insufficientAccessRights)", rep.Errors)
	}
	if got := r.bindsOf(cfg.Service.Name); got != 4 {
		t.Errorf("the service account bound %d times, want 4, once per connection", got)
	}
}

// The default base is ou=people under -D's dc= components, and the default
// filter looks up the mail address in the base's domain, if it has one.
func TestLookupDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ service, base, wantBase, wantFilter string }{
		{"uid=postfix,ou=people,dc=example,dc=org", "", "ou=people,dc=example,dc=org", "(mail=%u@example.org)"},
		{"cn=admin,dc=mail,dc=corp,dc=com", "", "ou=people,dc=mail,dc=corp,dc=com", "(mail=%u@mail.corp.com)"},
		{"CN=Postfix,OU=Services,DC=Corp,DC=Com", "", "ou=people,dc=Corp,dc=Com", "(mail=%u@Corp.Com)"},
		{"postfix", "", "ou=people,dc=example,dc=org", "(mail=%u@example.org)"},
		{"cn=admin,o=corp", "", "ou=people,dc=example,dc=org", "(mail=%u@example.org)"},
		{"postfix", "ou=users,dc=corp,dc=com", "ou=users,dc=corp,dc=com", "(mail=%u@corp.com)"},
		{"cn=admin,dc=corp,dc=com", "ou=people,o=corp", "ou=people,o=corp", "(uid=%u)"},
		{"postfix", "dc=corp,ou=x", "dc=corp,ou=x", "(uid=%u)"},
	} {
		base, filter := LookupDefaults(tc.service, tc.base)
		if base != tc.wantBase || filter != tc.wantFilter {
			t.Errorf("%q, %q: %q, %q; want %q, %q", tc.service, tc.base, base, filter, tc.wantBase, tc.wantFilter)
		}
	}
}

// A lookup's %u is a DN's first RDN value or the name as it is, escaped;
// a filter given replaces the default, and the base given is used for
// every name, DN or not.
func TestTargets_Lookup(t *testing.T) {
	t.Parallel()
	cfg := Config{Mode: ModeLookup, Service: User{Name: "uid=postfix,ou=people,dc=example,dc=org", Password: "pw"}, Users: []User{
		{Name: "uid=alice,ou=people,dc=example,dc=org"}, {Name: "bob"}, {Name: "c*(d)"},
	}}
	ts, err := cfg.targets()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"(mail=alice@example.org)", "(mail=bob@example.org)", `(mail=c\2a\28d\29@example.org)`} {
		f, err := ldap.CompileFilter(want)
		if err != nil {
			t.Fatal(err)
		}
		if ts[i].base != "ou=people,dc=example,dc=org" || !bytes.Equal(ts[i].filter, f.Bytes()) {
			t.Errorf("%s: base %q, filter %x; want %s", cfg.Users[i].Name, ts[i].base, ts[i].filter, want)
		}
	}
	cfg.Base, cfg.Filter = "dc=x", "(&(objectClass=inetOrgPerson)(uid=%u))"
	ts, err = cfg.targets()
	if err != nil || ts[1].base != "dc=x" || !strings.Contains(string(ts[1].filter), "bob") || strings.Contains(string(ts[1].filter), "mail") {
		t.Errorf("with --base and --filter: %+v, %v", ts, err)
	}
}
