package integration

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/internal/loadgen"
)

// ssha is slappasswd's {SSHA} of password with a random salt.
func ssha(t *testing.T, password string) string {
	t.Helper()
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(append([]byte(password), salt...))
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
}

// A user base moved as the README says: imported from an LDIF export with
// its {SSHA} passwords, then TOTP and an app password for every user with
// one command, next to the running server. The file it writes is what
// wicket bench reads, its passwords bind through ldapwhoami and go-ldap,
// and the TOTP file holds seeds whose codes sign in with the old password.
func TestBulk_ImportedUsersGetAppPasswordsThatBind(t *testing.T) {
	w := startWicket(t, "")
	const n = 40
	var ldif strings.Builder
	passwords := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("bulk%02d", i)
		passwords[name] = "old-password-" + name
		fmt.Fprintf(&ldif, "dn: uid=%s,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: %s\nmail: %s@example.org\nuserPassword: %s\n\n",
			name, name, name, ssha(t, passwords[name]))
	}
	w.admin(ldif.String(), "user", "import", "-")
	w.newUser("svc", false)
	w.admin("", "user", "role", "svc", "service")

	dir := t.TempDir()
	out, totpOut := filepath.Join(dir, "users.tsv"), filepath.Join(dir, "totp.tsv")
	_, summary, err := w.run("", "apppw", "create-bulk", "--label", "migration", "--enroll-totp", "--out", out, "--totp-out", totpOut)
	if err != nil {
		t.Fatalf("create-bulk: %v\n%s", err, summary)
	}
	if !strings.Contains(summary, fmt.Sprintf("created %d app passwords", n)) || !strings.Contains(summary, "left out: 1 service account") {
		t.Errorf("create-bulk summary:\n%s", summary)
	}
	users, err := loadgen.ReadUsers(out)
	if err != nil {
		t.Fatalf("the file is not what wicket bench reads: %v", err)
	}
	if len(users) != n {
		t.Fatalf("%d users in %s, want %d", len(users), out, n)
	}
	for _, p := range []string{out, totpOut} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", p, fi.Mode(), err)
		}
	}

	// A few through each real client, as the mail server would bind them.
	for _, u := range users[:3] {
		forEachClient(t, func(t *testing.T, c client) {
			if id, code := c.bind(t, w.url(), u.Name, u.Password); code != 0 || id != "dn:"+u.Name {
				t.Errorf("bind %s with its app password: %q, result %d", u.Name, id, code)
			}
		})
	}
	// All of them through wicket bench, from the file as written.
	rep := loadRunJSON(t, "-H", w.url(), "--users", out, "--count", fmt.Sprint(2*n), "--concurrency", "4")
	if rep.Succeeded != 2*n || rep.Failed != 0 {
		t.Errorf("wicket bench --users %s: %+v", out, rep)
	}

	// The seeds written sign in too, with the imported password and a
	// code from oathtool.
	raw, err := os.ReadFile(totpOut)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines in %s, want %d", len(lines), totpOut, n)
	}
	name, uri, _ := strings.Cut(lines[0], "\t")
	q, err := url.Parse(uri)
	if err != nil || passwords[name] == "" {
		t.Fatalf("TOTP line %q", lines[0])
	}
	dn := "uid=" + name + ",ou=people,dc=example,dc=org"
	if id, code := goLDAPBind(t, w.url(), dn, passwords[name]+totpCode(t, q.Query().Get("secret"), time.Now())); code != 0 || id != "dn:"+dn {
		t.Errorf("bind %s with the imported password and a code: %q, result %d", name, id, code)
	}

	recs := w.audit()
	for _, action := range []string{"totp-enroll", "apppw-create"} {
		if got := countAudit(recs, action, "success"); got != n {
			t.Errorf("%d %s records, want %d", got, action, n)
		}
	}

	// The file is never overwritten: a second run is refused before it
	// changes anything.
	if _, msg, err := w.run("", "apppw", "create-bulk", "--label", "again", "--out", out); err == nil || !strings.Contains(msg, "exists") {
		t.Errorf("create-bulk onto an existing file: %v\n%s", err, msg)
	}
	if got := countAudit(w.audit(), "apppw-create", "success"); got != n {
		t.Errorf("%d app passwords created after the refused run, want %d", got, n)
	}
}

func countAudit(recs []auditRecord, action, result string) int {
	n := 0
	for _, r := range recs {
		if r.Action == action && r.Result == result {
			n++
		}
	}
	return n
}
