package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The benchmarks talk to the responder over loopback. It allocates nothing
// per request, so allocs/op is the client's; ns/op is the round trip, both
// ends on this machine.

const (
	benchName     = "uid=alice,ou=people,dc=example,dc=org"
	benchPassword = "abcd-efgh-ijkl-mnop"
)

func benchClient(b *testing.B) *client {
	b.Helper()
	r := startResponder(b, &responder{})
	nc, err := dial(r.addr, nil, time.Now().Add(5*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	c := &client{}
	c.attach(nc)
	b.Cleanup(c.close)
	return c
}

// One bind on a kept connection, with its deadline, as the bind mode's
// worker does it.
func BenchmarkClient_Bind(b *testing.B) {
	c := benchClient(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			b.Fatal(err)
		}
		if code, err := c.bind(benchName, benchPassword); code != 0 || err != nil {
			b.Fatalf("bind: %d, %v", code, err)
		}
	}
}

// A bind and a search for the user's entry.
func BenchmarkClient_BindSearch(b *testing.B) {
	c := benchClient(b)
	f, err := ldap.CompileFilter("(uid=alice)")
	if err != nil {
		b.Fatal(err)
	}
	filter := f.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			b.Fatal(err)
		}
		if code, err := c.bind(benchName, benchPassword); code != 0 || err != nil {
			b.Fatalf("bind: %d, %v", code, err)
		}
		if n, code, err := c.search("ou=people,dc=example,dc=org", filter); n != 1 || code != 0 || err != nil {
			b.Fatalf("search: %d entries, %d, %v", n, code, err)
		}
	}
}

// A lookup: one search on a connection bound once, as lookup mode's
// worker does it.
func BenchmarkClient_Lookup(b *testing.B) {
	c := benchClient(b)
	if code, err := c.serviceBind(User{Name: "uid=postfix,ou=people,dc=example,dc=org", Password: benchPassword}); code != 0 || err != nil {
		b.Fatalf("bind: %d, %v", code, err)
	}
	f, err := ldap.CompileFilter("(mail=alice@example.org)")
	if err != nil {
		b.Fatal(err)
	}
	filter := f.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			b.Fatal(err)
		}
		if code, err := searchResult(c.search("ou=people,dc=example,dc=org", filter)); code != 0 || err != nil {
			b.Fatalf("lookup: %d, %v", code, err)
		}
	}
}

// The whole tool, one worker, b.N operations: the hot loop with its
// histogram and counters; the set-up is spread over b.N.
func BenchmarkRun(b *testing.B) {
	for _, mode := range []Mode{ModeBind, ModeBindSearch, ModeConnectBind, ModeLookup} {
		b.Run(string(mode), func(b *testing.B) {
			r := startResponder(b, &responder{})
			cfg := Config{Addr: r.addr, URL: "ldap://" + r.addr, Mode: mode,
				Users: []User{{Name: benchName, Password: benchPassword}}, Concurrency: 1, Count: b.N, Timeout: 5 * time.Second,
				Service: User{Name: "uid=postfix,ou=people,dc=example,dc=org", Password: benchPassword}}
			b.ReportAllocs()
			b.ResetTimer()
			rep, err := Run(context.Background(), cfg)
			if err != nil || rep.Failed != 0 || rep.Operations != uint64(b.N) {
				b.Fatalf("%+v, %v", rep, err)
			}
		})
	}
}

// go-ldap's client doing the same bind, for comparison: what the
// hand-written client saves per operation.
func BenchmarkGoLDAP_Bind(b *testing.B) {
	r := startResponder(b, &responder{})
	conn, err := ldap.DialURL("ldap://" + r.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := conn.Bind(benchName, benchPassword); err != nil {
			b.Fatal(err)
		}
	}
}

// A lookup allocates nothing, in the tool or in the responder: the tool
// must not cost the server it shares a machine with a collection per
// operation.
func TestWorker_LookupAllocatesNothing(t *testing.T) {
	r := startResponder(t, &responder{})
	cfg := Config{Addr: r.addr, URL: "ldap://" + r.addr, Mode: ModeLookup, Users: []User{{Name: benchName}},
		Service: User{Name: "uid=postfix,ou=people,dc=example,dc=org", Password: benchPassword}, Concurrency: 1, Count: 1, Timeout: 5 * time.Second}
	ts, err := cfg.targets()
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{cfg: &cfg, targets: ts, step: 1, errors: map[int]*ErrorCount{}}
	defer w.hangUp()
	if err := connect(&cfg, []*worker{w}); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		start := time.Now()
		code, err := w.op(&ts[0], start.Add(cfg.Timeout))
		w.record(&ts[0], code, err, time.Since(start))
	})
	if allocs > 0 || w.failed.Load() != 0 {
		t.Errorf("%.1f allocations per lookup, %d failed", allocs, w.failed.Load())
	}
}
