package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// remoteAccount is a test user with the TOTP steps its binds have used up.
type remoteAccount struct {
	user
	lastStep int64
}

func remoteNewAccount(w *wicket, name string) *remoteAccount {
	w.t.Helper()
	return &remoteAccount{user: w.newUser(name, true)}
}

// remoteMargin is how long a code may take to reach the server: a code for
// the step before the current one is picked only if it is still valid that
// much later.
const remoteMargin = 5 * time.Second

// code returns a one-time code the server accepts for the account's next
// password+code bind. The server takes steps T-1..T+1 and each only after
// the last one used, so the codes go up from T-1: two are always at hand,
// three unless a step boundary is close, and no test here needs more per
// account.
func (a *remoteAccount) code(t *testing.T) string {
	t.Helper()
	for {
		now := time.Now()
		lo := now.Add(remoteMargin).Unix()/30 - 1
		hi := now.Unix()/30 + 1
		if s := max(a.lastStep+1, lo); s <= hi {
			a.lastStep = s
			return totpCode(t, a.secret, time.Unix(s*30, 0))
		}
		next := time.Unix((now.Unix()/30+1)*30, 0)
		t.Logf("%s has used every code of this window; waiting %v for the next step", a.name, time.Until(next).Round(time.Second))
		time.Sleep(time.Until(next) + 100*time.Millisecond)
	}
}

// remoteFile writes a secret where `wicket remote` reads it: the first line
// of a file only its owner can read.
func remoteFile(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "secret-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content + "\n"); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// remoteSignIn is the -D and --password-file arguments for bindName and a
// bind password.
func remoteSignIn(t *testing.T, bindName, password string) []string {
	return []string{"-D", bindName, "--password-file", remoteFile(t, password)}
}

// remoteWithCode signs in as the account with its password and a fresh code.
func (a *remoteAccount) remoteWithCode(t *testing.T, bindName string) []string {
	t.Helper()
	return remoteSignIn(t, bindName, a.password+a.code(t))
}

type remoteOutcome struct {
	stdout, stderr string
	code           int
}

// remoteRun runs `wicket remote -H <the server> args...` as a user would,
// with standard input not a terminal.
func remoteRun(t *testing.T, w *wicket, args ...string) remoteOutcome {
	t.Helper()
	return wicketRun(t, append([]string{"remote", "-H", w.url()}, args...)...)
}

// wicketRun runs wicket with args, standard input not a terminal.
func wicketRun(t *testing.T, args ...string) remoteOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, *wicketBin, args...)
	cmd.Stdin = strings.NewReader("")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("wicket remote %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return remoteOutcome{o.String(), e.String(), code}
}

// remoteJSON runs a remote command that must succeed and decodes its --json
// output into v; it returns the raw output.
func remoteJSON(t *testing.T, w *wicket, v any, args ...string) string {
	t.Helper()
	o := remoteRun(t, w, append(args, "--json")...)
	if o.code != 0 {
		t.Fatalf("wicket remote %s: exit %d\n%s", strings.Join(args, " "), o.code, o.stderr)
	}
	if err := json.Unmarshal([]byte(o.stdout), v); err != nil {
		t.Fatalf("wicket remote %s --json: %v\n%s", strings.Join(args, " "), err, o.stdout)
	}
	return o.stdout
}

// remoteRefused runs a remote command that must fail saying want, with
// nothing on stdout where a script would take it for data.
func remoteRefused(t *testing.T, w *wicket, want string, args ...string) remoteOutcome {
	t.Helper()
	o := remoteRun(t, w, args...)
	if o.code == 0 || !strings.Contains(o.stderr, want) {
		t.Errorf("wicket remote %s: exit %d, stderr %q; want a failure saying %q", strings.Join(args, " "), o.code, o.stderr, want)
	}
	if o.stdout != "" {
		t.Errorf("wicket remote %s failed but printed on stdout: %q", strings.Join(args, " "), o.stdout)
	}
	return o
}

func remoteArgs(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type remoteCreated struct {
	ID       string    `json:"id"`
	Label    string    `json:"label"`
	Password string    `json:"password"`
	Created  time.Time `json:"created"`
}

func remoteBindsAs(t *testing.T, w *wicket, u user, password string, want int, what string) {
	t.Helper()
	if _, rc := goLDAPBind(t, w.url(), u.dn, password); rc != want {
		t.Errorf("%s: bind result %d, want %d", what, rc, want)
	}
}

func TestRemote_CreatedAppPasswordBindsAndIsListedWithoutSecret(t *testing.T) {
	w := startWicket(t, "")
	a := remoteNewAccount(w, "rita")

	var phone, laptop remoteCreated
	remoteJSON(t, w, &phone, remoteArgs(a.remoteWithCode(t, a.name), []string{"apppw", "create", "--label", "phone"})...)
	remoteJSON(t, w, &laptop, remoteArgs(a.remoteWithCode(t, a.mail), []string{"apppw", "create", "--label", "Thunderbird on laptop"})...)
	for _, c := range []remoteCreated{phone, laptop} {
		if c.ID == "" || len(c.Password) != 19 || strings.Count(c.Password, "-") != 3 || time.Since(c.Created) > time.Minute {
			t.Errorf("apppw create --json = %+v, want an id, a password xxxx-xxxx-xxxx-xxxx and the time now", c)
		}
		remoteBindsAs(t, w, a.user, c.Password, 0, "the created app password "+c.Label)
	}
	if phone.Label != "phone" || laptop.Label != "Thunderbird on laptop" {
		t.Errorf("labels %q, %q", phone.Label, laptop.Label)
	}

	// Listing needs no code: an app-password session may read.
	var list []map[string]any
	raw := remoteJSON(t, w, &list, remoteArgs(remoteSignIn(t, a.dn, phone.Password), []string{"apppw", "list"})...)
	if strings.Contains(raw, phone.Password) || strings.Contains(raw, laptop.Password) {
		t.Fatalf("apppw list shows a secret:\n%s", raw)
	}
	labels := map[string]any{}
	for _, e := range list {
		var keys []string
		for k := range e {
			keys = append(keys, k)
		}
		if len(keys) != 5 || e["created"] == nil || !contains(keys, "last_used") || !contains(keys, "last_used_from") {
			t.Errorf("list entry %v: want exactly id, label, created, last_used, last_used_from", e)
		}
		labels[e["id"].(string)] = e["label"]
	}
	if len(list) != 2 || labels[phone.ID] != "phone" || labels[laptop.ID] != "Thunderbird on laptop" {
		t.Errorf("apppw list --json = %s, want the two created", raw)
	}

	o := remoteRun(t, w, remoteArgs(remoteSignIn(t, a.name, laptop.Password), []string{"apppw", "list"})...)
	if o.code != 0 {
		t.Fatalf("apppw list: exit %d, %s", o.code, o.stderr)
	}
	for _, want := range []string{"ID", "LABEL", "LAST USED", phone.ID, "Thunderbird on laptop"} {
		if !strings.Contains(o.stdout, want) {
			t.Errorf("apppw list does not show %q:\n%s", want, o.stdout)
		}
	}
	if strings.Contains(o.stdout, phone.Password) || strings.Contains(o.stdout, laptop.Password) {
		t.Errorf("apppw list shows a secret:\n%s", o.stdout)
	}
}

func TestRemote_RevokedAppPasswordFailsAtNextBindOthersStillWork(t *testing.T) {
	w := startWicket(t, "")
	a := remoteNewAccount(w, "sam")
	id1, pw1 := w.appPassword("sam", "phone")
	_, pw2 := w.appPassword("sam", "laptop")

	// A connection that signed in before the revocation fails its next bind too.
	conn, err := ldap.DialURL(w.url())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetTimeout(30 * time.Second)
	if err := conn.Bind(a.dn, pw1); err != nil {
		t.Fatalf("bind before the revocation: %v", err)
	}

	var res map[string]any
	remoteJSON(t, w, &res, remoteArgs(a.remoteWithCode(t, a.name), []string{"apppw", "revoke", strings.ToUpper(id1)})...)
	if res["user"] != "sam" || res["id"] != id1 || res["revoked"] != true || len(res) != 3 {
		t.Errorf("apppw revoke --json = %v, want user sam, id %s, revoked true", res, id1)
	}
	if err := conn.Bind(a.dn, pw1); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("rebind on an open connection with the revoked password: %v, want 49", err)
	}
	remoteBindsAs(t, w, a.user, pw1, int(ldap.LDAPResultInvalidCredentials), "the revoked app password")
	remoteBindsAs(t, w, a.user, pw2, 0, "the other app password")

	remoteRefused(t, w, "noSuchObject (32)", remoteArgs(a.remoteWithCode(t, a.name), []string{"apppw", "revoke", id1})...)
}

func TestRemote_RevokeAllCountsAndEveryPasswordFails(t *testing.T) {
	w := startWicket(t, "")
	a := remoteNewAccount(w, "tess")
	var pws []string
	for _, label := range []string{"phone", "laptop", "tablet"} {
		_, pw := w.appPassword("tess", label)
		pws = append(pws, pw)
	}

	var res map[string]any
	remoteJSON(t, w, &res, remoteArgs(a.remoteWithCode(t, a.mail), []string{"apppw", "revoke-all"})...)
	if res["user"] != "tess" || res["revoked"] != 3.0 || len(res) != 2 {
		t.Errorf("apppw revoke-all --json = %v, want user tess, revoked 3", res)
	}
	for _, pw := range pws {
		remoteBindsAs(t, w, a.user, pw, int(ldap.LDAPResultInvalidCredentials), "an app password after revoke-all")
	}

	o := remoteRun(t, w, remoteArgs(a.remoteWithCode(t, a.name), []string{"apppw", "revoke-all"})...)
	if o.code != 0 || !strings.Contains(o.stdout, "revoked 0 app passwords of tess") {
		t.Errorf("revoke-all with nothing left: exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
	}
}

type remotePasswd struct {
	User      string  `json:"user"`
	Revoked   *int    `json:"revoked_app_passwords"`
	Generated *string `json:"generated_password"`
}

func TestRemote_PasswdWithNewPasswordRevokesAppPasswords(t *testing.T) {
	w := startWicket(t, "")
	a := remoteNewAccount(w, "uma")
	_, pw1 := w.appPassword("uma", "phone")
	_, pw2 := w.appPassword("uma", "laptop")
	const newPassword = "Brand-New-Password-uma"

	var res remotePasswd
	remoteJSON(t, w, &res, remoteArgs(a.remoteWithCode(t, a.name), []string{"passwd",
		"--old-password-file", remoteFile(t, a.password), "--new-password-file", remoteFile(t, newPassword)})...)
	if res.User != "uma" || res.Revoked == nil || *res.Revoked != 2 || res.Generated != nil {
		t.Errorf("passwd --json = %+v, want user uma, 2 revoked, no generated password", res)
	}
	for _, pw := range []string{pw1, pw2} {
		remoteBindsAs(t, w, a.user, pw, int(ldap.LDAPResultInvalidCredentials), "an app password after the change")
	}
	remoteBindsAs(t, w, a.user, newPassword+a.code(t), 0, "the new password with a code")
}

func TestRemote_PasswdWithoutNewPasswordPrintsTheGeneratedOne(t *testing.T) {
	w := startWicket(t, "")
	a := remoteNewAccount(w, "vera")
	_, pw := w.appPassword("vera", "phone")

	var res remotePasswd
	remoteJSON(t, w, &res, remoteArgs(a.remoteWithCode(t, a.dn), []string{"passwd",
		"--old-password-file", remoteFile(t, a.password)})...)
	if res.User != "vera" || res.Revoked == nil || *res.Revoked != 1 || res.Generated == nil || len(*res.Generated) < 16 {
		t.Fatalf("passwd --json = %+v, want user vera, 1 revoked and a generated password", res)
	}
	remoteBindsAs(t, w, a.user, *res.Generated+a.code(t), 0, "the generated password with a code")
	remoteBindsAs(t, w, a.user, pw, int(ldap.LDAPResultInvalidCredentials), "the app password after the change")
}

// An app-password session may list, nothing more: DESIGN.md wants the
// primary password and a code for the rest.
func TestRemote_AppPasswordSessionMayOnlyList(t *testing.T) {
	w := startWicket(t, "")
	a := remoteNewAccount(w, "walt")
	id, pw := w.appPassword("walt", "phone")
	signIn := remoteSignIn(t, a.name, pw)

	for _, cmd := range [][]string{
		{"apppw", "create", "--label", "another"},
		{"apppw", "revoke", id},
		{"apppw", "revoke-all"},
		{"passwd", "--old-password-file", remoteFile(t, a.password)},
	} {
		o := remoteRefused(t, w, "insufficientAccessRights (50): this session signed in with an app password",
			remoteArgs(signIn, cmd)...)
		if strings.Contains(o.stderr, pw) || strings.Contains(o.stderr, a.password) {
			t.Errorf("%v: a password was printed: %q", cmd, o.stderr)
		}
	}
	var list []map[string]any
	remoteJSON(t, w, &list, remoteArgs(signIn, []string{"apppw", "list"})...)
	if len(list) != 1 || list[0]["id"] != id {
		t.Errorf("apppw list after the refusals = %v, want the one app password %s", list, id)
	}
	remoteBindsAs(t, w, a.user, pw, 0, "the app password after the refusals")
}

func TestRemote_OnlyAdministratorsActOnOthers(t *testing.T) {
	w := startWicket(t, "")
	xena := remoteNewAccount(w, "xena")
	yuri := remoteNewAccount(w, "yuri")
	zoe := remoteNewAccount(w, "zoe")
	w.admin("", "user", "role", "zoe", "admin")
	_, xenaPW := w.appPassword("xena", "phone")
	_, zoePW := w.appPassword("zoe", "helpdesk laptop")
	_, yuriPW := w.appPassword("yuri", "phone")

	remoteRefused(t, w, "insufficientAccessRights (50): only administrators",
		remoteArgs(xena.remoteWithCode(t, xena.name), []string{"apppw", "create", "--label", "x", "--user", "yuri"})...)
	remoteRefused(t, w, "insufficientAccessRights (50)",
		remoteArgs(remoteSignIn(t, xena.name, xenaPW), []string{"apppw", "list", "--user", "yuri"})...)

	var created remoteCreated
	remoteJSON(t, w, &created, remoteArgs(zoe.remoteWithCode(t, zoe.name),
		[]string{"apppw", "create", "--label", "set up by the helpdesk", "--user", yuri.mail})...)
	remoteBindsAs(t, w, yuri.user, created.Password, 0, "the app password an administrator made")

	o := remoteRun(t, w, remoteArgs(remoteSignIn(t, zoe.name, zoePW), []string{"apppw", "list", "--user", "yuri"})...)
	if o.code != 0 || !strings.Contains(o.stdout, "set up by the helpdesk") || !strings.Contains(o.stdout, created.ID) {
		t.Errorf("administrator's apppw list --user yuri: exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
	}

	// No old password: an administrator resets another user's.
	var res remotePasswd
	remoteJSON(t, w, &res, remoteArgs(zoe.remoteWithCode(t, zoe.name), []string{"passwd", "--user", yuri.dn})...)
	if res.User != yuri.dn || res.Revoked == nil || *res.Revoked != 2 || res.Generated == nil {
		t.Fatalf("administrator's passwd --user --json = %+v", res)
	}
	remoteBindsAs(t, w, yuri.user, *res.Generated+yuri.code(t), 0, "yuri with the password the administrator had generated")
	remoteBindsAs(t, w, yuri.user, yuriPW, int(ldap.LDAPResultInvalidCredentials), "yuri's app password after the reset")
}

func TestRemote_SignInRefusals(t *testing.T) {
	w := startWicket(t, "")
	a := remoteNewAccount(w, "abe")
	_, pw := w.appPassword("abe", "phone")

	remoteRefused(t, w, "-D is required", "apppw", "list", "--password-file", remoteFile(t, pw))
	remoteRefused(t, w, "-D is required", remoteArgs(remoteSignIn(t, "", pw), []string{"apppw", "list"})...)
	remoteRefused(t, w, "not a terminal", "-D", a.name, "apppw", "list")
	remoteRefused(t, w, "first line is empty", remoteArgs(remoteSignIn(t, a.name, ""), []string{"apppw", "list"})...)
	for _, secret := range []string{a.password, "wrong-password" + a.code(t), pw + "x"} {
		o := remoteRefused(t, w, "bind failed: invalid credentials (49)",
			remoteArgs(remoteSignIn(t, a.name, secret), []string{"apppw", "list"})...)
		if strings.Contains(o.stderr, secret) {
			t.Errorf("the bind password was printed: %q", o.stderr)
		}
	}

	// A wrong old password changes nothing.
	remoteRefused(t, w, "invalidCredentials (49): the current password is not right",
		remoteArgs(a.remoteWithCode(t, a.name), []string{"passwd", "--old-password-file", remoteFile(t, "not-the-password")})...)
	remoteBindsAs(t, w, a.user, pw, 0, "the app password after a refused change")

	if strings.Contains(w.logs.String(), pw) || strings.Contains(w.logs.String(), a.password) {
		t.Errorf("the server logged a password")
	}
}
