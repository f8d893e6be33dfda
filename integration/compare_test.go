package integration

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Compare (RFC 4511 4.10) through the clients that use it: OpenLDAP's
// ldapcompare (as scripts and Apache's "Require ldap-group" ask whether a
// user is a member), go-ldap and python-ldap, against the real server.

// compareCase is one compare and the LDAP result it must get: 6
// compareTrue, 5 compareFalse, or a failure's code.
type compareCase struct {
	name      string
	as        string // an account of dirTree, "anonymous" included
	dn, attr  string
	value     string
	want      int
	matchedDN string // of a noSuchObject
}

func compareCases(d *dirTree) []compareCase {
	staff := dirGroupDN("staff")
	return []compareCase{
		{"own cn, case and spaces ignored", "alice", d.alice.dn, "cn", "  alice   LIDDELL", 6, ""},
		{"own cn, another value", "alice", d.alice.dn, "cn", "Bob", 5, ""},
		{"own mail, any case", "alice", d.alice.dn, "mail", "ALICE@Example.ORG", 6, ""},
		{"own alias", "alice", d.alice.dn, "mailAlternateAddress", "alice@example.net", 6, ""},
		{"object class by name", "alice", d.alice.dn, "objectClass", "inetorgperson", 6, ""},
		{"object class by OID", "alice", d.alice.dn, "objectClass", "2.16.840.1.113730.3.2.2", 6, ""},
		{"memberOf spelt otherwise", "alice", d.alice.dn, "memberOf", "CN=Staff , OU=Groups,DC=Example, DC=Org", 6, ""},
		{"memberOf another group", "alice", d.alice.dn, "memberOf", dirGroupDN("admins"), 5, ""},
		{"memberOf not a DN", "alice", d.alice.dn, "memberOf", "staff", 21, ""},
		{"member by DN, other case and spacing", "dovecot", staff, "member", "UID=Alice, OU=People, DC=Example,DC=Org", 6, ""},
		{"not a member", "dovecot", staff, "member", d.carol.dn, 5, ""},
		{"an attribute the entry lacks", "dovecot", d.carol.dn, "mailAlternateAddress", "carol@example.net", 16, ""},
		{"an unknown attribute type", "dovecot", d.carol.dn, "fooBar", "x", 17, ""},
		{"app password ids are not the service's", "dovecot", d.alice.dn, "appPasswordId", d.aliceApp, 16, ""},
		{"app password ids are the owner's", "alice", d.alice.dn, "appPasswordId", d.aliceApp, 6, ""},
		{"another user's entry is hidden", "alice", d.bob.dn, "cn", "bob", 32, dirPeople},
		{"a group is hidden from a user", "alice", staff, "cn", "staff", 32, dirGroups},
		{"a missing entry", "dovecot", "uid=nobody," + dirPeople, "cn", "nobody", 32, dirPeople},
		{"userPassword is never compared", "alice", d.alice.dn, "userPassword", d.alice.password, 50, ""},
		{"nor by an administrator", "root", d.carol.dn, "userPassword", d.carol.password, 50, ""},
		{"the root DSE, anonymously", "anonymous", "", "objectClass", "top", 6, ""},
		{"the subschema, anonymously", "anonymous", "cn=Subschema", "objectClass", "subschema", 6, ""},
		{"an entry, anonymously", "anonymous", d.alice.dn, "cn", "alice", 50, ""},
	}
}

// ldapcompare exits with 6 for TRUE, 5 for FALSE and the result code of a
// failure, as its manual says.
func TestCompare_Ldapcompare(t *testing.T) {
	tool := requireTool(t, "ldapcompare")
	d := dirSetup(t)
	for _, c := range compareCases(d) {
		t.Run(c.name, func(t *testing.T) {
			as := d.as[c.as]
			args := toolAuth(d.w, as.dn, as.password)
			// The value base64-encoded (attr::b64) would do as well; as
			// text it must not begin with a colon.
			args = append(args, c.dn, c.attr+":"+c.value)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				code = ee.ExitCode()
			case err != nil:
				t.Fatalf("ldapcompare: %v", err)
			}
			requireNoSecret(t, "ldapcompare", string(out), d.secrets...)
			if code != c.want {
				t.Fatalf("exit %d, want %d\n%s", code, c.want, out)
			}
			switch {
			case c.want == 6 && !strings.Contains(string(out), "TRUE"), c.want == 5 && !strings.Contains(string(out), "FALSE"):
				t.Errorf("output does not say so:\n%s", out)
			case c.matchedDN != "" && !strings.Contains(string(out), "Matched DN: "+c.matchedDN):
				t.Errorf("want matched DN %s:\n%s", c.matchedDN, out)
			}
		})
	}
}

func TestCompare_GoLDAP(t *testing.T) {
	d := dirSetup(t)
	conns := map[string]*ldap.Conn{}
	for who := range d.as {
		conns[who] = d.dial(t, who)
	}
	for _, c := range compareCases(d) {
		t.Run(c.name, func(t *testing.T) {
			ok, err := conns[c.as].Compare(c.dn, c.attr, c.value)
			code := resultCode(t, err)
			switch {
			case err == nil && ok:
				code = 6
			case err == nil:
				code = 5
			}
			if code != c.want {
				t.Fatalf("result %d (%v), want %d", code, err, c.want)
			}
			var le *ldap.Error
			if errors.As(err, &le) && !strings.EqualFold(le.MatchedDN, c.matchedDN) {
				t.Errorf("matchedDN %q, want %q", le.MatchedDN, c.matchedDN)
			}
		})
	}
}

// python-ldap's compare_s returns True or False, and raises NO_SUCH_ATTRIBUTE
// and NO_SUCH_OBJECT, as against slapd.
func TestCompare_PythonLDAP(t *testing.T) {
	py := requirePythonLDAP(t)
	d := dirSetup(t)
	as := d.as["dovecot"]
	script := `
import sys, ldap
url, dn, pw, alice, staff, carol = sys.argv[1:7]
l = ldap.initialize(url)
l.simple_bind_s(dn, pw)
print(l.compare_s(staff, "member", alice.upper().encode()))
print(l.compare_s(staff, "member", carol.encode()))
print(l.compare_s(alice, "memberOf", b"cn=staff, ou=groups, dc=example, dc=org"))
for args in ((carol, "mailAlternateAddress", b"x@example.net"), ("uid=nobody,ou=people,dc=example,dc=org", "cn", b"x")):
    try:
        l.compare_s(*args)
        print("no error")
    except ldap.LDAPError as e:
        print(type(e).__name__)
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", script, d.w.url(), as.dn, as.password,
		d.alice.dn, dirGroupDN("staff"), d.carol.dn).CombinedOutput()
	if err != nil {
		t.Fatalf("python-ldap: %v\n%s", err, out)
	}
	want := "True\nFalse\nTrue\nNO_SUCH_ATTRIBUTE\nNO_SUCH_OBJECT"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("python-ldap printed\n%s\nwant\n%s", got, want)
	}
}
