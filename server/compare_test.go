package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// compareCode is the result code of a compare through go-ldap, with the
// matchedDN and diagnostic of a failure.
func compareCode(t *testing.T, l *ldap.Conn, dn, attr, value string) (code uint16, matchedDN, diag string) {
	t.Helper()
	ok, err := l.Compare(dn, attr, value)
	var le *ldap.Error
	switch {
	case err == nil && ok:
		return ldap.LDAPResultCompareTrue, "", ""
	case err == nil:
		return ldap.LDAPResultCompareFalse, "", ""
	case errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork:
		return le.ResultCode, le.MatchedDN, le.Err.Error()
	}
	t.Fatalf("compare %s %s: %v", dn, attr, err)
	return 0, "", ""
}

func TestCompare_ResultCodesAndMatchingRules(t *testing.T) {
	t.Parallel()
	d := newRoleTree(t)
	const (
		yes        = ldap.LDAPResultCompareTrue
		no         = ldap.LDAPResultCompareFalse
		noAttr     = ldap.LDAPResultNoSuchAttribute
		undefined  = ldap.LDAPResultUndefinedAttributeType
		badSyntax  = ldap.LDAPResultInvalidAttributeSyntax
		noObject   = ldap.LDAPResultNoSuchObject
		refused    = ldap.LDAPResultInsufficientAccessRights
		peopleDN   = "ou=people," + testBase
		groupsDN   = "ou=groups," + testBase
		staffSpelt = "CN=Staff , OU=Groups,DC=Example, dc=COM"
	)
	ts := d.created.Format("20060102150405Z")
	appDN := "appPasswordId=" + d.aliceAppID + "," + aliceDN
	cases := []struct {
		who, dn, attr, value string
		want                 uint16
		matchedDN            string
	}{
		// caseIgnoreMatch: case and insignificant spaces; by OID, in any
		// case of the name, and through the supertype name.
		{"alice", aliceDN, "cn", "  alice   LIDDELL ", yes, ""},
		{"alice", aliceDN, "cn", "Alice", no, ""},
		{"alice", aliceDN, "CN", "Alice Liddell", yes, ""},
		{"alice", aliceDN, "2.5.4.3", "Alice Liddell", yes, ""},
		{"alice", aliceDN, "name", "liddell", yes, ""},
		{"alice", aliceDN, "uid", "ALICE", yes, ""},
		{"alice", aliceDN, "cn", "", badSyntax, ""},
		// caseIgnoreIA5Match.
		{"alice", aliceDN, "mail", "ALICE@Example.COM", yes, ""},
		{"alice", aliceDN, "mail", "bob@example.com", no, ""},
		{"alice", aliceDN, "mail", "alicé@example.com", badSyntax, ""},
		{"alice", aliceDN, "accountStatus", "ACTIVE", yes, ""},
		// objectIdentifierMatch: names in any case, or the class's OID.
		{"alice", aliceDN, "objectClass", "INETORGPERSON", yes, ""},
		{"alice", aliceDN, "objectClass", "2.16.840.1.113730.3.2.2", yes, ""},
		{"alice", aliceDN, "objectClass", "groupOfNames", no, ""},
		{"alice", aliceDN, "objectClass", "not a class!", badSyntax, ""},
		// distinguishedNameMatch.
		{"alice", aliceDN, "memberOf", staffSpelt, yes, ""},
		{"alice", aliceDN, "memberOf", "cn=admins,ou=groups," + testBase, no, ""},
		{"alice", aliceDN, "memberOf", "staff", badSyntax, ""},
		{"svc", d.staffDN, "member", "UID=alice, OU=people,DC=example,DC=com", yes, ""},
		{"svc", d.staffDN, "member", d.bobDN, no, ""},
		{"svc", d.staffDN, "member", "alice", badSyntax, ""},
		// generalizedTimeMatch: the same instant however it is written.
		{"alice", aliceDN, "createTimestamp", ts, yes, ""},
		{"alice", aliceDN, "createTimestamp", d.created.In(time.FixedZone("", 2*3600)).Format("20060102150405.000-0700"), yes, ""},
		{"alice", aliceDN, "createTimestamp", d.created.Add(time.Second).Format("20060102150405Z"), no, ""},
		{"alice", aliceDN, "createTimestamp", strings.TrimSuffix(ts, "Z"), badSyntax, ""},
		// App passwords: the owner sees the id and the entry; a service
		// sees neither, so for it the attribute and the entry are absent.
		{"alice", aliceDN, "appPasswordId", strings.ToUpper(d.aliceAppID), yes, ""},
		{"alice", appDN, "label", d.aliceLabel, yes, ""},
		{"root", aliceDN, "appPasswordId", d.aliceAppID, yes, ""},
		{"svc", aliceDN, "appPasswordId", d.aliceAppID, noAttr, ""},
		{"svc", appDN, "label", d.aliceLabel, noObject, aliceDN},
		// Attributes the entry lacks, types no one knows, options.
		{"alice", aliceDN, "givenName", "Alice", noAttr, ""},
		{"alice", aliceDN, "fooBar", "x", undefined, ""},
		{"alice", aliceDN, "cn;lang-en", "Alice Liddell", noAttr, ""},
		{"alice", aliceDN, "cn;binary", "Alice Liddell", undefined, ""},
		{"alice", aliceDN, "cn;", "Alice Liddell", undefined, ""},
		{"alice", aliceDN, "c n", "x", undefined, ""},
		// Entries the session may not read are missing, as in a search.
		{"alice", d.bobDN, "cn", "bob", noObject, peopleDN},
		{"alice", "uid=nobody,ou=people," + testBase, "cn", "nobody", noObject, peopleDN},
		{"alice", d.staffDN, "cn", "staff", noObject, groupsDN},
		{"svc", "cn=nogroup,ou=groups," + testBase, "cn", "nogroup", noObject, groupsDN},
		{"svc", d.bobDN, "cn", "BOB", yes, ""},
		{"alice", "uid=alice,ou", "cn", "x", ldap.LDAPResultInvalidDNSyntax, ""},
		{"alice", "cn=config", "cn", "config", noObject, ""},
		{"", aliceDN, "cn", "Alice Liddell", refused, ""},
		// The root DSE and the subschema, for anyone.
		{"", "", "objectClass", "top", yes, ""},
		{"", "", "subschemaSubentry", "CN=Subschema", yes, ""},
		{"", "", "cn", "x", noAttr, ""},
		{"", "cn=Subschema", "objectClass", "SUBSCHEMA", yes, ""},
		{"alice", "CN=subschema", "cn", "subschema", yes, ""},
		// Base and branches.
		{"alice", testBase, "o", "EXAMPLE", yes, ""},
		{"alice", "ou=groups," + testBase, "ou", "groups", yes, ""},
	}
	conns := map[string]*ldap.Conn{}
	for _, who := range []string{"", "alice", "svc", "root"} {
		conns[who] = d.as(t, who)
	}
	for _, tc := range cases {
		name := tc.who + " " + tc.dn + " " + tc.attr + "=" + tc.value
		t.Run(name, func(t *testing.T) {
			l := conns[tc.who]
			code, matched, diag := compareCode(t, l, tc.dn, tc.attr, tc.value)
			if code != tc.want {
				t.Fatalf("%s (%d) %q, want %s (%d)", ldap.LDAPResultCodeMap[code], code, diag, ldap.LDAPResultCodeMap[tc.want], tc.want)
			}
			if !strings.EqualFold(matched, tc.matchedDN) {
				t.Errorf("matchedDN %q, want %q", matched, tc.matchedDN)
			}
		})
	}
}

// Compare and an equality filter in a base-scope search are the same
// assertion: the one is TRUE exactly when the other returns the entry.
func TestCompare_AgreesWithEqualitySearch(t *testing.T) {
	t.Parallel()
	d := newRoleTree(t)
	l := d.as(t, "alice")
	ts := d.created.Format("20060102150405Z")
	for _, av := range [][2]string{
		{"cn", "alice liddell"}, {"cn", "  ALICE  LIDDELL"}, {"cn", "Alice"}, {"2.5.4.3", "Alice Liddell"},
		{"name", "Liddell"}, {"sn", "liddell "},
		{"mail", "ALICE@example.com"}, {"mail", " alice@example.com"}, {"uid", " alice"},
		{"objectClass", "wicketaccount"}, {"objectClass", "2.5.6.6"}, {"objectClass", "groupOfNames"},
		{"memberOf", "cn=staff, ou=groups, dc=example, dc=com"}, {"memberOf", `cn=st\61ff,ou=groups,dc=example,dc=com`},
		{"memberOf", "cn=admins,ou=groups,dc=example,dc=com"},
		{"createTimestamp", ts}, {"createTimestamp", strings.TrimSuffix(ts, "Z") + ".000Z"}, {"createTimestamp", "20000101000000Z"},
		{"appPasswordId", d.aliceAppID}, {"appPasswordId", "0000000000"},
		{"cn;lang-en", "Alice Liddell"}, {"fooBar", "x"},
	} {
		attr, value := av[0], av[1]
		filter := "(" + attr + "=" + ldap.EscapeFilter(value) + ")"
		t.Run(filter, func(t *testing.T) {
			res, err := l.Search(ldap.NewSearchRequest(aliceDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
				filter, []string{"1.1"}, nil))
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			found := len(res.Entries) == 1
			code, _, diag := compareCode(t, l, aliceDN, attr, value)
			if (code == ldap.LDAPResultCompareTrue) != found {
				t.Errorf("compare: %s (%d) %q; the search found the entry: %v", ldap.LDAPResultCodeMap[code], code, diag, found)
			}
		})
	}
}

// Wherever a base-scope search says noSuchObject, Compare says it too,
// with the same matchedDN: an entry the session may not read looks exactly
// like one that does not exist.
func TestCompare_HiddenEntriesAnswerAsSearchDoes(t *testing.T) {
	t.Parallel()
	d := newRoleTree(t)
	appDN := func(user, id string) string { return "appPasswordId=" + id + ",uid=" + user + ",ou=people," + testBase }
	dns := []string{
		aliceDN, d.bobDN, "uid=nobody,ou=people," + testBase, "uid=root,ou=people," + testBase,
		d.staffDN, "cn=nogroup,ou=groups," + testBase,
		appDN("alice", d.aliceAppID), appDN("alice", "0000000000"), appDN("bob", d.aliceAppID), appDN("nobody", "1"),
		"cn=something,ou=people," + testBase, "ou=nowhere," + testBase, testBase,
	}
	for _, who := range []string{"alice", "svc", "root"} {
		l := d.as(t, who)
		for _, dn := range dns {
			t.Run(who+" "+dn, func(t *testing.T) {
				_, err := l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
					"(objectClass=*)", []string{"1.1"}, nil))
				code, matched, diag := compareCode(t, l, dn, "objectClass", "top")
				var le *ldap.Error
				switch {
				case err == nil && code != ldap.LDAPResultCompareTrue:
					t.Errorf("search finds the entry; compare: %s (%d) %q", ldap.LDAPResultCodeMap[code], code, diag)
				case err != nil && !errors.As(err, &le):
					t.Fatalf("search: %v", err)
				case err != nil && (le.ResultCode != code || le.MatchedDN != matched):
					t.Errorf("search: %d matchedDN %q; compare: %d matchedDN %q", le.ResultCode, le.MatchedDN, code, matched)
				}
			})
		}
	}
}

// userPassword is never compared: not on one's own entry, not by an
// administrator, not on an entry that is hidden or missing or not even a
// DN. The answer is the same everywhere, so it tells nothing about the
// account either.
func TestCompare_SecretsAreRefusedWhateverTheEntry(t *testing.T) {
	t.Parallel()
	d := newRoleTree(t)
	var first string
	for _, who := range []string{"", "alice", "svc", "root"} {
		l := d.as(t, who)
		for _, dn := range []string{aliceDN, d.bobDN, "uid=nobody,ou=people," + testBase, "uid=dave,ou=people," + testBase, "", "not a DN"} {
			for _, attr := range []string{"userPassword", "USERPASSWORD", "userPassword;binary", "2.5.4.35", "authPassword"} {
				for _, value := range []string{alicePassword, d.appPassword, "wrong"} {
					code, matched, diag := compareCode(t, l, dn, attr, value)
					if code != ldap.LDAPResultInsufficientAccessRights || matched != "" {
						t.Fatalf("%q compares %s on %q: %s (%d) matchedDN %q", who, attr, dn, ldap.LDAPResultCodeMap[code], code, matched)
					}
					typ, _, _ := strings.Cut(attr, ";")
					diag = strings.Replace(diag, typ, "ATTR", 1)
					if first == "" {
						first = diag
					}
					if diag != first {
						t.Fatalf("%q compares %s on %q: diagnostic %q, elsewhere %q", who, attr, dn, diag, first)
					}
				}
			}
		}
	}
	if !strings.Contains(first, "never compares passwords") {
		t.Errorf("the diagnostic %q does not say why", first)
	}
}

// A server that only checks binds serves the root DSE and the subschema,
// and nothing below the base, to Compare as to search.
func TestCompare_BindOnlyServerComparesRootDSEOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBindOnly())
	l := e.dial(t)
	if err := l.Bind(aliceDN, e.appPassword); err != nil {
		t.Fatal(err)
	}
	if code, _, diag := compareCode(t, l, "", "namingContexts", testBase); code != ldap.LDAPResultCompareTrue {
		t.Errorf("root DSE: %d %q, want compareTrue", code, diag)
	}
	if code, _, diag := compareCode(t, l, aliceDN, "uid", "alice"); code != ldap.LDAPResultUnwillingToPerform {
		t.Errorf("below the base: %d %q, want unwillingToPerform", code, diag)
	}
}

// A malformed CompareRequest is answered protocolError on its own message,
// as a malformed search is, and the connection goes on.
func TestCompare_MalformedRequestIsProtocolError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	c.call(message(1, simpleBind(3, "alice", e.appPassword))).assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	intPkt := func() *ber.Packet {
		return ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 7, "")
	}
	for i, tc := range []struct {
		name string
		op   *ber.Packet
	}{
		{"no fields", constructed(ldap.ApplicationCompareRequest)},
		{"entry only", constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""))},
		{"entry an INTEGER", constructed(ldap.ApplicationCompareRequest, intPkt(), sequence(octets("uid", ""), octets("alice", "")))},
		{"ava not a SEQUENCE", constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""), set(octets("uid", ""), octets("alice", "")))},
		{"ava of one", constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""), sequence(octets("uid", "")))},
		{"ava of three", constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""),
			sequence(octets("uid", ""), octets("alice", ""), octets("x", "")))},
		{"value an INTEGER", constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""), sequence(octets("uid", ""), intPkt()))},
		{"value constructed", constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""),
			sequence(octets("uid", ""), sequence(octets("alice", ""))))},
		{"three fields", constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""),
			sequence(octets("uid", ""), octets("alice", "")), octets("x", ""))},
		{"primitive", ber.NewString(ber.ClassApplication, ber.TypePrimitive, ldap.ApplicationCompareRequest, aliceDN, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := int64(i + 2)
			r := c.in(t).call(message(id, tc.op))
			r.assert(t, id, ldap.ApplicationCompareResponse, ldap.LDAPResultProtocolError)
			if !strings.Contains(r.diag, "malformed compare request") {
				t.Errorf("diagnostic %q", r.diag)
			}
		})
	}
	ok := constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""), sequence(octets("uid", ""), octets("alice", "")))
	c.call(message(50, ok)).assert(t, 50, ldap.ApplicationCompareResponse, ldap.LDAPResultCompareTrue)
}

// Compares pipelined behind a slow operation are queued like searches and
// answered in order.
func TestCompare_PipelinedAnswersInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	c.call(message(1, simpleBind(3, "alice", e.appPassword))).assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	cmp := func(attr, value string) *ber.Packet {
		return constructed(ldap.ApplicationCompareRequest, octets(aliceDN, ""), sequence(octets(attr, ""), octets(value, "")))
	}
	c.send(message(2, search(testBase, scopeSub, mustFilter(t, "(objectClass=*)"), "1.1")),
		message(3, cmp("uid", "alice")), message(4, cmp("uid", "bob")), message(5, cmp("uid;x-foo", "alice")))
	for {
		if r := c.next(); r.tag == ldap.ApplicationSearchResultDone {
			r.assert(t, 2, ldap.ApplicationSearchResultDone, ldap.LDAPResultSuccess)
			break
		}
	}
	c.next().assert(t, 3, ldap.ApplicationCompareResponse, ldap.LDAPResultCompareTrue)
	c.next().assert(t, 4, ldap.ApplicationCompareResponse, ldap.LDAPResultCompareFalse)
	c.next().assert(t, 5, ldap.ApplicationCompareResponse, ldap.LDAPResultUndefinedAttributeType)
}
