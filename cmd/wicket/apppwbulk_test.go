package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/internal/loadgen"
)

// bulkUsers reads a file create-bulk wrote as 'wicket bench --users' does,
// checks its mode, and returns the passwords by account name.
func bulkUsers(t *testing.T, path string) map[string]string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	users, err := loadgen.ReadUsers(path)
	if err != nil {
		t.Fatalf("wicket bench would not read %s: %v", path, err)
	}
	out := map[string]string{}
	for _, u := range users {
		dn, err := ldap.ParseDN(u.Name)
		if err != nil || len(dn.RDNs) != 4 || !strings.HasSuffix(u.Name, ",ou=people,dc=example,dc=org") ||
			dn.RDNs[0].Attributes[0].Type != "uid" {
			t.Fatalf("%s: bind name %q, want uid=NAME,ou=people,dc=example,dc=org", path, u.Name)
		}
		out[dn.RDNs[0].Attributes[0].Value] = u.Password
	}
	return out
}

// bulkRecords lists the audit trail's app-password and TOTP records as
// "subject action result", oldest first.
func (c *cli) bulkRecords() []string {
	c.t.Helper()
	e := c.service()
	defer e.Close()
	recs, err := e.svc.AuditRecords(context.Background(), backend.AuditFilter{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Action == backend.ActionAppPasswordCreate || r.Action == backend.ActionTOTPEnroll {
			out = append(out, r.Subject+" "+r.Action+" "+r.Result)
			if strings.Contains(r.Detail, "-") && appPasswordRE.MatchString(r.Detail) {
				c.t.Errorf("record %+v holds an app password", r)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestAppPWCreateBulk_WritesAUsersFileWhosePasswordsBind(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	for _, name := range []string{"alice", "bob"} {
		c.addUser(name)
	}
	c.addUser("carol", "--role", "service")
	c.ok("", "totp", "enroll", "alice")
	dir := t.TempDir()
	out, totpOut := filepath.Join(dir, "users.tsv"), filepath.Join(dir, "totp.tsv")

	o := c.exec(strings.NewReader("alice\n# a comment\n\nBob\ncarol\n"), "apppw", "create-bulk", "--label", "migration",
		"--enroll-totp", "--names", "-", "--out", out, "--totp-out", totpOut)
	if o.code == 0 {
		t.Error("create-bulk with a service account named: exit 0, want non-zero")
	}
	contains(t, "create-bulk summary", o.stderr, `created 2 app passwords labelled "migration", written to `+out,
		"enrolled TOTP for 1 account, written to "+totpOut, "refused 1 account:", "1 service account", "carol",
		"1 account of 3 refused")
	if o.stdout != "" {
		t.Errorf("create-bulk printed on stdout: %q", o.stdout)
	}

	pws := bulkUsers(t, out)
	if len(pws) != 2 || pws["alice"] == "" || pws["bob"] == "" {
		t.Fatalf("users file holds %v, want alice and bob", pws)
	}
	e := c.service()
	ctx := context.Background()
	for name, pw := range pws {
		p, err := e.svc.Authenticate(ctx, name, pw, "192.0.2.7")
		if err != nil || p.Method != backend.MethodAppPassword || p.Name != name {
			t.Errorf("%s: bind with the app password written: %+v, %v", name, p, err)
		}
	}

	// bob's seed is in the TOTP file, and nowhere else.
	raw, err := os.ReadFile(totpOut)
	if err != nil {
		t.Fatal(err)
	}
	name, uri, ok := strings.Cut(strings.TrimSpace(string(raw)), "\t")
	if !ok || name != "bob" || strings.Contains(string(raw), "alice") {
		t.Fatalf("TOTP file: %q, want bob's line alone", raw)
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" {
		t.Fatalf("TOTP file: %q is no otpauth URI", uri)
	}
	now := time.Now()
	code, err := totp.GenerateCodeCustom(u.Query().Get("secret"), now,
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, "bob", "correct horse battery"+code, "192.0.2.7"); err != nil {
		t.Errorf("bob: bind with password and a code of the seed written: %v", err)
	}
	e.Close()

	if got, want := c.bulkRecords(), []string{
		"alice apppw-create success", "alice totp-enroll success", // enrolled by hand before
		"bob apppw-create success", "bob totp-enroll success", "carol apppw-create service-account",
	}; !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
}

// Without names, every enabled account of role user with TOTP gets one;
// with --json, the summary is for a script.
func TestAppPWCreateBulk_EveryUserWithTOTP(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	for _, name := range []string{"alice", "bob", "erin"} {
		c.addUser(name)
	}
	c.addUser("dave", "--role", "admin")
	c.ok("", "totp", "enroll", "alice")
	c.ok("", "totp", "enroll", "erin")
	c.ok("", "totp", "enroll", "dave")
	c.ok("", "user", "disable", "erin")
	out := filepath.Join(t.TempDir(), "users.tsv")

	var sum struct {
		Created  int            `json:"created"`
		Enrolled int            `json:"totp_enrolled"`
		LeftOut  map[string]int `json:"left_out"`
		Refused  []any          `json:"refused"`
	}
	decode(t, c.ok("", "--json", "apppw", "create-bulk", "--label", "bench", "--out", out), &sum)
	if sum.Created != 1 || sum.Enrolled != 0 || len(sum.Refused) != 0 ||
		sum.LeftOut["admin"] != 1 || sum.LeftOut["disabled"] != 1 || sum.LeftOut["without_totp"] != 1 {
		t.Errorf("summary %+v", sum)
	}
	if pws := bulkUsers(t, out); len(pws) != 1 || pws["alice"] == "" {
		t.Errorf("users file holds %v, want alice alone", pws)
	}

	o := c.exec(nil, "apppw", "create-bulk", "--label", "bench", "--out", filepath.Join(t.TempDir(), "again.tsv"), "--enroll-totp")
	contains(t, "create-bulk --enroll-totp", o.stderr, "created 2 app passwords", "enrolled TOTP for 1 account;",
		"without --totp-out", "left out: 1 administrator, 1 disabled account")
}

// An existing file is never overwritten, and nothing is created then; nor
// when the names or the label are bad.
func TestAppPWCreateBulk_RefusedBeforeAnyChange(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	dir := t.TempDir()
	existing := filepath.Join(dir, "users.tsv")
	if err := os.WriteFile(existing, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.tsv")
	if err := os.Symlink(filepath.Join(dir, "elsewhere.tsv"), link); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.tsv")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"existing --out", "", []string{"--label", "bench", "--out", existing},
			[]string{"--out: " + existing + " exists", "new file"}},
		{"link for --out", "", []string{"--label", "bench", "--out", link}, []string{link + " exists"}},
		{"existing --totp-out", "", []string{"--label", "bench", "--out", fresh, "--totp-out", existing},
			[]string{"--totp-out: " + existing + " exists"}},
		{"same file twice", "", []string{"--label", "bench", "--out", fresh, "--totp-out", fresh}, []string{"two files"}},
		{"bad names", "alice\nBad Name\n\nALICE\n", []string{"--label", "bench", "--names", "-", "--out", fresh},
			[]string{"nothing created, 2 lines need fixing", "line 2:", "line 4: alice appears again (first on line 1)"}},
		{"no names", "\n# nobody\n", []string{"--label", "bench", "--names", "-", "--out", fresh}, []string{"no account names"}},
		{"bad label", "", []string{"--label", "bench\u202e", "--out", fresh}, []string{"label"}},
		{"no --out", "", []string{"--label", "bench"}, []string{"out"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := c.fail(tc.stdin, append([]string{"apppw", "create-bulk"}, tc.args...)...)
			contains(t, tc.name, msg, tc.want...)
		})
	}
	if b, err := os.ReadFile(existing); err != nil || string(b) != "keep me\n" {
		t.Errorf("existing file now %q (%v)", b, err)
	}
	for _, p := range []string{fresh, filepath.Join(dir, "elsewhere.tsv")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind by a refused run (%v)", p, err)
		}
	}
	if got, want := c.bulkRecords(), []string{"alice totp-enroll success"}; !slices.Equal(got, want) {
		t.Errorf("records %q, want %q: nothing of the refused runs", got, want)
	}
}
