package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/config"
)

// cheapArgon2 keeps every password hash in these tests to about a millisecond.
const cheapArgon2 = "[argon2]\nmemory_kib = 1024\ntime = 1\n"

// cli runs wicket in-process against its own database, as an administrator
// would from a shell.
type cli struct {
	t      *testing.T
	config string
	db     string
}

func newCLI(t *testing.T, extraConfig string) *cli {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wicket.toml")
	if err := os.WriteFile(cfg, []byte(cheapArgon2+extraConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, config: cfg, db: filepath.Join(dir, "wicket.db")}
	// As an administrator's first step: no other command creates the files.
	c.ok("", "init")
	return c
}

type outcome struct {
	stdout, stderr string
	code           int
}

func (c *cli) exec(stdin io.Reader, args ...string) outcome {
	c.t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	full := append([]string{"--config", c.config, "--db", c.db}, args...)
	code := run(context.Background(), full, stdin, &out, &errOut)
	return outcome{out.String(), errOut.String(), code}
}

// ok runs a command that must succeed and returns its standard output.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	o := c.exec(strings.NewReader(stdin), args...)
	if o.code != 0 {
		c.t.Fatalf("wicket %s: exit %d, stderr: %s", strings.Join(args, " "), o.code, o.stderr)
	}
	return o.stdout
}

// fail runs a command that must fail and returns what it printed on stderr.
// A failure prints nothing on stdout, where a script would take it for data.
func (c *cli) fail(stdin string, args ...string) string {
	c.t.Helper()
	o := c.exec(strings.NewReader(stdin), args...)
	if o.code == 0 {
		c.t.Fatalf("wicket %s: succeeded, want a failure; stdout: %s", strings.Join(args, " "), o.stdout)
	}
	if o.stdout != "" {
		c.t.Errorf("wicket %s: failed but printed on stdout: %q", strings.Join(args, " "), o.stdout)
	}
	return o.stderr
}

func (c *cli) addUser(name string, extra ...string) {
	c.t.Helper()
	c.ok("correct horse battery\n", append([]string{"user", "add", name, "--password-stdin"}, extra...)...)
}

func (c *cli) users() []backend.UserInfo {
	c.t.Helper()
	var us []backend.UserInfo
	decode(c.t, c.ok("", "user", "list", "--json"), &us)
	return us
}

// service opens the database directly, to check what the CLI stored by
// authenticating as a client would.
func (c *cli) service() *env {
	c.t.Helper()
	cfg, err := config.Load(c.config)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.Database = c.db
	e, err := openEnv(cfg, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return e
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, s)
	}
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: want %q in:\n%s", what, w, got)
		}
	}
}

var appPasswordRE = regexp.MustCompile(`\b[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}\b`)

func TestUserAddListShow(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	out := c.ok("correct horse battery\n", "user", "add", "Alice", "--mail", "alice@example.org", "--password-stdin")
	contains(t, "user add", out, "created account alice", "role user")
	c.addUser("svc-dovecot", "--role", "service")

	out = c.ok("", "user", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("user list: want a header and 2 rows, got:\n%s", out)
	}
	contains(t, "user list header", lines[0], "NAME", "ROLE", "MAIL")
	contains(t, "user list", lines[1], "alice", "user", "alice@example.org", "enabled")
	contains(t, "user list", lines[2], "svc-dovecot", "service")
	// Aligned columns: the role starts at the same place on every line.
	if col := strings.Index(lines[0], "ROLE"); strings.Index(lines[1], "user") != col || strings.Index(lines[2], "service") != col {
		t.Errorf("user list columns are not aligned:\n%s", out)
	}

	us := c.users()
	if len(us) != 2 || us[0].Name != "alice" || us[0].Mail != "alice@example.org" || us[1].Role != backend.RoleService {
		t.Errorf("user list --json = %+v", us)
	}

	out = c.ok("", "user", "show", "alice")
	contains(t, "user show", out, "name:", "alice", "mail:", "alice@example.org", "role:", "two-factor:", "not enrolled",
		"app passwords:", "0 active")
	var u backend.UserInfo
	decode(t, c.ok("", "--json", "user", "show", "ALICE"), &u)
	if u.Name != "alice" || !u.HasPassword || u.TOTPEnrolled || u.Disabled || u.CreatedAt.IsZero() {
		t.Errorf("user show --json = %+v", u)
	}

	contains(t, "user show of an unknown account", c.fail("", "user", "show", "nobody"), "no such account: nobody")
	if o := c.exec(nil, "user", "show"); o.code == 0 || !strings.Contains(o.stderr, "usage: wicket user show NAME") {
		t.Errorf("user show without a name: exit %d, stderr %q", o.code, o.stderr)
	}
}

func TestUserAddRefused(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice", "--mail", "alice@example.org")

	contains(t, "duplicate name", c.fail("another password\n", "user", "add", "alice", "--password-stdin"),
		"account alice already exists")
	contains(t, "duplicate name, other case", c.fail("another password\n", "user", "add", "ALICE", "--password-stdin"),
		"already exists")
	contains(t, "duplicate mail",
		c.fail("another password\n", "user", "add", "bob", "--mail", "alice@example.org", "--password-stdin"),
		"alice@example.org", "already in use")
	contains(t, "bad name", c.fail("another password\n", "user", "add", "bad name", "--password-stdin"),
		`account name "bad name"`, "a-z, 0-9")
	contains(t, "name with a DN's special characters", c.fail("another password\n", "user", "add", "a,ou=x", "--password-stdin"),
		"account name")
	contains(t, "bad role", c.fail("another password\n", "user", "add", "bob", "--role", "root", "--password-stdin"),
		"user, service, admin")
	contains(t, "bad mail", c.fail("another password\n", "user", "add", "bob", "--mail", "not-an-address", "--password-stdin"),
		"not a mail address")
	contains(t, "short password", c.fail("short\n", "user", "add", "bob", "--password-stdin"), "at least 8 characters")
	contains(t, "empty standard input", c.fail("", "user", "add", "bob", "--password-stdin"), "no password on standard input")

	// A pipe without --password-stdin must not be read as the password:
	// the script that forgot the flag is told so.
	msg := c.fail("another password\n", "user", "add", "bob")
	contains(t, "no --password-stdin, piped input", msg, "not a terminal", "--password-stdin")
	f, err := os.Open(c.config) // a real file, not a terminal
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o := c.exec(f, "user", "add", "bob")
	if o.code == 0 || !strings.Contains(o.stderr, "--password-stdin") {
		t.Errorf("no --password-stdin, file on stdin: exit %d, stderr %q", o.code, o.stderr)
	}

	if us := c.users(); len(us) != 1 {
		t.Errorf("refused additions created accounts: %+v", us)
	}
}

// fakeTerminal answers password prompts with the given lines, as a user
// typing at a terminal would.
func fakeTerminal(t *testing.T, answers ...string) {
	t.Helper()
	old := terminalFor
	t.Cleanup(func() { terminalFor = old })
	terminalFor = func(io.Reader) hiddenReader {
		return func(w io.Writer, prompt string) (string, error) {
			fmt.Fprint(w, prompt)
			defer fmt.Fprintln(w)
			if len(answers) == 0 {
				return "", errors.New("no more input")
			}
			a := answers[0]
			answers = answers[1:]
			return a, nil
		}
	}
}

// Not parallel: it replaces the package's terminal reader.
func TestPasswordPrompt(t *testing.T) {
	c := newCLI(t, "")

	fakeTerminal(t, "first password", "second password")
	o := c.exec(nil, "user", "add", "alice")
	if o.code == 0 || !strings.Contains(o.stderr, "do not match") {
		t.Errorf("mismatched passwords: exit %d, stderr %q", o.code, o.stderr)
	}
	if us := c.users(); len(us) != 0 {
		t.Errorf("mismatched passwords created an account: %+v", us)
	}

	fakeTerminal(t, "short")
	o = c.exec(nil, "user", "add", "alice")
	if o.code == 0 || !strings.Contains(o.stderr, "at least 8") || strings.Contains(o.stderr, "Repeat") {
		t.Errorf("short password should be refused before the second prompt: exit %d, stderr %q", o.code, o.stderr)
	}

	fakeTerminal(t, "same password", "same password")
	o = c.exec(nil, "user", "add", "alice")
	if o.code != 0 {
		t.Fatalf("matching passwords: exit %d, stderr %q", o.code, o.stderr)
	}
	contains(t, "prompts go to stderr", o.stderr, "New password for alice:", "Repeat the password:")
	if strings.Contains(o.stdout, "password") {
		t.Errorf("prompts leaked onto stdout: %q", o.stdout)
	}

	fakeTerminal(t, "new password", "new passw0rd")
	o = c.exec(nil, "user", "passwd", "alice")
	if o.code == 0 || !strings.Contains(o.stderr, "do not match") {
		t.Errorf("passwd with mismatched passwords: exit %d, stderr %q", o.code, o.stderr)
	}
	fakeTerminal(t, "new password", "new password")
	contains(t, "passwd at a terminal", c.ok("", "user", "passwd", "alice"), "password changed for alice")

	// --password-stdin at a terminal is asked for the same way, twice.
	fakeTerminal(t, "typed password", "typed password")
	o = c.exec(nil, "user", "add", "bob", "--password-stdin")
	if o.code != 0 {
		t.Fatalf("--password-stdin at a terminal: exit %d, stderr %q", o.code, o.stderr)
	}
	contains(t, "--password-stdin at a terminal", o.stderr, "New password for bob:", "Repeat the password:")
	fakeTerminal(t, "typed password", "typed passw0rd")
	o = c.exec(nil, "user", "passwd", "bob", "--password-stdin")
	if o.code == 0 || !strings.Contains(o.stderr, "do not match") {
		t.Errorf("--password-stdin at a terminal, mismatched: exit %d, stderr %q", o.code, o.stderr)
	}
}

func TestPasswdRevokesAppPasswords(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	for _, l := range []string{"Thunderbird", "iPhone", "CalDAV"} {
		c.ok("", "apppw", "create", "alice", "--label", l)
	}

	out := c.ok("a new password\r\n", "user", "passwd", "alice", "--password-stdin")
	contains(t, "user passwd", out, "password changed for alice", "3 app passwords revoked")
	contains(t, "apppw list after passwd", c.ok("", "apppw", "list", "alice"), "no active app passwords")

	var res struct {
		Name    string `json:"name"`
		Revoked *int   `json:"revoked_app_passwords"`
	}
	decode(t, c.ok("yet another one\n", "--json", "user", "passwd", "alice", "--password-stdin"), &res)
	if res.Name != "alice" || res.Revoked == nil || *res.Revoked != 0 {
		t.Errorf("user passwd --json = %+v", res)
	}

	contains(t, "passwd of an unknown account", c.fail("a new password\n", "user", "passwd", "ghost", "--password-stdin"),
		"no such account: ghost")
	contains(t, "short password", c.fail("short\n", "user", "passwd", "alice", "--password-stdin"), "at least 8")
}

// The password set is exactly the first line: no \r\n, nothing after it.
func TestPasswordStdinFirstLine(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "[auth]\nrequire_second_factor = false\n")
	c.ok("  spaced password \r\nsecond line\n", "user", "add", "alice", "--password-stdin")
	c.ok("no newline at all", "user", "add", "bob", "--password-stdin")

	e := c.service()
	defer e.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"alice", "  spaced password ", true},
		{"alice", "  spaced password \r", false},
		{"alice", "spaced password", false},
		{"bob", "no newline at all", true},
	} {
		_, err := e.svc.Authenticate(ctx, tc.name, tc.password, "192.0.2.1")
		if (err == nil) != tc.ok {
			t.Errorf("bind %s with %q: err %v, want success %v", tc.name, tc.password, err, tc.ok)
		}
	}
}

func TestAppPasswordNeedsTOTP(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	msg := c.fail("", "apppw", "create", "alice", "--label", "Thunderbird")
	contains(t, "apppw create before totp enroll", msg, "two-factor", "wicket totp enroll alice")
	contains(t, "apppw create for an unknown account", c.fail("", "apppw", "create", "ghost", "--label", "x"),
		"no such account: ghost")
	contains(t, "apppw create without a label", c.fail("", "apppw", "create", "alice"), "label")
}

func TestAppPasswordCreateAndUse(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")

	out := c.ok("", "apppw", "create", "alice", "--label", "Thunderbird on laptop")
	pw := appPasswordRE.FindString(out)
	if pw == "" {
		t.Fatalf("apppw create shows no xxxx-xxxx-xxxx-xxxx password:\n%s", out)
	}
	contains(t, "apppw create", out, "Thunderbird on laptop", "id:", "not be shown again")

	var created struct {
		ID       string    `json:"id"`
		Label    string    `json:"label"`
		Password string    `json:"password"`
		Created  time.Time `json:"created"`
	}
	decode(t, c.ok("", "--json", "apppw", "create", "alice", "--label", "iPhone"), &created)
	if created.ID == "" || created.Label != "iPhone" || !appPasswordRE.MatchString(created.Password) || created.Created.IsZero() {
		t.Errorf("apppw create --json = %+v", created)
	}

	// What was printed is what a mail client can bind with.
	e := c.service()
	p, err := e.svc.Authenticate(context.Background(), "alice", pw, "192.0.2.7")
	if err != nil || p.Method != backend.MethodAppPassword {
		t.Fatalf("bind with the printed app password: %v, %+v", err, p)
	}
	e.Close()

	out = c.ok("", "apppw", "list", "alice")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("apppw list: want a header and 2 rows, got:\n%s", out)
	}
	contains(t, "apppw list header", lines[0], "ID", "LABEL", "CREATED", "LAST USED", "FROM")
	contains(t, "apppw list, used", lines[1], "Thunderbird on laptop", "192.0.2.7")
	contains(t, "apppw list, unused", lines[2], created.ID, "iPhone", "never")
	if strings.Contains(out, pw) || strings.Contains(out, created.Password) {
		t.Errorf("apppw list shows a secret:\n%s", out)
	}

	var list []struct {
		ID           string     `json:"id"`
		Label        string     `json:"label"`
		Created      time.Time  `json:"created"`
		LastUsed     *time.Time `json:"last_used"`
		LastUsedFrom string     `json:"last_used_from"`
	}
	decode(t, c.ok("", "--json", "apppw", "list", "alice"), &list)
	if len(list) != 2 || list[0].LastUsed == nil || list[0].LastUsedFrom != "192.0.2.7" ||
		list[1].ID != created.ID || list[1].LastUsed != nil || list[1].Created.IsZero() {
		t.Errorf("apppw list --json = %+v", list)
	}
	var raw []map[string]any
	decode(t, c.ok("", "--json", "apppw", "list", "alice"), &raw)
	for _, k := range []string{"id", "label", "created", "last_used", "last_used_from"} {
		if _, ok := raw[1][k]; !ok {
			t.Errorf("apppw list --json: key %q missing in %v", k, raw[1])
		}
	}
}

func TestAppPasswordLimit(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	var first string
	for i := 1; i <= backend.DefaultMaxAppPasswords; i++ {
		var ap struct{ ID string }
		decode(t, c.ok("", "--json", "apppw", "create", "alice", "--label", fmt.Sprintf("client %d", i)), &ap)
		if i == 1 {
			first = ap.ID
		}
	}
	msg := c.fail("", "apppw", "create", "alice", "--label", "client 26")
	contains(t, "26th app password", msg, "25 active app passwords", "revoke one first")

	c.ok("", "apppw", "revoke", "alice", first)
	c.ok("", "apppw", "create", "alice", "--label", "client 26")
	var list []any
	decode(t, c.ok("", "--json", "apppw", "list", "alice"), &list)
	if len(list) != backend.DefaultMaxAppPasswords {
		t.Errorf("%d active app passwords, want %d", len(list), backend.DefaultMaxAppPasswords)
	}
}

func TestAppPasswordRevoke(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	var ids []string
	for _, l := range []string{"Thunderbird", "iPhone", "CalDAV"} {
		var ap struct{ ID string }
		decode(t, c.ok("", "--json", "apppw", "create", "alice", "--label", l), &ap)
		ids = append(ids, ap.ID)
	}

	contains(t, "revoke by id", c.ok("", "apppw", "revoke", "alice", ids[0]), "revoked app password "+ids[0], "Thunderbird")
	contains(t, "revoke a revoked id", c.fail("", "apppw", "revoke", "alice", ids[0]),
		"alice has no active app password with id "+ids[0])
	contains(t, "revoke an unknown account's", c.fail("", "apppw", "revoke", "ghost", ids[1]), "no such account: ghost")

	var one struct {
		Name, ID, Label string
		Revoked         int
	}
	// Ids are typed by people: case does not matter.
	decode(t, c.ok("", "--json", "apppw", "revoke", "alice", strings.ToUpper(ids[1])), &one)
	if one.Name != "alice" || one.ID != ids[1] || one.Label != "iPhone" || one.Revoked != 1 {
		t.Errorf("apppw revoke --json = %+v", one)
	}

	contains(t, "neither id nor --all", c.fail("", "apppw", "revoke", "alice"), "ID", "--all")
	contains(t, "both id and --all", c.fail("", "apppw", "revoke", "alice", ids[2], "--all"), "not both")

	c.ok("", "apppw", "create", "alice", "--label", "Postfix relay")
	contains(t, "revoke --all", c.ok("", "apppw", "revoke", "alice", "--all"), "revoked 2 app passwords of alice")
	var all struct {
		Name    string
		Revoked *int
	}
	decode(t, c.ok("", "--json", "apppw", "revoke", "alice", "--all"), &all)
	if all.Name != "alice" || all.Revoked == nil || *all.Revoked != 0 {
		t.Errorf("apppw revoke --all --json = %+v", all)
	}
	contains(t, "apppw list after revoke --all", c.ok("", "apppw", "list", "alice"), "no active app passwords")
}

// An existing seed is given by where it is, never on the command line
// (which any user of the host can read in the process list): a file, or
// standard input with "-". --secret still works, and says what it exposes.
func TestTOTPEnroll_SecretFromAFileOrStandardInput(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"a file", "", []string{"--secret-file", remoteSecretFile(t, secret+"\n")}},
		{"a file without a newline", "", []string{"--secret-file", remoteSecretFile(t, secret)}},
		{"a file with CRLF, lower case and spaces", "", []string{"--secret-file", remoteSecretFile(t, "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp\r\nignored\n")}},
		{"standard input", secret + "\n", []string{"--secret-file", "-"}},
		{"standard input without a newline", secret, []string{"--secret-file", "-"}},
		{"--secret, still accepted", "", []string{"--secret", secret}},
	} {
		var enr struct{ Secret string }
		decode(t, c.ok(tc.stdin, append([]string{"--json", "totp", "enroll", "alice"}, tc.args...)...), &enr)
		if enr.Secret != secret {
			t.Errorf("%s: enrolled secret %q, want %q", tc.name, enr.Secret, secret)
		}
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"an empty file", "", []string{"--secret-file", remoteSecretFile(t, "\n"+secret)}, "the first line is empty; it should hold the TOTP secret"},
		{"a missing file", "", []string{"--secret-file", filepath.Join(t.TempDir(), "missing")}, "reading the TOTP secret"},
		{"nothing on standard input", "", []string{"--secret-file", "-"}, "standard input: the first line is empty"},
		{"both forms", "", []string{"--secret", secret, "--secret-file", "-"}, "[secret secret-file] were all set"},
	} {
		contains(t, tc.name, c.fail(tc.stdin, append([]string{"totp", "enroll", "alice"}, tc.args...)...), tc.want)
	}
	contains(t, "totp enroll --help", c.ok("", "totp", "enroll", "--help"),
		"--secret-file", "exposes it in the process list; prefer --secret-file")
}

func TestTOTP(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice", "--mail", "alice@example.org")

	out := c.ok("", "totp", "enroll", "alice")
	contains(t, "totp enroll", out, "otpauth://totp/", "secret:", "█")
	if strings.Contains(out, "replaces") {
		t.Errorf("first enrolment claims to replace a seed:\n%s", out)
	}

	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	out = c.ok("", "totp", "enroll", "alice", "--secret-file", remoteSecretFile(t, "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp\n"))
	contains(t, "totp re-enroll", out, "replaces the previous seed", "secret:  "+secret, "secret="+secret)

	var enr struct{ Name, Secret, URI string }
	o := c.exec(nil, "--json", "totp", "enroll", "alice")
	decode(t, o.stdout, &enr)
	if enr.Name != "alice" || len(enr.Secret) != 32 || !strings.HasPrefix(enr.URI, "otpauth://totp/") ||
		!strings.Contains(enr.URI, "secret="+enr.Secret) {
		t.Errorf("totp enroll --json = %+v", enr)
	}
	if strings.Contains(o.stdout, "█") {
		t.Errorf("totp enroll --json prints a QR code")
	}

	contains(t, "short secret", c.fail("JBSWY3DPEHPK3PX\n", "totp", "enroll", "alice", "--secret-file", "-"),
		"15 base32 characters (75 bits)", "at least 16 (80 bits)")
	if o := c.exec(strings.NewReader(secret+"\n"), "totp", "enroll", "alice", "--secret-file", "-"); o.code != 0 || o.stderr != "" {
		t.Errorf("a 160-bit secret: exit %d, stderr %q; want no warning", o.code, o.stderr)
	}
	contains(t, "not base32", c.fail("", "totp", "enroll", "alice", "--secret-file", remoteSecretFile(t, "not base32 at all 0189!")), "base32")
	contains(t, "unknown account", c.fail("", "totp", "enroll", "ghost"), "no such account: ghost")

	c.ok("", "apppw", "create", "alice", "--label", "a")
	c.ok("", "apppw", "create", "alice", "--label", "b")
	contains(t, "totp remove", c.ok("", "totp", "remove", "alice"), "removed TOTP from alice", "2 app passwords revoked")
	var u backend.UserInfo
	decode(t, c.ok("", "--json", "user", "show", "alice"), &u)
	if u.TOTPEnrolled || u.ActiveAppPasswords != 0 {
		t.Errorf("after totp remove: %+v", u)
	}
	var rm struct {
		Revoked *int `json:"revoked_app_passwords"`
	}
	decode(t, c.ok("", "--json", "totp", "remove", "alice"), &rm)
	if rm.Revoked == nil || *rm.Revoked != 0 {
		t.Errorf("totp remove --json = %+v", rm)
	}
}

func TestUserDisableRoleDelete(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")

	contains(t, "disable", c.ok("", "user", "disable", "alice"), "disabled alice")
	contains(t, "disable twice", c.ok("", "user", "disable", "alice"), "already disabled")
	contains(t, "list shows disabled", c.ok("", "user", "list"), "disabled")
	contains(t, "enable", c.ok("", "user", "enable", "alice"), "enabled alice")

	contains(t, "role", c.ok("", "user", "role", "alice", "admin"), "from user to admin")
	contains(t, "bad role", c.fail("", "user", "role", "alice", "root"), "user, service or admin")
	var u backend.UserInfo
	decode(t, c.ok("", "--json", "user", "show", "alice"), &u)
	if u.Role != backend.RoleAdmin || u.Disabled {
		t.Errorf("after role and enable: %+v", u)
	}

	c.ok("", "totp", "enroll", "alice")
	c.ok("", "apppw", "create", "alice", "--label", "a")
	contains(t, "delete", c.ok("", "user", "delete", "alice"), "deleted account alice", "1 active app password")
	contains(t, "show after delete", c.fail("", "user", "show", "alice"), "no such account: alice")
	contains(t, "delete twice", c.fail("", "user", "delete", "alice"), "no such account: alice")
}

func TestUnknownAccount(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice") // so the database exists and is not empty
	for _, args := range [][]string{
		{"user", "show", "ghost"},
		{"user", "passwd", "ghost", "--password-stdin"},
		{"user", "disable", "ghost"},
		{"user", "enable", "ghost"},
		{"user", "delete", "ghost"},
		{"user", "role", "ghost", "admin"},
		{"totp", "enroll", "ghost"},
		{"totp", "remove", "ghost"},
		{"apppw", "create", "ghost", "--label", "x"},
		{"apppw", "list", "ghost"},
		{"apppw", "revoke", "ghost", "0123456789"},
		{"apppw", "revoke", "ghost", "--all"},
	} {
		msg := c.fail("some password\n", args...)
		if strings.TrimSpace(msg) != "wicket: no such account: ghost" {
			t.Errorf("wicket %s: stderr %q, want only the unknown account named", strings.Join(args, " "), msg)
		}
	}
}

// The argon2id parameters of the config file are the ones the stored hash
// carries, so an administrator's [argon2] section takes effect.
func TestArgon2ParametersFromConfigFile(t *testing.T) {
	for _, p := range []struct{ cfg, want string }{
		{"", "$argon2id$v=19$m=1024,t=1,p=1$"},
		{"threads = 2\n", "$argon2id$v=19$m=1024,t=1,p=2$"},
	} {
		c := newCLI(t, p.cfg)
		c.addUser("alice")
		e := c.service()
		a, err := e.store.AccountByName(context.Background(), "alice")
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(a.PasswordHash, p.want) {
			t.Errorf("config %q: stored hash %q, want prefix %q", p.cfg, a.PasswordHash, p.want)
		}
	}
}
