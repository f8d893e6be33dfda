package integration

import (
	"bytes"
	"encoding/base32"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// After a full lifecycle, the database files and the server's log hold no
// seed, password, one-time code or app password in clear.
func TestSecrets_NotInDatabaseOrLogsAfterALifecycle(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("sam", true)
	codes := newStepCodes(t, u)

	var secrets []string
	secrets = append(secrets, u.password, u.secret)
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.secret)
	if err != nil {
		t.Fatal(err)
	}
	var usedCodes []string

	code := codes.next()
	usedCodes = append(usedCodes, code)
	if _, rc := goLDAPBind(t, w.url(), u.dn, u.password+code); rc != 0 {
		t.Fatalf("password+code bind: %d", rc)
	}
	_, app1 := w.appPassword("sam", "phone")
	id2, app2 := w.appPassword("sam", "laptop")
	secrets = append(secrets, app1, app2, strings.ReplaceAll(app1, "-", ""), strings.ReplaceAll(app2, "-", ""))
	for _, pw := range []string{app1, strings.ToUpper(app2)} {
		if _, rc := goLDAPBind(t, w.url(), u.dn, pw); rc != 0 {
			t.Fatalf("app-password bind: %d", rc)
		}
	}
	// Failures with secrets in them are logged too: they must not carry them.
	wrong := "Wrong-" + u.password
	secrets = append(secrets, wrong)
	goLDAPBind(t, w.url(), u.dn, wrong+"000000")
	w.admin("", "apppw", "revoke", "sam", id2)
	newPassword := "Brand-New-Secret-For-Sam"
	secrets = append(secrets, newPassword)
	w.admin(newPassword+"\n", "user", "passwd", "sam", "--password-stdin")
	code = codes.next()
	usedCodes = append(usedCodes, code)
	if _, rc := goLDAPBind(t, w.url(), u.dn, newPassword+code); rc != 0 {
		t.Fatalf("bind with the new password: %d", rc)
	}
	w.admin("", "key", "rotate")
	code = codes.next()
	usedCodes = append(usedCodes, code)
	if _, rc := goLDAPBind(t, w.url(), u.dn, newPassword+code); rc != 0 {
		t.Fatalf("bind after the key rotation: %d", rc)
	}
	// Once while running, when the WAL holds the latest writes, and once
	// after the clean stop has checkpointed them into the database.
	checked := 0
	scan := func(when string) {
		files, _ := filepath.Glob(filepath.Join(w.dir, "wicket.db*"))
		if len(files) == 0 {
			t.Fatal("no database files found")
		}
		haystacks := map[string][]byte{"server log": []byte(w.logs.String())}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			haystacks[filepath.Base(f)] = b
		}
		checked += len(files)
		for where, b := range haystacks {
			for _, s := range secrets {
				if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(s))) {
					t.Errorf("%s (%s) contains the secret %q", where, when, s)
				}
			}
			if bytes.Contains(b, seed) {
				t.Errorf("%s (%s) contains the raw TOTP seed", where, when)
			}
			for _, c := range usedCodes {
				if regexp.MustCompile(`(^|[^0-9])` + c + `([^0-9]|$)`).Match(b) {
					t.Errorf("%s (%s) contains the one-time code %s", where, when, c)
				}
			}
		}
	}
	time.Sleep(2500 * time.Millisecond) // last-used records are flushed every 2 s
	scan("running")
	w.stop()
	scan("stopped")
	t.Logf("checked %d database files and the log for %d secrets, the seed and %d codes", checked, len(secrets), len(usedCodes))
}
