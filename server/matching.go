package server

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// Equality matching (RFC 4512 4.1.3, RFC 4517 4.2) as Compare and equality
// filters use it. An attribute's rule is what the subschema's attributeTypes
// say (following SUP): an attribute added there is compared by its own rule
// without a second table here.

// attrType is one attribute type of the subschema.
type attrType struct {
	oid   string
	names []string // as written; names[0] is how the server spells it
	sup   *attrType
	// equality is the rule, the type's own or inherited; nil when there is
	// none (then eqName is empty) or wicket does not implement it (eqName
	// says which).
	equality *eqRule
	eqName   string
	// ordering is the name of the ORDERING rule, the type's own or
	// inherited, in lower case; empty for none (ordering.go).
	ordering string
	syntax   string
	// spellings are the names and OIDs of the type and of its subtypes:
	// an assertion on "name" is about cn, sn and the rest too (RFC 4512
	// 2.5.1).
	spellings []string
}

func (t *attrType) name() string {
	if len(t.names) > 0 {
		return t.names[0]
	}
	return t.oid
}

// schemaIndex is the subschema's attribute types by OID and by name, as
// written and in lower case, and the OIDs of the names of classes and
// types, which objectIdentifierMatch compares.
type schemaIndex struct {
	types map[string]*attrType
	oids  map[string]string
}

// schema is read from the subschema's descriptions on first use, after
// every package-level initialisation that builds them.
var schema = sync.OnceValue(func() *schemaIndex {
	x, _ := buildSchema(attributeTypes, objectClasses)
	return x
})

func (x *schemaIndex) lookup(name string) *attrType {
	if t := x.types[name]; t != nil {
		return t
	}
	return x.types[strings.ToLower(name)]
}

// buildSchema indexes the descriptions. A description it cannot read is
// left out and reported; the tests require none.
func buildSchema(types, classes []string) (*schemaIndex, []error) {
	x := &schemaIndex{types: map[string]*attrType{}, oids: map[string]string{}}
	var errs []error
	for _, s := range classes {
		d, err := parseSchemaDescription(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, n := range d.fields["NAME"] {
			x.oids[n], x.oids[strings.ToLower(n)] = d.oid, d.oid
		}
	}
	defs := make(map[*attrType]schemaDescription)
	var all []*attrType
	for _, s := range types {
		d, err := parseSchemaDescription(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t := &attrType{oid: d.oid, names: d.fields["NAME"]}
		defs[t] = d
		all = append(all, t)
		x.types[t.oid] = t
		for _, n := range t.names {
			for _, k := range []string{n, strings.ToLower(n)} {
				x.types[k] = t
				if _, taken := x.oids[k]; !taken {
					x.oids[k] = t.oid
				}
			}
		}
	}
	for _, t := range all {
		if sup := defs[t].fields["SUP"]; len(sup) > 0 {
			t.sup = x.lookup(sup[0])
			if t.sup == nil {
				errs = append(errs, fmt.Errorf("attribute type %s: unknown SUP %s", t.name(), sup[0]))
			}
		}
	}
	for _, t := range all {
		// The first EQUALITY and SYNTAX up the chain; the bound keeps a
		// SUP cycle in a description from looping.
		for u, depth := t, 0; u != nil && depth < 16; u, depth = u.sup, depth+1 {
			d := defs[u]
			if eq := d.fields["EQUALITY"]; len(eq) > 0 && t.eqName == "" {
				t.eqName = eq[0]
			}
			if ord := d.fields["ORDERING"]; len(ord) > 0 && t.ordering == "" {
				t.ordering = strings.ToLower(ord[0])
			}
			if syn := d.fields["SYNTAX"]; len(syn) > 0 && t.syntax == "" {
				t.syntax, _, _ = strings.Cut(syn[0], "{")
			}
		}
		if t.eqName == "" && t.syntax == synDN {
			// As slapd: a DN-valued type without a rule of its own (the
			// root DSE's namingContexts) is compared as DNs.
			t.eqName = "distinguishedNameMatch"
		}
		if t.eqName != "" {
			t.equality = equalityRules[strings.ToLower(t.eqName)]
		}
		for u, depth := t, 0; u != nil && depth < 16; u, depth = u.sup, depth+1 {
			u.spellings = append(u.spellings, t.oid)
			u.spellings = append(u.spellings, t.names...)
		}
	}
	return x, errs
}

// schemaDescription is one description of RFC 4512 4.1: its OID and each
// field's values, quotes, parentheses and "$" taken off.
type schemaDescription struct {
	oid    string
	fields map[string][]string
}

// Fields that stand alone, without a value.
var schemaFlags = map[string]bool{
	"OBSOLETE": true, "SINGLE-VALUE": true, "COLLECTIVE": true, "NO-USER-MODIFICATION": true,
	"ABSTRACT": true, "STRUCTURAL": true, "AUXILIARY": true,
}

func parseSchemaDescription(s string) (schemaDescription, error) {
	toks, err := schemaTokens(s)
	if err != nil {
		return schemaDescription{}, fmt.Errorf("%q: %w", s, err)
	}
	if len(toks) < 3 || toks[0] != "(" || toks[len(toks)-1] != ")" {
		return schemaDescription{}, fmt.Errorf("%q: not a parenthesised description", s)
	}
	d := schemaDescription{oid: toks[1], fields: map[string][]string{}}
	toks = toks[2 : len(toks)-1]
	for len(toks) > 0 {
		key := toks[0]
		toks = toks[1:]
		if schemaFlags[key] {
			d.fields[key] = nil
			continue
		}
		if len(toks) == 0 {
			return schemaDescription{}, fmt.Errorf("%q: %s has no value", s, key)
		}
		if toks[0] != "(" {
			d.fields[key] = append(d.fields[key], strings.Trim(toks[0], "'"))
			toks = toks[1:]
			continue
		}
		end := slices.Index(toks, ")")
		if end < 0 {
			return schemaDescription{}, fmt.Errorf("%q: unclosed list after %s", s, key)
		}
		for _, v := range toks[1:end] {
			if v != "$" {
				d.fields[key] = append(d.fields[key], strings.Trim(v, "'"))
			}
		}
		toks = toks[end+1:]
	}
	return d, nil
}

// schemaTokens splits a description into "(", ")", quoted strings (quotes
// kept, so that a quoted "(" is not a parenthesis) and words.
func schemaTokens(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case c == '(' || c == ')':
			toks = append(toks, s[i:i+1])
			i++
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unclosed quote")
			}
			toks = append(toks, s[i:i+end+2])
			i += end + 2
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' && s[j] != '\'' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

// --- matching rules ---

// eqRule is an equality matching rule: each value is brought to a
// canonical form, and two values match when their forms are the same. A
// value that is not of the rule's syntax has no form (false): as an
// assertion it is invalidAttributeSyntax, as a stored value it matches
// nothing.
type eqRule struct {
	name string
	// assertion is the form of an assertion value; value that of a stored
	// one, when the rule asserts something else than the attribute holds
	// (objectIdentifierFirstComponentMatch).
	assertion func(x *schemaIndex, v string) (string, bool)
	value     func(x *schemaIndex, v string) (string, bool)
}

func (r *eqRule) stored(x *schemaIndex, v string) (string, bool) {
	if r.value != nil {
		return r.value(x, v)
	}
	return r.assertion(x, v)
}

// equalityRules are the rules wicket implements, by lower-case name and
// OID (RFC 4517 4.2, RFC 4530 2.3).
var equalityRules = func() map[string]*eqRule {
	m := map[string]*eqRule{}
	add := func(oid, name string, assertion, value func(*schemaIndex, string) (string, bool)) {
		r := &eqRule{name: name, assertion: assertion, value: value}
		m[oid], m[strings.ToLower(name)] = r, r
	}
	add("2.5.13.0", "objectIdentifierMatch", normOID, nil)
	add("2.5.13.1", "distinguishedNameMatch", normDN, nil)
	add("2.5.13.2", "caseIgnoreMatch", directoryString(true), nil)
	add("2.5.13.5", "caseExactMatch", directoryString(false), nil)
	add("2.5.13.8", "numericStringMatch", normNumericString, nil)
	add("2.5.13.11", "caseIgnoreListMatch", normPostalAddress, nil)
	add("2.5.13.13", "booleanMatch", normBoolean, nil)
	add("2.5.13.16", "bitStringMatch", normBitString, nil)
	add("2.5.13.14", "integerMatch", normInteger, nil)
	add("2.5.13.17", "octetStringMatch", func(_ *schemaIndex, v string) (string, bool) { return v, true }, nil)
	add("2.5.13.20", "telephoneNumberMatch", normTelephoneNumber, nil)
	add("2.5.13.23", "uniqueMemberMatch", normNameAndOptionalUID, nil)
	add("2.5.13.27", "generalizedTimeMatch", normGeneralizedTime, nil)
	add("2.5.13.29", "integerFirstComponentMatch", normInteger, firstComponentInteger)
	add("2.5.13.30", "objectIdentifierFirstComponentMatch", normOID, firstComponentOID)
	add("2.5.13.34", "certificateExactMatch", certificateAssertion, certificateOf)
	add("1.3.6.1.4.1.1466.109.114.1", "caseExactIA5Match", ia5String(false), nil)
	add("1.3.6.1.4.1.1466.109.114.2", "caseIgnoreIA5Match", ia5String(true), nil)
	add("1.3.6.1.1.16.2", "UUIDMatch", normUUID, nil)
	return m
}()

// undescribed is the rule of an attribute the subschema does not describe
// (such as the root DSE's vendorName): case-insensitive, as search has
// always compared them, and without a syntax to check.
var undescribed = &eqRule{name: "caseIgnoreMatch", assertion: func(_ *schemaIndex, v string) (string, bool) {
	return prepString(v, true), true
}}

func directoryString(fold bool) func(*schemaIndex, string) (string, bool) {
	return func(_ *schemaIndex, v string) (string, bool) {
		// RFC 4517 3.3.6: at least one character, UTF-8.
		if v == "" || !utf8.ValidString(v) {
			return "", false
		}
		return prepString(v, fold), true
	}
}

func ia5String(fold bool) func(*schemaIndex, string) (string, bool) {
	return func(_ *schemaIndex, v string) (string, bool) {
		for i := 0; i < len(v); i++ {
			if v[i] >= utf8.RuneSelf {
				return "", false
			}
		}
		return prepString(v, fold), true
	}
}

// prepString is RFC 4518's string preparation as far as it matters for
// the values wicket serves: characters mapped to nothing or to a space
// (2.2), case folded when fold is set (each rune to the least of its
// folding orbit, as strings.EqualFold holds them equal), and insignificant
// spaces removed (2.6.1): none leading or trailing, one between words.
// Unicode normalisation (NFKC) is not applied.
func prepString(s string, fold bool) string {
	if plainASCII(s) {
		if fold {
			return backend.FoldKey(s)
		}
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	pending := false
	for _, r := range s {
		switch {
		case isMappedToSpace(r):
			pending = b.Len() > 0
			continue
		case isMappedToNothing(r):
			continue
		}
		if pending {
			b.WriteByte(' ')
			pending = false
		}
		b.WriteRune(r)
	}
	if fold {
		return backend.FoldKey(b.String())
	}
	return b.String()
}

// plainASCII reports whether s is printable ASCII with single spaces
// between words only: what preparation leaves as it is.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			if i == 0 || i == len(s)-1 || s[i+1] == ' ' {
				return false
			}
			continue
		}
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func isMappedToSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x85:
		return true
	}
	return unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

func isMappedToNothing(r rune) bool {
	switch {
	case r == 0x034F, r >= 0x180B && r <= 0x180D, r >= 0xFE00 && r <= 0xFE0F, r == 0xFFFC:
		return true
	}
	// Soft hyphens and zero-width spaces are format characters (Cf).
	return unicode.In(r, unicode.Cc, unicode.Cf)
}

// normOID is an OID in either form (RFC 4512 1.4 oid): a name the schema
// knows becomes its OID, so that objectClass compares equal by name and by
// number; an unknown name compares by itself, case-insensitively.
func normOID(x *schemaIndex, v string) (string, bool) {
	switch {
	case isNumericOID(v):
		return v, true
	case isKeystring(v):
		if oid, ok := x.oids[v]; ok {
			return oid, true
		}
		if oid, ok := x.oids[strings.ToLower(v)]; ok {
			return oid, true
		}
		return strings.ToLower(v), true
	}
	return "", false
}

// firstComponentOID is the OID that opens a schema description, as
// objectIdentifierFirstComponentMatch compares attributeTypes and the
// like.
func firstComponentOID(x *schemaIndex, v string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimLeft(v, " "), "(")
	if !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, " ")
	if end := strings.IndexAny(rest, " )"); end >= 0 {
		rest = rest[:end]
	}
	return normOID(x, rest)
}

// firstComponentInteger is the rule number that opens a DIT structure
// rule description, as integerFirstComponentMatch compares them.
func firstComponentInteger(x *schemaIndex, v string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimLeft(v, " "), "(")
	if !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, " ")
	if end := strings.IndexAny(rest, " )"); end >= 0 {
		rest = rest[:end]
	}
	return normInteger(x, rest)
}

// normBitString: RFC 4517 3.3.2, '0101'B. The bits compare as written:
// trailing zeros are ignored only for a syntax with named bits (RFC 4517
// 4.2.1), and x500UniqueIdentifier has none.
func normBitString(_ *schemaIndex, v string) (string, bool) {
	bits, ok := strings.CutPrefix(v, "'")
	if !ok {
		return "", false
	}
	if bits, ok = strings.CutSuffix(bits, "'B"); !ok {
		return "", false
	}
	for i := 0; i < len(bits); i++ {
		if bits[i] != '0' && bits[i] != '1' {
			return "", false
		}
	}
	return bits, true
}

// certificateAssertion reads a certificateExactMatch assertion (RFC 4523
// 2.1, in GSER): { serialNumber 123, issuer rdnSequence:"cn=CA,o=Example" },
// as the serial number and the issuer's normalised DN.
func certificateAssertion(x *schemaIndex, v string) (string, bool) {
	body, ok := strings.CutPrefix(strings.TrimSpace(v), "{")
	if !ok {
		return "", false
	}
	if body, ok = strings.CutSuffix(body, "}"); !ok {
		return "", false
	}
	serial, issuer, ok := strings.Cut(body, ",")
	if !ok {
		return "", false
	}
	serial, ok = strings.CutPrefix(strings.TrimSpace(serial), "serialNumber ")
	if !ok {
		return "", false
	}
	issuer, ok = strings.CutPrefix(strings.TrimSpace(issuer), "issuer ")
	if !ok {
		return "", false
	}
	quoted, ok := strings.CutPrefix(strings.TrimSpace(issuer), `rdnSequence:"`)
	if !ok || !strings.HasSuffix(quoted, `"`) {
		return "", false
	}
	// A GSER string doubles the quotes it holds.
	dn := strings.TrimSuffix(quoted, `"`)
	if strings.Contains(strings.ReplaceAll(dn, `""`, ""), `"`) {
		return "", false
	}
	return certificateForm(x, strings.TrimSpace(serial), strings.ReplaceAll(dn, `""`, `"`))
}

// certificateOf is a stored certificate (its DER) as the same form.
func certificateOf(x *schemaIndex, v string) (string, bool) {
	c, err := x509.ParseCertificate([]byte(v))
	if err != nil {
		return "", false
	}
	return certificateForm(x, c.SerialNumber.String(), c.Issuer.String())
}

func certificateForm(x *schemaIndex, serial, issuer string) (string, bool) {
	n, ok := new(big.Int).SetString(serial, 10)
	if !ok {
		return "", false
	}
	dn, ok := normDN(x, issuer)
	if !ok {
		return "", false
	}
	return n.String() + "\x00" + dn, true
}

func isNumericOID(s string) bool {
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || len(part) > 1 && part[0] == '0' {
			return false
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return strings.Contains(s, ".")
}

// isKeystring: a letter, then letters, digits and hyphens (RFC 4512 1.4).
func isKeystring(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// normDN is a DN with its attribute types by OID where the schema knows
// them, each value prepared as caseIgnoreMatch does, and the values of a
// multi-valued RDN in one order; go-ldap's parser has undone escapes and
// the spaces around separators.
func normDN(x *schemaIndex, v string) (string, bool) {
	dn, err := ldap.ParseDN(v)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	for i, rdn := range dn.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		avas := make([]string, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			typ := strings.ToLower(a.Type)
			if t := x.lookup(a.Type); t != nil {
				typ = t.oid
			}
			val := prepString(a.Value, true)
			// Length-prefixed, so that no value can pass for a separator.
			avas[j] = typ + "=" + strconv.Itoa(len(val)) + ":" + val
		}
		slices.Sort(avas)
		b.WriteString(strings.Join(avas, "+"))
	}
	return b.String(), true
}

// normNameAndOptionalUID is a DN, optionally followed by "#" and a BIT
// STRING (RFC 4517 3.3.21).
func normNameAndOptionalUID(x *schemaIndex, v string) (string, bool) {
	dn, uid := v, ""
	if i := strings.LastIndex(v, "#'"); i >= 0 && strings.HasSuffix(v, "'B") {
		dn, uid = v[:i], v[i+2:len(v)-2]
		if strings.Trim(uid, "01") != "" {
			return "", false
		}
	}
	n, ok := normDN(x, dn)
	return n + "#" + uid, ok
}

func normNumericString(_ *schemaIndex, v string) (string, bool) {
	if v == "" || strings.Trim(v, "0123456789 ") != "" {
		return "", false
	}
	return strings.ReplaceAll(v, " ", ""), true
}

// normTelephoneNumber: a PrintableString (RFC 4517 3.3.31, 3.2) compared
// without spaces and hyphens, case-insensitively.
func normTelephoneNumber(_ *schemaIndex, v string) (string, bool) {
	if v == "" {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isAlpha(c) && !isDigit(c) && !strings.ContainsRune(" '()+,-./:?", rune(c)) {
			return "", false
		}
	}
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(v)), true
}

// normPostalAddress: lines separated by "$", each compared as
// caseIgnoreMatch does.
func normPostalAddress(_ *schemaIndex, v string) (string, bool) {
	if v == "" || !utf8.ValidString(v) {
		return "", false
	}
	lines := strings.Split(v, "$")
	for i, l := range lines {
		lines[i] = prepString(l, true)
	}
	return strings.Join(lines, "$"), true
}

func normBoolean(_ *schemaIndex, v string) (string, bool) {
	// RFC 4517 3.3.3: exactly these, in capitals (slapd refuses "false").
	return v, v == "TRUE" || v == "FALSE"
}

// normInteger: RFC 4517 3.3.16, no leading zeros, no "-0"; so written,
// equal integers are equal strings.
func normInteger(_ *schemaIndex, v string) (string, bool) {
	digits := strings.TrimPrefix(v, "-")
	if digits == "" || digits[0] == '0' && (len(digits) > 1 || len(v) > 1) {
		return "", false
	}
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return "", false
		}
	}
	return v, true
}

// normUUID: RFC 4122's string form, hex digits in either case.
func normUUID(_ *schemaIndex, v string) (string, bool) {
	if len(v) != 36 {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !isDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
				return "", false
			}
		}
	}
	return strings.ToLower(v), true
}

// normGeneralizedTime is the instant a GeneralizedTime names, in UTC to
// the nanosecond: "20310506070800Z", "203105060708Z" and
// "20310506090800.0+0200" are the same.
func normGeneralizedTime(_ *schemaIndex, v string) (string, bool) {
	t, ok := parseGeneralizedTime(v)
	if !ok {
		return "", false
	}
	return t.UTC().Format("20060102150405.000000000"), true
}

// parseGeneralizedTime reads RFC 4517 3.3.13: century, year, month, day
// and hour, optional minute and second, an optional fraction of the last
// of them, then Z or an offset from UTC.
func parseGeneralizedTime(s string) (time.Time, bool) {
	i := 0
	num := func(n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if !isDigit(c) {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		i += n
		return v, true
	}
	year, ok1 := num(4)
	month, ok2 := num(2)
	day, ok3 := num(2)
	hour, ok4 := num(2)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return time.Time{}, false
	}
	minute, sec, unit := 0, 0, time.Hour
	if i < len(s) && isDigit(s[i]) {
		var ok bool
		if minute, ok = num(2); !ok {
			return time.Time{}, false
		}
		unit = time.Minute
		if i < len(s) && isDigit(s[i]) {
			if sec, ok = num(2); !ok {
				return time.Time{}, false
			}
			unit = time.Second
		}
	}
	var frac time.Duration
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		// Digits past the ninth are below a nanosecond of any unit: read
		// and checked, not added.
		for step := unit / 10; i < len(s) && isDigit(s[i]); i++ {
			frac += time.Duration(s[i]-'0') * step
			step /= 10
		}
		if i == start {
			return time.Time{}, false
		}
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 60 || i >= len(s) {
		return time.Time{}, false
	}
	zone := 0
	switch s[i] {
	case 'Z':
		i++
	case '+', '-':
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		i++
		h, ok := num(2)
		if !ok || h > 23 {
			return time.Time{}, false
		}
		m := 0
		if i < len(s) {
			if m, ok = num(2); !ok || m > 59 {
				return time.Time{}, false
			}
		}
		zone = sign * (h*3600 + m*60)
	default:
		return time.Time{}, false
	}
	if i != len(s) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, 0, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // 30 February and the like
	}
	// A leap second (60) is the next minute's first instant.
	t = t.Add(time.Duration(sec)*time.Second + frac - time.Duration(zone)*time.Second)
	return t, true
}

// --- assertions ---

// secretTypes may never be compared: a compare would let anyone who can
// read the entry guess a password one request at a time, without the
// limits and the audit trail of a bind.
var secretTypes = []string{"userPassword", "2.5.4.35", "authPassword", "1.3.6.1.4.1.4203.1.3.4"}

// assertion is an attribute value assertion (RFC 4511 4.1.7) made ready to
// evaluate against entries.
type assertion struct {
	typ  *attrType // nil: a type the subschema does not describe
	desc string    // the type as the client wrote it, without options
	// tagged: the description carries a language tag (RFC 3866); wicket
	// holds no tagged values, so such an attribute is always absent.
	tagged bool
	rule   *eqRule
	raw    string // the assertion value as sent
	key    string // and in the rule's canonical form
}

// newAssertion checks the attribute description and the value: in
// slapd's order, a secret first, then the type, its matching rule and the
// value's syntax, all before any entry is looked at, so that none of the
// answers depends on an entry.
// A search (lenient) compares a type without a rule wicket can apply as
// an undescribed one.
func (x *schemaIndex) newAssertion(desc, value string, lenient bool) (*assertion, result, bool) {
	typ, options, hasOptions := strings.Cut(desc, ";")
	if isSecret(x, typ) {
		return nil, fail(ldap.LDAPResultInsufficientAccessRights,
			"%s cannot be compared: wicket never compares passwords or other secrets; a bind checks a password", typ), false
	}
	if !isKeystring(typ) && !isNumericOID(typ) {
		return nil, fail(ldap.LDAPResultUndefinedAttributeType, "%q is not an attribute description", desc), false
	}
	a := &assertion{typ: x.lookup(typ), desc: typ, raw: value}
	if hasOptions {
		for opt := range strings.SplitSeq(options, ";") {
			lang, isLang := cutPrefixFold(opt, "lang-")
			if !isLang || lang == "" || !isKeystring("x"+lang) {
				return nil, fail(ldap.LDAPResultUndefinedAttributeType,
					"attribute option %q is not supported; only language tags (lang-) are", opt), false
			}
		}
		a.tagged = true
	}
	if a.typ == nil || a.typ.equality == nil && lenient {
		// For an unknown type, the entry decides: an attribute it carries
		// that the subschema does not describe is still compared.
		a.rule, a.key = undescribed, prepString(value, true)
		return a, result{}, true
	}
	if a.typ.equality == nil {
		if a.typ.eqName == "" {
			return nil, fail(ldap.LDAPResultInappropriateMatching, "%s has no equality matching rule", a.typ.name()), false
		}
		return nil, fail(ldap.LDAPResultInappropriateMatching,
			"%s's equality matching rule %s is not implemented by wicket", a.typ.name(), a.typ.eqName), false
	}
	a.rule = a.typ.equality
	key, ok := a.rule.assertion(x, value)
	if !ok {
		return nil, fail(ldap.LDAPResultInvalidAttributeSyntax,
			"%q is not a valid value of %s (matched by %s)", value, a.typ.name(), a.rule.name), false
	}
	a.key = key
	return a, result{}, true
}

// isSecret reports whether typ is one of secretTypes or a subtype of one.
func isSecret(x *schemaIndex, typ string) bool {
	for _, s := range secretTypes {
		if strings.EqualFold(typ, s) {
			return true
		}
	}
	for t, depth := x.lookup(typ), 0; t != nil && depth < 16; t, depth = t.sup, depth+1 {
		if slices.Contains(secretTypes, t.oid) {
			return true
		}
	}
	return false
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// covers reports whether an entry's attribute named name holds values the
// assertion is about: its type or a subtype.
func (a *assertion) covers(name string) bool {
	if a.typ == nil {
		return strings.EqualFold(name, a.desc)
	}
	for _, s := range a.typ.spellings {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

// verdict is what an assertion says about one entry.
type verdict int8

const (
	verdictFalse verdict = iota
	verdictTrue
	verdictNoAttribute // the entry has no such attribute (as the session sees it)
	verdictUnknownType // neither the subschema nor the entry knows the type
)

func (x *schemaIndex) evaluate(e *entry, a *assertion) verdict {
	found := false
	for i := range e.attrs {
		at := &e.attrs[i]
		if !a.covers(at.name) {
			continue
		}
		found = true
		if a.tagged {
			continue
		}
		for _, v := range at.values {
			if v == a.raw {
				return verdictTrue
			}
			if k, ok := a.rule.stored(x, v); ok && k == a.key {
				return verdictTrue
			}
		}
	}
	switch {
	case !found && a.typ == nil:
		return verdictUnknownType
	case !found || a.tagged:
		return verdictNoAttribute
	}
	return verdictFalse
}

// equalityFilter evaluates the filter item (desc=value) on e with the same
// assertion Compare makes. An assertion Compare refuses for its value or
// its description is Undefined (RFC 4511 4.5.1.7); a type without a rule
// is compared case-insensitively, as search always has.
func equalityFilter(e *entry, desc, value string) tristate {
	x := schema()
	a, r, ok := x.newAssertion(desc, value, true)
	switch {
	case ok:
		return truth(x.evaluate(e, a) == verdictTrue)
	case r.code == ldap.LDAPResultInsufficientAccessRights:
		return fFalse // no entry shows a secret
	}
	return fUndefined
}
