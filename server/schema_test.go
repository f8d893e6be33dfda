package server

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

// schemaKind is one of the subschema's lists of descriptions, with the
// keywords RFC 4512 allows in it besides NAME.
type schemaKind struct {
	attr     string
	descs    []string
	keywords []string
}

func wicketSchema() []schemaKind {
	return []schemaKind{
		{"attributeTypes", attributeTypes, []string{"DESC", "OBSOLETE", "SUP", "EQUALITY", "ORDERING", "SUBSTR", "SYNTAX",
			"SINGLE-VALUE", "COLLECTIVE", "NO-USER-MODIFICATION", "USAGE"}},
		{"objectClasses", objectClasses, []string{"DESC", "OBSOLETE", "SUP", "ABSTRACT", "STRUCTURAL", "AUXILIARY", "MUST", "MAY"}},
		{"ldapSyntaxes", ldapSyntaxes, []string{"DESC"}},
		{"matchingRules", matchingRules, []string{"DESC", "OBSOLETE", "SYNTAX"}},
		{"matchingRuleUse", matchingRuleUse, []string{"DESC", "OBSOLETE", "APPLIES"}},
	}
}

// parsedSchema indexes the descriptions: types, classes and rules by
// lower-case name and by OID, syntaxes by OID.
type parsedSchema struct {
	types, classes, rules, syntaxes map[string]schemaDesc
	uses                            []schemaDesc
	typeOrder, classOrder           []schemaDesc
}

// checkSchema parses every description and reports everything a strict
// schema loader would refuse: a description that does not parse, a keyword
// out of place, a duplicate OID or name, and any name or OID that a
// description refers to without a description of its own.
func checkSchema(kinds []schemaKind) (parsedSchema, []string) {
	p := parsedSchema{types: map[string]schemaDesc{}, classes: map[string]schemaDesc{},
		rules: map[string]schemaDesc{}, syntaxes: map[string]schemaDesc{}}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	oids := map[string]string{}
	for _, k := range kinds {
		for _, s := range k.descs {
			d, err := parseSchemaDesc(s)
			if err != nil {
				bad("%s: %s: %v", k.attr, s, err)
				continue
			}
			for kw := range d.fields {
				if !strings.HasPrefix(kw, "X-") && !slices.Contains(k.keywords, kw) {
					bad("%s: %s: keyword %s does not belong here", k.attr, s, kw)
				}
			}
			if (k.attr == "ldapSyntaxes") != (len(d.names) == 0) {
				bad("%s: %s: a syntax has no NAME, everything else one", k.attr, s)
			}
			if k.attr == "matchingRuleUse" {
				p.uses = append(p.uses, d)
				continue
			}
			if prev, dup := oids[d.oid]; dup {
				bad("%s: OID %s is also %s", k.attr, d.oid, prev)
			}
			oids[d.oid] = k.attr + " " + d.name()
			idx := map[string]map[string]schemaDesc{"attributeTypes": p.types, "objectClasses": p.classes,
				"matchingRules": p.rules, "ldapSyntaxes": p.syntaxes}[k.attr]
			idx[d.oid] = d
			for _, n := range d.names {
				if _, dup := idx[strings.ToLower(n)]; dup {
					bad("%s: name %s is described twice", k.attr, n)
				}
				idx[strings.ToLower(n)] = d
			}
			switch k.attr {
			case "attributeTypes":
				p.typeOrder = append(p.typeOrder, d)
			case "objectClasses":
				p.classOrder = append(p.classOrder, d)
			}
		}
	}
	refer := func(from, what string, idx map[string]schemaDesc, name string) {
		if _, ok := idx[strings.ToLower(name)]; !ok {
			bad("%s names %s %s, which is not described", from, what, name)
		}
	}
	for _, d := range p.typeOrder {
		from := "attribute type " + d.name()
		if !d.has("SYNTAX") && !d.has("SUP") {
			bad("%s has neither SYNTAX nor SUP", from)
		}
		if sup := d.one("SUP"); sup != "" {
			refer(from, "supertype", p.types, sup)
		}
		for _, kw := range []string{"EQUALITY", "ORDERING", "SUBSTR"} {
			if r := d.one(kw); r != "" {
				refer(from, "matching rule", p.rules, r)
			}
		}
		if syn := d.one("SYNTAX"); syn != "" {
			oid, _, _ := strings.Cut(syn, "{")
			refer(from, "syntax", p.syntaxes, oid)
		}
		seen := map[string]bool{}
		for cur := d; cur.one("SUP") != ""; {
			if seen[cur.oid] {
				bad("%s: its supertypes loop", from)
				break
			}
			seen[cur.oid] = true
			var ok bool
			if cur, ok = p.types[strings.ToLower(cur.one("SUP"))]; !ok {
				break
			}
		}
	}
	for _, d := range p.classOrder {
		from := "object class " + d.name()
		kinds := 0
		for _, kw := range []string{"ABSTRACT", "STRUCTURAL", "AUXILIARY"} {
			if d.has(kw) {
				kinds++
			}
		}
		if kinds > 1 {
			bad("%s is of more than one kind", from)
		}
		for _, sup := range d.fields["SUP"] {
			refer(from, "superclass", p.classes, sup)
		}
		for _, kw := range []string{"MUST", "MAY"} {
			for _, a := range d.fields[kw] {
				refer(from, "attribute", p.types, a)
			}
		}
	}
	for _, r := range p.rules {
		refer("matching rule "+r.name(), "syntax", p.syntaxes, r.one("SYNTAX"))
	}
	for _, u := range p.uses {
		from := "matchingRuleUse " + u.oid
		if r, ok := p.rules[u.oid]; !ok {
			bad("%s: no such matching rule", from)
		} else if !strings.EqualFold(r.name(), u.name()) {
			bad("%s: named %s, but the rule is %s", from, u.name(), r.name())
		}
		for _, a := range u.fields["APPLIES"] {
			refer(from, "attribute", p.types, a)
		}
	}
	return p, problems
}

// kindsWith is wicket's schema with one list replaced, for the tests that
// show what checkSchema finds.
func kindsWith(attr string, descs ...string) []schemaKind {
	kinds := wicketSchema()
	for i := range kinds {
		if kinds[i].attr == attr {
			kinds[i].descs = descs
		}
	}
	return kinds
}

func TestSchema_EverythingNamedIsDescribed(t *testing.T) {
	t.Parallel()
	if _, problems := checkSchema(wicketSchema()); len(problems) > 0 {
		t.Errorf("the subschema would be refused by a strict loader:\n%s", strings.Join(problems, "\n"))
	}
	if len(matchingRuleUse) != len(extensibleRules) {
		t.Errorf("matchingRuleUse has %d values, want one for each of the %d rules extensible filters evaluate:\n%s",
			len(matchingRuleUse), len(extensibleRules), strings.Join(matchingRuleUse, "\n"))
	}
}

// The check above can fail: each broken schema here is refused for the
// reason given.
func TestSchema_CheckFindsWhatAStrictLoaderRefuses(t *testing.T) {
	t.Parallel()
	withType := func(d string) []schemaKind {
		return kindsWith("attributeTypes", append(slices.Clone(attributeTypes), d)...)
	}
	withClass := func(d string) []schemaKind {
		return kindsWith("objectClasses", append(slices.Clone(objectClasses), d)...)
	}
	for _, tc := range []struct {
		name  string
		kinds []schemaKind
		want  string
	}{
		{"an undescribed matching rule", withType("( 1.2.3.4 NAME 'x' EQUALITY noSuchMatch SYNTAX " + synOID + " )"), "matching rule noSuchMatch"},
		{"an undescribed syntax", withType("( 1.2.3.4 NAME 'x' SYNTAX 1.2.3.5{12} )"), "syntax 1.2.3.5"},
		{"an undescribed supertype", withType("( 1.2.3.4 NAME 'x' SUP noSuchType )"), "supertype noSuchType"},
		{"neither syntax nor supertype", withType("( 1.2.3.4 NAME 'x' EQUALITY caseIgnoreMatch )"), "neither SYNTAX nor SUP"},
		{"a name described twice", withType("( 1.2.3.4 NAME 'UID' SUP name )"), "name UID is described twice"},
		{"an OID described twice", withType("( 2.5.4.3 NAME 'x' SUP name )"), "OID 2.5.4.3"},
		{"a class keyword in a type", withType("( 1.2.3.4 NAME 'x' SUP name MAY cn )"), "MAY does not belong"},
		{"a type that does not parse", withType("( 1.2.3.4 NAME x SUP name )"), "not quoted"},
		{"an undescribed attribute in a class", withClass("( 1.2.3.4 NAME 'x' SUP top AUXILIARY MAY ( cn $ noSuchAttr ) )"), "attribute noSuchAttr"},
		{"an undescribed superclass", withClass("( 1.2.3.4 NAME 'x' SUP noSuchClass AUXILIARY )"), "superclass noSuchClass"},
		{"a class of two kinds", withClass("( 1.2.3.4 NAME 'x' SUP top STRUCTURAL AUXILIARY )"), "more than one kind"},
		{"a rule with an undescribed syntax", kindsWith("matchingRules", append(slices.Clone(matchingRules),
			"( 1.2.3.4 NAME 'xMatch' SYNTAX 1.2.3.5 )")...), "syntax 1.2.3.5"},
		{"a rule use of no rule", kindsWith("matchingRuleUse", "( 1.2.3.4 NAME 'xMatch' APPLIES cn )"), "no such matching rule"},
		{"a rule use of an undescribed type", kindsWith("matchingRuleUse", "( 2.5.13.2 NAME 'caseIgnoreMatch' APPLIES ( cn $ x ) )"), "attribute x"},
		{"a syntax with a name", kindsWith("ldapSyntaxes", append(slices.Clone(ldapSyntaxes), "( 1.2.3.4 NAME 'x' DESC 'x' )")...), "a syntax has no NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := checkSchema(tc.kinds)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q, want one about %q", problems, tc.want)
			}
		})
	}
}

func TestSchemaDesc_Parse(t *testing.T) {
	t.Parallel()
	d, err := parseSchemaDesc("( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'it''s (a) name' SUP name X-ORIGIN ( 'RFC 4519' 'x' ) )")
	if err == nil {
		t.Errorf("two quoted strings run together parsed as %+v", d)
	}
	d, err = parseSchemaDesc(`( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'common (sur)name\27s \5C' SUP name X-ORIGIN ( 'RFC 4519' 'x' ) )`)
	if err != nil {
		t.Fatal(err)
	}
	if d.oid != "2.5.4.3" || !slices.Equal(d.names, []string{"cn", "commonName"}) || d.one("DESC") != `common (sur)name's \` ||
		d.one("SUP") != "name" || !slices.Equal(d.fields["X-ORIGIN"], []string{"RFC 4519", "x"}) {
		t.Errorf("parsed %+v", d)
	}
	d, err = parseSchemaDesc("( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY userPassword )")
	if err != nil {
		t.Fatal(err)
	}
	if !d.has("STRUCTURAL") || d.has("AUXILIARY") || !slices.Equal(d.fields["MUST"], []string{"sn", "cn"}) || d.one("MAY") != "userPassword" {
		t.Errorf("parsed %+v", d)
	}
	for _, s := range []string{
		"2.5.4.3 NAME 'cn' SUP name",                           // no parentheses
		"( cn NAME 'cn' SUP name )",                            // a name for the OID
		"( 2.5.04.3 NAME 'cn' SUP name )",                      // a leading zero
		"( 2.5.4.3 SUP name NAME 'cn' )",                       // out of order
		"( 2.5.4.3 NAME 'cn' NAME 'x' SUP name )",              // repeated
		"( 2.5.4.3 NAME 'cn' SUPERIOR name )",                  // unknown keyword
		"( 2.5.4.3 NAME 'c n' SUP name )",                      // not a descr
		"( 2.5.4.3 NAME 'cn' DESC 'unterminated SUP name )",    // a quote
		"( 2.5.6.6 NAME 'person' MUST ( sn cn ) )",             // no $
		"( 2.5.6.6 NAME 'person' MUST ( sn $ ) )",              // a trailing $
		"( 2.5.6.6 NAME 'person' MUST ( ) )",                   // empty
		"( 2.5.4.3 NAME 'cn' SYNTAX 1.2.3{x} )",                // a length that is no number
		"( 2.5.4.3 NAME 'cn' SYNTAX name )",                    // a name for a syntax
		"( 2.5.4.3 NAME 'cn' SUP name USAGE everyone )",        // no such usage
		"( 2.5.4.3 NAME 'cn' SUP name X-1 'x' )",               // a bad extension name
		"( 2.5.4.3 NAME 'cn' SUP name X-ORIGIN 'a' DESC 'b' )", // a keyword after an extension
		"( 2.5.4.3 NAME 'cn' EQUALITY ( a $ b ) SUP name )",    // a list where one value goes
	} {
		if d, err := parseSchemaDesc(s); err == nil {
			t.Errorf("%s parsed as %+v", s, d)
		}
	}
}

// readSlapdSchema reads testdata/slapd-subschema.ldif into the same kinds.
func readSlapdSchema(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("testdata/slapd-subschema.ldif")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && line[0] != '#' {
			attr, value, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("testdata line %q", line)
			}
			out[attr] = append(out[attr], value)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// notPublishedBySlapd are the standard OIDs wicket describes that slapd
// keeps out of its subschema (descriptions it hides, syntaxes it has no
// validator for) or that need a schema slapd does not load.
var notPublishedBySlapd = map[string]string{
	"1.2.840.113556.1.2.102":        "memberOf: slapd's memberof overlay",
	"2.16.840.1.113730.3.1.13":      "mailAlternateAddress: a mail schema",
	"2.5.21.1":                      "dITStructureRules: hidden",
	"2.5.21.2":                      "dITContentRules: hidden",
	"2.5.21.7":                      "nameForms: hidden",
	"2.5.18.6":                      "subtreeSpecification: hidden",
	"1.3.6.1.4.1.1466.115.121.1.3":  "Attribute Type Description: hidden",
	"1.3.6.1.4.1.1466.115.121.1.16": "DIT Content Rule Description: hidden",
	"1.3.6.1.4.1.1466.115.121.1.17": "DIT Structure Rule Description: hidden",
	"1.3.6.1.4.1.1466.115.121.1.23": "Fax: hidden",
	"1.3.6.1.4.1.1466.115.121.1.25": "Guide: hidden",
	"1.3.6.1.4.1.1466.115.121.1.30": "Matching Rule Description: hidden",
	"1.3.6.1.4.1.1466.115.121.1.31": "Matching Rule Use Description: hidden",
	"1.3.6.1.4.1.1466.115.121.1.35": "Name Form Description: hidden",
	"1.3.6.1.4.1.1466.115.121.1.37": "Object Class Description: hidden",
	"1.3.6.1.4.1.1466.115.121.1.51": "Teletex Terminal Identifier: hidden",
	"1.3.6.1.4.1.1466.115.121.1.54": "LDAP Syntax Description: hidden",
	"1.3.6.1.4.1.1466.115.121.1.58": "Substring Assertion: hidden",
	"1.3.6.1.1.15.1":                "X.509 Certificate Exact Assertion: hidden",
}

// differentFromSlapd are the differences meant, by kind and OID.
var differentFromSlapd = map[string]string{
	"objectClasses 2.5.6.9":                    "groupOfNames: a group without members is served without member",
	"matchingRules 1.3.6.1.4.1.1466.109.114.3": "caseIgnoreIA5SubstringsMatch: RFC 4517's assertion syntax",
}

// The standard descriptions are the ones Debian's slapd publishes, but for
// DESC texts and alternative names (see schema.go) and the differences
// listed above, so that a client sees the same schema from both.
func TestSchema_StandardDescriptionsAreSlapds(t *testing.T) {
	t.Parallel()
	slapd := map[string]map[string]schemaDesc{}
	// oidOf maps every name slapd gives a type, class or rule (its
	// alternative names too: slapd's account class names 'userid', wicket
	// 'uid') to the OID, so that both sides compare by OID.
	oidOf := map[string]map[string]string{}
	for attr, descs := range readSlapdSchema(t) {
		slapd[attr] = map[string]schemaDesc{}
		oidOf[attr] = map[string]string{}
		for _, s := range descs {
			d, err := parseSchemaDesc(s)
			if err != nil {
				// The parser must read what a real server publishes.
				t.Errorf("slapd's %s %s: %v", attr, s, err)
				continue
			}
			slapd[attr][d.oid] = d
			for _, n := range d.names {
				oidOf[attr][strings.ToLower(n)] = d.oid
			}
		}
	}
	canon := func(kind, keyword, value string) string {
		list := map[string]string{"SUP": kind, "MUST": "attributeTypes", "MAY": "attributeTypes",
			"EQUALITY": "matchingRules", "ORDERING": "matchingRules", "SUBSTR": "matchingRules"}[keyword]
		if oid, ok := oidOf[list][strings.ToLower(value)]; ok {
			return oid
		}
		return strings.ToLower(value)
	}
	for _, k := range wicketSchema() {
		if k.attr == "matchingRuleUse" {
			continue
		}
		for _, s := range k.descs {
			d, err := parseSchemaDesc(s)
			if err != nil {
				continue // TestSchema_EverythingNamedIsDescribed reports it
			}
			if strings.HasPrefix(d.oid, exop.Arc+".") {
				continue
			}
			ref, ok := slapd[k.attr][d.oid]
			if !ok {
				if _, hidden := notPublishedBySlapd[d.oid]; !hidden {
					t.Errorf("%s %s (%s) is not what slapd publishes: no description with that OID", k.attr, d.oid, d.name())
				}
				continue
			}
			diff := descDifference(k.attr, d, ref, canon)
			key := k.attr + " " + d.oid
			_, meant := differentFromSlapd[key]
			switch {
			case diff != "" && !meant:
				t.Errorf("%s %s differs from slapd's: %s\n  wicket: %s\n  slapd:  %s", k.attr, d.name(), diff, s, descString(ref))
			case diff == "" && meant:
				t.Errorf("%s %s is now slapd's: drop it from differentFromSlapd", k.attr, d.name())
			}
		}
	}
}

// descDifference says how d differs from slapd's ref, but for what
// wicket leaves out on purpose: DESC and further names. canon gives the
// value of a keyword in a form both sides share.
func descDifference(attr string, d, ref schemaDesc, canon func(kind, keyword, value string) string) string {
	for _, n := range d.names {
		if !slices.Contains(ref.names, n) {
			return fmt.Sprintf("name %s is not one of %v", n, ref.names)
		}
	}
	var keywords []string
	switch attr {
	case "attributeTypes":
		keywords = []string{"OBSOLETE", "SUP", "EQUALITY", "ORDERING", "SUBSTR", "SYNTAX", "SINGLE-VALUE", "COLLECTIVE", "NO-USER-MODIFICATION", "USAGE"}
	case "objectClasses":
		keywords = []string{"OBSOLETE", "SUP", "ABSTRACT", "STRUCTURAL", "AUXILIARY", "MUST", "MAY"}
	case "ldapSyntaxes":
		keywords = []string{"DESC"}
		for kw := range ref.fields {
			if strings.HasPrefix(kw, "X-") {
				keywords = append(keywords, kw)
			}
		}
	case "matchingRules":
		keywords = []string{"OBSOLETE", "SYNTAX"}
	}
	for kw := range d.fields {
		if strings.HasPrefix(kw, "X-") && !slices.Contains(keywords, kw) {
			keywords = append(keywords, kw)
		}
	}
	fold := func(kw string, v []string) []string {
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = canon(attr, kw, s)
		}
		slices.Sort(out)
		return out
	}
	for _, kw := range keywords {
		mine, theirs := d.fields[kw], ref.fields[kw]
		if (mine == nil) != (theirs == nil) || !slices.Equal(fold(kw, mine), fold(kw, theirs)) {
			return fmt.Sprintf("%s %v, slapd %v", kw, mine, theirs)
		}
	}
	return ""
}

func descString(d schemaDesc) string { return fmt.Sprintf("%s %v %v", d.oid, d.names, d.fields) }

// Every entry a session can read is described by the subschema, as a
// schema-checking client would check it: each attribute's type, each
// object class, one chain of structural classes, every user attribute
// allowed by a class and every required one present, and no second value
// of a single-valued attribute. Operational attributes are the server's
// and governed by no class (RFC 4512 3.4).
func TestSchema_EveryServedEntryConforms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addService(t)
	rootSecret, _, _ := e.addUser(ctx, "root", "root@example.com", "root's own password")
	if err := e.svc.SetRole(ctx, "root", backend.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	given, sur, display := "Alice", "Liddell", "Alice Liddell"
	if err := e.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{GivenName: &given, Surname: &sur, DisplayName: &display,
		Aliases: &[]string{"a.liddell@example.com", "al@example.com"}}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"staff", "empty"} {
		if err := e.svc.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"alice", "root"} {
		if err := e.svc.SetGroupMember(ctx, "staff", m, true); err != nil {
			t.Fatal(err)
		}
	}
	// The subschema's own problems are TestSchema_EverythingNamedIsDescribed's.
	p, _ := checkSchema(wicketSchema())

	l := e.dial(t)
	if err := l.Bind("uid=root,ou=people,"+testBase, "root's own password"+e.code(rootSecret)); err != nil {
		t.Fatal(err)
	}
	var entries []*ldap.Entry
	for _, base := range []string{"", subschemaDN, testBase} {
		scope := ldap.ScopeBaseObject
		if base == testBase {
			scope = ldap.ScopeWholeSubtree
		}
		res, err := l.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"*", "+"}, nil))
		if err != nil {
			t.Fatalf("search %q: %v", base, err)
		}
		entries = append(entries, res.Entries...)
	}
	kinds := map[string]bool{}
	for _, en := range entries {
		for _, oc := range en.GetAttributeValues("objectClass") {
			kinds[strings.ToLower(oc)] = true
		}
		for _, problem := range checkEntry(p, en) {
			t.Errorf("%q: %s", en.DN, problem)
		}
	}
	// What the entries above must have covered, so that the test does not
	// pass on a directory that lost a kind of entry.
	for _, oc := range []string{"wicketRootDSE", "subschema", "organization", "organizationalUnit", "inetOrgPerson",
		"wicketAccount", "groupOfNames", "wicketAppPassword"} {
		if !kinds[strings.ToLower(oc)] {
			t.Errorf("no entry of class %s was read", oc)
		}
	}
}

// checkEntry reports how an entry breaks the schema.
func checkEntry(p parsedSchema, en *ldap.Entry) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	classes := map[string]schemaDesc{}
	var structural []schemaDesc
	for _, oc := range en.GetAttributeValues("objectClass") {
		c, ok := p.classes[strings.ToLower(oc)]
		if !ok {
			bad("object class %s is not described", oc)
			continue
		}
		// With its superclasses, which an entry need not list.
		for depth := 0; depth < 16; depth++ {
			classes[c.oid] = c
			if c.has("STRUCTURAL") || !(c.has("ABSTRACT") || c.has("AUXILIARY")) {
				if !slices.ContainsFunc(structural, func(s schemaDesc) bool { return s.oid == c.oid }) {
					structural = append(structural, c)
				}
			}
			sup := c.one("SUP")
			if sup == "" {
				break
			}
			if c, ok = p.classes[strings.ToLower(sup)]; !ok {
				break
			}
		}
	}
	// One chain: the most specific structural class has every other one
	// among its superclasses.
	chains := 0
	for _, s := range structural {
		below := 0
		for _, o := range structural {
			for c, ok := o, true; ok && c.one("SUP") != ""; c, ok = p.classes[strings.ToLower(c.one("SUP"))] {
				if strings.EqualFold(c.one("SUP"), s.name()) {
					below++
					break
				}
			}
		}
		if below == 0 {
			chains++
		}
	}
	if chains != 1 {
		bad("%d structural class chains (%d structural classes), want one", chains, len(structural))
	}
	allowed := map[string]bool{}
	for _, c := range classes {
		for _, a := range append(slices.Clone(c.fields["MUST"]), c.fields["MAY"]...) {
			allowed[strings.ToLower(a)] = true
		}
	}
	user := func(d schemaDesc) bool { u := d.one("USAGE"); return u == "" || u == "userApplications" }
	for _, a := range en.Attributes {
		d, ok := p.types[strings.ToLower(a.Name)]
		if !ok {
			bad("attribute %s is not described", a.Name)
			continue
		}
		if user(d) && !allowed[strings.ToLower(a.Name)] {
			bad("attribute %s is allowed by none of its classes", a.Name)
		}
		if d.has("SINGLE-VALUE") && len(a.Values) > 1 {
			bad("attribute %s is single-valued but has %d values", a.Name, len(a.Values))
		}
	}
	for _, c := range classes {
		for _, a := range c.fields["MUST"] {
			if d, ok := p.types[strings.ToLower(a)]; ok && user(d) && len(en.GetAttributeValues(a)) == 0 {
				bad("attribute %s, required by %s, is missing", a, c.name())
			}
		}
	}
	return problems
}

// checkEntry can fail: each entry here breaks the schema as said.
func TestSchema_EntryCheckFindsWhatBreaksTheSchema(t *testing.T) {
	t.Parallel()
	p, problems := checkSchema(wicketSchema())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	person := func(attrs map[string][]string) *ldap.Entry {
		base := map[string][]string{"objectClass": {"top", "inetOrgPerson", "wicketAccount"}, "cn": {"a"}, "sn": {"a"}, "uid": {"a"}}
		for k, v := range attrs {
			base[k] = v
		}
		return ldap.NewEntry("uid=a,ou=people,"+testBase, base)
	}
	if got := checkEntry(p, person(nil)); len(got) > 0 {
		t.Fatalf("a well-formed person: %v", got)
	}
	for _, tc := range []struct {
		name  string
		entry *ldap.Entry
		want  string
	}{
		{"an undescribed attribute", person(map[string][]string{"favouriteColour": {"blue"}}), "favouriteColour is not described"},
		{"an undescribed class", person(map[string][]string{"objectClass": {"top", "person", "wicketThing"}}), "wicketThing is not described"},
		{"an attribute no class allows", person(map[string][]string{"label": {"x"}}), "label is allowed by none"},
		{"a missing required attribute", person(map[string][]string{"sn": nil}), "sn, required by person"},
		{"two values of a single-valued attribute", person(map[string][]string{"displayName": {"a", "b"}}), "displayName is single-valued"},
		{"two structural chains", person(map[string][]string{"objectClass": {"top", "inetOrgPerson", "wicketAppPassword"},
			"appPasswordId": {"x"}, "label": {"x"}}), "2 structural class chains"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkEntry(p, tc.entry)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q, want one about %q", got, tc.want)
			}
		})
	}
}

// matchingRuleUse promises that an extensible filter may apply each rule to
// the attributes listed; the server keeps that promise, and does not
// evaluate a rule the subschema does not list for extensible filters.
func TestSchema_MatchingRuleUseIsWhatExtensibleFiltersEvaluate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.dial(t)
	if err := l.Bind(aliceDN, e.alicePasswordAndCode()); err != nil {
		t.Fatal(err)
	}
	find := func(filter string) bool {
		t.Helper()
		res, err := l.Search(ldap.NewSearchRequest(aliceDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			filter, []string{"1.1"}, nil))
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		return len(res.Entries) == 1
	}
	res, err := l.Search(ldap.NewSearchRequest(aliceDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"*"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading alice: %v", err)
	}
	alice := res.Entries[0]
	for _, s := range matchingRuleUse {
		u, err := parseSchemaDesc(s)
		if err != nil {
			t.Fatal(err)
		}
		tried := 0
		for _, attr := range u.fields["APPLIES"] {
			v := alice.GetAttributeValue(attr)
			if v == "" {
				continue
			}
			tried++
			for _, rule := range []string{u.name(), u.oid} {
				f := fmt.Sprintf("(%s:%s:=%s)", attr, rule, ldap.EscapeFilter(strings.ToUpper(v)))
				if !find(f) {
					t.Errorf("%s does not find alice, whose %s is %q", f, attr, v)
				}
				f = fmt.Sprintf("(%s:%s:=%s)", attr, rule, ldap.EscapeFilter(v+"x"))
				if find(f) {
					t.Errorf("%s finds alice, whose %s is %q", f, attr, v)
				}
			}
		}
		if tried == 0 {
			t.Errorf("%s: alice has none of the attributes it applies to, so nothing was tried", s)
		}
	}
	if find("(uid:caseExactMatch:=alice)") {
		t.Error("an extensible filter with caseExactMatch, which matchingRuleUse does not list, matched")
	}
}
