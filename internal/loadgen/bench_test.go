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

// The whole tool, one worker, b.N operations: the hot loop with its
// histogram and counters; the set-up is spread over b.N.
func BenchmarkRun(b *testing.B) {
	for _, mode := range []Mode{ModeBind, ModeBindSearch, ModeConnectBind} {
		b.Run(string(mode), func(b *testing.B) {
			r := startResponder(b, &responder{})
			cfg := Config{Addr: r.addr, URL: "ldap://" + r.addr, Mode: mode,
				Users: []User{{benchName, benchPassword}}, Concurrency: 1, Count: b.N, Timeout: 5 * time.Second}
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
