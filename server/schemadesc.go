package server

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// schemaDesc is one parsed description of the subschema (RFC 4512 4.1):
// an attribute type, object class, syntax, matching rule or matching rule
// use. The parser is strict, as the strictest client's loader would be, so
// that a description that one client rejects fails wicket's tests first.
type schemaDesc struct {
	oid   string
	names []string
	// fields holds every keyword after the OID and NAME, upper case, with
	// its values: one for a single value, the list's for a list, none for
	// a flag (SINGLE-VALUE, STRUCTURAL, ...).
	fields map[string][]string
}

func (d schemaDesc) has(keyword string) bool {
	_, ok := d.fields[keyword]
	return ok
}

// one is the single value of keyword, or "" without it.
func (d schemaDesc) one(keyword string) string {
	if v := d.fields[keyword]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// name is the first NAME, by which wicket knows the element.
func (d schemaDesc) name() string {
	if len(d.names) == 0 {
		return ""
	}
	return d.names[0]
}

// The keywords of RFC 4512 4.1.2 to 4.1.4 and 4.1.5 (the syntaxes have
// only DESC and extensions), in the order its ABNF requires, and what
// their values are.
const (
	valFlag     = iota // no value
	valQDString        // one quoted string
	valQDescrs         // a quoted name or a list of them
	valOID             // one name or numeric OID
	valOIDs            // an OID or a "$"-separated list
	valNOIDLen         // a numeric OID with an optional {length}
	valUsage           // one of four words
)

var descKeywords = []struct {
	word string
	val  int
}{
	{"NAME", valQDescrs},
	{"DESC", valQDString},
	{"OBSOLETE", valFlag},
	{"SUP", valOIDs},
	{"ABSTRACT", valFlag},
	{"STRUCTURAL", valFlag},
	{"AUXILIARY", valFlag},
	{"EQUALITY", valOID},
	{"ORDERING", valOID},
	{"SUBSTR", valOID},
	{"SYNTAX", valNOIDLen},
	{"SINGLE-VALUE", valFlag},
	{"COLLECTIVE", valFlag},
	{"NO-USER-MODIFICATION", valFlag},
	{"USAGE", valUsage},
	{"MUST", valOIDs},
	{"MAY", valOIDs},
	{"APPLIES", valOIDs},
}

// parseSchemaDesc parses one description. Keywords must come in RFC
// 4512's order and at most once; extensions (X-...) come last.
func parseSchemaDesc(s string) (schemaDesc, error) {
	toks, err := tokenizeSchemaDesc(s)
	if err != nil {
		return schemaDesc{}, err
	}
	if len(toks) < 3 || toks[0] != "(" || toks[len(toks)-1] != ")" {
		return schemaDesc{}, errors.New("not enclosed in parentheses")
	}
	toks = toks[1 : len(toks)-1]
	d := schemaDesc{oid: toks[0], fields: map[string][]string{}}
	if !isNumericoid(d.oid) {
		return schemaDesc{}, fmt.Errorf("%q is not a numeric OID", d.oid)
	}
	toks = toks[1:]
	next := 0 // index in descKeywords a keyword may have from here on
	for len(toks) > 0 {
		word := toks[0]
		toks = toks[1:]
		val := valQDString
		if strings.HasPrefix(word, "X-") {
			if !isExtensionName(word) {
				return schemaDesc{}, fmt.Errorf("%q is not an extension name", word)
			}
			next = len(descKeywords)
			val = -1
		} else {
			i := slices.IndexFunc(descKeywords, func(k struct {
				word string
				val  int
			}) bool {
				return k.word == word
			})
			switch {
			case i < 0:
				return schemaDesc{}, fmt.Errorf("unknown keyword %q", word)
			case i < next:
				return schemaDesc{}, fmt.Errorf("%s out of place or repeated", word)
			}
			next, val = i+1, descKeywords[i].val
		}
		if d.has(word) {
			return schemaDesc{}, fmt.Errorf("%s repeated", word)
		}
		var values []string
		if val == valFlag {
			values = []string{}
		} else {
			values, toks, err = descValue(word, val, toks)
			if err != nil {
				return schemaDesc{}, err
			}
		}
		if word == "NAME" {
			d.names = values
		} else {
			d.fields[word] = values
		}
	}
	return d, nil
}

// descValue takes the value of keyword from toks. val -1 is an
// extension's: one quoted string or a list of them.
func descValue(keyword string, val int, toks []string) ([]string, []string, error) {
	if len(toks) == 0 {
		return nil, nil, fmt.Errorf("%s has no value", keyword)
	}
	var items []string
	if toks[0] == "(" {
		end := slices.Index(toks, ")")
		if end < 0 {
			return nil, nil, fmt.Errorf("%s: unclosed list", keyword)
		}
		list := toks[1:end]
		toks = toks[end+1:]
		switch val {
		case valOIDs:
			// oid *( "$" oid )
			for i, t := range list {
				if (i%2 == 1) != (t == "$") {
					return nil, nil, fmt.Errorf("%s: list %v is not separated by $", keyword, list)
				}
				if i%2 == 0 {
					items = append(items, t)
				}
			}
			if len(list)%2 == 0 {
				return nil, nil, fmt.Errorf("%s: list %v is not separated by $", keyword, list)
			}
		case valQDescrs, -1:
			items = list
		default:
			return nil, nil, fmt.Errorf("%s takes one value, not a list", keyword)
		}
	} else {
		items, toks = toks[:1], toks[1:]
	}
	for i, it := range items {
		quoted := len(it) >= 2 && it[0] == '\''
		switch val {
		case valQDString, valQDescrs, -1:
			if !quoted {
				return nil, nil, fmt.Errorf("%s: %q is not quoted", keyword, it)
			}
			items[i] = it[1 : len(it)-1]
			if val == valQDescrs && !isDescr(items[i]) {
				return nil, nil, fmt.Errorf("%s: %q is not a name", keyword, items[i])
			}
		case valOID, valOIDs:
			if quoted || !(isDescr(it) || isNumericoid(it)) {
				return nil, nil, fmt.Errorf("%s: %q is not an OID or a name", keyword, it)
			}
		case valNOIDLen:
			oid, length, hasLen := strings.Cut(it, "{")
			if !isNumericoid(oid) || (hasLen && !(strings.HasSuffix(length, "}") && isDigits(strings.TrimSuffix(length, "}")))) {
				return nil, nil, fmt.Errorf("%s: %q is not a numeric OID with an optional {length}", keyword, it)
			}
		case valUsage:
			if !slices.Contains([]string{"userApplications", "directoryOperation", "distributedOperation", "dSAOperation"}, it) {
				return nil, nil, fmt.Errorf("USAGE %q is not one of RFC 4512's", it)
			}
		}
	}
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("%s: empty list", keyword)
	}
	return items, toks, nil
}

// tokenizeSchemaDesc splits a description into "(", ")", "$", quoted strings
// (with their quotes, escapes \27 and \5C decoded) and words.
func tokenizeSchemaDesc(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case c == '(' || c == ')' || c == '$':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated quoted string")
			}
			q := s[i+1 : i+1+end]
			if strings.Contains(q, `\`) {
				q = strings.NewReplacer(`\27`, `'`, `\5C`, `\`, `\5c`, `\`).Replace(q)
			}
			toks = append(toks, "'"+q+"'")
			i += end + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" ()$'", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

// isNumericoid: number *( "." number ), no leading zeros (RFC 4512 1.4).
func isNumericoid(s string) bool {
	if s == "" {
		return false
	}
	for _, n := range strings.Split(s, ".") {
		if !isDigits(n) || (len(n) > 1 && n[0] == '0') {
			return false
		}
	}
	return strings.Contains(s, ".")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDescr: a keystring, ALPHA *( ALPHA / DIGIT / "-" ) (RFC 4512 1.4).
func isDescr(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) && !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// isExtensionName: "X-" 1*( ALPHA / "-" / "_" ) (RFC 4512 4.2).
func isExtensionName(s string) bool {
	rest := strings.TrimPrefix(s, "X-")
	if rest == "" || rest == s {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !isLetter(rest[i]) && rest[i] != '-' && rest[i] != '_' {
			return false
		}
	}
	return true
}

// ruleUses builds the matchingRuleUse values (RFC 4512 4.1.4) of the rules
// in uses: each rule applies to the types whose equality it is, directly
// or through SUP. Descriptions that do not parse are left out here;
// schema_test.go fails on them.
func ruleUses(types, rules, uses []string) []string {
	byName := map[string]schemaDesc{}
	var order []schemaDesc
	for _, s := range types {
		if d, err := parseSchemaDesc(s); err == nil {
			byName[strings.ToLower(d.name())] = d
			order = append(order, d)
		}
	}
	equality := func(d schemaDesc) string {
		// A SUP chain is short; the bound keeps a cycle from looping.
		for range 16 {
			if eq := d.one("EQUALITY"); eq != "" {
				return strings.ToLower(eq)
			}
			sup, ok := byName[strings.ToLower(d.one("SUP"))]
			if !ok {
				return ""
			}
			d = sup
		}
		return ""
	}
	var out []string
	for _, s := range rules {
		r, err := parseSchemaDesc(s)
		if err != nil || !slices.Contains(uses, r.oid) {
			continue
		}
		var applies []string
		for _, t := range order {
			if eq := equality(t); eq == strings.ToLower(r.name()) || eq == r.oid {
				applies = append(applies, t.name())
			}
		}
		if len(applies) == 0 {
			continue
		}
		list := applies[0]
		if len(applies) > 1 {
			list = "( " + strings.Join(applies, " $ ") + " )"
		}
		out = append(out, "( "+r.oid+" NAME '"+r.name()+"' APPLIES "+list+" )")
	}
	return out
}
