package integration

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
	"github.com/wicketldap/wicket/config"
)

// The directory as Dovecot, Postfix and people's tools search it: scopes,
// filters, attribute selection, paging, size limits and who sees what,
// through OpenLDAP's ldapsearch and through go-ldap.

const (
	dirBase   = "dc=example,dc=org"
	dirPeople = "ou=people," + dirBase
	dirGroups = "ou=groups," + dirBase
)

func dirGroupDN(name string) string { return "cn=" + name + "," + dirGroups }

// dirCred is how a search binds; the zero value is anonymous.
type dirCred struct{ dn, password string }

// dirTree is a small directory with an account of every role:
//
//	alice    user, TOTP, an alias and names, in staff, app password "phone"
//	bob      user, TOTP, an alias, in staff, app password "laptop"
//	carol    user, no TOTP, in no group
//	dovecot  service, no mail, no TOTP
//	root     admin, TOTP, in admins, app password "cli"
//
// Every entry has a short label (base, people, alice, alice/phone, staff…)
// so that expectations and failures read as a list of names.
type dirTree struct {
	w                                *wicket
	alice, bob, carol, dovecot, root user
	aliceApp, bobApp, rootApp        string // app password ids
	as                               map[string]dirCred
	labels                           map[string]string // by lower-case DN
	secrets                          []string
}

func dirSetup(t *testing.T) *dirTree {
	t.Helper()
	w := startWicket(t, "")
	d := &dirTree{w: w}
	d.alice = w.newUser("alice", true)
	w.admin("", "user", "set", "alice", "--alias", "alice@example.net", "--display-name", "Alice Liddell",
		"--given-name", "Alice", "--surname", "Liddell")
	d.bob = w.newUser("bob", true)
	w.admin("", "user", "set", "bob", "--alias", "bob@example.net")
	d.carol = w.newUser("carol", false)
	d.root = newAdministrator(w, "root")
	d.dovecot = user{name: "dovecot", dn: "uid=dovecot," + dirPeople, password: "Dovecot-Service-Secret-7"}
	w.admin(d.dovecot.password+"\n", "user", "add", "dovecot", "--role", "service", "--password-stdin")
	for _, g := range [][]string{{"staff", "alice", "bob"}, {"admins", "root"}} {
		w.admin("", "group", "add", g[0])
		for _, m := range g[1:] {
			w.admin("", "group", "member-add", g[0], m)
		}
	}
	var alicePW, bobPW, rootPW string
	d.aliceApp, alicePW = w.appPassword("alice", "phone")
	d.bobApp, bobPW = w.appPassword("bob", "laptop")
	d.rootApp, rootPW = w.appPassword("root", "cli")

	// App passwords, because a password+code bind uses up a TOTP step and
	// these tests bind far more often than the window has steps.
	d.as = map[string]dirCred{
		"anonymous": {},
		"alice":     {d.alice.dn, alicePW},
		"dovecot":   {d.dovecot.dn, d.dovecot.password},
		"root":      {d.root.dn, rootPW},
	}
	d.labels = map[string]string{}
	for label, dn := range map[string]string{
		"base": dirBase, "people": dirPeople, "groups": dirGroups,
		"alice": d.alice.dn, "bob": d.bob.dn, "carol": d.carol.dn, "dovecot": d.dovecot.dn, "root": d.root.dn,
		"alice/phone": appPasswordDN(d.alice, d.aliceApp), "bob/laptop": appPasswordDN(d.bob, d.bobApp),
		"root/cli": appPasswordDN(d.root, d.rootApp),
		"staff":    dirGroupDN("staff"), "admins": dirGroupDN("admins"),
	} {
		d.labels[strings.ToLower(dn)] = label
	}
	d.secrets = []string{d.alice.password, d.alice.secret, alicePW, d.bob.password, d.bob.secret, bobPW,
		d.carol.password, d.dovecot.password, d.root.password, d.root.secret, rootPW}
	return d
}

// names turns DNs into sorted labels; a DN without one shows as itself.
func (d *dirTree) names(dns []string) []string {
	out := make([]string, 0, len(dns))
	for _, dn := range dns {
		if l, ok := d.labels[strings.ToLower(dn)]; ok {
			out = append(out, l)
		} else {
			out = append(out, "?"+dn)
		}
	}
	slices.Sort(out)
	return out
}

// dirWant is a space-separated list of labels, sorted.
func dirWant(labels string) []string {
	w := strings.Fields(labels)
	slices.Sort(w)
	return w
}

// dirEveryone is every entry of the tree, as an administrator sees it.
const dirEveryone = "base people groups alice alice/phone bob bob/laptop carol dovecot root root/cli staff admins"

// dirQuery is one search, in ldapsearch's terms.
type dirQuery struct {
	base   string
	scope  string // base, one or sub
	filter string // (objectClass=*) when empty
	attrs  []string
	opts   []string // further ldapsearch options: -A, -z 5, -E pr=…
}

func (q dirQuery) filterOrAll() string {
	if q.filter == "" {
		return "(objectClass=*)"
	}
	return q.filter
}

var dirScopes = map[string]int{"base": ldap.ScopeBaseObject, "one": ldap.ScopeSingleLevel, "sub": ldap.ScopeWholeSubtree}

// ldapsearch runs the real ldapsearch bound as one of the tree's accounts.
// Every output is checked for every secret of the tree.
func (d *dirTree) ldapsearch(t *testing.T, as string, q dirQuery) toolResult {
	t.Helper()
	return dirLDAPSearch(t, d.w, d.as[as], q, d.secrets)
}

func dirLDAPSearch(t *testing.T, w *wicket, as dirCred, q dirQuery, secrets []string) toolResult {
	t.Helper()
	args := append(toolAuth(w, as.dn, as.password), "-LLL", "-o", "ldif_wrap=no")
	args = append(args, q.opts...)
	args = append(args, "-b", q.base, "-s", q.scope, q.filterOrAll())
	r := ldapTool(t, "", "ldapsearch", append(args, q.attrs...)...)
	requireNoSecret(t, "ldapsearch", r.output(), secrets...)
	return r
}

// dial is a go-ldap connection bound as one of the tree's accounts.
func (d *dirTree) dial(t *testing.T, as string) *ldap.Conn {
	t.Helper()
	c := d.as[as]
	if c.dn == "" {
		return dialLDAP(t, d.w)
	}
	return dialBound(t, d.w, c.dn, c.password)
}

// search runs q with go-ldap, checking what arrived for secrets as
// ldapsearch does.
func (d *dirTree) search(t *testing.T, c *ldap.Conn, q dirQuery) ([]*ldap.Entry, int) {
	t.Helper()
	req := ldap.NewSearchRequest(q.base, dirScopes[q.scope], ldap.NeverDerefAliases, 0, 0, false,
		q.filterOrAll(), q.attrs, nil)
	res, err := c.Search(req)
	var entries []*ldap.Entry
	if res != nil {
		entries = res.Entries
	}
	requireNoSecret(t, "go-ldap search", dirText(entries), d.secrets...)
	return entries, resultCode(t, err)
}

// dirText prints entries as LDIF-like text, for secret checks and failures.
func dirText(entries []*ldap.Entry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "dn: %s\n", e.DN)
		for _, a := range e.Attributes {
			for _, v := range a.Values {
				fmt.Fprintf(&b, "%s: %s\n", a.Name, v)
			}
			if len(a.Values) == 0 {
				fmt.Fprintf(&b, "%s:\n", a.Name)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func dirDNs(entries []*ldap.Entry) []string {
	dns := make([]string, len(entries))
	for i, e := range entries {
		dns[i] = e.DN
	}
	return dns
}

func dirRecordDNs(recs []ldifRecord) []string {
	dns := make([]string, len(recs))
	for i, r := range recs {
		dns[i] = r.dn
	}
	return dns
}

// dirClient runs one search through one real client and reports the
// labels of the entries found and the result code.
type dirClient struct {
	name   string
	search func(t *testing.T, d *dirTree, as string, q dirQuery) ([]string, int)
}

var dirClients = []dirClient{
	{"ldapsearch", func(t *testing.T, d *dirTree, as string, q dirQuery) ([]string, int) {
		t.Helper()
		q.attrs = append([]string{"1.1"}, q.attrs...)
		r := d.ldapsearch(t, as, q)
		return d.names(dirRecordDNs(parseLDIF(t, r.stdout))), r.code
	}},
	{"go-ldap", func(t *testing.T, d *dirTree, as string, q dirQuery) ([]string, int) {
		t.Helper()
		entries, code := d.search(t, d.dial(t, as), q)
		return d.names(dirDNs(entries)), code
	}},
}

func TestSearch_ScopesReachTheRightEntries(t *testing.T) {
	d := dirSetup(t)
	phone := appPasswordDN(d.alice, d.aliceApp)
	cases := []struct{ base, scope, want string }{
		{dirBase, "base", "base"},
		{dirBase, "one", "people groups"},
		{dirBase, "sub", dirEveryone},
		{dirPeople, "base", "people"},
		{dirPeople, "one", "alice bob carol dovecot root"},
		{dirPeople, "sub", "people alice alice/phone bob bob/laptop carol dovecot root root/cli"},
		{dirGroups, "base", "groups"},
		{dirGroups, "one", "staff admins"},
		{dirGroups, "sub", "groups staff admins"},
		{d.alice.dn, "base", "alice"},
		{d.alice.dn, "one", "alice/phone"},
		{d.alice.dn, "sub", "alice alice/phone"},
		{phone, "base", "alice/phone"},
		{phone, "one", ""},
		{phone, "sub", "alice/phone"},
		{dirGroupDN("staff"), "base", "staff"},
		{dirGroupDN("staff"), "one", ""},
		// DNs compare case-insensitively, whatever case the client types.
		{strings.ToUpper(d.alice.dn), "sub", "alice alice/phone"},
		{"OU=People,DC=Example,DC=Org", "one", "alice bob carol dovecot root"},
	}
	for _, cl := range dirClients {
		t.Run(cl.name, func(t *testing.T) {
			for _, c := range cases {
				got, code := cl.search(t, d, "root", dirQuery{base: c.base, scope: c.scope})
				if want := dirWant(c.want); code != 0 || !slices.Equal(got, want) {
					t.Errorf("-s %s -b %q: %v (result %d), want %v (0)", c.scope, c.base, got, code, want)
				}
			}
		})
	}
}

func TestSearch_BaseThatIsNotThereIsNoSuchObject(t *testing.T) {
	d := dirSetup(t)
	cases := []struct {
		base string
		want int
	}{
		{"uid=nobody," + dirPeople, int(ldap.LDAPResultNoSuchObject)},
		{"appPasswordId=0000000000," + d.alice.dn, int(ldap.LDAPResultNoSuchObject)},
		{"cn=nobody," + dirGroups, int(ldap.LDAPResultNoSuchObject)},
		{"ou=machines," + dirBase, int(ldap.LDAPResultNoSuchObject)},
		// A user's RDN in the groups branch names nothing either.
		{"uid=alice," + dirGroups, int(ldap.LDAPResultNoSuchObject)},
		{"dc=example,dc=com", int(ldap.LDAPResultNoSuchObject)},
		{"not a DN", int(ldap.LDAPResultInvalidDNSyntax)},
	}
	for _, cl := range dirClients {
		t.Run(cl.name, func(t *testing.T) {
			for _, c := range cases {
				for _, scope := range []string{"base", "sub"} {
					got, code := cl.search(t, d, "root", dirQuery{base: c.base, scope: scope})
					if code != c.want || len(got) != 0 {
						t.Errorf("-s %s -b %q: %v (result %d), want nothing and %d", scope, c.base, got, code, c.want)
					}
				}
			}
		})
	}
}

func TestSearch_FiltersSelectTheRightEntries(t *testing.T) {
	d := dirSetup(t)
	const users = "alice bob carol dovecot root"
	// dovecot is a service account: an account (RFC 4524), not a person.
	const people = "alice bob carol root"
	cases := []struct{ filter, want string }{
		{"(objectClass=*)", "base people groups staff admins " + users},
		{"(uid=alice)", "alice"},
		{"(uid=nobody)", ""},
		// Attribute names and values compare case-insensitively.
		{"(UID=ALICE)", "alice"},
		{"(Mail=Alice@Example.ORG)", "alice"},
		{"(objectclass=INETORGPERSON)", people},
		{"(objectClass=account)", "dovecot"},
		{"(wicketRole=service)", "dovecot"},
		{"(&(objectClass=inetOrgPerson)(!(wicketRole=service)))", people},
		{"(wicketRole=ADMIN)", "root"},
		{"(objectClass=groupOfNames)", "staff admins"},
		{"(objectClass=wicketAccount)", users},
		// Presence.
		{"(mailAlternateAddress=*)", "alice bob"},
		{"(DISPLAYNAME=*)", "alice"},
		{"(!(mail=*))", "base people groups dovecot staff admins"},
		// Substrings: initial, any, final and their mixtures.
		{"(mail=a*)", "alice"},
		{"(mail=*@example.org)", "alice bob carol root"},
		{"(mailAlternateAddress=*.NET)", "alice bob"},
		{"(cn=*lid*)", "alice"},
		{"(mail=b*@*.org)", "bob"},
		{"(displayName=a*e*dd*l)", "alice"},
		{"(sn=l*l)", "alice"},
		{"(uid=*o*)", "bob carol dovecot root"},
		{"(uid=a*z*)", ""},
		// Ordering and approximate matches.
		{"(uid>=c)", "carol dovecot root"},
		{"(uid<=bob)", "alice bob"},
		{"(createTimestamp>=20000101000000Z)", "staff admins " + users},
		{"(createTimestamp<=20000101000000Z)", ""},
		{"(givenName~=ALICE)", "alice"},
		// Nested and, or, not.
		{"(&(objectClass=inetOrgPerson)(|(mail=a*)(mailAlternateAddress=*@example.net))(!(uid=bob)))", "alice"},
		{"(|(cn=staff)(uid=carol))", "staff carol"},
		{"(&(uid=alice)(uid=bob))", ""},
		{"(&(objectClass=inetOrgPerson)(!(|(uid=alice)(uid=bob))))", "carol root"},
		{"(accountStatus=active)", users},
		// Groups, from both sides, as Postfix and Dovecot ask.
		{"(memberOf=cn=staff,ou=groups,dc=example,dc=org)", "alice bob"},
		{"(memberof=CN=Staff,OU=Groups,DC=Example,DC=Org)", "alice bob"},
		{"(member=uid=alice,ou=people,dc=example,dc=org)", "staff"},
		{"(&(objectClass=inetOrgPerson)(!(memberOf=*)))", "carol"},
		{"(&(objectClass=inetOrgPerson)(memberOf=cn=admins,ou=groups,dc=example,dc=org))", "root"},
	}
	for _, cl := range dirClients {
		t.Run(cl.name, func(t *testing.T) {
			for _, c := range cases {
				got, code := cl.search(t, d, "dovecot", dirQuery{base: dirBase, scope: "sub", filter: c.filter})
				if want := dirWant(c.want); code != 0 || !slices.Equal(got, want) {
					t.Errorf("%s: %v (result %d), want %v (0)", c.filter, got, code, want)
				}
			}
		})
	}
}

// member and memberOf have DN syntax with distinguishedNameMatch (the
// subschema says so): an assertion that spells the same DN differently,
// as administrators paste it into Postfix maps, must still match.
func TestSearch_MemberOfComparesAsDistinguishedNames(t *testing.T) {
	d := dirSetup(t)
	cases := []struct{ filter, want string }{
		{"(memberOf=cn=staff, ou=groups, dc=example, dc=org)", "alice bob"},
		{"(memberOf=cn = staff,ou = groups,dc = example,dc = org)", "alice bob"},
		// \5c is a backslash in a filter: the DN has the value escape \61, "a".
		{`(memberOf=cn=st\5c61ff,ou=groups,dc=example,dc=org)`, "alice bob"},
		{"(member=uid=alice, ou=people, dc=example, dc=org)", "staff"},
	}
	for _, cl := range dirClients {
		t.Run(cl.name, func(t *testing.T) {
			for _, c := range cases {
				got, code := cl.search(t, d, "dovecot", dirQuery{base: dirBase, scope: "sub", filter: c.filter})
				if want := dirWant(c.want); code != 0 || !slices.Equal(got, want) {
					t.Errorf("%s: %v (result %d), want %v (0)", c.filter, got, code, want)
				}
			}
		})
	}
}

func TestSearch_AttributeSelection(t *testing.T) {
	d := dirSetup(t)
	userAttrs := "objectClass uid cn sn givenName displayName mail mailAlternateAddress memberOf accountStatus wicketRole appPasswordId"
	// The operational attributes of every entry (RFC 4512 3.4, RFC 4530,
	// RFC 5020); hasSubordinates is TRUE, as alice sees her app password.
	ops := "createTimestamp modifyTimestamp entryUUID entryDN structuralObjectClass hasSubordinates subschemaSubentry"
	cases := []struct {
		name  string
		attrs []string
		want  string
	}{
		{"no list: every user attribute", nil, userAttrs},
		{"*: every user attribute", []string{"*"}, userAttrs},
		{"+: operational attributes only", []string{"+"}, ops},
		{"* and +", []string{"*", "+"}, userAttrs + " " + ops},
		{"1.1: no attributes", []string{"1.1"}, ""},
		{"1.1 with a name: that name", []string{"1.1", "uid"}, "uid"},
		{"named, in any case", []string{"MAIL", "cn", "memberof"}, "mail cn memberOf"},
		{"an operational attribute by name", []string{"createTimestamp", "uid"}, "createTimestamp uid"},
		{"an attribute the entry lacks", []string{"telephoneNumber"}, ""},
		{"userPassword by name", []string{"userPassword"}, ""},
		{"* and userPassword", []string{"*", "userPassword"}, userAttrs},
	}
	lower := func(names []string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = strings.ToLower(n)
		}
		slices.Sort(out)
		return out
	}
	q := dirQuery{base: d.alice.dn, scope: "base"}
	t.Run("ldapsearch", func(t *testing.T) {
		for _, c := range cases {
			q.attrs = c.attrs
			r := d.ldapsearch(t, "alice", q)
			requireCode(t, c.name, r, 0)
			recs := parseLDIF(t, r.stdout)
			if len(recs) != 1 {
				t.Fatalf("%s: %d entries, want alice's:\n%s", c.name, len(recs), r.stdout)
			}
			if got, want := lower(slices.Collect(maps.Keys(recs[0].attrs))), lower(strings.Fields(c.want)); !slices.Equal(got, want) {
				t.Errorf("%s: attributes %v, want %v", c.name, got, want)
			}
		}
	})
	t.Run("go-ldap", func(t *testing.T) {
		c := d.dial(t, "alice")
		for _, tc := range cases {
			q.attrs = tc.attrs
			entries, code := d.search(t, c, q)
			if code != 0 || len(entries) != 1 {
				t.Fatalf("%s: %d entries (result %d), want alice's", tc.name, len(entries), code)
			}
			var got []string
			for _, a := range entries[0].Attributes {
				got = append(got, a.Name)
			}
			if got, want := lower(got), lower(strings.Fields(tc.want)); !slices.Equal(got, want) {
				t.Errorf("%s: attributes %v, want %v", tc.name, got, want)
			}
		}
	})
	t.Run("values of the entry", func(t *testing.T) {
		r := d.ldapsearch(t, "alice", dirQuery{base: d.alice.dn, scope: "base", attrs: []string{"*", "+"}})
		requireCode(t, "ldapsearch", r, 0)
		recs := parseLDIF(t, r.stdout)
		if len(recs) != 1 {
			t.Fatalf("%d entries, want alice's:\n%s", len(recs), r.stdout)
		}
		e := recs[0]
		for attr, want := range map[string][]string{
			"objectClass":           {"inetOrgPerson", "organizationalPerson", "person", "top", "wicketAccount"},
			"uid":                   {"alice"},
			"cn":                    {"Alice Liddell"},
			"sn":                    {"Liddell"},
			"givenName":             {"Alice"},
			"displayName":           {"Alice Liddell"},
			"mail":                  {"alice@example.org"},
			"mailAlternateAddress":  {"alice@example.net"},
			"memberOf":              {dirGroupDN("staff")},
			"accountStatus":         {"active"},
			"wicketRole":            {"user"},
			"appPasswordId":         {d.aliceApp},
			"entryDN":               {d.alice.dn},
			"structuralObjectClass": {"inetOrgPerson"},
			"hasSubordinates":       {"TRUE"},
			"subschemaSubentry":     {"cn=Subschema"},
		} {
			got := slices.Sorted(slices.Values(e.get(attr)))
			if !slices.Equal(got, want) {
				t.Errorf("%s: %q, want %q", attr, got, want)
			}
		}
		if ts := e.first("createTimestamp"); !recent(parseGeneralized(t, ts)) {
			t.Errorf("createTimestamp %q, want about now", ts)
		}
	})
	t.Run("typesOnly", func(t *testing.T) {
		r := d.ldapsearch(t, "alice", dirQuery{base: d.alice.dn, scope: "sub", attrs: []string{"*", "+"}, opts: []string{"-A"}})
		requireCode(t, "ldapsearch -A", r, 0)
		recs := parseLDIF(t, r.stdout)
		if len(recs) != 2 {
			t.Fatalf("ldapsearch -A: %d entries, want alice's and her app password's:\n%s", len(recs), r.stdout)
		}
		for _, e := range recs {
			if len(e.attrs) == 0 {
				t.Errorf("ldapsearch -A: %s has no attribute names", e.dn)
			}
			for name, vals := range e.attrs {
				if slices.ContainsFunc(vals, func(v string) bool { return v != "" }) {
					t.Errorf("ldapsearch -A: %s shows values of %s: %q", e.dn, name, vals)
				}
			}
		}
		res, err := d.dial(t, "alice").Search(ldap.NewSearchRequest(d.alice.dn, ldap.ScopeBaseObject,
			ldap.NeverDerefAliases, 0, 0, true, "(objectClass=*)", nil, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("go-ldap typesOnly: %v", err)
		}
		e := res.Entries[0]
		if len(e.Attributes) == 0 {
			t.Errorf("go-ldap typesOnly: want names without values, got\n%s", dirText(res.Entries))
		}
		for _, a := range e.Attributes {
			if len(a.Values) != 0 {
				t.Errorf("go-ldap typesOnly: %s has values %q", a.Name, a.Values)
			}
		}
	})
}

// dirSecretAttr: no attribute a client sees may hold a password, a seed or
// a verifier; appPasswordId is only the id.
var dirSecretAttr = regexp.MustCompile(`(?i)password|secret|totp|seed|verifier|hash|salt`)

func TestSearch_NoSecretInAnyOutput(t *testing.T) {
	d := dirSetup(t)
	asked := []string{"*", "+", "userPassword", "authPassword", "totpSecret", "oathSecret", "appPassword"}
	for _, as := range []string{"alice", "dovecot", "root"} {
		t.Run(as, func(t *testing.T) {
			for _, opts := range [][]string{nil, {"-A"}} {
				// ldapsearch checks its own output for every secret.
				r := d.ldapsearch(t, as, dirQuery{base: dirBase, scope: "sub", attrs: asked, opts: opts})
				requireCode(t, "ldapsearch", r, 0)
				for _, e := range parseLDIF(t, r.stdout) {
					for name := range e.attrs {
						if name != "apppasswordid" && dirSecretAttr.MatchString(name) {
							t.Errorf("%s shows attribute %s", e.dn, name)
						}
					}
				}
			}
			entries, code := d.search(t, d.dial(t, as), dirQuery{base: dirBase, scope: "sub", attrs: asked})
			if code != 0 || len(entries) == 0 {
				t.Errorf("go-ldap: %d entries, result %d", len(entries), code)
			}
			// Nor may a filter on a secret tell a right guess from a wrong one.
			for _, cl := range dirClients {
				for _, f := range []string{"(userPassword=*)", "(userPassword=" + d.alice.password + ")",
					"(|(userPassword=Correct*)(totpSecret=*)(appPassword=*))"} {
					got, code := cl.search(t, d, as, dirQuery{base: dirBase, scope: "sub", filter: f})
					if code != 0 || len(got) != 0 {
						t.Errorf("%s: %s: %v (result %d), want nothing", cl.name, f, got, code)
					}
				}
			}
		})
	}
}

func TestSearch_EachRoleSeesItsShareOfTheTree(t *testing.T) {
	d := dirSetup(t)
	sub := dirQuery{base: dirBase, scope: "sub"}
	noSuch := int(ldap.LDAPResultNoSuchObject)

	t.Run("a user sees only its own entry and app passwords", func(t *testing.T) {
		for _, cl := range dirClients {
			got, code := cl.search(t, d, "alice", sub)
			if want := dirWant("base people groups alice alice/phone"); code != 0 || !slices.Equal(got, want) {
				t.Errorf("%s: %v (result %d), want %v", cl.name, got, code, want)
			}
			got, code = cl.search(t, d, "alice", dirQuery{base: dirBase, scope: "sub", filter: "(|(uid=bob)(cn=staff))"})
			if code != 0 || len(got) != 0 {
				t.Errorf("%s: a filter naming others found %v (result %d)", cl.name, got, code)
			}
			// Others' entries answer as a DN that does not exist, so a
			// user cannot even learn who has an account.
			for _, base := range []string{d.bob.dn, appPasswordDN(d.bob, d.bobApp), dirGroupDN("staff"), "uid=nobody," + dirPeople} {
				got, code := cl.search(t, d, "alice", dirQuery{base: base, scope: "base"})
				if code != noSuch || len(got) != 0 {
					t.Errorf("%s: -b %s: %v (result %d), want nothing and %d", cl.name, base, got, code, noSuch)
				}
			}
		}
	})
	t.Run("a service sees every user and group but no app password", func(t *testing.T) {
		for _, cl := range dirClients {
			got, code := cl.search(t, d, "dovecot", sub)
			if want := dirWant("base people groups alice bob carol dovecot root staff admins"); code != 0 || !slices.Equal(got, want) {
				t.Errorf("%s: %v (result %d), want %v", cl.name, got, code, want)
			}
			for _, f := range []string{"(appPasswordId=*)", "(objectClass=wicketAppPassword)", "(appPasswordId=" + d.aliceApp + ")"} {
				got, code := cl.search(t, d, "dovecot", dirQuery{base: dirBase, scope: "sub", filter: f})
				if code != 0 || len(got) != 0 {
					t.Errorf("%s: %s found %v (result %d), want nothing", cl.name, f, got, code)
				}
			}
			got, code = cl.search(t, d, "dovecot", dirQuery{base: appPasswordDN(d.alice, d.aliceApp), scope: "base"})
			if code != noSuch || len(got) != 0 {
				t.Errorf("%s: an app password entry: %v (result %d), want nothing and %d", cl.name, got, code, noSuch)
			}
		}
		r := d.ldapsearch(t, "dovecot", dirQuery{base: dirBase, scope: "sub", attrs: []string{"*", "+", "appPasswordId"}})
		requireCode(t, "ldapsearch", r, 0)
		for _, e := range parseLDIF(t, r.stdout) {
			if ids := e.get("appPasswordId"); ids != nil {
				t.Errorf("the service sees appPasswordId %v of %s", ids, e.dn)
			}
		}
	})
	t.Run("an administrator sees everything", func(t *testing.T) {
		for _, cl := range dirClients {
			got, code := cl.search(t, d, "root", sub)
			if want := dirWant(dirEveryone); code != 0 || !slices.Equal(got, want) {
				t.Errorf("%s: %v (result %d), want %v", cl.name, got, code, want)
			}
		}
		r := d.ldapsearch(t, "root", dirQuery{base: dirPeople, scope: "one", attrs: []string{"appPasswordId"}})
		requireCode(t, "ldapsearch", r, 0)
		recs := parseLDIF(t, r.stdout)
		for who, id := range map[string]string{d.alice.dn: d.aliceApp, d.bob.dn: d.bobApp, d.root.dn: d.rootApp} {
			if e, _ := recordByDN(t, recs, who); !slices.Equal(e.get("appPasswordId"), []string{id}) {
				t.Errorf("%s: appPasswordId %v, want [%s]", who, e.get("appPasswordId"), id)
			}
		}
	})
	t.Run("anonymous is refused with insufficientAccessRights", func(t *testing.T) {
		for _, cl := range dirClients {
			for _, base := range []string{dirBase, dirPeople, d.alice.dn} {
				got, code := cl.search(t, d, "anonymous", dirQuery{base: base, scope: "sub"})
				if code != int(ldap.LDAPResultInsufficientAccessRights) || len(got) != 0 {
					t.Errorf("%s: -b %s: %v (result %d), want nothing and 50", cl.name, base, got, code)
				}
			}
		}
	})
}

func TestSearch_SizeLimitEndsWithSizeLimitExceeded(t *testing.T) {
	d := dirSetup(t)
	exceeded := int(ldap.LDAPResultSizeLimitExceeded)
	r := d.ldapsearch(t, "dovecot", dirQuery{base: dirBase, scope: "sub", attrs: []string{"uid"}, opts: []string{"-z", "5"}})
	if recs := parseLDIF(t, r.stdout); r.code != exceeded || len(recs) != 5 {
		t.Errorf("ldapsearch -z 5: %d entries, result %d; want 5 and %d\n%s", len(recs), r.code, exceeded, r.output())
	}
	// Exactly as many matches as the limit is no excess.
	r = d.ldapsearch(t, "dovecot", dirQuery{base: dirPeople, scope: "one", attrs: []string{"uid"}, opts: []string{"-z", "5"}})
	if recs := parseLDIF(t, r.stdout); r.code != 0 || len(recs) != 5 {
		t.Errorf("ldapsearch -z 5 of the five users: %d entries, result %d; want 5 and 0\n%s", len(recs), r.code, r.output())
	}

	c := d.dial(t, "dovecot")
	res, err := c.Search(ldap.NewSearchRequest(dirBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 5, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if code := resultCode(t, err); code != exceeded || len(res.Entries) != 5 {
		t.Errorf("go-ldap SizeLimit 5: %d entries, result %d; want 5 and %d", len(res.Entries), code, exceeded)
	}
	// The connection is still good for the next search.
	if entries, code := d.search(t, c, dirQuery{base: d.alice.dn, scope: "base"}); code != 0 || len(entries) != 1 {
		t.Errorf("search after sizeLimitExceeded: %d entries, result %d", len(entries), code)
	}
}

func TestRootDSE_AdvertisesSubschemaSASLPlainAndPaging(t *testing.T) {
	w := startWicket(t, "")
	r := dirLDAPSearch(t, w, dirCred{}, dirQuery{base: "", scope: "base", attrs: []string{"+"}}, nil)
	requireCode(t, "ldapsearch of the root DSE", r, 0)
	recs := parseLDIF(t, r.stdout)
	if len(recs) != 1 || recs[0].dn != "" {
		t.Fatalf("want the root DSE alone:\n%s", r.stdout)
	}
	e := recs[0]
	for attr, want := range map[string]string{
		"subschemaSubentry":       "cn=Subschema",
		"supportedSASLMechanisms": "PLAIN",
		"supportedControl":        ldap.ControlTypePaging,
		"namingContexts":          dirBase,
		"supportedLDAPVersion":    "3",
		"supportedExtension":      "1.3.6.1.4.1.4203.1.11.3",
	} {
		if !slices.Contains(e.get(attr), want) {
			t.Errorf("%s: %q, want %q among them", attr, e.get(attr), want)
		}
	}
	// Every root DSE attribute but objectClass is operational (RFC 4512
	// 5.1): a plain search shows none of them.
	r = dirLDAPSearch(t, w, dirCred{}, dirQuery{base: "", scope: "base"}, nil)
	if recs := parseLDIF(t, r.stdout); len(recs) != 1 || len(recs[0].attrs) != 1 || recs[0].get("objectClass") == nil {
		t.Errorf("the root DSE without '+': want objectClass alone:\n%s", r.stdout)
	}
}

func TestSubschema_DescribesWicketsClassesAndAttributes(t *testing.T) {
	w := startWicket(t, "")
	// The filter is the one RFC 4512 4.4 tells clients to use.
	for _, base := range []string{"cn=Subschema", "CN=subschema"} {
		r := dirLDAPSearch(t, w, dirCred{}, dirQuery{base: base, scope: "base", filter: "(objectClass=subschema)",
			attrs: []string{"objectClasses", "attributeTypes"}}, nil)
		requireCode(t, "ldapsearch -b "+base, r, 0)
		recs := parseLDIF(t, r.stdout)
		if len(recs) != 1 {
			t.Fatalf("-b %s: want the subschema entry:\n%s", base, r.stdout)
		}
		e := recs[0]
		for attr, names := range map[string][]string{
			"objectClasses":  {"wicketAccount", "wicketAppPassword", "inetOrgPerson", "groupOfNames"},
			"attributeTypes": {"appPasswordId", "mailAlternateAddress", "memberOf", "uid", "mail", "accountStatus"},
		} {
			defs := e.get(attr)
			for _, def := range defs {
				if !strings.HasPrefix(def, "( ") || !strings.HasSuffix(def, " )") {
					t.Errorf("-b %s: %s value %q is not a description (RFC 4512 4.1)", base, attr, def)
				}
			}
			for _, n := range names {
				if !slices.ContainsFunc(defs, func(def string) bool { return strings.Contains(def, "NAME '"+n+"'") }) {
					t.Errorf("-b %s: %s has no NAME '%s'", base, attr, n)
				}
			}
		}
		if e.get("ldapSyntaxes") != nil {
			t.Errorf("-b %s: ldapSyntaxes returned though not asked for", base)
		}
	}
}

// --- paging ---

// dirAddAccounts writes n accounts named prefix0000… straight into the
// running server's database through the backend package, as `wicket user
// add` does but without a password: hashing one per account is what makes
// the CLI too slow for a thousand, and a search needs none. The server
// reads a fresh snapshot for every search, so it sees them at once.
func dirAddAccounts(t *testing.T, w *wicket, prefix string, n int) {
	t.Helper()
	cfg, err := config.Load(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	keys, err := backend.LoadKeys(cfg.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := backend.New(store, keys, backend.Options{
		Argon2: backend.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		Logger: slog.New(slog.DiscardHandler),
	})
	defer svc.Close()
	ctx := context.Background()
	for i := range n {
		name := fmt.Sprintf("%s%04d", prefix, i)
		if _, err := svc.AddUser(ctx, name, name+"@example.org", "", backend.RoleUser); err != nil {
			t.Fatalf("adding %s: %v", name, err)
		}
	}
}

// dirPagedResults is "# pagedresults: estimate=1000 cookie=…", which
// ldapsearch -E pr=N/noprompt prints after each page.
var dirPagedResults = regexp.MustCompile(`^# pagedresults: estimate=(\d+) cookie=(\S*)$`)

type dirPage struct {
	uids     []string
	estimate int
	cookie   string
}

// dirPages splits ldapsearch's paged output into its pages.
func dirPages(t *testing.T, out string) []dirPage {
	t.Helper()
	var pages []dirPage
	var cur []string
	for _, line := range strings.Split(out, "\n") {
		if uid, ok := strings.CutPrefix(line, "uid: "); ok {
			cur = append(cur, uid)
		}
		if m := dirPagedResults.FindStringSubmatch(line); m != nil {
			est, _ := strconv.Atoi(m[1])
			pages = append(pages, dirPage{uids: cur, estimate: est, cookie: m[2]})
			cur = nil
		}
	}
	if len(cur) != 0 {
		t.Errorf("%d entries after the last page", len(cur))
	}
	return pages
}

func dirDistinct(t *testing.T, what string, uids []string, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, u := range uids {
		if seen[u] {
			t.Errorf("%s: %s arrived twice", what, u)
		}
		seen[u] = true
	}
	if len(seen) != want {
		t.Errorf("%s: %d distinct entries, want %d", what, len(seen), want)
	}
}

func TestSearch_PagedResultsWalkAThousandUsers(t *testing.T) {
	w := startWicket(t, "")
	// Its name is outside the filter's p*, so that exactly the thousand match.
	svc := user{name: "relay", dn: "uid=relay," + dirPeople, password: "Relay-Service-Secret-9"}
	w.admin(svc.password+"\n", "user", "add", svc.name, "--role", "service", "--password-stdin")
	start := time.Now()
	dirAddAccounts(t, w, "p", 1000)
	t.Logf("1000 accounts added in %v", time.Since(start).Round(time.Millisecond))
	const filter = "(&(objectClass=inetOrgPerson)(uid=p*))"

	t.Run("ldapsearch", func(t *testing.T) {
		r := dirLDAPSearch(t, w, dirCred{svc.dn, svc.password}, dirQuery{base: dirPeople, scope: "one", filter: filter,
			attrs: []string{"uid"}, opts: []string{"-E", "pr=100/noprompt"}}, []string{svc.password})
		requireCode(t, "ldapsearch -E pr=100/noprompt", r, 0)
		pages := dirPages(t, r.stdout)
		if len(pages) != 10 {
			t.Fatalf("%d pages, want 10", len(pages))
		}
		var all []string
		for i, p := range pages {
			// The estimate is slapd's: the candidates (every account, as
			// uid=p* is no index's) before the last page, the exact count on it.
			last := i == len(pages)-1
			if len(p.uids) != 100 || (last && p.estimate != 1000) || p.estimate < 1000 || p.estimate > 1010 {
				t.Errorf("page %d: %d entries, estimate %d; want 100 and 1000 (1000-1010 before the last)", i+1, len(p.uids), p.estimate)
			}
			if last := i == len(pages)-1; last != (p.cookie == "") {
				t.Errorf("page %d: cookie %q; want one on every page but the last", i+1, p.cookie)
			}
			all = append(all, p.uids...)
		}
		dirDistinct(t, "ldapsearch", all, 1000)
	})

	c := dialBound(t, w, svc.dn, svc.password)
	newReq := func(ctl ldap.Control) *ldap.SearchRequest {
		var ctls []ldap.Control
		if ctl != nil {
			ctls = []ldap.Control{ctl}
		}
		return ldap.NewSearchRequest(dirPeople, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			filter, []string{"uid"}, ctls)
	}
	uidsOf := func(entries []*ldap.Entry) []string {
		out := make([]string, len(entries))
		for i, e := range entries {
			out[i] = e.GetAttributeValue("uid")
		}
		return out
	}

	t.Run("go-ldap SearchWithPaging", func(t *testing.T) {
		res, err := c.SearchWithPaging(newReq(nil), 100)
		if err != nil {
			t.Fatal(err)
		}
		dirDistinct(t, "SearchWithPaging", uidsOf(res.Entries), 1000)
	})

	t.Run("go-ldap page by page", func(t *testing.T) {
		ctl := ldap.NewControlPaging(100)
		req := newReq(ctl)
		var all []string
		pages := 0
		for {
			pages++
			if pages > 20 {
				t.Fatal("the cookie never came back empty")
			}
			res, err := c.Search(req)
			if err != nil {
				t.Fatalf("page %d: %v", pages, err)
			}
			if len(res.Entries) > 100 {
				t.Errorf("page %d: %d entries, more than the page size", pages, len(res.Entries))
			}
			all = append(all, uidsOf(res.Entries)...)
			resp, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
			if !ok {
				t.Fatalf("page %d: no paged results control in the response", pages)
			}
			if len(resp.Cookie) == 0 {
				break
			}
			ctl.SetCookie(resp.Cookie)
		}
		if pages != 10 {
			t.Errorf("%d pages, want 10", pages)
		}
		dirDistinct(t, "page by page", all, 1000)
	})

	t.Run("a cookie the server never gave is an error", func(t *testing.T) {
		ctl := ldap.NewControlPaging(100)
		ctl.SetCookie([]byte("not-a-cookie-of-this-server"))
		res, err := c.Search(newReq(ctl))
		if resultCode(t, err) == 0 {
			t.Errorf("search with a made-up cookie succeeded")
		}
		if res != nil && len(res.Entries) != 0 {
			t.Errorf("search with a made-up cookie sent %d entries", len(res.Entries))
		}
	})

	t.Run("a cookie from another search is an error", func(t *testing.T) {
		ctl := ldap.NewControlPaging(100)
		res, err := c.Search(newReq(ctl))
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if resp == nil || len(resp.Cookie) == 0 {
			t.Fatal("the first page came without a cookie")
		}
		other := ldap.NewControlPaging(100)
		other.SetCookie(resp.Cookie)
		req := newReq(other)
		req.Filter = "(uid=p0*)"
		res, err = c.Search(req)
		if resultCode(t, err) == 0 {
			t.Errorf("a cookie reused with another filter succeeded")
		}
		if res != nil && len(res.Entries) != 0 {
			t.Errorf("a cookie reused with another filter sent %d entries", len(res.Entries))
		}
	})
}
