package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

// importedSSHA is slappasswd's {SSHA} form of "correct horse battery" with
// the salt a1b2c3d4e5f60718, computed independently with Python's hashlib.
const importedSSHA = "{SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA=="

// importedSHA512Crypt is the spec's SHA-512 crypt vector of "Hello world!".
const importedSHA512Crypt = "{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"

const noSecondFactor = "[auth]\nrequire_second_factor = false\n"

// binds checks passwords against the database the CLI wrote, as a client's
// bind would, and returns each account's stored hash afterwards.
func (c *cli) binds(want map[string]string) map[string]string {
	c.t.Helper()
	e := c.service()
	defer e.Close()
	ctx := context.Background()
	hashes := map[string]string{}
	for name, pw := range want {
		if _, err := e.svc.Authenticate(ctx, name, pw+"-wrong", "192.0.2.1"); !errors.Is(err, backend.ErrInvalidCredentials) {
			c.t.Errorf("bind %s with a wrong password: %v", name, err)
		}
		if _, err := e.svc.Authenticate(ctx, name, pw, "192.0.2.1"); err != nil {
			c.t.Errorf("bind %s: %v", name, err)
		}
		a, err := e.store.AccountByName(ctx, name)
		if err != nil {
			c.t.Fatal(err)
		}
		hashes[name] = a.PasswordHash
	}
	return hashes
}

func TestUserAddPasswordHash(t *testing.T) {
	t.Parallel()
	c := newCLI(t, noSecondFactor)
	contains(t, "user add --password-hash", c.ok("", "user", "add", "Alice", "--mail", "alice@example.org", "--password-hash", importedSSHA),
		"created account alice")
	// '-' keeps the hash out of the process list and the shell history.
	c.ok(importedSHA512Crypt+"\r\n", "user", "add", "bob", "--password-hash", "-")

	for _, h := range c.binds(map[string]string{"alice": "correct horse battery", "bob": "Hello world!"}) {
		if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
			t.Errorf("after a bind the stored hash is %q, want the configured argon2id", h)
		}
	}
	c.binds(map[string]string{"alice": "correct horse battery", "bob": "Hello world!"})

	contains(t, "both --password-stdin and --password-hash",
		c.fail("correct horse battery\n", "user", "add", "carol", "--password-stdin", "--password-hash", importedSSHA),
		"password-stdin", "password-hash")
	contains(t, "unsupported scheme", c.fail("", "user", "add", "carol", "--password-hash", "{MD5}X03MO1qnZdYdgyfeuILPmQ=="),
		"unsupported scheme {MD5}", "SSHA")
	contains(t, "bare crypt string", c.fail("", "user", "add", "carol", "--password-hash", strings.TrimPrefix(importedSHA512Crypt, "{CRYPT}")),
		"{CRYPT}$6$")
	contains(t, "bcrypt cost over the limit",
		c.fail("", "user", "add", "carol", "--password-hash", "{BCRYPT}$2y$16$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS"),
		"bcrypt cost 16 out of range")
	contains(t, "empty hash on stdin", c.fail("", "user", "add", "carol", "--password-hash", "-"), "no password hash")
	contains(t, "existing account", c.fail("", "user", "add", "alice", "--password-hash", importedSSHA), "already exists")
	if us := c.users(); len(us) != 2 {
		t.Errorf("refused imports left accounts behind: %+v", us)
	}
}

func TestUserPasswdPasswordHash(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.addUser("alice")
	c.ok("", "totp", "enroll", "alice")
	c.ok("", "apppw", "create", "alice", "--label", "Thunderbird")

	contains(t, "user passwd --password-hash", c.ok("", "user", "passwd", "alice", "--password-hash", importedSSHA),
		"password changed for alice", "1 app password revoked")
	contains(t, "bad hash", c.fail("", "user", "passwd", "alice", "--password-hash", "{SSHA}short"), "{SSHA}")
	contains(t, "unknown account", c.fail("", "user", "passwd", "ghost", "--password-hash", importedSSHA), "no such account: ghost")

	e := c.service()
	defer e.Close()
	if err := e.svc.VerifyPassword(context.Background(), "alice", "correct horse battery"); err != nil {
		t.Errorf("the imported password does not verify: %v", err)
	}
}

func TestUserImportLDIF(t *testing.T) {
	t.Parallel()
	c := newCLI(t, noSecondFactor)
	// As slapcat writes it: the base and ou entries, a base64 value, a
	// folded line, an entry whose uid is only in its DN, a group.
	ldif := `version: 1

dn: dc=example,dc=org
objectClass: dcObject
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

# alice
dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: Alice
cn: Alice
mail: alice@example.org
userPassword:: ` + base64.StdEncoding.EncodeToString([]byte(importedSSHA)) + `

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
cn: Bob
mail: bob@example.org
userPassword: ` + importedSHA512Crypt[:60] + "\r\n " + importedSHA512Crypt[60:] + `
# a comment, folded
  onto a second line

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
userPassword: {MD5}X03MO1qnZdYdgyfeuILPmQ==
userPassword: {SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=

dn: uid=dave,ou=people,dc=example,dc=org
uid: dave

dn: cn=staff,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: staff
member: uid=alice,ou=people,dc=example,dc=org
`
	out := c.ok(ldif, "user", "import", "-", "--dry-run")
	contains(t, "import --dry-run", out, "would create  alice", "{SSHA}", "bob", "{CRYPT}", "carol", "{SHA}",
		"dave", "no password", "dry run: 4 accounts would be created")
	contains(t, "nothing created by a dry run", c.ok("", "user", "list"), "no accounts yet")

	out = c.ok(ldif, "user", "import", "-")
	contains(t, "import", out, "created  alice", "created  bob", "created  carol", "created  dave", "4 accounts created, 0 already existed")
	us := c.users()
	if len(us) != 4 || us[0].Name != "alice" || us[0].Mail != "alice@example.org" || us[1].Mail != "bob@example.org" || us[3].HasPassword {
		t.Errorf("after import: %+v", us)
	}
	for name, h := range c.binds(map[string]string{"alice": "correct horse battery", "bob": "Hello world!", "carol": "password"}) {
		if !strings.HasPrefix(h, "$argon2id$") {
			t.Errorf("%s: after a bind the stored hash is %q", name, h)
		}
	}

	// A second run leaves everything as it is, rehashed passwords included.
	var res []struct{ Name, Status string }
	decode(t, c.ok(ldif, "--json", "user", "import", "-"), &res)
	if len(res) != 4 || res[0].Status != "exists" || res[3].Status != "exists" {
		t.Errorf("second import --json = %+v", res)
	}
	c.binds(map[string]string{"alice": "correct horse battery"})
}

func TestUserImportRefusesBadFileWhole(t *testing.T) {
	t.Parallel()
	c := newCLI(t, noSecondFactor)
	bad := "dn: uid=erin,ou=people,dc=example,dc=org\nuid: erin\nuserPassword: " + importedSSHA + "\n\n" +
		"dn: uid=frank,ou=people,dc=example,dc=org\nuid: frank\nuserPassword: {CRYPT}$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\n\n" +
		"dn: uid=Gr ace,ou=people,dc=example,dc=org\nuid: Gr ace\n\n" +
		"dn: uid=erin,ou=people,dc=example,dc=org\nuid: erin\n"
	msg := c.fail(bad, "user", "import", "-")
	contains(t, "bad file", msg, "nothing imported", "3 entries need fixing",
		"line 5: frank", "MD5-crypt", "line 9", "line 12: account erin appears again (first on line 1)")
	contains(t, "nothing created", c.ok("", "user", "list"), "no accounts yet")

	// A file wrong throughout names the first entries, and how many more.
	var many strings.Builder
	for i := range maxImportProblems + 7 {
		fmt.Fprintf(&many, "dn: uid=u%d,ou=people,dc=example,dc=org\nuid: u%d\nuserPassword: {MD5}X03MO1qnZdYdgyfeuILPmQ==\n\n", i, i)
	}
	msg = c.fail(many.String(), "user", "import", "-")
	contains(t, "many bad entries", msg, fmt.Sprintf("%d entries need fixing", maxImportProblems+7),
		"line 1: u0", fmt.Sprintf("u%d:", maxImportProblems-1), "and 7 more entries (--skip-invalid --dry-run lists each)")
	if strings.Contains(msg, fmt.Sprintf("u%d:", maxImportProblems)) {
		t.Errorf("the entry after the first %d is named too:\n%s", maxImportProblems, msg)
	}

	contains(t, "change records", c.fail("dn: uid=x,dc=example\nchangetype: add\nuid: x\n", "user", "import", "-"), "change records")
	contains(t, "no accounts", c.fail("dn: dc=example,dc=org\ndc: example\n", "user", "import", "-"), "no entry with a uid")
	contains(t, "missing file", c.fail("", "user", "import", "/nonexistent/users.ldif"), "no such file")
}

// An import larger than a transaction's batch creates every account, each
// with its own record; an entry the store refuses (an address already in
// use) is refused alone, the rest of its batch created; a second run
// leaves them all alone.
func TestUserImportManyInBatches(t *testing.T) {
	t.Parallel()
	c := newCLI(t, noSecondFactor)
	const n = 2500
	var b strings.Builder
	for i := 1; i <= n; i++ {
		mail := fmt.Sprintf("user%04d@example.org", i)
		if i == 1500 {
			mail = "user0007@example.org"
		}
		fmt.Fprintf(&b, "dn: uid=user%04d,ou=people,dc=example,dc=org\nuid: user%04d\nmail: %s\nuserPassword: %s\n\n",
			i, i, mail, importedSSHA)
	}
	o := c.exec(strings.NewReader(b.String()), "user", "import", "-")
	if o.code == 0 {
		t.Fatal("import with an address used twice succeeded")
	}
	contains(t, "import", o.stdout, fmt.Sprintf("%d accounts created, 0 already existed", n-1))
	contains(t, "import refusal", o.stderr, "1 account not imported",
		"line 7496 (uid=user1500,ou=people,dc=example,dc=org): user1500: mail address user0007@example.org is already in use",
		fmt.Sprintf("1 account of %d not imported", n))

	e := c.service()
	recs, err := e.svc.AuditRecords(context.Background(), backend.AuditFilter{})
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]bool{}
	for _, r := range recs {
		switch {
		case r.Action == backend.ActionUserCreate && r.Result == backend.ResultSuccess:
			created[r.Subject] = true
		case r.Action == backend.ActionUserCreate && r.Subject == "user1500" && r.Result == backend.FailExists:
		default:
			t.Errorf("record %+v", r)
		}
	}
	if len(created) != n-1 || created["user1500"] || !created["user1499"] || !created["user1501"] {
		t.Errorf("%d accounts created with a record, want %d: all but user1500", len(created), n-1)
	}
	c.binds(map[string]string{"user0001": "correct horse battery", "user2500": "correct horse battery"})

	o = c.exec(strings.NewReader(b.String()), "user", "import", "-")
	contains(t, "second import", o.stdout, fmt.Sprintf("0 accounts created, %d already existed", n-1))
}

// With --skip-invalid, an entry that cannot be imported (an unsupported
// hash, a bad name, a uid given twice) is skipped and reported with its
// line, DN and reason, and an entry the database refuses is refused alone;
// every other account is created whole. The exit status says something
// was left out, unless --allow-skipped; a second run creates nothing more.
func TestUserImportSkipInvalid(t *testing.T) {
	t.Parallel()
	c := newCLI(t, noSecondFactor)
	ldif := "dn: uid=erin,ou=people,dc=example,dc=org\nuid: erin\nmail: erin@example.org\nuserPassword: " + importedSSHA + "\n\n" +
		"dn: uid=frank,ou=people,dc=example,dc=org\nuid: frank\nmail: frank@example.org\nuserPassword: {MD5}X03MO1qnZdYdgyfeuILPmQ==\n\n" +
		"dn: uid=Gr ace,ou=people,dc=example,dc=org\nuid: Gr ace\n\n" +
		"dn: uid=heidi,ou=people,dc=example,dc=org\nuid: heidi\nmail: erin@example.org\nuserPassword: " + importedSSHA + "\n\n" +
		"dn: uid=erin,ou=staff,dc=example,dc=org\nuid: erin\n\n" +
		"dn: uid=ivan,ou=people,dc=example,dc=org\nuid: ivan\nuserPassword: " + importedSHA512Crypt + "\n"

	// Without the flag the file is refused whole, saying how to go on.
	contains(t, "without --skip-invalid", c.fail(ldif, "user", "import", "-"), "nothing imported", "3 entries need fixing", "--skip-invalid")
	contains(t, "nothing created", c.ok("", "user", "list"), "no accounts yet")

	o := c.exec(strings.NewReader(ldif), "user", "import", "-", "--skip-invalid", "--dry-run")
	contains(t, "--dry-run", o.stdout, "would create  erin", "would create  heidi", "would create  ivan",
		"dry run: 3 accounts would be created, 0 already exist, 3 skipped")
	contains(t, "nothing created by a dry run", c.ok("", "user", "list"), "no accounts yet")

	o = c.exec(strings.NewReader(ldif), "user", "import", "-", "--skip-invalid")
	if o.code == 0 {
		t.Errorf("entries were skipped, yet the exit status is 0")
	}
	contains(t, "--skip-invalid", o.stderr,
		"3 entries skipped:",
		"line 6 (uid=frank,ou=people,dc=example,dc=org): frank: password hash: unsupported scheme {MD5}",
		`line 11 (uid=Gr ace,ou=people,dc=example,dc=org): account name "gr ace"`,
		"line 19 (uid=erin,ou=staff,dc=example,dc=org): account erin appears again (first on line 1)",
		"1 account not imported:",
		"line 14 (uid=heidi,ou=people,dc=example,dc=org): heidi: mail address erin@example.org is already in use",
		"wicket: 4 entries of 6 not imported")
	contains(t, "--skip-invalid", o.stdout, "created  erin", "created  ivan", "2 accounts created, 0 already existed, 3 skipped")
	var names []string
	for _, u := range c.users() {
		names = append(names, u.Name)
	}
	if strings.Join(names, " ") != "erin ivan" {
		t.Errorf("accounts after the import: %v, want erin and ivan", names)
	}
	c.binds(map[string]string{"erin": "correct horse battery", "ivan": "Hello world!"})

	// Again, for a script that expects entries to be left out: exit 0,
	// the same report, nothing more created.
	var res []struct{ Name, DN, Status, Error string }
	o = c.exec(strings.NewReader(ldif), "--json", "user", "import", "-", "--skip-invalid", "--allow-skipped")
	if o.code != 0 {
		t.Fatalf("--allow-skipped: exit %d, stderr %s", o.code, o.stderr)
	}
	decode(t, o.stdout, &res)
	got := map[string]string{}
	for _, r := range res {
		got[r.DN] = r.Status
	}
	for dn, want := range map[string]string{"uid=erin,ou=people,dc=example,dc=org": "exists",
		"uid=frank,ou=people,dc=example,dc=org": "skipped", "uid=Gr ace,ou=people,dc=example,dc=org": "skipped",
		"uid=heidi,ou=people,dc=example,dc=org": "failed", "uid=erin,ou=staff,dc=example,dc=org": "skipped",
		"uid=ivan,ou=people,dc=example,dc=org": "exists"} {
		if got[dn] != want {
			t.Errorf("%s: status %q, want %q (all: %+v)", dn, got[dn], want, res)
		}
	}
	if us := c.users(); len(us) != 2 {
		t.Errorf("the second run created accounts: %+v", us)
	}
}

// An entryUUID in the file (slapcat writes it) stays the account's, so
// that clients that know users by it see the same users; a UUID that is
// not one, one given twice, or one already another account's is refused
// with the entry's line.
func TestUserImportKeepsEntryUUID(t *testing.T) {
	t.Parallel()
	c := newCLI(t, noSecondFactor)
	const aliceUUID, bobUUID = "2f1c9e4a-0b6d-11ef-9a7c-0242ac120002", "5C0A7B36-8E5E-4C7B-9F41-6E0B0E4B5D11"
	ldif := "dn: uid=alice,ou=people,dc=example,dc=org\nuid: alice\nentryUUID: " + aliceUUID + "\n\n" +
		"dn: uid=bob,ou=people,dc=example,dc=org\nuid: bob\nentryUUID: " + bobUUID + "\n\n" +
		"dn: uid=carol,ou=people,dc=example,dc=org\nuid: carol\n"
	var res []struct {
		Name      string `json:"name"`
		EntryUUID string `json:"entry_uuid"`
	}
	decode(t, c.ok(ldif, "--json", "user", "import", "-"), &res)
	if len(res) != 3 || res[0].EntryUUID != aliceUUID || res[1].EntryUUID != strings.ToLower(bobUUID) || res[2].EntryUUID != "" {
		t.Errorf("import --json = %+v", res)
	}
	e := c.service()
	for name, want := range map[string]string{"alice": aliceUUID, "bob": strings.ToLower(bobUUID)} {
		u, err := e.svc.User(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if u.UUID.String() != want {
			t.Errorf("%s's entryUUID is %s, want %s", name, u.UUID, want)
		}
	}
	e.Close()

	msg := c.fail("dn: uid=dave,ou=people,dc=example,dc=org\nuid: dave\nentryUUID: not-a-uuid\n\n"+
		"dn: uid=erin,ou=people,dc=example,dc=org\nuid: erin\nentryUUID: 7d444840-9dc0-11d1-b245-5ffdce74fad2\n\n"+
		"dn: uid=frank,ou=people,dc=example,dc=org\nuid: frank\nentryUUID: 7D444840-9DC0-11D1-B245-5FFDCE74FAD2\n",
		"user", "import", "-")
	contains(t, "bad UUIDs", msg, "2 entries need fixing", `line 1: dave: entryUUID "not-a-uuid" is not a UUID`,
		"line 9: frank: entryUUID 7d444840-9dc0-11d1-b245-5ffdce74fad2 appears again (first on line 5)")

	o := c.exec(strings.NewReader("dn: uid=grace,ou=people,dc=example,dc=org\nuid: grace\nentryUUID: "+aliceUUID+"\n\n"+
		"dn: uid=heidi,ou=people,dc=example,dc=org\nuid: heidi\n"), "user", "import", "-")
	if o.code == 0 {
		t.Error("an import with a refused entry exited 0")
	}
	contains(t, "a UUID already alice's", o.stderr, "grace: entryUUID "+aliceUUID+" is already another account's")
	contains(t, "the rest created", c.ok("", "user", "list"), "heidi")
	if strings.Contains(c.ok("", "user", "list"), "grace") {
		t.Error("grace was created with alice's entryUUID")
	}
}
