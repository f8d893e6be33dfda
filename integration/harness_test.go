// Package integration starts the real wicket binary on loopback and drives
// it with real clients: OpenLDAP's ldap-utils, oathtool and go-ldap.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wicketldap/wicket/internal/testutil"
)

var (
	wicketBin = flag.String("wicket", "", "wicket binary to test (default: built from ../cmd/wicket)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if *wicketBin == "" {
		dir, err := os.MkdirTemp("", "wicket-integration-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		*wicketBin = filepath.Join(dir, "wicket")
		build := exec.Command("go", "build", "-o", *wicketBin, "../cmd/wicket")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building wicket:", err)
			os.Exit(1)
		}
		code := m.Run()
		stopBrowser()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	code := m.Run()
	stopBrowser()
	os.Exit(code)
}

// requireTool finds a real client program. Under CI a missing tool is a
// failure, not a skip: a green run must never hide an install step.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (run scripts/install-test-deps.sh)", name)
		}
		t.Skipf("%s is not installed (run scripts/install-test-deps.sh)", name)
	}
	return p
}

// wicket is one running server process with its own directory.
type wicket struct {
	t    testing.TB
	dir  string
	cfg  string
	addr string // host:port
	// httpURL is the [http] listener's, http://host:port, when it has one.
	httpURL string
	cmd     *exec.Cmd
	logs    *testutil.SyncBuffer
	done    chan error
	// stopped: the process has been stopped or killed (and waited for).
	stopped bool
	// bin is the binary to run, when not *wicketBin.
	bin string
	// serveArgs are flags of serve for the next start.
	serveArgs []string
}

// testConfig keeps argon2id cheap so the suite stays fast; the parameters
// still come from the file, which is what a test of the wiring needs.
const testConfig = `
listen   = "127.0.0.1:0"
database = %q
base_dn  = "dc=example,dc=org"

[log]
level  = "debug"
format = "json"

[argon2]
memory_kib = 8192
time       = 1
threads    = 1
%s
`

// startWicket writes a config into a temporary directory and runs
// `wicket serve`, returning once the server logs the address it listens on.
func startWicket(t testing.TB, extra string) *wicket {
	t.Helper()
	return startWicketConfig(t, testConfig, extra)
}

// startWicketConfig is startWicket with another config template: a %q for
// the database path, then a %s for the extra settings.
func startWicketConfig(t testing.TB, template, extra string) *wicket {
	t.Helper()
	dir := t.TempDir()
	w := &wicket{t: t, dir: dir, cfg: filepath.Join(dir, "wicket.toml"), logs: &testutil.SyncBuffer{}}
	if err := os.WriteFile(w.cfg, fmt.Appendf(nil, template, filepath.Join(dir, "wicket.db"), extra), 0o600); err != nil {
		t.Fatal(err)
	}
	w.start()
	t.Cleanup(func() { w.stop() })
	return w
}

// start runs the server on the directory's config: again after a stop or
// a kill, on the same database, on a new port.
func (w *wicket) start() {
	t := w.t
	t.Helper()
	w.done = make(chan error, 1)
	w.stopped = false
	bin := *wicketBin
	if w.bin != "" {
		bin = w.bin
	}
	w.cmd = exec.Command(bin, append([]string{"serve", "--config", w.cfg}, w.serveArgs...)...)
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type listening struct{ addr, http string }
	addrc := make(chan listening, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			w.logs.Write([]byte(line + "\n"))
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
				HTTP string `json:"http_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addrc <- listening{strings.TrimPrefix(rec.Addr, "ldap://"), rec.HTTP}
			}
		}
		w.done <- w.cmd.Wait()
	}()
	select {
	case l := <-addrc:
		w.addr, w.httpURL = l.addr, l.http
	case err := <-w.done:
		t.Fatalf("wicket exited before listening: %v\n%s", err, w.logs.String())
	case <-time.After(30 * time.Second):
		w.cmd.Process.Kill()
		t.Fatalf("wicket did not start listening\n%s", w.logs.String())
	}
}

// kill ends the server with SIGKILL: no shutdown, no flush.
func (w *wicket) kill() {
	w.stopped = true
	w.cmd.Process.Kill()
	<-w.done
}

// stop sends SIGTERM and expects a clean exit.
func (w *wicket) stop() {
	if w.stopped {
		return
	}
	w.stopped = true
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.done:
		if err != nil {
			w.t.Errorf("wicket exited with %v after SIGTERM\n%s", err, w.logs.String())
		}
	case <-time.After(30 * time.Second):
		w.cmd.Process.Kill()
		w.t.Errorf("wicket did not stop within 30s of SIGTERM\n%s", w.logs.String())
	}
}

func (w *wicket) url() string { return "ldap://" + w.addr }

// run runs an administration subcommand on the server's database.
func (w *wicket) run(stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(*wicketBin, append([]string{"--config", w.cfg}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// admin runs a subcommand that must succeed.
func (w *wicket) admin(stdin string, args ...string) string {
	w.t.Helper()
	out, errOut, err := w.run(stdin, args...)
	if err != nil {
		w.t.Fatalf("wicket %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// adminJSON runs a subcommand with --json and decodes its output.
func (w *wicket) adminJSON(v any, stdin string, args ...string) {
	w.t.Helper()
	out := w.admin(stdin, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		w.t.Fatalf("wicket %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// user is an account created for one test.
type user struct {
	name, dn, mail, password, secret string
}

// newUser adds an account with a password and, unless noTOTP, TOTP enrolled
// with a seed the test knows.
func (w *wicket) newUser(name string, withTOTP bool) user {
	w.t.Helper()
	u := user{name: name, dn: "uid=" + name + ",ou=people,dc=example,dc=org", mail: name + "@example.org",
		password: "Correct-Horse-" + name}
	w.admin(u.password+"\n", "user", "add", name, "--mail", u.mail, "--password-stdin")
	if withTOTP {
		var enr struct {
			Secret string `json:"secret"`
			URI    string `json:"uri"`
		}
		w.adminJSON(&enr, "", "totp", "enroll", name)
		if !strings.HasPrefix(enr.URI, "otpauth://totp/") || enr.Secret == "" {
			w.t.Fatalf("totp enroll gave %+v", enr)
		}
		u.secret = enr.Secret
	}
	return u
}

// appPassword creates an app password and returns its id and secret.
func (w *wicket) appPassword(name, label string) (id, password string) {
	w.t.Helper()
	var ap struct {
		ID       string `json:"id"`
		Password string `json:"password"`
	}
	w.adminJSON(&ap, "", "apppw", "create", name, "--label", label)
	return ap.ID, ap.Password
}

// totpCode asks oathtool, an independent RFC 6238 implementation, for the
// code of the step that contains at.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command(requireTool(t, "oathtool"), "--totp", "-b", "-N", fmt.Sprintf("@%d", at.Unix()), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// ldapwhoami runs OpenLDAP's ldapwhoami with a simple bind and returns its
// output and exit status (the LDAP result code on a failed bind).
func ldapwhoami(t testing.TB, url, dn, password string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(t, "ldapwhoami"), "-x", "-H", url, "-D", dn, "-w", password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("ldapwhoami: %v", err)
	}
	return string(out), 0
}
