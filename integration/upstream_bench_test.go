package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/internal/slapdtest"
	"github.com/wicketldap/wicket/internal/testutil"
)

// TestUpstream_BenchAppPasswordsWithAndWithoutUpstream measures app-password
// binds with `wicket bench` against two servers on copies of one database,
// one with [upstream] configured and one without, in the same run, rounds
// alternating. An app password is checked here and the upstream is never
// asked, so the two should be equal; the test fails only if the upstream
// was asked during the runs. It measures, so it runs only when asked to:
//
//	WICKET_UPSTREAM_BENCH=1 go test ./integration -run BenchAppPasswordsWithAndWithoutUpstream -v
//
// with WICKET_UPSTREAM_BENCH_DURATION (default 10s), _USERS (200), _ROUNDS
// (3) and _CONCURRENCY (8). Run it on a quiet machine.
func TestUpstream_BenchAppPasswordsWithAndWithoutUpstream(t *testing.T) {
	if os.Getenv("WICKET_UPSTREAM_BENCH") != "1" {
		t.Skip("measures throughput: set WICKET_UPSTREAM_BENCH=1 to run it, on a quiet machine")
	}
	env := func(name, def string) string {
		if v := os.Getenv("WICKET_UPSTREAM_BENCH_" + name); v != "" {
			return v
		}
		return def
	}
	users, _ := strconv.Atoi(env("USERS", "200"))
	rounds, _ := strconv.Atoi(env("ROUNDS", "3"))
	duration, concurrency := env("DURATION", "10s"), env("CONCURRENCY", "8")

	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	var ldif strings.Builder
	for i := range users {
		uid := fmt.Sprintf("u%04d", i)
		fmt.Fprintf(&ldif, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@%s\nuserPassword: %s\n\n",
			s.UserDN(uid), uid, uid, uid, uid, slapdtest.DefaultDomain, slapdtest.SSHA("Upstream-"+uid))
	}
	s.Add(t, ldif.String())

	with := upstreamWicket(t, s, "\n[http]\nlisten = \"127.0.0.1:0\"")
	var sync struct {
		Created []string `json:"created"`
	}
	with.adminJSON(&sync, "", "user", "sync")
	if len(sync.Created) != users {
		t.Fatalf("sync created %d accounts, want %d", len(sync.Created), users)
	}
	usersFile := filepath.Join(t.TempDir(), "users.tsv")
	with.admin("", "apppw", "create-bulk", "--label", "bench", "--out", usersFile, "--enroll-totp")

	// The same database and key for a server without [upstream].
	with.stop()
	without := &wicket{t: t, dir: t.TempDir(), logs: &testutil.SyncBuffer{}}
	for _, f := range []string{"wicket.db", "wicket.db-wal", "wicket.key"} {
		b, err := os.ReadFile(filepath.Join(with.dir, f))
		if os.IsNotExist(err) && f == "wicket.db-wal" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(without.dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	without.cfg = filepath.Join(without.dir, "wicket.toml")
	// The same [http] listener as the other, so that the two differ only by
	// [upstream].
	if err := os.WriteFile(without.cfg, fmt.Appendf(nil, testConfig, filepath.Join(without.dir, "wicket.db"),
		"\n[http]\nlisten = \"127.0.0.1:0\""), 0o600); err != nil {
		t.Fatal(err)
	}
	without.start()
	t.Cleanup(without.stop)
	with.start()

	before, _ := scrape(t, with)
	best := map[string]float64{}
	report := func(name string, w *wicket) {
		cmd := exec.Command(*wicketBin, "bench", "-H", w.url(), "--users", usersFile, "--duration", duration,
			"--concurrency", concurrency, "--warmup", "2s", "--quiet", "--json")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("wicket bench %s: %v\n%s%s", name, err, out.String(), errb.String())
		}
		var r struct {
			Ops     float64 `json:"ops_per_second"`
			Failed  uint64  `json:"failed"`
			Latency struct {
				P50, P99 float64
			} `json:"latency_ms"`
		}
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("wicket bench --json: %v\n%s", err, out.String())
		}
		if r.Failed != 0 {
			t.Fatalf("%s: %d binds failed\n%s", name, r.Failed, out.String())
		}
		t.Logf("%-17s %9.0f binds/s  p50 %.3f ms  p99 %.3f ms", name, r.Ops, r.Latency.P50, r.Latency.P99)
		best[name] = max(best[name], r.Ops)
	}
	for i := range rounds {
		// ABBA: neither server always runs first.
		if i%2 == 0 {
			report("with [upstream]", with)
			report("without", without)
		} else {
			report("without", without)
			report("with [upstream]", with)
		}
	}
	after, _ := scrape(t, with)
	if asked := after.sum("wicket_upstream_checks_total") - before.sum("wicket_upstream_checks_total"); asked != 0 {
		t.Fatalf("the upstream was asked %v times during app-password binds, want 0", asked)
	}
	t.Logf("best of %d rounds, %d users, concurrency %s, %s each: with [upstream] %.0f binds/s, without %.0f binds/s (ratio %.3f); "+
		"the upstream was asked 0 times", rounds, users, concurrency, duration, best["with [upstream]"], best["without"],
		best["with [upstream]"]/best["without"])
}
