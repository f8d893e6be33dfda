package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// importedPassword is what importedSSHA hashes (slappasswd's {SSHA}, salt
// a1b2c3d4e5f60718).
const (
	importedPassword = "correct horse battery"
	importedSSHA     = "{SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA=="
)

// Users imported from another directory cannot sign in until they have a
// second factor: `wicket totp enroll-bulk --all-without-totp` gives each a
// seed in a file of its own to hand over, and with it (oathtool playing the
// phone) the imported password followed by a code signs in. Nothing is
// overwritten, no secret reaches standard output, every enrolment is in the
// audit trail, and an account enrolled already keeps its seed.
func TestTOTPEnrollBulk_ImportedUsersSignInWithTheHandedOverSeed(t *testing.T) {
	w := startWicket(t, "")
	var ldif strings.Builder
	for _, name := range []string{"ann", "ben", "cas"} {
		fmt.Fprintf(&ldif, "dn: uid=%s,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: %s\nmail: %s@example.org\nuserPassword: %s\n\n",
			name, name, name, importedSSHA)
	}
	w.admin(ldif.String(), "user", "import", "-")
	w.admin("a-long-service-secret\n", "user", "add", "dovecot", "--role", "service", "--password-stdin")
	dn := func(name string) string { return "uid=" + name + ",ou=people,dc=example,dc=org" }
	if out, rc := ldapwhoami(t, w.url(), dn("ann"), importedPassword); rc != 49 {
		t.Fatalf("an imported user without TOTP, password alone: exit %d, want 49\n%s", rc, out)
	}
	// cas enrols on her own first: her seed must stay.
	var cas struct{ Secret string }
	w.adminJSON(&cas, "", "totp", "enroll", "cas")

	out := filepath.Join(t.TempDir(), "handover")
	stdout, stderr, err := w.run("", "totp", "enroll-bulk", "--all-without-totp", "--out", out)
	if err != nil {
		t.Fatalf("enroll-bulk: %v\n%s%s", err, stdout, stderr)
	}
	if stdout != "" {
		t.Errorf("enroll-bulk printed on standard output: %q", stdout)
	}
	for _, want := range []string{"enrolled TOTP for 2 accounts, one file each in " + out, "left out: 1 account with TOTP, 1 service account"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, mode %v; want a directory of mode 0700", out, err, st.Mode())
	}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(files) != 2 {
		t.Fatalf("files %q, want ann.txt and ben.txt", files)
	}
	secretLine := regexp.MustCompile(`(?m)^secret: +([A-Z2-7]+)$`)
	secrets := map[string]string{}
	for _, name := range []string{"ann", "ben"} {
		p := filepath.Join(out, name+".txt")
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", p, err, st.Mode())
		}
		b, _ := os.ReadFile(p)
		m := secretLine.FindStringSubmatch(string(b))
		if m == nil || !strings.Contains(string(b), "otpauth://totp/wicket:"+name+"@example.org?") ||
			!strings.Contains(string(b), "secret="+m[1]) {
			t.Fatalf("%s does not hold the URI and the secret:\n%s", p, b)
		}
		secrets[name] = m[1]
		if strings.Contains(stderr, m[1]) {
			t.Errorf("the summary shows %s's secret", name)
		}
	}
	for _, name := range []string{"ann", "ben"} {
		code := totpCode(t, secrets[name], time.Now())
		if out, rc := ldapwhoami(t, w.url(), dn(name), importedPassword+code); rc != 0 {
			t.Errorf("%s with the imported password and a code of the handed-over seed: exit %d\n%s", name, rc, out)
		}
	}
	if out, rc := ldapwhoami(t, w.url(), dn("cas"), importedPassword+totpCode(t, cas.Secret, time.Now())); rc != 0 {
		t.Errorf("cas, enrolled before, with a code of her own seed: exit %d\n%s", rc, out)
	}

	// Every enrolment has its record, the secrets none.
	auditOut := w.admin("", "audit", "--json", "--limit", "0")
	var recs []backend.AuditRecord
	if err := json.Unmarshal([]byte(auditOut), &recs); err != nil {
		t.Fatal(err)
	}
	enrolled := map[string]int{}
	for _, r := range recs {
		if r.Action == backend.ActionTOTPEnroll && r.Result == backend.ResultSuccess && r.Method == "cli" {
			enrolled[r.Subject]++
		}
	}
	if enrolled["ann"] != 1 || enrolled["ben"] != 1 || enrolled["cas"] != 1 || len(enrolled) != 3 {
		t.Errorf("totp-enroll records by subject: %v; want one each for ann, ben (the bulk) and cas (her own)", enrolled)
	}
	for name, s := range secrets {
		if strings.Contains(auditOut, s) || strings.Contains(w.logs.String(), s) {
			t.Errorf("%s's secret is in the audit trail or the server log", name)
		}
	}

	// A later run never writes over the files handed out: refused before
	// any change, the new account left without TOTP.
	w.admin("", "user", "add", "dan", "--password-hash", importedSSHA)
	if _, stderr, err := w.run("", "totp", "enroll-bulk", "--all-without-totp", "--out", out); err == nil ||
		!strings.Contains(stderr, "is not empty") {
		t.Errorf("enroll-bulk into the same directory: %v\n%s", err, stderr)
	}
	var dan struct {
		TOTPEnrolled bool `json:"totp_enrolled"`
	}
	w.adminJSON(&dan, "", "user", "show", "dan")
	if dan.TOTPEnrolled {
		t.Error("a refused run enrolled dan")
	}

	// Named accounts: one enrolled already is left as it is, an unknown
	// name and a service account are refused, and the status says so.
	out2 := filepath.Join(t.TempDir(), "second")
	stdout, stderr, err = w.run("dan\nann\nghost\ndovecot\n", "totp", "enroll-bulk", "--users", "-", "--out", out2, "--json")
	if err == nil {
		t.Error("refused accounts, yet exit 0")
	}
	var sum struct {
		Enrolled []string `json:"enrolled"`
		Had      int      `json:"already_enrolled"`
		Refused  []struct{ Name, Error string }
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if len(sum.Enrolled) != 1 || sum.Enrolled[0] != "dan" || sum.Had != 1 || len(sum.Refused) != 2 ||
		sum.Refused[0].Name != "ghost" || sum.Refused[1].Name != "dovecot" {
		t.Errorf("--users: %+v", sum)
	}
	// The next step's code: this step's was used above.
	next := totpCode(t, secrets["ann"], time.Now().Add(30*time.Second))
	if out, rc := ldapwhoami(t, w.url(), dn("ann"), importedPassword+next); rc != 0 {
		t.Errorf("ann after a run that named her: her seed changed (exit %d)\n%s", rc, out)
	}
}
