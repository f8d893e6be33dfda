package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// httpConfig turns on the [http] listener on a free loopback port.
const httpConfig = `
[http]
listen = "127.0.0.1:0"
`

// An administrator's view of the metrics: an app-password bind, a failed
// bind and a search, then curl of /metrics shows exactly those, named by
// method and result and never by user or address, in a page Prometheus's
// own linter finds clean; /healthz says ok while the database takes
// writes, 503 while another process holds its write lock, and ok again
// after; and neither the probes nor an anonymous bind used as one writes
// an INFO line.
func TestMetrics_CountWhatClientsDidAndHealthzFollowsTheDatabase(t *testing.T) {
	w := startWicket(t, httpConfig)
	if !strings.HasPrefix(w.httpURL, "http://127.0.0.1:") {
		t.Fatalf("the listening line gives the HTTP listener as %q; want http://127.0.0.1:PORT", w.httpURL)
	}
	u := w.newUser("alice", true)
	_, app := w.appPassword("alice", "Thunderbird")

	if code, body := curl(t, w.httpURL+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q; want 200 \"ok\"", code, body)
	}
	before, _ := scrape(t, w)

	if out, code := ldapwhoami(t, w.url(), u.dn, app); code != 0 || !strings.Contains(out, "dn:"+u.dn) {
		t.Fatalf("ldapwhoami with the app password: exit %d\n%s", code, out)
	}
	if out, code := ldapwhoami(t, w.url(), u.dn, "abcd-efgh-ijkl-mnop"); code != 49 {
		t.Fatalf("ldapwhoami with a wrong app password: exit %d, want 49\n%s", code, out)
	}
	r := ldapTool(t, "", "ldapsearch", "-x", "-H", w.url(), "-D", u.dn, "-w", app, "-LLL",
		"-b", "ou=people,dc=example,dc=org", "(uid=alice)", "mail")
	if r.exit != 0 || !strings.Contains(r.stdout, "mail: "+u.mail) {
		t.Fatalf("ldapsearch: exit %d\n%s", r.exit, r.output())
	}

	// The clients have exited; the server notices their connections end
	// as it reads their unbind, so wait for that rather than for a time.
	var after series
	var page string
	deadline := time.Now().Add(30 * time.Second)
	for {
		after, page = scrape(t, w)
		if after.get("wicket_connections_open") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wicket_connections_open is %v 30 s after the clients exited", after.get("wicket_connections_open"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	moved := func(name string, labels ...string) float64 {
		return after.get(name, labels...) - before.get(name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wicket_binds_total", []string{"method", "app-password", "result", "success"}, 2},
		{"wicket_binds_total", []string{"method", "app-password", "result", "invalid_credentials"}, 1},
		{"wicket_bind_failures_total", []string{"reason", "wrong-app-password"}, 1},
		{"wicket_bind_duration_seconds_count", []string{"method", "app-password"}, 3},
		{"wicket_searches_total", []string{"kind", "lookup", "result", "success"}, 1},
		{"wicket_search_duration_seconds_count", []string{"kind", "lookup"}, 1},
		{"wicket_extended_operations_total", []string{"operation", "whoAmI", "result", "success"}, 1},
		{"wicket_connections_accepted_total", nil, 3},
	} {
		if got := moved(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	// Nothing else was counted: no bind twice, none under another name.
	if got := after.sum("wicket_binds_total") - before.sum("wicket_binds_total"); got != 3 {
		t.Errorf("wicket_binds_total moved by %v in all; want 3", got)
	}
	if got := after.sum("wicket_bind_failures_total") - before.sum("wicket_bind_failures_total"); got != 1 {
		t.Errorf("wicket_bind_failures_total moved by %v in all; want 1", got)
	}
	if got := after.get("wicket_directory_accounts"); got != 1 {
		t.Errorf("wicket_directory_accounts = %v; want 1", got)
	}
	if got := after.sum("wicket_build_info"); got != 1 {
		t.Errorf("wicket_build_info sums to %v; want one series of 1", got)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "wicket_audit_queue_records",
		"wicket_audit_dropped_total", "wicket_password_hash_slots"} {
		if !after.has(name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	// No label names a user, an entry or a client.
	requireNoSecret(t, "/metrics", page, app, u.password)
	for _, who := range []string{"alice", u.mail, "ou=people", "127.0.0.1"} {
		if strings.Contains(page, who) {
			t.Errorf("/metrics names %q", who)
		}
	}

	problems, err := promlint.New(strings.NewReader(page)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// promtool comes with Debian's prometheus package, a whole Prometheus
	// server; it is run where an administrator has it, and promlint above,
	// the same checks as a library, runs everywhere.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(page)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		} else {
			t.Logf("promtool check metrics: clean")
		}
	}

	// Another process holding the write lock (an administrator's sqlite3
	// in a transaction) is a database that takes no writes.
	db := filepath.Join(w.dir, "wicket.db")
	generation := sqlite3ReadOnlyQuery(t, db, "SELECT n, stamp FROM generation")
	lock := holdWriteLock(t, db)
	code, body := curl(t, w.httpURL+"/healthz")
	if code != 503 || !strings.Contains(body, "database takes no writes") {
		t.Errorf("/healthz while another process holds the write lock: %d %q; want 503 naming the database", code, body)
	}
	lock.release()
	if code, body := curl(t, w.httpURL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz after the lock was released: %d %q; want 200 \"ok\"", code, body)
	}
	// The health checks changed nothing a cache depends on.
	if got := sqlite3ReadOnlyQuery(t, db, "SELECT n, stamp FROM generation"); got != generation {
		t.Errorf("health checks moved the store generation from %q to %q", generation, got)
	}

	// A probe that binds anonymously, as monitoring does with ldapwhoami.
	for range 3 {
		if out, code := ldapwhoami(t, w.url(), "", ""); code != 0 || !strings.Contains(out, "anonymous") {
			t.Fatalf("anonymous ldapwhoami: exit %d\n%s", code, out)
		}
	}
	w.stop() // writes every queued audit record and its log line
	var anonymousDebug int
	for line := range strings.Lines(w.logs.String()) {
		var rec struct {
			Level, Msg, Method string
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch {
		case rec.Method == "anonymous" && rec.Level == "DEBUG":
			anonymousDebug++
		case rec.Method == "anonymous":
			t.Errorf("an anonymous bind is logged at %s: %s", rec.Level, line)
		case strings.Contains(line, "healthz") || strings.Contains(line, "/metrics"):
			t.Errorf("a probe or scrape is logged: %s", line)
		}
	}
	if anonymousDebug == 0 {
		t.Errorf("no DEBUG line for the anonymous binds; the audit trail should still log them at debug\n%s", w.logs.String())
	}
}

// An [http] listener on an address other than loopback is refused at
// start unless allowed, with the setting to change, before anything is
// created.
func TestMetrics_RemoteListenerIsRefusedUnlessAllowed(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wicket.toml")
	db := filepath.Join(dir, "wicket.db")
	conf := "listen = \"127.0.0.1:0\"\ndatabase = " + strconv.Quote(db) + "\n[http]\nlisten = \"0.0.0.0:0\"\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, *wicketBin, "serve", "--config", cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("wicket serve with http.listen = 0.0.0.0:0: %v, want it to exit with an error\n%s", err, out)
	}
	if !strings.Contains(string(out), "http.listen") || !strings.Contains(string(out), "http.allow_remote = true") {
		t.Errorf("the refusal does not name http.listen and http.allow_remote:\n%s", out)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a refused configuration left a database behind: %v", err)
	}
}

// curl fetches url with the real curl and returns the status and body.
func curl(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The status goes on a last line of its own, after the body.
	out, err := exec.CommandContext(ctx, requireTool(t, "curl"), "-sS", "--max-time", "30", "-w", "\n%{http_code}", url).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", url, err)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	code, err := strconv.Atoi(s[i+1:])
	if err != nil {
		t.Fatalf("curl %s: no status in %q", url, s)
	}
	return code, s[:i]
}

// series is a scrape: each series's value by its name and labels (sorted
// by label name, as key builds them); a histogram's by its _count.
type series map[string]float64

func key(name string, labels ...string) string {
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

func (s series) get(name string, labels ...string) float64 { return s[key(name, labels...)] }

func (s series) has(name string) bool {
	for k := range s {
		if strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}

func (s series) sum(name string) float64 {
	var total float64
	for k, v := range s {
		if strings.HasPrefix(k, name+"{") {
			total += v
		}
	}
	return total
}

// scrape curls /metrics and parses it as Prometheus does.
func scrape(t *testing.T, w *wicket) (series, string) {
	t.Helper()
	code, page := curl(t, w.httpURL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, page)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("/metrics is not in Prometheus's text format: %v\n%s", err, page)
	}
	s := series{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			switch {
			case m.Counter != nil:
				s[key(name, labels...)] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s[key(name, labels...)] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				s[key(name, labels...)] = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				s[key(name+"_count", labels...)] = float64(m.GetHistogram().GetSampleCount())
			case m.Summary != nil:
				s[key(name+"_count", labels...)] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return s, page
}

// sqlite3Query runs one query with the real sqlite3, read-only.
func sqlite3ReadOnlyQuery(t *testing.T, path, query string) string {
	t.Helper()
	out, err := exec.Command(requireTool(t, "sqlite3"), "-readonly", path, query).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %q: %v\n%s", query, err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeLock is a sqlite3 process in a write transaction on a database.
type writeLock struct {
	cmd *exec.Cmd
	in  io.WriteCloser
}

// holdWriteLock starts the real sqlite3 on path and returns once its
// BEGIN IMMEDIATE has taken the write lock.
func holdWriteLock(t *testing.T, path string) *writeLock {
	t.Helper()
	cmd := exec.Command(requireTool(t, "sqlite3"), path)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &writeLock{cmd: cmd, in: in}
	t.Cleanup(l.release)
	// The SELECT answers only once BEGIN IMMEDIATE has the lock.
	io.WriteString(in, ".timeout 30000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n")
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("sqlite3 did not take the write lock: %q %v", line, err)
	}
	return l
}

// release rolls the transaction back and waits for sqlite3 to exit.
func (l *writeLock) release() {
	if l.in == nil {
		return
	}
	io.WriteString(l.in, "ROLLBACK;\n")
	l.in.Close()
	l.in = nil
	l.cmd.Wait()
}
