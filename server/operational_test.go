package server

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

const (
	peopleDN = "ou=people," + testBase
	groupsDN = "ou=groups," + testBase
)

// bindAdmin adds root, an administrator, and binds a connection as root
// with its app password.
func (e *env) bindAdmin(t *testing.T) *ldap.Conn {
	t.Helper()
	ctx := context.Background()
	if _, err := e.svc.User(ctx, "root"); err != nil {
		e.addUser(ctx, "root", "root@example.com", "root's own password")
		if err := e.svc.SetRole(ctx, "root", backend.RoleAdmin); err != nil {
			t.Fatal(err)
		}
	}
	aps, err := e.svc.CreateAppPassword(ctx, "root", "a script")
	if err != nil {
		t.Fatal(err)
	}
	l := e.dial(t)
	if err := l.Bind("root", aps.Password); err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *env) bindService(t *testing.T) *ldap.Conn {
	t.Helper()
	if _, err := e.svc.User(context.Background(), svcName); err != nil {
		e.addService(t)
	}
	l := e.dial(t)
	if err := l.Bind(svcDN, svcPassword); err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *env) bindAlice(t *testing.T) *ldap.Conn {
	t.Helper()
	l := e.dial(t)
	if err := l.Bind("alice", e.appPassword); err != nil {
		t.Fatal(err)
	}
	return l
}

func searchAll(t *testing.T, l *ldap.Conn, base string, scope int, filter string, attrs ...string) []*ldap.Entry {
	t.Helper()
	res, err := l.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		t.Fatalf("search %s %s: %v", base, filter, err)
	}
	return res.Entries
}

func one(t *testing.T, l *ldap.Conn, base string, attrs ...string) *ldap.Entry {
	t.Helper()
	es := searchAll(t, l, base, ldap.ScopeBaseObject, "(objectClass=*)", attrs...)
	if len(es) != 1 {
		t.Fatalf("%s: %d entries", base, len(es))
	}
	return es[0]
}

func dns(es []*ldap.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.DN)
	}
	return out
}

func names(e *ldap.Entry) []string {
	var out []string
	for _, a := range e.Attributes {
		out = append(out, a.Name)
	}
	return out
}

// Operational attributes come back for "+" or by name (RFC 3673, RFC 4511
// 4.5.1.8), never for "*" or an empty list, and say what the entry is.
func TestSearch_OperationalAttributesForPlusOrByNameOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.bindAlice(t)
	ops := []string{"entryUUID", "createTimestamp", "modifyTimestamp", "entryDN", "structuralObjectClass",
		"hasSubordinates", "subschemaSubentry"}
	for _, attrs := range [][]string{nil, {"*"}, {"uid", "cn"}} {
		got := names(one(t, l, aliceDN, attrs...))
		for _, op := range ops {
			if slices.Contains(got, op) {
				t.Errorf("attributes %q returned %s: %v", attrs, op, got)
			}
		}
	}
	all := one(t, l, aliceDN, "+")
	if got := names(all); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(ops))) {
		t.Errorf("+ returned %v, want %v", got, ops)
	}
	u, err := backend.ParseUUID(all.GetAttributeValue("entryUUID"))
	if err != nil || u[6]>>4 != 4 {
		t.Errorf("entryUUID %q: %v, want a random UUID", all.GetAttributeValue("entryUUID"), err)
	}
	if d, _ := e.svc.Directory(context.Background()); d.Account("alice").UUID != u {
		t.Errorf("entryUUID %s, the account's is %s", u, d.Account("alice").UUID)
	}
	for attr, want := range map[string]string{
		"entryDN":               aliceDN,
		"structuralObjectClass": "inetOrgPerson",
		"hasSubordinates":       "TRUE", // alice sees her app password below
		"subschemaSubentry":     "cn=Subschema",
		"createTimestamp":       "20310506070800Z",
		"modifyTimestamp":       "20310506070800Z",
	} {
		if got := all.GetAttributeValue(attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	both := one(t, l, aliceDN, "*", "+")
	if !slices.Contains(names(both), "uid") || !slices.Contains(names(both), "entryUUID") {
		t.Errorf("* and + returned %v", names(both))
	}
	byName := one(t, l, aliceDN, "ENTRYUUID", "mail")
	if got := names(byName); !slices.Equal(got, []string{"mail", "entryUUID"}) {
		t.Errorf("by name: %v", got)
	}
}

// Every entry of the tree has them, with its own structural class; the
// entries without a row have UUIDs that stay with the database.
func TestSearch_EveryEntryHasItsOperationalAttributes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.CreateGroup(ctx, "staff"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetGroupMember(ctx, "staff", "alice", true); err != nil {
		t.Fatal(err)
	}
	l := e.bindAdmin(t)
	aps, err := e.svc.AppPasswords(ctx, "alice")
	if err != nil || len(aps) != 1 {
		t.Fatal(aps, err)
	}
	apDN := "appPasswordId=" + aps[0].ID + "," + aliceDN
	for _, tc := range []struct {
		dn, structural, subordinates string
		timestamps                   bool
	}{
		{testBase, "organization", "TRUE", false},
		{peopleDN, "organizationalUnit", "TRUE", false},
		{groupsDN, "organizationalUnit", "TRUE", false},
		{aliceDN, "inetOrgPerson", "TRUE", true},
		{"uid=root," + peopleDN, "inetOrgPerson", "TRUE", true},
		{apDN, "wicketAppPassword", "FALSE", true},
		{"cn=staff," + groupsDN, "groupOfNames", "FALSE", true},
		{"cn=Subschema", "subentry", "FALSE", false},
	} {
		got := one(t, l, tc.dn, "+")
		if _, err := backend.ParseUUID(got.GetAttributeValue("entryUUID")); err != nil {
			t.Errorf("%s: entryUUID %q", tc.dn, got.GetAttributeValue("entryUUID"))
		}
		if v := got.GetAttributeValue("structuralObjectClass"); v != tc.structural {
			t.Errorf("%s: structuralObjectClass %q, want %s", tc.dn, v, tc.structural)
		}
		if v := got.GetAttributeValue("hasSubordinates"); v != tc.subordinates {
			t.Errorf("%s: hasSubordinates %q, want %s", tc.dn, v, tc.subordinates)
		}
		if v := got.GetAttributeValue("entryDN"); !strings.EqualFold(v, tc.dn) {
			t.Errorf("%s: entryDN %q", tc.dn, v)
		}
		if v := got.GetAttributeValue("subschemaSubentry"); v != "cn=Subschema" {
			t.Errorf("%s: subschemaSubentry %q", tc.dn, v)
		}
		if has := got.GetAttributeValue("modifyTimestamp") != "" && got.GetAttributeValue("createTimestamp") != ""; has != tc.timestamps {
			t.Errorf("%s: timestamps %v, want %v (%v)", tc.dn, has, tc.timestamps, names(got))
		}
	}
	if got := one(t, l, apDN, "+").GetAttributeValue("entryUUID"); got != aps[0].UUID.String() {
		t.Errorf("app password's entryUUID %s, stored %s", got, aps[0].UUID)
	}

	// The same on another connection; another database has others.
	base := one(t, l, testBase, "entryUUID").GetAttributeValue("entryUUID")
	if again := one(t, e.bindAdmin(t), strings.ToUpper(testBase), "entryUUID").GetAttributeValue("entryUUID"); again != base {
		t.Errorf("the base's entryUUID %s, then %s", base, again)
	}
	other := newEnv(t)
	if theirs := one(t, other.bindAdmin(t), testBase, "entryUUID").GetAttributeValue("entryUUID"); theirs == base {
		t.Errorf("two databases give their base the same entryUUID %s", base)
	}
}

// (entryUUID=...) finds the entry, whatever the case of the digits; an
// account is found through the index.
func TestSearch_ByEntryUUID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.CreateGroup(ctx, "staff"); err != nil {
		t.Fatal(err)
	}
	e.addUser(ctx, "bob", "bob@example.com", "bob's own password")
	admin := e.bindAdmin(t)
	uuidOf := map[string]string{}
	for _, en := range searchAll(t, admin, testBase, ldap.ScopeWholeSubtree, "(objectClass=*)", "entryUUID") {
		uuidOf[en.DN] = en.GetAttributeValue("entryUUID")
	}
	aps, err := e.svc.AppPasswords(ctx, "bob")
	if err != nil || len(aps) != 1 {
		t.Fatal(aps, err)
	}
	bobDN := "uid=bob," + peopleDN
	bobAppDN := "appPasswordId=" + aps[0].ID + "," + bobDN
	for _, dn := range []string{testBase, peopleDN, aliceDN, bobDN, bobAppDN, "cn=staff," + groupsDN} {
		u := uuidOf[dn]
		if u == "" {
			t.Fatalf("%s has no entryUUID (%v)", dn, uuidOf)
		}
		for _, spelled := range []string{u, strings.ToUpper(u)} {
			if got := dns(searchAll(t, admin, testBase, ldap.ScopeWholeSubtree, "(entryUUID="+spelled+")", "1.1")); !slices.Equal(got, []string{dn}) {
				t.Errorf("(entryUUID=%s) found %v, want %s", spelled, got, dn)
			}
		}
	}
	// Nextcloud's form: an AND with the class, below people.
	f := "(&(objectClass=inetOrgPerson)(entryUUID=" + uuidOf[bobDN] + "))"
	if got := dns(searchAll(t, admin, peopleDN, ldap.ScopeWholeSubtree, f, "uid")); !slices.Equal(got, []string{bobDN}) {
		t.Errorf("%s found %v", f, got)
	}
	for _, f := range []string{"(entryUUID=" + backend.NewUUID().String() + ")", "(entryUUID=not-a-uuid)"} {
		if got := searchAll(t, admin, testBase, ldap.ScopeWholeSubtree, f, "1.1"); len(got) != 0 {
			t.Errorf("%s found %v", f, dns(got))
		}
	}

	// What a session cannot read, it cannot find by UUID either.
	svc := e.bindService(t)
	if got := searchAll(t, svc, testBase, ldap.ScopeWholeSubtree, "(entryUUID="+uuidOf[bobAppDN]+")", "1.1"); len(got) != 0 {
		t.Errorf("a service found bob's app password by its UUID: %v", dns(got))
	}
	if got := dns(searchAll(t, svc, testBase, ldap.ScopeWholeSubtree, "(entryUUID="+uuidOf[bobDN]+")", "1.1")); !slices.Equal(got, []string{bobDN}) {
		t.Errorf("a service looking bob up by UUID found %v", got)
	}
	alice := e.bindAlice(t)
	for _, dn := range []string{bobDN, bobAppDN} {
		if got := searchAll(t, alice, testBase, ldap.ScopeWholeSubtree, "(entryUUID="+uuidOf[dn]+")", "1.1"); len(got) != 0 {
			t.Errorf("alice found %v by the UUID of %s", dns(got), dn)
		}
	}
}

// hasSubordinates says TRUE for an account only when the session sees an
// app password below it: a service, which sees none, is told FALSE, and
// cannot find by the attribute who has any.
func TestSearch_HasSubordinatesRevealsNothingHidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bindService(t)
	if got := one(t, svc, aliceDN, "hasSubordinates").GetAttributeValue("hasSubordinates"); got != "FALSE" {
		t.Errorf("a service is told alice has subordinates: %s", got)
	}
	if got := searchAll(t, svc, peopleDN, ldap.ScopeSingleLevel, "(hasSubordinates=TRUE)", "1.1"); len(got) != 0 {
		t.Errorf("a service finds accounts with app passwords: %v", dns(got))
	}
	l := e.bindAlice(t)
	if got := dns(searchAll(t, l, peopleDN, ldap.ScopeSingleLevel, "(hasSubordinates=TRUE)", "1.1")); !slices.Equal(got, []string{aliceDN}) {
		t.Errorf("alice's search for her own: %v", got)
	}
	if _, err := e.svc.RevokeAllAppPasswords(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if got := one(t, e.bindAdmin(t), aliceDN, "hasSubordinates").GetAttributeValue("hasSubordinates"); got != "FALSE" {
		t.Errorf("alice without app passwords has subordinates: %s", got)
	}
}

// SSSD-style refreshes ask for what changed since a time, in any of the
// forms GeneralizedTime allows; a value that is no time matches nothing,
// not even negated (Undefined, as slapd evaluates it).
func TestSearch_ModifyTimestampOrdering(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.bindAdmin(t)
	// alice was created, and last changed, at 2031-05-06 07:08:00 UTC.
	for f, want := range map[string]bool{
		"(modifyTimestamp>=20310506070800Z)":               true,
		"(modifyTimestamp>=20310506070801Z)":               false,
		"(modifyTimestamp>=203105060708Z)":                 true,
		"(modifyTimestamp>=203105060709Z)":                 false,
		"(modifyTimestamp>=2031050607Z)":                   true,
		"(modifyTimestamp<=2031050607Z)":                   false,
		"(modifyTimestamp<=20310506070800.0Z)":             true,
		"(modifyTimestamp<=20310506070759.9Z)":             false,
		"(modifyTimestamp>=20310506080800+0100)":           true,
		"(modifyTimestamp>=20310506080801+01)":             false,
		"(modifyTimestamp<=20310506000000-0709)":           true,
		"(createTimestamp>=20310506070800Z)":               true,
		"(modifyTimestamp>=2031)":                          false,
		"(!(modifyTimestamp>=2031))":                       false,
		"(!(modifyTimestamp>=20310506070800Z))":            false,
		"(!(modifyTimestamp>=20310506070801Z))":            true,
		"(modifyTimestamp>=20310231000000Z)":               false,
		"(|(modifyTimestamp<=19990101000000Z)(uid=alice))": true,
	} {
		got := searchAll(t, l, aliceDN, ldap.ScopeBaseObject, f, "1.1")
		if (len(got) == 1) != want {
			t.Errorf("%s: found %d, want %v", f, len(got), want)
		}
	}

	before := one(t, l, aliceDN, "modifyTimestamp").GetAttributeValue("modifyTimestamp")
	name := "Alice L."
	if err := e.svc.UpdateProfile(context.Background(), "alice", backend.ProfileChange{DisplayName: &name}); err != nil {
		t.Fatal(err)
	}
	if after := one(t, l, aliceDN, "modifyTimestamp").GetAttributeValue("modifyTimestamp"); after == before || after == "" {
		t.Errorf("modifyTimestamp %s, then %s after a change", before, after)
	}
}

// entryDN compares as a DN: case and spaces do not matter.
func TestSearch_EntryDNMatchesAsADN(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.bindAdmin(t)
	f := "(entryDN=UID=alice, OU=People,dc=example,dc=com)"
	if got := dns(searchAll(t, l, testBase, ldap.ScopeWholeSubtree, f, "1.1")); !slices.Equal(got, []string{aliceDN}) {
		t.Errorf("%s found %v", f, got)
	}
}

// A service account is an account (RFC 4524), not a person, and every
// account says its role: a mail server's filter on either keeps services
// out of logins.
func TestSearch_ServiceAccountIsNoPerson(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.bindAdmin(t)
	e.addService(t)
	svc := one(t, l, svcDN, "*", "+")
	for attr, want := range map[string][]string{
		"objectClass":           {"top", "account", "wicketAccount"},
		"structuralObjectClass": {"account"},
		"wicketRole":            {"service"},
		"uid":                   {svcName},
		"cn":                    {svcName},
		"mail":                  {svcMail},
		"accountStatus":         {"active"},
		"sn":                    nil,
		"givenName":             nil,
	} {
		if got := svc.GetAttributeValues(attr); !slices.Equal(got, want) {
			t.Errorf("service %s = %q, want %q", attr, got, want)
		}
	}
	for dn, role := range map[string]string{aliceDN: "user", "uid=root," + peopleDN: "admin"} {
		if got := one(t, l, dn, "wicketRole").GetAttributeValue("wicketRole"); got != role {
			t.Errorf("%s: wicketRole %q, want %s", dn, got, role)
		}
	}
	const filter = "(&(objectClass=inetOrgPerson)(uid=%s)(!(wicketRole=service)))"
	for name, found := range map[string]bool{"alice": true, "root": true, svcName: false} {
		got := searchAll(t, l, peopleDN, ldap.ScopeWholeSubtree, strings.ReplaceAll(filter, "%s", name), "1.1")
		if (len(got) == 1) != found {
			t.Errorf("%s: found %v, want found %v", name, dns(got), found)
		}
	}
	if got := dns(searchAll(t, l, peopleDN, ldap.ScopeSingleLevel, "(objectClass=account)", "1.1")); !slices.Equal(got, []string{svcDN}) {
		t.Errorf("(objectClass=account): %v", got)
	}
	// The role is the store's: a change shows at once.
	if err := e.svc.SetRole(context.Background(), svcName, backend.RoleUser); err != nil {
		t.Fatal(err)
	}
	if got := one(t, l, svcDN, "objectClass", "wicketRole"); !slices.Contains(got.GetAttributeValues("objectClass"), "inetOrgPerson") ||
		got.GetAttributeValue("wicketRole") != "user" {
		t.Errorf("after the role changed: %v %v", got.GetAttributeValues("objectClass"), got.GetAttributeValue("wicketRole"))
	}
}

// posixAccount is served when the account has POSIX attributes, and only
// then; nss modules find accounts by class, name and number.
func TestSearch_PosixAccountWhenSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	l := e.bindService(t)
	posixAttrs := []string{"uidNumber", "gidNumber", "homeDirectory", "loginShell"}
	before := one(t, l, aliceDN, append([]string{"objectClass"}, posixAttrs...)...)
	if slices.Contains(before.GetAttributeValues("objectClass"), "posixAccount") || len(before.Attributes) != 1 {
		t.Fatalf("without POSIX attributes: %v %v", before.GetAttributeValues("objectClass"), names(before))
	}
	s := func(v string) *string { return &v }
	if err := e.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{UIDNumber: s("10001"), GIDNumber: s("100"),
		HomeDirectory: s("/home/alice"), LoginShell: s("/bin/bash")}); err != nil {
		t.Fatal(err)
	}
	got := one(t, l, aliceDN, "*")
	for attr, want := range map[string]string{"uidNumber": "10001", "gidNumber": "100", "homeDirectory": "/home/alice",
		"loginShell": "/bin/bash", "cn": "alice", "uid": "alice"} {
		if v := got.GetAttributeValue(attr); v != want {
			t.Errorf("%s = %q, want %q", attr, v, want)
		}
	}
	if !slices.Contains(got.GetAttributeValues("objectClass"), "posixAccount") {
		t.Errorf("objectClass %v lacks posixAccount", got.GetAttributeValues("objectClass"))
	}
	for f, want := range map[string]bool{
		"(&(objectClass=posixAccount)(uid=alice))":       true,
		"(uidNumber=10001)":                              true,
		"(uidNumber=010001)":                             false, // not an INTEGER: Undefined, as slapd answers
		"(&(objectClass=posixAccount)(uidNumber>=1000))": true,
		"(uidNumber>=10002)":                             false,
		"(uidNumber<=9999)":                              false,
		"(gidNumber<=100)":                               true,
		"(homeDirectory=/home/alice)":                    true,
		"(&(objectClass=posixAccount)(uid=dave))":        false,
	} {
		found := len(searchAll(t, l, peopleDN, ldap.ScopeSingleLevel, f, "1.1")) == 1
		if found != want {
			t.Errorf("%s: found %v, want %v", f, found, want)
		}
	}
	if err := e.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{NoPosix: true}); err != nil {
		t.Fatal(err)
	}
	if got := one(t, l, aliceDN, "objectClass", "uidNumber"); len(got.Attributes) != 1 ||
		slices.Contains(got.GetAttributeValues("objectClass"), "posixAccount") {
		t.Errorf("after removing them: %v", names(got))
	}
}

// Compare reads the operational attributes, the role and the POSIX
// attributes as a search does, with each one's matching rule.
func TestCompare_OperationalRoleAndPosixAttributes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := func(v string) *string { return &v }
	if err := e.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{UIDNumber: s("10001"), GIDNumber: s("100"),
		HomeDirectory: s("/home/alice")}); err != nil {
		t.Fatal(err)
	}
	l := e.bindAdmin(t)
	u := one(t, l, aliceDN, "entryUUID").GetAttributeValue("entryUUID")
	for _, tc := range []struct {
		attr, value string
		want        uint16
	}{
		{"entryUUID", strings.ToUpper(u), ldap.LDAPResultCompareTrue},
		{"entryUUID", backend.NewUUID().String(), ldap.LDAPResultCompareFalse},
		{"entryDN", "UID=alice, OU=people, " + testBase, ldap.LDAPResultCompareTrue},
		{"structuralObjectClass", "inetOrgPerson", ldap.LDAPResultCompareTrue},
		{"hasSubordinates", "TRUE", ldap.LDAPResultCompareTrue},
		{"wicketRole", "USER", ldap.LDAPResultCompareTrue},
		{"wicketRole", "service", ldap.LDAPResultCompareFalse},
		{"uidNumber", "10001", ldap.LDAPResultCompareTrue},
		{"homeDirectory", "/HOME/alice", ldap.LDAPResultCompareFalse},
		{"objectClass", "posixAccount", ldap.LDAPResultCompareTrue},
		{"loginShell", "/bin/sh", ldap.LDAPResultNoSuchAttribute},
	} {
		if got, _, diag := compareCode(t, l, aliceDN, tc.attr, tc.value); got != tc.want {
			t.Errorf("compare %s=%s: %d (%s), want %d", tc.attr, tc.value, got, diag, tc.want)
		}
	}
	// The subschema too, as a search shows it, even to anonymous sessions.
	anon := e.dial(t)
	su := one(t, anon, "cn=Subschema", "entryUUID").GetAttributeValue("entryUUID")
	for value, want := range map[string]uint16{su: ldap.LDAPResultCompareTrue, u: ldap.LDAPResultCompareFalse} {
		if got, _, diag := compareCode(t, anon, "cn=Subschema", "entryUUID", value); got != want {
			t.Errorf("compare cn=Subschema entryUUID=%s: %d (%s), want %d", value, got, diag, want)
		}
	}
}
