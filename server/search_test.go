package server

import (
	"errors"
	"slices"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

func TestSearch_RootDSE(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	operational := []string{"namingContexts", "subschemaSubentry", "supportedControl", "supportedExtension", "supportedLDAPVersion",
		"supportedSASLMechanisms", "supportedFeatures", "vendorName", "vendorVersion"}
	for _, tc := range []struct {
		name   string
		filter string
		attrs  []string
		want   []string // attribute names returned; nil means no entry at all
	}{
		{"plus gives the operational attributes", "(objectClass=*)", []string{"+"}, operational},
		{"by name", "(objectClass=*)", []string{"namingContexts", "SUPPORTEDEXTENSION"}, []string{"namingContexts", "supportedExtension"}},
		{"star gives objectClass only", "(objectClass=*)", []string{"*"}, []string{"objectClass"}},
		{"no list gives objectClass only", "(objectClass=*)", nil, []string{"objectClass"}},
		{"star and plus give everything", "(objectClass=*)", []string{"*", "+"}, append([]string{"objectClass"}, operational...)},
		{"1.1 gives no attributes", "(objectClass=*)", []string{"1.1"}, []string{}},
		{"nested filter that matches", "(&(objectClass=*)(|(vendorName=wicket)(cn=x))(!(supportedLDAPVersion=2))(vendorName=wic*))",
			[]string{"supportedLDAPVersion"}, []string{"supportedLDAPVersion"}},
		// vendorName's equality is caseExactMatch (RFC 3045), as slapd has it.
		{"vendorName in another case", "(vendorName=WICKET)", []string{"+"}, nil},
		{"filter that does not match", "(supportedLDAPVersion=2)", []string{"+"}, nil},
		{"absent attribute", "(cn=*)", []string{"+"}, nil},
		{"negated match", "(!(objectClass=top))", []string{"+"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := e.dial(t)
			res, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
				tc.filter, tc.attrs, nil))
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			if tc.want == nil {
				if len(res.Entries) != 0 {
					t.Fatalf("got %d entries, want none", len(res.Entries))
				}
				return
			}
			if len(res.Entries) != 1 {
				t.Fatalf("got %d entries, want the root DSE", len(res.Entries))
			}
			dse := res.Entries[0]
			if dse.DN != "" {
				t.Errorf("root DSE has DN %q", dse.DN)
			}
			var got []string
			for _, a := range dse.Attributes {
				got = append(got, a.Name)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("attributes %v, want %v", got, want)
			}
			if slices.Contains(got, "namingContexts") {
				if v := dse.GetAttributeValues("namingContexts"); !slices.Equal(v, []string{testBase}) {
					t.Errorf("namingContexts %v, want [%s]", v, testBase)
				}
			}
			if slices.Contains(got, "supportedExtension") {
				if v := dse.GetAttributeValues("supportedExtension"); !slices.Contains(v, whoAmIOID) {
					t.Errorf("supportedExtension %v lacks Who am I? (%s)", v, whoAmIOID)
				}
			}
			if slices.Contains(got, "supportedLDAPVersion") {
				if v := dse.GetAttributeValues("supportedLDAPVersion"); !slices.Equal(v, []string{"3"}) {
					t.Errorf("supportedLDAPVersion %v, want [3]", v)
				}
			}
		})
	}
}

// The features the root DSE lists are the server's: "+" returns the
// operational attributes (RFC 3673), and (&) is true and (|) false for
// every entry (RFC 4526).
func TestSearch_RootDSEFeaturesWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.dial(t)
	res, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedFeatures"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("root DSE: %v", err)
	}
	features := res.Entries[0].GetAttributeValues("supportedFeatures")
	want := []string{"1.3.6.1.4.1.4203.1.5.1", "1.3.6.1.4.1.4203.1.5.3"}
	if !slices.Equal(features, want) {
		t.Fatalf("supportedFeatures %v, want %v", features, want)
	}
	if err := l.Bind(aliceDN, e.alicePasswordAndCode()); err != nil {
		t.Fatal(err)
	}
	count := func(filter string, attrs ...string) (int, []string) {
		t.Helper()
		res, err := l.Search(ldap.NewSearchRequest(aliceDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			filter, attrs, nil))
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		var names []string
		for _, en := range res.Entries {
			for _, a := range en.Attributes {
				names = append(names, a.Name)
			}
		}
		return len(res.Entries), names
	}
	if n, _ := count("(&)", "1.1"); n != 1 {
		t.Errorf("(&) found %d entries, want alice's", n)
	}
	if n, _ := count("(|)", "1.1"); n != 0 {
		t.Errorf("(|) found %d entries, want none", n)
	}
	if _, names := count("(objectClass=*)", "+"); !slices.Contains(names, "createTimestamp") || slices.Contains(names, "uid") {
		t.Errorf("\"+\" returned %v, want the operational attributes alone", names)
	}
}

func TestSearch_RootDSETypesOnlyHasNoValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.dial(t).Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, true,
		"(objectClass=*)", []string{"namingContexts"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || len(res.Entries[0].Attributes) != 1 {
		t.Fatalf("got %+v, want the root DSE with namingContexts", res.Entries)
	}
	if v := res.Entries[0].Attributes[0].Values; len(v) != 0 {
		t.Errorf("typesOnly search returned values %v", v)
	}
}

// The root DSE is not the parent of anything a search can reach (RFC 4512
// 5.1): one-level and subtree searches of "" succeed empty, as with slapd.
func TestSearch_BelowRootDSEFindsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, scope := range []int{ldap.ScopeSingleLevel, ldap.ScopeWholeSubtree} {
		res, err := e.dial(t).Search(ldap.NewSearchRequest("", scope, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", nil, nil))
		if err != nil {
			t.Fatalf("scope %d: %v", scope, err)
		}
		if len(res.Entries) != 0 {
			t.Errorf("scope %d: %d entries, want none", scope, len(res.Entries))
		}
	}
}

// searchBaseCode searches below base, bound with bindAs's app password
// unless bindAs is empty, and returns the result code.
func searchBaseCode(t *testing.T, e *env, bindAs, base string) uint16 {
	t.Helper()
	l := e.dial(t)
	if bindAs != "" {
		if err := l.Bind(bindAs, e.appPassword); err != nil {
			t.Fatal(err)
		}
	}
	_, err := l.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", nil, nil))
	return resultCode(err)
}

var belowBase = []string{testBase, "DC=Example,DC=Com", "ou=people," + testBase, aliceDN}

// A server whose backend only authenticates has no directory to show.
func TestSearch_BelowBaseIsUnwillingToPerform(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withBindOnly())
	for _, bindAs := range []string{"", "alice"} {
		for _, base := range belowBase {
			t.Run("bound as "+bindAs+"/"+base, func(t *testing.T) {
				if got := searchBaseCode(t, e, bindAs, base); got != ldap.LDAPResultUnwillingToPerform {
					t.Errorf("search of %q: %s (%d), want unwillingToPerform", base, ldap.LDAPResultCodeMap[got], got)
				}
			})
		}
	}
}

// Anonymous sessions see only the root DSE (DESIGN.md, "Binds").
func TestSearch_BelowBaseAnonymousIsInsufficientAccessRights(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, base := range belowBase {
		t.Run(base, func(t *testing.T) {
			if got := searchBaseCode(t, e, "", base); got != ldap.LDAPResultInsufficientAccessRights {
				t.Errorf("search of %q: %s (%d), want insufficientAccessRights", base, ldap.LDAPResultCodeMap[got], got)
			}
		})
	}
}

func TestSearch_OutsideBaseIsNoSuchObject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   []envOption
		bindAs string
	}{
		{"anonymous", nil, ""},
		{"bound", nil, "alice"},
		{"bind-only server", []envOption{withBindOnly()}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.opts...)
			for _, base := range []string{"dc=example,dc=org", "dc=com", "uid=alice,ou=people,dc=other,dc=com", "cn=config"} {
				if got := searchBaseCode(t, e, tc.bindAs, base); got != ldap.LDAPResultNoSuchObject {
					t.Errorf("search of %q: %s (%d), want noSuchObject", base, ldap.LDAPResultCodeMap[got], got)
				}
			}
		})
	}
}

func TestSearch_MalformedBaseIsInvalidDNSyntax(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, bindAs := range []string{"", "alice"} {
		if got := searchBaseCode(t, e, bindAs, "uid=alice,ou"); got != ldap.LDAPResultInvalidDNSyntax {
			t.Errorf("bound as %q: got %s (%d), want invalidDNSyntax", bindAs, ldap.LDAPResultCodeMap[got], got)
		}
	}
}

// A user reads their own entries and nobody else's, and no entry carries a
// secret: not userPassword, not an app password, not the TOTP seed.
func TestSearch_BoundUserSeesOwnEntriesWithoutSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.dial(t)
	if err := l.Bind("alice", e.appPassword); err != nil {
		t.Fatal(err)
	}
	res, err := l.Search(ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"*", "+", "userPassword"}, nil))
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	sawAlice := false
	secrets := []string{e.appPassword, strings.ReplaceAll(e.appPassword, "-", ""), alicePassword, e.aliceSecret}
	for _, en := range res.Entries {
		dn := strings.ToLower(en.DN)
		if strings.Contains(dn, "uid=dave") {
			t.Errorf("alice sees dave's entry %s", en.DN)
		}
		sawAlice = sawAlice || dn == aliceDN
		for _, a := range en.Attributes {
			if strings.EqualFold(a.Name, "userPassword") {
				t.Errorf("%s returns userPassword", en.DN)
			}
			for _, v := range a.Values {
				for _, secret := range secrets {
					if strings.Contains(strings.ToLower(v), strings.ToLower(secret)) {
						t.Errorf("%s: %s holds a secret", en.DN, a.Name)
					}
				}
			}
		}
	}
	if !sawAlice {
		t.Errorf("alice does not see her own entry among %d entries", len(res.Entries))
	}
}

// A request that decodes as BER but is no valid SearchRequest is answered
// protocolError on its own message; the connection goes on.
func TestSearch_MalformedRequestIsProtocolError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	good := func() *ber.Packet { return search("", 0, mustFilter(t, "(objectClass=*)")) }
	withChild := func(i int, p *ber.Packet) *ber.Packet {
		op := good()
		op.Children[i] = p
		return rebuild(op)
	}
	ctxPrim := func(tag ber.Tag, v string) *ber.Packet {
		return ber.NewString(ber.ClassContext, ber.TypePrimitive, tag, v, "")
	}
	substrings := func(tags ...ber.Tag) *ber.Packet {
		f := ber.Encode(ber.ClassContext, ber.TypeConstructed, filterSubstrings, nil, "")
		f.AppendChild(octets("cn", ""))
		subs := ber.NewSequence("")
		for _, tag := range tags {
			subs.AppendChild(ctxPrim(tag, "x"))
		}
		f.AppendChild(subs)
		return f
	}
	for i, tc := range []struct {
		name string
		op   *ber.Packet
	}{
		{"scope 3", withChild(1, ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 3, ""))},
		{"negative size limit", withChild(3, ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, -1, ""))},
		{"typesOnly not boolean", withChild(5, octets("yes", ""))},
		{"filter of unknown choice", withChild(6, ctxPrim(12, "x"))},
		{"equality filter without value", withChild(6, func() *ber.Packet {
			f := ber.Encode(ber.ClassContext, ber.TypeConstructed, filterEqualityMatch, nil, "")
			f.AppendChild(octets("cn", ""))
			return f
		}())},
		{"present filter constructed", withChild(6, ber.Encode(ber.ClassContext, ber.TypeConstructed, filterPresent, nil, ""))},
		{"not with two children", withChild(6, func() *ber.Packet {
			f := ber.Encode(ber.ClassContext, ber.TypeConstructed, filterNot, nil, "")
			f.AppendChild(mustFilter(t, "(cn=a)"))
			f.AppendChild(mustFilter(t, "(cn=b)"))
			return f
		}())},
		{"substrings final before any", withChild(6, substrings(2, 1))},
		{"substrings initial twice", withChild(6, substrings(0, 0))},
		{"substrings empty", withChild(6, substrings())},
		{"attributes not a sequence", withChild(7, octets("cn", ""))},
		{"seven fields", func() *ber.Packet {
			op := good()
			op.Children = op.Children[:7]
			return rebuild(op)
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := int64(i + 1)
			c.in(t).call(message(id, tc.op)).assert(t, id, ldap.ApplicationSearchResultDone, ldap.LDAPResultProtocolError)
		})
	}
	c.call(message(99, whoAmIReq())).assert(t, 99, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
}

// rebuild re-encodes a packet whose children were replaced: asn1-ber keeps
// the encoded bytes of children in the parent's Data.
func rebuild(p *ber.Packet) *ber.Packet {
	out := ber.Encode(p.ClassType, p.TagType, p.Tag, nil, p.Description)
	for _, c := range p.Children {
		out.AppendChild(c)
	}
	return out
}

func TestSearch_AnswersMatchTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	c.send(message(7, search("", 0, mustFilter(t, "(objectClass=*)"), "vendorName")))
	entry := c.next()
	if entry.id != 7 || entry.tag != ldap.ApplicationSearchResultEntry {
		t.Fatalf("got %v, want the root DSE entry for message 7", entry)
	}
	if got := entry.op.Children[1].Children[0].Children[0].Data.String(); !strings.EqualFold(got, "vendorName") {
		t.Errorf("entry's attribute is %q", got)
	}
	c.next().assert(t, 7, ldap.ApplicationSearchResultDone, ldap.LDAPResultSuccess)
}

// The form of extensible match clients send, an attribute without a rule or
// with its equality rule, matches like equality (RFC 4511 4.5.1.7.7).
func TestFilter_ExtensibleMatchFallsBackToEquality(t *testing.T) {
	e := &entry{attrs: []attribute{{"uid", []string{"alice"}}}}
	for _, tc := range []struct {
		filter string
		want   tristate
	}{
		{"(uid:=ALICE)", fTrue},
		{"(uid:caseIgnoreMatch:=alice)", fTrue},
		{"(uid:=bob)", fFalse},
		{"(mail:=alice)", fFalse},
		{"(uid:2.5.13.5:=alice)", fUndefined},
	} {
		p, err := ldap.CompileFilter(tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		if !validFilter(p) {
			t.Fatalf("%s: not valid", tc.filter)
		}
		if got := match(p, e); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.filter, got, tc.want)
		}
	}
}

// A search of a missing entry names the closest entry above it that the
// session can read, as slapd does; an entry the session may not read is
// not named, so its existence does not leak.
func TestSearch_MissingEntryNamesTheClosestReadableOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.dial(t)
	if err := l.Bind("alice", e.appPassword); err != nil {
		t.Fatal(err)
	}
	people, groups := "ou=people,"+testBase, "ou=groups,"+testBase
	for _, tc := range []struct{ base, matched string }{
		{"uid=nobody," + people, people},
		{"appPasswordId=0000000000," + aliceDN, aliceDN},
		{"appPasswordId=0000000000,uid=nobody," + people, people},
		{"appPasswordId=0000000000,uid=dave," + people, people}, // exists, not alice's to read
		{"uid=dave," + people, people},
		{"cn=nogroup," + groups, groups},
		{"ou=nothing," + testBase, testBase},
		// Below entries that exist, where wicket serves nothing.
		{"cn=x," + aliceDN, aliceDN},
		{"cn=x,appPasswordId=0000000000," + aliceDN, aliceDN},
		{"cn=x,uid=dave," + people, people},
		{"cn=y,cn=x,ou=nothing," + testBase, testBase},
	} {
		_, err := l.Search(ldap.NewSearchRequest(tc.base, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", nil, nil))
		var le *ldap.Error
		if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultNoSuchObject {
			t.Errorf("%s: %v, want noSuchObject", tc.base, err)
			continue
		}
		if le.MatchedDN != tc.matched {
			t.Errorf("%s: matchedDN %q, want %q", tc.base, le.MatchedDN, tc.matched)
		}
	}
}
