package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/internal/loadgen"
)

// loadReport is the JSON of `wicket bench --json`, read as a script reads it.
type loadReport struct {
	Mode            string  `json:"mode"`
	URL             string  `json:"url"`
	Concurrency     int     `json:"concurrency"`
	Users           int     `json:"users"`
	DurationSeconds float64 `json:"duration_seconds"`
	Operations      int     `json:"operations"`
	Succeeded       int     `json:"succeeded"`
	Failed          int     `json:"failed"`
	OpsPerSecond    float64 `json:"ops_per_second"`
	Latency         struct {
		Mean float64 `json:"mean"`
		P50  float64 `json:"p50"`
		P95  float64 `json:"p95"`
		P99  float64 `json:"p99"`
		Max  float64 `json:"max"`
	} `json:"latency_ms"`
	Errors []struct {
		Result string `json:"result"`
		Code   int    `json:"code"`
		Count  int    `json:"count"`
	} `json:"errors"`
}

// loadUsers adds n accounts with TOTP and an app password each, as mail
// clients bind, and returns them as bind DN and app password.
func loadUsers(w *wicket, n int) []loadgen.User {
	w.t.Helper()
	var us []loadgen.User
	for i := range n {
		u := w.newUser(fmt.Sprintf("load%d", i), true)
		_, pw := w.appPassword(u.name, "load test")
		us = append(us, loadgen.User{Name: u.dn, Password: pw})
	}
	return us
}

// loadUsersFile writes users as `wicket bench --users` reads them.
func loadUsersFile(t *testing.T, users []loadgen.User) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# bind DN <TAB> app password\n")
	for _, u := range users {
		fmt.Fprintf(&b, "%s\t%s\n", u.Name, u.Password)
	}
	p := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadRun runs `wicket bench` and returns what it printed and its exit
// status.
func loadRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, *wicketBin, append([]string{"bench"}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("wicket bench: %v", err)
	}
	return o.String(), e.String(), code
}

func loadRunJSON(t *testing.T, args ...string) loadReport {
	t.Helper()
	out, errOut, code := loadRun(t, append(args, "--json", "--quiet")...)
	if code != 0 {
		t.Fatalf("wicket bench %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("wicket bench --json: %v\n%s", err, out)
	}
	return rep
}

// loadUses is how many of count operations by concurrency workers use
// user k of n: the operations are split evenly, and worker i starts at
// user i and steps by concurrency.
func loadUses(k, n, concurrency, count int) int {
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

func checkLoadReport(t *testing.T, rep loadReport, ops, failed int) {
	t.Helper()
	if rep.Operations != ops || rep.Failed != failed || rep.Succeeded != ops-failed {
		t.Errorf("%d operations, %d succeeded, %d failed; want %d, %d, %d (errors %+v)",
			rep.Operations, rep.Succeeded, rep.Failed, ops, ops-failed, failed, rep.Errors)
	}
	l := rep.Latency
	if rep.OpsPerSecond <= 0 || rep.DurationSeconds <= 0 || !(0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("%.1f ops/s in %.3f s, latency %+v", rep.OpsPerSecond, rep.DurationSeconds, l)
	}
}

// `wicket bench` against the real server, in each mode, with app
// passwords as a mail server's users bind: every operation succeeds; then
// one user's wrong password costs exactly that user's operations, each an
// invalidCredentials; and a port where nobody listens is a clear failure.
func TestLoadTool_AgainstWicket(t *testing.T) {
	w := startWicket(t, "")
	users := loadUsers(w, 5)
	file := loadUsersFile(t, users)

	for _, mode := range []string{"bind", "connect-bind", "bind-search"} {
		t.Run(mode, func(t *testing.T) {
			rep := loadRunJSON(t, "-H", w.url(), "--users", file, "--mode", mode, "--count", "200", "--concurrency", "4")
			checkLoadReport(t, rep, 200, 0)
			if rep.Mode != mode || rep.URL != w.url() || rep.Concurrency != 4 || rep.Users != 5 || rep.Errors == nil || len(rep.Errors) != 0 {
				t.Errorf("report %+v", rep)
			}
		})
	}

	t.Run("a wrong password", func(t *testing.T) {
		const wrong = 2
		bad := append([]loadgen.User(nil), users...)
		bad[wrong].Password = "not-the-app-password"
		rep := loadRunJSON(t, "-H", w.url(), "--users", loadUsersFile(t, bad), "--count", "200", "--concurrency", "4")
		want := loadUses(wrong, len(bad), 4, 200)
		checkLoadReport(t, rep, 200, want)
		if len(rep.Errors) != 1 || rep.Errors[0].Result != "invalidCredentials" || rep.Errors[0].Code != 49 || rep.Errors[0].Count != want {
			t.Errorf("errors %+v, want invalidCredentials (49): %d", rep.Errors, want)
		}
	})

	// One user, whose password is read from a file (-y, kept out of the
	// process list), at a capped rate: 40 binds at 100 a second take at
	// least 0.39 s.
	t.Run("one user with -y at --rate", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(pw, []byte(users[0].Password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		rep := loadRunJSON(t, "-H", w.url(), "-D", users[0].Name, "-y", pw, "--count", "40", "--concurrency", "2", "--rate", "100")
		checkLoadReport(t, rep, 40, 0)
		if rep.DurationSeconds < 0.39 {
			t.Errorf("40 binds at 100/s in %.3f s", rep.DurationSeconds)
		}
	})

	t.Run("nothing listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "ldap://" + l.Addr().String()
		l.Close()
		out, errOut, code := loadRun(t, "-H", closed, "--users", file, "--count", "200", "--concurrency", "4", "--json")
		if code == 0 || out != "" || !strings.Contains(errOut, "cannot connect to "+closed) || !strings.Contains(errOut, "connection refused") {
			t.Errorf("exit %d, stdout %q, stderr %q; want a failure saying it cannot connect", code, out, errOut)
		}
	})
}

// `wicket bench --totp` signs in as people do, with the primary password
// followed by the current code: every user's first bind of a step
// succeeds, and a second run in the same step is refused, each bind a
// replayed code.
func TestLoadTool_PasswordAndCodeSignIns(t *testing.T) {
	w := startWicket(t, "")
	var b strings.Builder
	for i := range 3 {
		u := w.newUser(fmt.Sprintf("people%d", i), true)
		fmt.Fprintf(&b, "%s\t%s\t%s\n", u.dn, u.password, u.secret)
	}
	file := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// Both runs must fall inside one 30 s step: a run is three binds, but
	// a loaded machine can start a process slowly, so a pair that crossed
	// into the next step is tried again in a fresh one.
	for attempt := 1; ; attempt++ {
		if s := time.Now().Unix() % 30; s >= 20 {
			time.Sleep(time.Duration(30-s) * time.Second)
		}
		step := time.Now().Unix() / 30
		rep := loadRunJSON(t, "-H", w.url(), "--users", file, "--totp", "--count", "3", "--concurrency", "1")
		checkLoadReport(t, rep, 3, 0)
		_, errOut, code := loadRun(t, "-H", w.url(), "--users", file, "--totp", "--count", "3", "--concurrency", "1")
		if now := time.Now().Unix() / 30; now != step {
			if attempt == 3 {
				t.Fatalf("three pairs of runs each took from one step into the next; the last from %d to %d", step, now)
			}
			// The second run may have used the new step's codes: start
			// again in the step after it.
			t.Logf("the runs took from step %d to %d; again in a fresh step", step, now)
			time.Sleep(time.Until(time.Unix((now+1)*30, 0)))
			continue
		}
		if code == 0 || !strings.Contains(errOut, "not one of 3 operations succeeded: invalidCredentials (49): 3") {
			t.Errorf("second run: exit %d, stderr %q; want every bind refused as a replayed code", code, errOut)
		}
		break
	}
	if !audited(w, "people0", "bind", "replayed-code") {
		t.Error("the second run's bind is not recorded as a replayed code")
	}
}

// `wicket bench --mode lookup` against the real server, as Postfix looks
// users up: a service account binds once on each connection, then each
// operation is a search for a user's mail address, with the default base
// and filter; every lookup finds its entry. A name without an account is
// counted as noEntry, exactly as often as it is looked up; a wrong service
// password stops the run before it starts.
func TestLoadTool_LookupAsAServiceAccount(t *testing.T) {
	w := startWicket(t, "")
	const svc, svcPassword = "postfix", "a-long-random-service-secret"
	w.admin(svcPassword+"\n", "user", "add", svc, "--role", "service", "--password-stdin")
	svcDN := "uid=" + svc + ",ou=people,dc=example,dc=org"
	pwFile := filepath.Join(t.TempDir(), "postfix.pw")
	if err := os.WriteFile(pwFile, []byte(svcPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	var names []loadgen.User
	for i := range 6 {
		u := w.newUser(fmt.Sprintf("look%d", i), false)
		names = append(names, loadgen.User{Name: u.dn})
	}
	// A names file: DNs from a users file's first column and bare names.
	var list strings.Builder
	for i, u := range names {
		if i%2 == 0 {
			fmt.Fprintf(&list, "%s\tunused-password\n", u.Name)
		} else {
			fmt.Fprintf(&list, "look%d\n", i)
		}
	}
	file := filepath.Join(t.TempDir(), "names.txt")
	if err := os.WriteFile(file, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	var rep struct {
		loadReport
		Service      string `json:"service"`
		SearchBase   string `json:"search_base"`
		SearchFilter string `json:"search_filter"`
	}
	out, errOut, code := loadRun(t, "-H", w.url(), "--mode", "lookup", "-D", svcDN, "-y", pwFile, "--users", file,
		"--count", "200", "--concurrency", "4", "--json", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	checkLoadReport(t, rep.loadReport, 200, 0)
	if rep.Mode != "lookup" || rep.Users != 6 || rep.Service != svcDN ||
		rep.SearchBase != "ou=people,dc=example,dc=org" || rep.SearchFilter != "(mail=%u@example.org)" {
		t.Errorf("report %+v", rep)
	}

	t.Run("a name without an account", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "names.txt")
		if err := os.WriteFile(missing, []byte(list.String()+"nosuchuser\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// 4 workers start at names 0, 1, 3 and 5 of 7 and take 50 in turn.
		want := 0
		for i := range 4 {
			for k := range 50 {
				if (i*7/4+k)%7 == 6 {
					want++
				}
			}
		}
		rep := loadRunJSON(t, "-H", w.url(), "--mode", "lookup", "-D", svcDN, "-y", pwFile, "--users", missing,
			"--count", "200", "--concurrency", "4")
		checkLoadReport(t, rep, 200, want)
		if len(rep.Errors) != 1 || rep.Errors[0].Result != "noEntry" || rep.Errors[0].Count != want {
			t.Errorf("errors %+v, want noEntry: %d", rep.Errors, want)
		}
	})

	t.Run("a wrong service password", func(t *testing.T) {
		wrong := filepath.Join(t.TempDir(), "wrong.pw")
		if err := os.WriteFile(wrong, []byte("not-the-password"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := loadRun(t, "-H", w.url(), "--mode", "lookup", "-D", svcDN, "-y", wrong, "--users", file, "--count", "20")
		if code == 0 || out != "" || !strings.Contains(errOut, "the service account "+svcDN+" cannot bind") ||
			!strings.Contains(errOut, "invalidCredentials (49)") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}

// Over ldaps:// the server's certificate is checked, so a self-signed one
// is refused before any password is sent, unless --insecure.
func TestLoadTool_LDAPS(t *testing.T) {
	s := newTLSSetup(t)
	w := startTLSWicket(t, s, "")
	file := loadUsersFile(t, loadUsers(w, 2))
	url := ldapsURL(t, w)
	for _, mode := range []string{"bind", "connect-bind"} {
		rep := loadRunJSON(t, "-H", url, "--insecure", "--users", file, "--mode", mode, "--count", "40", "--concurrency", "2")
		checkLoadReport(t, rep, 40, 0)
	}
	out, errOut, code := loadRun(t, "-H", url, "--users", file, "--count", "40", "--json")
	if code == 0 || out != "" || !strings.Contains(errOut, "cannot connect to "+url) || !strings.Contains(errOut, "certificate") {
		t.Errorf("an untrusted certificate: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// The CPU that `wicket bench` itself spends per operation, against the real
// server, beside the server's own: on a machine both share, the tool must
// cost the server little. The tool's is its process's rusage, start-up
// included; the server's is read from /proc. ns/op is the whole run's.
func BenchmarkLoadTool_CPU(b *testing.B) {
	w := startWicket(b, "")
	users := loadUsers(w, 4)
	var list strings.Builder
	for _, u := range users {
		fmt.Fprintf(&list, "%s\t%s\n", u.Name, u.Password)
	}
	file := filepath.Join(b.TempDir(), "users.txt")
	if err := os.WriteFile(file, []byte(list.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	const svcPassword = "a-long-random-service-secret"
	w.admin(svcPassword+"\n", "user", "add", "postfix", "--role", "service", "--password-stdin")
	for _, mode := range []string{"bind", "bind-search", "connect-bind", "lookup"} {
		b.Run(mode, func(b *testing.B) {
			args := []string{"bench", "-H", w.url(), "--users", file, "--mode", mode,
				"--count", fmt.Sprint(b.N), "--concurrency", "2", "--json", "--quiet"}
			if mode == "lookup" {
				args = append(args, "-D", "uid=postfix,ou=people,dc=example,dc=org", "-w", svcPassword)
			}
			cmd := exec.Command(*wicketBin, args...)
			server := processCPU(b, w.cmd.Process.Pid)
			b.ResetTimer()
			out, err := cmd.Output()
			b.StopTimer()
			var rep loadReport
			if err != nil || json.Unmarshal(out, &rep) != nil || rep.Failed != 0 {
				b.Fatalf("wicket bench: %v\n%s", err, out)
			}
			tool := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			b.ReportMetric(float64(tool)/float64(b.N), "tool-cpu-ns/op")
			b.ReportMetric(float64(processCPU(b, w.cmd.Process.Pid)-server)/float64(b.N), "server-cpu-ns/op")
		})
	}
}

// processCPU is the CPU a process has used, user and system, from
// /proc/PID/stat in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func processCPU(b *testing.B, pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is the first, utime the 12th, stime the 13th.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var utime, stime int64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		b.Fatal(err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
