package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// Every attribute type of the subschema is read, and the equality rule it
// names is one wicket implements: a type added to the subschema with a rule
// Compare cannot apply fails here, not at a client.
func TestSchema_EveryEqualityRuleIsImplemented(t *testing.T) {
	x, errs := buildSchema(attributeTypes, objectClasses)
	for _, err := range errs {
		t.Errorf("subschema: %v", err)
	}
	for _, def := range attributeTypes {
		d, err := parseSchemaDescription(def)
		if err != nil {
			continue // reported above
		}
		typ := x.lookup(d.oid)
		if typ == nil {
			t.Errorf("%s is not indexed", d.oid)
			continue
		}
		if typ.eqName != "" && typ.equality == nil {
			t.Errorf("%s: equality rule %s is not implemented (matching.go, equalityRules)", typ.name(), typ.eqName)
		}
		for _, n := range typ.names {
			if x.lookup(strings.ToUpper(n)) != typ {
				t.Errorf("%s is not found by its name %s", d.oid, n)
			}
		}
	}
	// What the rest of these tests rely on: rules followed up SUP.
	if cn := x.lookup("cn"); cn == nil || cn.equality == nil || cn.equality.name != "caseIgnoreMatch" || cn.sup != x.lookup("name") {
		t.Errorf("cn should inherit caseIgnoreMatch from name: %+v", cn)
	}
}

func TestSchema_DescriptionsParse(t *testing.T) {
	d, err := parseSchemaDescription("( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'a (quoted) text' SUP name " +
		"SINGLE-VALUE SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{32768} X-ORIGIN ( 'RFC 4519' 'x' ) )")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"NAME": "cn commonName", "DESC": "a (quoted) text", "SUP": "name",
		"SYNTAX": "1.3.6.1.4.1.1466.115.121.1.15{32768}", "X-ORIGIN": "RFC 4519 x", "SINGLE-VALUE": ""}
	if d.oid != "2.5.4.3" || len(d.fields) != len(want) {
		t.Fatalf("got %s %v", d.oid, d.fields)
	}
	for k, v := range want {
		if got := strings.Join(d.fields[k], " "); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, bad := range []string{"", "2.5.4.3 NAME 'cn'", "( 2.5.4.3 NAME 'cn )", "( 2.5.4.3 NAME ( 'cn' )", "( 2.5.4.3 DESC )"} {
		if _, err := parseSchemaDescription(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Each rule's notion of equal values and of a valid assertion.
func TestEqualityRules(t *testing.T) {
	x := schema()
	cases := []struct {
		rule     string
		a, b     string
		equal    bool
		aInvalid bool // a is not a valid assertion of the rule
	}{
		{"caseIgnoreMatch", "  Alice   LIDDELL ", "alice liddell", true, false},
		{"caseIgnoreMatch", "Alice\u00adLiddell", "aliceliddell", true, false},  // soft hyphen
		{"caseIgnoreMatch", "Alice\u2003Liddell", "alice liddell", true, false}, // em space
		{"caseIgnoreMatch", "Alice\tLiddell", "alice liddell", true, false},
		{"caseIgnoreMatch", "\u212aelvin", "kelvin", true, false}, // Kelvin sign folds to k
		{"caseIgnoreMatch", "ÉCOLE", "école", true, false},
		{"caseIgnoreMatch", "alice", "alicia", false, false},
		{"caseIgnoreMatch", "", "x", false, true},
		{"caseIgnoreMatch", "\xff", "x", false, true},
		{"caseExactMatch", " Alice  Liddell", "Alice Liddell", true, false},
		{"caseExactMatch", "Alice", "alice", false, false},
		{"caseIgnoreIA5Match", "ALICE@Example.COM ", "alice@example.com", true, false},
		{"caseIgnoreIA5Match", "", "", true, false},
		{"caseIgnoreIA5Match", "alicé", "alice", false, true},
		{"caseExactIA5Match", "Alice", "alice", false, false},
		{"caseExactIA5Match", "Alice", "Alice", true, false},
		{"objectIdentifierMatch", "INETORGPERSON", "inetOrgPerson", true, false},
		{"objectIdentifierMatch", "2.16.840.1.113730.3.2.2", "inetOrgPerson", true, false},
		{"objectIdentifierMatch", "cn", "2.5.4.3", true, false},
		{"objectIdentifierMatch", "unknownClass", "UNKNOWNCLASS", true, false},
		{"objectIdentifierMatch", "person", "organizationalPerson", false, false},
		{"objectIdentifierMatch", " person", "person", false, true},
		{"objectIdentifierMatch", "1.02.3", "1.2.3", false, true},
		{"objectIdentifierMatch", "2", "2", false, true},
		{"distinguishedNameMatch", "UID=Alice , OU=people,DC=example, DC=com", "uid=alice,ou=people,dc=example,dc=com", true, false},
		{"distinguishedNameMatch", "2.5.4.3=Staff,ou=groups", "cn=staff,ou=groups", true, false},
		{"distinguishedNameMatch", `cn=st\61ff,ou=groups`, "cn=staff,ou=groups", true, false},
		{"distinguishedNameMatch", "cn=a+sn=b,ou=x", "sn=B+cn=A,ou=x", true, false},
		{"distinguishedNameMatch", "cn=a,ou=x", "cn=a+sn=b,ou=x", false, false},
		{"distinguishedNameMatch", "cn=a\\,b,ou=x", "cn=a,b,ou=x", false, false},
		{"distinguishedNameMatch", "", "", true, false},
		{"distinguishedNameMatch", "not a dn", "cn=x", false, true},
		{"uniqueMemberMatch", "cn=A,ou=x#'0101'B", "cn=a, ou=x#'0101'B", true, false},
		{"uniqueMemberMatch", "cn=A,ou=x#'0101'B", "cn=a,ou=x", false, false},
		{"uniqueMemberMatch", "cn=A,ou=x#'0121'B", "cn=a,ou=x", false, true},
		{"generalizedTimeMatch", "20310506070800Z", "203105060708Z", true, false},
		{"generalizedTimeMatch", "2031050607Z", "20310506070000.000Z", true, false},
		{"generalizedTimeMatch", "20310506090800+0200", "20310506070800Z", true, false},
		{"generalizedTimeMatch", "20310506063800-0030", "20310506070800Z", true, false},
		{"generalizedTimeMatch", "2031050607.5Z", "20310506073000Z", true, false},
		{"generalizedTimeMatch", "203105060708.5Z", "20310506070830Z", true, false},
		{"generalizedTimeMatch", "20310506070800,25Z", "20310506070800.250Z", true, false},
		{"generalizedTimeMatch", "20310506070801Z", "20310506070800Z", false, false},
		{"generalizedTimeMatch", "20310506070800", "20310506070800Z", false, true},
		{"generalizedTimeMatch", "20310506070800z", "20310506070800Z", false, true},
		{"generalizedTimeMatch", "20310230070800Z", "20310302070800Z", false, true},
		{"generalizedTimeMatch", "20311306070800Z", "20310506070800Z", false, true},
		{"generalizedTimeMatch", "20310506070800.Z", "20310506070800Z", false, true},
		{"generalizedTimeMatch", "20310506070800+2400", "20310506070800Z", false, true},
		{"generalizedTimeMatch", "20310506070800Z" + strings.Repeat("0", 3), "20310506070800Z", false, true},
		{"integerMatch", "-42", "-42", true, false},
		{"integerMatch", "0", "0", true, false},
		{"integerMatch", "042", "42", false, true},
		{"integerMatch", "-0", "0", false, true},
		{"integerMatch", "+4", "4", false, true},
		{"integerMatch", " 4", "4", false, true},
		{"booleanMatch", "TRUE", "TRUE", true, false},
		{"booleanMatch", "TRUE", "FALSE", false, false},
		{"booleanMatch", "true", "TRUE", false, true},
		{"UUIDMatch", "597AE2F6-16A6-1027-98F4-ABCDEFABCDEF", "597ae2f6-16a6-1027-98f4-abcdefabcdef", true, false},
		{"UUIDMatch", "597ae2f616a6102798f4abcdefabcdef", "597ae2f6-16a6-1027-98f4-abcdefabcdef", false, true},
		{"UUIDMatch", "597ae2f6-16a6-1027-98f4-abcdefabcdeg", "597ae2f6-16a6-1027-98f4-abcdefabcdef", false, true},
		{"numericStringMatch", "12 34", "1234", true, false},
		{"numericStringMatch", "12a", "12", false, true},
		{"telephoneNumberMatch", "+1 555-0100", "+15550100", true, false},
		{"telephoneNumberMatch", "+1 555 0100 é", "+15550100", false, true},
		{"caseIgnoreListMatch", "1 Main St $ Springfield", "1 MAIN ST$springfield", true, false},
		{"octetStringMatch", "a b", "a  b", false, false},
		{"objectIdentifierFirstComponentMatch", "cn", "( 2.5.4.3 NAME 'cn' SUP name )", true, false},
		{"objectIdentifierFirstComponentMatch", "2.5.4.4", "( 2.5.4.3 NAME 'cn' SUP name )", false, false},
		{"objectIdentifierFirstComponentMatch", "( 2.5.4.3 )", "( 2.5.4.3 NAME 'cn' )", false, true},
		{"integerFirstComponentMatch", "1", "( 1 NAME 'uidRule' FORM uidForm )", true, false},
		{"integerFirstComponentMatch", "2", "( 1 NAME 'uidRule' FORM uidForm )", false, false},
		{"integerFirstComponentMatch", "01", "( 1 NAME 'uidRule' FORM uidForm )", false, true},
		{"bitStringMatch", "'0101'B", "'0101'B", true, false},
		{"bitStringMatch", "'0101'B", "'01010'B", false, false},
		{"bitStringMatch", "'0121'B", "'0121'B", false, true},
		{"bitStringMatch", "0101", "0101", false, true},
	}
	for _, tc := range cases {
		r := equalityRules[strings.ToLower(tc.rule)]
		if r == nil {
			t.Fatalf("%s is not implemented", tc.rule)
		}
		ka, okA := r.assertion(x, tc.a)
		if okA == tc.aInvalid {
			t.Errorf("%s: %q valid = %v, want %v", tc.rule, tc.a, okA, !tc.aInvalid)
			continue
		}
		kb, okB := r.stored(x, tc.b)
		if got := okA && okB && ka == kb; got != tc.equal {
			t.Errorf("%s: %q = %q is %v (forms %q, %q), want %v", tc.rule, tc.a, tc.b, got, ka, kb, tc.equal)
		}
	}
}

// certificateExactMatch finds a certificate by its serial number and
// issuer, written as RFC 4523's GSER assertion.
func TestEqualityRules_CertificateExactMatch(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(4660),
		Subject:  pkix.Name{CommonName: "alice", Organization: []string{"Example"}},
		NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	x := schema()
	r := equalityRules["certificateexactmatch"]
	stored, ok := r.stored(x, string(der))
	if !ok {
		t.Fatal("a DER certificate is not a valid value")
	}
	for _, tc := range []struct {
		assertion    string
		valid, equal bool
	}{
		{`{ serialNumber 4660, issuer rdnSequence:"CN=alice,O=Example" }`, true, true},
		{`{serialNumber 4660,issuer rdnSequence:"cn=ALICE, o=example"}`, true, true},
		{`{ serialNumber 4661, issuer rdnSequence:"CN=alice,O=Example" }`, true, false},
		{`{ serialNumber 4660, issuer rdnSequence:"CN=bob,O=Example" }`, true, false},
		{`{ serialNumber 4660, issuer rdnSequence:"CN=a\""b" }`, true, false},
		{`{ serialNumber x, issuer rdnSequence:"CN=alice,O=Example" }`, false, false},
		{`{ issuer rdnSequence:"CN=alice,O=Example", serialNumber 4660 }`, false, false},
		{`{ serialNumber 4660, issuer rdnSequence:"CN=a"b" }`, false, false},
		{`serialNumber 4660`, false, false},
	} {
		a, ok := r.assertion(x, tc.assertion)
		if ok != tc.valid || (ok && (a == stored) != tc.equal) {
			t.Errorf("%s: valid %v, equal %v; want %v, %v", tc.assertion, ok, a == stored, tc.valid, tc.equal)
		}
	}
	if _, ok := r.stored(x, "not DER"); ok {
		t.Error("a value that is not a certificate has a form")
	}
}

// Assertions are refused in slapd's order, before any entry is read, and a
// secret before anything else.
func TestAssertion_Refusals(t *testing.T) {
	x := schema()
	for _, tc := range []struct {
		desc, value string
		want        uint16 // 0: accepted
	}{
		{"userPassword", "x", 50},
		{"userPassword;x-weird", "x", 50},
		{"1.3.6.1.4.1.4203.1.3.4", "x", 50},
		{"c n", "x", 17},
		{"", "x", 17},
		{"cn;", "x", 17},
		{"cn;lang-", "x", 17},
		{"cn;binary", "x", 17},
		{"cn;lang-en-GB", "x", 0},
		{"cn", "", 21},
		{"member", "not a dn", 21},
		{"fooBar", "", 0}, // decided by the entry
	} {
		_, r, ok := x.newAssertion(tc.desc, tc.value, false)
		got := uint16(0)
		if !ok {
			got = r.code
		}
		if got != tc.want {
			t.Errorf("%q: %q: got %d, want %d", tc.desc, tc.value, got, tc.want)
		}
	}
}

// An attribute whose type has no equality rule is inappropriateMatching
// for Compare (as slapd answers for jpegPhoto); a search keeps comparing
// its values case-insensitively.
func TestAssertion_NoEqualityRule(t *testing.T) {
	x, errs := buildSchema([]string{
		"( 1.2.3.1 NAME 'photo' SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )",
		"( 1.2.3.2 NAME 'odd' EQUALITY someRuleNobodyHas SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
		"( 1.2.3.3 NAME 'ref' SYNTAX " + synDN + " )",
	}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, attr := range []string{"photo", "odd"} {
		if _, r, ok := x.newAssertion(attr, "x", false); ok || r.code != 18 {
			t.Errorf("%s: %v, want inappropriateMatching", attr, r)
		}
		a, r, ok := x.newAssertion(attr, "X", true)
		if !ok {
			t.Fatalf("lenient %s: %v", attr, r)
		}
		e := &entry{attrs: []attribute{{attr, []string{"x"}}}}
		if x.evaluate(e, a) != verdictTrue {
			t.Errorf("lenient %s: X does not match x", attr)
		}
	}
	// A DN-valued type without a rule is compared as DNs, as slapd does
	// with namingContexts.
	a, r, ok := x.newAssertion("ref", "CN=A, OU=X", false)
	if !ok || x.evaluate(&entry{attrs: []attribute{{"ref", []string{"cn=a,ou=x"}}}}, a) != verdictTrue {
		t.Errorf("ref: %v", r)
	}
}

// Equality filters match by the same rules, through the index of uid and
// mail as without it.
func TestSearch_EqualityFollowsTheMatchingRule(t *testing.T) {
	t.Parallel()
	d := newRoleTree(t)
	l := d.as(t, "svc")
	ts := d.created.Format("20060102150405") + ".0Z"
	for _, tc := range []struct{ filter, want string }{
		{"(uid= ALICE )", aliceDN},
		{"(mail=  Alice@Example.COM)", aliceDN},
		{"(|(mail=nobody@example.com)(mailAlternateAddress= x@y)(uid=alice ))", aliceDN},
		{"(&(objectClass=2.16.840.1.113730.3.2.2)(name=liddell))", aliceDN},
		{"(&(2.5.4.4=LIDDELL)(createTimestamp=" + ts + "))", aliceDN},
		{"(memberOf=CN=Staff , OU=Groups , DC=Example,DC=Com)", aliceDN},
		{"(member=uid=alice, ou=people, dc=example, dc=com)", d.staffDN},
		{"(cn;lang-en=Alice Liddell)", ""},
		{"(createTimestamp=yesterday)", ""},
		{"(!(createTimestamp=yesterday))", ""}, // Undefined, not TRUE
	} {
		res, err := l.Search(ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			tc.filter, []string{"1.1"}, nil))
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		var got []string
		for _, e := range res.Entries {
			got = append(got, e.DN)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: %v, want %q", tc.filter, got, tc.want)
		}
	}
}

// roleTree is the env's directory with a person of every role:
//
//	alice  user, cn "Alice Liddell", sn "Liddell", in staff, an app password
//	bob    user, in no group
//	svc    service
//	root   administrator
type roleTree struct {
	*env
	rootSecret string
	aliceAppID string
	aliceLabel string
	bobDN      string
	staffDN    string
	created    time.Time // alice's createTimestamp
}

const rootPassword = "root's own password"

func newRoleTree(t *testing.T) *roleTree {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	d := &roleTree{env: e, bobDN: "uid=bob,ou=people," + testBase, staffDN: "cn=staff,ou=groups," + testBase}
	e.addService(t)
	e.addUser(ctx, "bob", "bob@example.com", "bob's own password")
	d.rootSecret, _, _ = e.addUser(ctx, "root", "root@example.com", rootPassword)
	name, surname := "Alice Liddell", "Liddell"
	for _, err := range []error{
		e.svc.SetRole(ctx, "root", backend.RoleAdmin),
		e.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{DisplayName: &name, Surname: &surname}),
		e.svc.CreateGroup(ctx, "staff"),
		e.svc.SetGroupMember(ctx, "staff", "alice", true),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	aps, err := e.svc.AppPasswords(ctx, "alice")
	if err != nil || len(aps) != 1 {
		t.Fatalf("alice's app passwords: %v, %v", aps, err)
	}
	d.aliceAppID, d.aliceLabel = aps[0].ID, aps[0].Label
	info, err := e.svc.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	d.created = info.CreatedAt.UTC()
	return d
}

// as is a connection bound as one of the tree's people ("" anonymous).
func (d *roleTree) as(t *testing.T, who string) *ldap.Conn {
	t.Helper()
	l := d.dial(t)
	var err error
	switch who {
	case "":
		return l
	case "alice":
		err = l.Bind(aliceDN, d.appPassword)
	case "svc":
		err = l.Bind(svcDN, svcPassword)
	case "root":
		err = l.Bind("uid=root,ou=people,"+testBase, rootPassword+d.code(d.rootSecret))
	default:
		t.Fatalf("no one called %q", who)
	}
	if err != nil {
		t.Fatalf("bind as %s: %v", who, err)
	}
	return l
}
