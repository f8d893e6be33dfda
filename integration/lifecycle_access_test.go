package integration

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// Who may do what with app passwords, and what a refusal leaves behind:
// nothing changed, every time.

// managingOp is one way of changing an account's app passwords or password.
type managingOp struct {
	name string
	do   func(c *ldap.Conn) error
}

func extendedOnly(c *ldap.Conn, oid string, value []byte) error {
	_, err := extendedOp(c, oid, value)
	return err
}

// managingOps are the changes to u's app passwords or password that name
// u, as a session other than u's owner with a code might try them.
func managingOps(u user, id string) []managingOp {
	return []managingOp{
		{"create, BER", func(c *ldap.Conn) error {
			return extendedOnly(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: "sneaky", Target: u.dn}.Encode())
		}},
		{"revoke exop", func(c *ldap.Conn) error {
			return extendedOnly(c, exop.OIDAppPasswordRevoke, exop.RevokeRequest{ID: id, Target: u.name}.Encode())
		}},
		{"revoke-all exop", func(c *ldap.Conn) error {
			return extendedOnly(c, exop.OIDAppPasswordRevokeAll, exop.RevokeAllRequest{Target: u.name}.Encode())
		}},
		{"password modify", func(c *ldap.Conn) error {
			_, err := c.PasswordModify(ldap.NewPasswordModifyRequest(u.dn, u.password, "Taken-Over-"+u.name))
			return err
		}},
		{"delete of the entry", func(c *ldap.Conn) error {
			return c.Del(ldap.NewDelRequest(appPasswordDN(u, id), nil))
		}},
		{"modify deleting the value", func(c *ldap.Conn) error { return c.Modify(deleteIDsRequest(u.dn, id)) }},
		{"modify deleting the attribute", func(c *ldap.Conn) error { return c.Modify(deleteIDsRequest(u.dn)) }},
	}
}

// ownOps are the same changes naming no one: to the session's own account.
func ownOps(u user, id string) []managingOp {
	return []managingOp{
		{"create, bare label", func(c *ldap.Conn) error {
			return extendedOnly(c, exop.OIDAppPasswordCreate, []byte("sneaky"))
		}},
		{"revoke exop, bare id", func(c *ldap.Conn) error { return extendedOnly(c, exop.OIDAppPasswordRevoke, []byte(id)) }},
		{"revoke-all exop without a value", func(c *ldap.Conn) error {
			return extendedOnly(c, exop.OIDAppPasswordRevokeAll, nil)
		}},
		{"password modify without identity", func(c *ldap.Conn) error {
			_, err := c.PasswordModify(ldap.NewPasswordModifyRequest("", u.password, "Taken-Over-"+u.name))
			return err
		}},
	}
}

func requireRefused(t *testing.T, c *ldap.Conn, ops []managingOp, want int) {
	t.Helper()
	for _, op := range ops {
		if rc := resultCode(t, op.do(c)); rc != want {
			t.Errorf("%s: result %d, want %d", op.name, rc, want)
		}
	}
}

func TestAppPasswordSession_MayReadButNotManage(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("abby", true)
	id1, pw1 := w.appPassword(u.name, "phone")
	id2, pw2 := w.appPassword(u.name, "laptop")
	denied := int(ldap.LDAPResultInsufficientAccessRights)

	c := dialBound(t, w, u.dn, pw1)
	if got := listedIDs(exopList(t, c, "")); !slices.Equal(got, sortedIDs(id1, id2)) {
		t.Errorf("list in an app-password session: %v, want %v", got, sortedIDs(id1, id2))
	}
	if entries, err := searchEntries(c, u.dn, ldap.ScopeWholeSubtree); err != nil || len(entries) != 3 {
		t.Errorf("search in an app-password session: %d entries, %v; want 3", len(entries), err)
	}
	requireRefused(t, c, managingOps(u, id2), denied)
	// Even revoking the app password the session signed in with; the
	// primary password given as the old one does not make up for the
	// missing code.
	requireRefused(t, c, ownOps(u, id1), denied)

	tools := []struct {
		name string
		run  func() toolResult
	}{
		{"ldapexop create", func() toolResult { return ldapexopAs(t, w, u.dn, pw1, exop.OIDAppPasswordCreate+":sneaky") }},
		{"ldapexop revoke", func() toolResult { return ldapexopAs(t, w, u.dn, pw1, exop.OIDAppPasswordRevoke+":"+id2) }},
		{"ldapexop revoke-all", func() toolResult { return ldapexopAs(t, w, u.dn, pw1, exop.OIDAppPasswordRevokeAll) }},
		{"ldapdelete", func() toolResult { return ldapdeleteAs(t, w, u.dn, pw1, appPasswordDN(u, id2)) }},
		{"ldapmodify", func() toolResult { return ldapmodifyAs(t, w, u.dn, pw1, modifyLDIF(u.dn, deleteIDs(id2))) }},
		{"ldappasswd", func() toolResult {
			return ldapTool(t, "", "ldappasswd", append(toolAuth(w, u.dn, pw1), "-a", u.password, "-s", "Taken-Over-abby")...)
		}},
	}
	for _, tool := range tools {
		r := tool.run()
		requireCode(t, tool.name+" in an app-password session", r, denied)
		if !strings.Contains(r.output(), "one-time code") {
			t.Errorf("%s: the refusal does not say what would be allowed:\n%s", tool.name, r.output())
		}
	}

	requireActive(t, w, u.name, id1, id2)
	requireBind(t, w, u, pw2, 0)
	requireBind(t, w, u, u.password+newStepCodes(t, u).next(), 0)
}

func TestAnonymous_SeesOnlyTheRootDSEAndChangesNothing(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("anna", true)
	id, pw := w.appPassword(u.name, "phone")
	denied := int(ldap.LDAPResultInsufficientAccessRights)

	check := func(t *testing.T, c *ldap.Conn) {
		requireRefused(t, c, managingOps(u, id), denied)
		requireRefused(t, c, ownOps(u, id), denied)
		requireRefused(t, c, []managingOp{
			{"list", func(c *ldap.Conn) error { return extendedOnly(c, exop.OIDAppPasswordList, nil) }},
			{"list of a user", func(c *ldap.Conn) error {
				return extendedOnly(c, exop.OIDAppPasswordList, exop.ListRequest{Target: u.name}.Encode())
			}},
		}, denied)
		for _, base := range []string{"dc=example,dc=org", "ou=people,dc=example,dc=org", u.dn, appPasswordDN(u, id)} {
			entries, err := searchEntries(c, base, ldap.ScopeWholeSubtree)
			if rc := resultCode(t, err); rc != denied || len(entries) != 0 {
				t.Errorf("anonymous search of %s: %d entries, result %d; want none and 50", base, len(entries), rc)
			}
		}
		res, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"namingContexts"}, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Errorf("anonymous search of the root DSE: %v", err)
		}
	}
	t.Run("never bound", func(t *testing.T) { check(t, dialLDAP(t, w)) })
	t.Run("anonymous bind", func(t *testing.T) {
		c := dialLDAP(t, w)
		if err := c.UnauthenticatedBind(""); err != nil {
			t.Fatalf("anonymous bind: %v", err)
		}
		check(t, c)
	})
	t.Run("ldap-utils", func(t *testing.T) {
		r := ldapsearchAs(t, w, "", "", "dc=example,dc=org", "sub")
		requireCode(t, "anonymous ldapsearch", r, denied)
		if recs := parseLDIF(t, r.stdout); len(recs) != 0 {
			t.Errorf("anonymous ldapsearch shows entries:\n%s", r.stdout)
		}
		requireCode(t, "anonymous ldapexop create", ldapexopAs(t, w, "", "", exop.OIDAppPasswordCreate+":x"), denied)
		requireCode(t, "anonymous ldapexop list", ldapexopAs(t, w, "", "", exop.OIDAppPasswordList), denied)
		requireCode(t, "anonymous ldapdelete", ldapdeleteAs(t, w, "", "", appPasswordDN(u, id)), denied)
		requireCode(t, "anonymous ldapmodify", ldapmodifyAs(t, w, "", "", modifyLDIF(u.dn, deleteIDs())), denied)
		requireCode(t, "anonymous ldappasswd",
			ldapTool(t, "", "ldappasswd", append(toolAuth(w, "", ""), "-s", "Taken-Over-anna", u.dn)...), denied)
	})
	requireActive(t, w, u.name, id)
	requireBind(t, w, u, pw, 0)
}

func TestOtherUsers_AppPasswordsInvisibleAndUntouchable(t *testing.T) {
	w := startWicket(t, "")
	a := w.newUser("amy", true)
	b := w.newUser("ben", true)
	bID, bPW := w.appPassword(b.name, "phone")
	aID, _ := w.appPassword(a.name, "phone")
	codes := newStepCodes(t, a)
	denied := int(ldap.LDAPResultInsufficientAccessRights)
	noSuch := int(ldap.LDAPResultNoSuchObject)

	c := dialBound(t, w, a.dn, codes.withCode(a))
	for _, base := range []string{b.dn, appPasswordDN(b, bID)} {
		entries, err := searchEntries(c, base, ldap.ScopeWholeSubtree)
		if rc := resultCode(t, err); rc != noSuch || len(entries) != 0 {
			t.Errorf("search of %s: %d entries, result %d; want none and 32", base, len(entries), rc)
		}
	}
	entries, err := searchEntries(c, "ou=people,dc=example,dc=org", ldap.ScopeWholeSubtree)
	if err != nil {
		t.Fatal(err)
	}
	var dns []string
	for _, e := range entries {
		dns = append(dns, strings.ToLower(e.DN))
	}
	slices.Sort(dns)
	want := []string{"ou=people,dc=example,dc=org", strings.ToLower(appPasswordDN(a, aID)), a.dn}
	slices.Sort(want)
	if !slices.Equal(dns, want) {
		t.Errorf("a subtree search of ou=people finds %v, want only amy's: %v", dns, want)
	}

	requireRefused(t, c, managingOps(b, bID), denied)
	requireRefused(t, c, []managingOp{
		{"list of another user", func(c *ldap.Conn) error {
			return extendedOnly(c, exop.OIDAppPasswordList, exop.ListRequest{Target: b.name}.Encode())
		}},
		// The same answer whether or not the user exists.
		{"list of no such user", func(c *ldap.Conn) error {
			return extendedOnly(c, exop.OIDAppPasswordList, exop.ListRequest{Target: "nobody"}.Encode())
		}},
		{"create for no such user", func(c *ldap.Conn) error {
			return extendedOnly(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: "x", Target: "nobody"}.Encode())
		}},
	}, denied)
	// Without a target an id is looked up among one's own only.
	_, err = extendedOp(c, exop.OIDAppPasswordRevoke, exop.RevokeRequest{ID: bID}.Encode())
	if rc := resultCode(t, err); rc != noSuch || !strings.Contains(err.Error(), "no such app password") {
		t.Errorf("revoke of another user's id as one's own: %v, want 32 no such app password", err)
	}

	requireCode(t, "ldapdelete of another user's entry",
		ldapdeleteAs(t, w, a.dn, codes.withCode(a), appPasswordDN(b, bID)), denied)
	requireCode(t, "ldapsearch of another user's entry",
		ldapsearchAs(t, w, a.dn, codes.withCode(a), b.dn, "sub"), noSuch)

	requireActive(t, w, b.name, bID)
	requireActive(t, w, a.name, aID)
	requireBind(t, w, b, bPW, 0)
	requireBind(t, w, b, b.password+newStepCodes(t, b).next(), 0)
}

// A service account (what Dovecot and Postfix bind as) reads every user,
// but no one's app passwords: the list operation naming a user is refused
// as the search hides them, whether or not the user exists.
func TestServiceAccount_ListOfAnotherUsersAppPasswordsIsRefused(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("sam", true)
	id, _ := w.appPassword(u.name, "phone")
	root := newAdministrator(w, "root")
	svc := user{name: "dovecot", dn: "uid=dovecot,ou=people,dc=example,dc=org", password: "Dovecot-Service-Secret-3"}
	w.admin(svc.password+"\n", "user", "add", svc.name, "--role", "service", "--password-stdin")
	denied := int(ldap.LDAPResultInsufficientAccessRights)

	c := dialBound(t, w, svc.dn, svc.password)
	for _, target := range []string{u.name, u.dn, u.mail, root.name, "nobody"} {
		v, err := extendedOp(c, exop.OIDAppPasswordList, exop.ListRequest{Target: target}.Encode())
		if rc := resultCode(t, err); rc != denied || len(v) != 0 {
			t.Errorf("a service lists %s: %d bytes, %v; want nothing and 50", target, len(v), err)
		} else if !strings.Contains(err.Error(), "service accounts read the directory but not other users' app passwords") {
			t.Errorf("a service lists %s: the refusal %q does not say why", target, err)
		}
	}
	if got := exopList(t, c, ""); len(got) != 0 {
		t.Errorf("the service's own list: %+v, want none", got)
	}
	// The service still reads the user, without the app passwords.
	entries, err := searchEntries(c, u.dn, ldap.ScopeWholeSubtree)
	if err != nil || len(entries) != 1 || len(entries[0].GetAttributeValues("appPasswordId")) != 0 {
		t.Errorf("a service's search of %s: %d entries, %v; want the user entry alone", u.dn, len(entries), err)
	}
	ac := dialBound(t, w, root.dn, newStepCodes(t, root).withCode(root))
	if got := listedIDs(exopList(t, ac, u.name)); !slices.Equal(got, []string{id}) {
		t.Errorf("an administrator lists %v, want [%s]", got, id)
	}
}

func TestCreate_RefusedPastTheLimitWithAdminLimitExceeded(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("lina", true)
	codes := newStepCodes(t, u)
	c := dialBound(t, w, u.dn, codes.withCode(u))
	var first exop.CreateResponse
	for i := range 25 {
		r := exopCreate(t, c, "device "+string(rune('A'+i)), "")
		if i == 0 {
			first = r
		}
	}
	_, err := extendedOp(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: "one too many"}.Encode())
	if rc := resultCode(t, err); rc != int(ldap.LDAPResultAdminLimitExceeded) || !strings.Contains(err.Error(), "25") {
		t.Errorf("the 26th create: %v, want adminLimitExceeded mentioning 25", err)
	}
	r := ldapexopAs(t, w, u.dn, codes.withCode(u), exop.OIDAppPasswordCreate+":one too many")
	requireCode(t, "the 26th create with ldapexop", r, int(ldap.LDAPResultAdminLimitExceeded))
	if !strings.Contains(r.output(), "25 app passwords are active") {
		t.Errorf("ldapexop does not show the limit:\n%s", r.output())
	}
	if n := len(exopList(t, c, "")); n != 25 {
		t.Errorf("%d app passwords listed, want 25", n)
	}
	if _, err := extendedOp(c, exop.OIDAppPasswordRevoke, []byte(first.ID)); err != nil {
		t.Fatal(err)
	}
	exopCreate(t, c, "after a revocation", "")
}

func TestCreate_RefusedWithoutTwoFactor(t *testing.T) {
	w := startWicket(t, "[auth]\nrequire_second_factor = false\n")
	u := w.newUser("nils", false)
	unwilling := int(ldap.LDAPResultUnwillingToPerform)

	c := dialBound(t, w, u.dn, u.password)
	_, err := extendedOp(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: "phone"}.Encode())
	if rc := resultCode(t, err); rc != unwilling || !strings.Contains(err.Error(), "two-factor must be enrolled") {
		t.Errorf("create without TOTP: %v, want unwillingToPerform saying two-factor must be enrolled", err)
	}
	r := ldapexopAs(t, w, u.dn, u.password, exop.OIDAppPasswordCreate+":phone")
	requireCode(t, "ldapexop create without TOTP", r, unwilling)
	if !strings.Contains(r.output(), "two-factor must be enrolled before creating app passwords") {
		t.Errorf("ldapexop does not show why:\n%s", r.output())
	}
	requireActive(t, w, u.name)
}

// berValue encodes a packet built by hand, for values exop would never
// produce.
func berValue(tag ber.Tag, children ...*ber.Packet) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, tag, nil, "")
	for _, c := range children {
		p.AppendChild(c)
	}
	return p.Bytes()
}

func berOctets(s string) *ber.Packet {
	return ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, s, "")
}

func berContext(tag ber.Tag, s string) *ber.Packet {
	return ber.NewString(ber.ClassContext, ber.TypePrimitive, tag, s, "")
}

func berInt(n int64) *ber.Packet {
	return ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, n, "")
}

func TestExop_MalformedValuesAreProtocolErrorsAndChangeNothing(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("mallory", true)
	codes := newStepCodes(t, u)
	id, pw := w.appPassword(u.name, "phone")
	c := dialBound(t, w, u.dn, codes.withCode(u))
	before := exopList(t, c, "")

	seq := func(children ...*ber.Packet) []byte { return berValue(ber.TagSequence, children...) }
	trailing := func(v []byte) []byte { return append(v, 0x04, 0x00) }
	nested := ber.NewSequence("")
	for range 8 {
		outer := ber.NewSequence("")
		outer.AppendChild(nested)
		nested = outer
	}
	deep := nested.Bytes()
	cases := []struct {
		name, oid string
		value     []byte
	}{
		{"create without a value", exop.OIDAppPasswordCreate, nil},
		{"create with an empty value", exop.OIDAppPasswordCreate, []byte{}},
		{"create with an INTEGER label", exop.OIDAppPasswordCreate, seq(berInt(7))},
		{"create with an empty SEQUENCE", exop.OIDAppPasswordCreate, seq()},
		{"create with trailing bytes", exop.OIDAppPasswordCreate, trailing(exop.CreateRequest{Label: "x"}.Encode())},
		{"create with target tagged [1]", exop.OIDAppPasswordCreate, seq(berOctets("x"), berContext(1, u.name))},
		{"create with an empty target", exop.OIDAppPasswordCreate, seq(berOctets("x"), berContext(0, ""))},
		{"create with a field after the target", exop.OIDAppPasswordCreate, seq(berOctets("x"), berContext(0, u.name), berOctets("y"))},
		{"create with a non-UTF-8 label", exop.OIDAppPasswordCreate, seq(berOctets("caf\xe9"))},
		{"create with a non-UTF-8 target", exop.OIDAppPasswordCreate, seq(berOctets("x"), berContext(0, "\xff\xfe"))},
		{"create with non-UTF-8 bare bytes", exop.OIDAppPasswordCreate, []byte("caf\xe9 laptop")},
		{"create with a control character", exop.OIDAppPasswordCreate, []byte("phone\nlaptop")},
		{"create nested too deeply", exop.OIDAppPasswordCreate, deep},
		{"list with bare text", exop.OIDAppPasswordList, []byte("mallory")},
		{"list with an OCTET STRING target", exop.OIDAppPasswordList, seq(berOctets(u.name))},
		{"list with trailing bytes", exop.OIDAppPasswordList, trailing(exop.ListRequest{}.Encode())},
		{"revoke without a value", exop.OIDAppPasswordRevoke, nil},
		{"revoke with an INTEGER id", exop.OIDAppPasswordRevoke, seq(berInt(1))},
		{"revoke with trailing bytes", exop.OIDAppPasswordRevoke, trailing(exop.RevokeRequest{ID: id}.Encode())},
		{"revoke with a non-UTF-8 id", exop.OIDAppPasswordRevoke, []byte{0xff, 0xfe}},
		{"revoke with a SET", exop.OIDAppPasswordRevoke, berValue(ber.TagSet, berOctets(id))},
		{"revoke-all with bare text", exop.OIDAppPasswordRevokeAll, []byte("all")},
		{"revoke-all with trailing bytes", exop.OIDAppPasswordRevokeAll, trailing(exop.RevokeAllRequest{}.Encode())},
		{"revoke-all with a non-UTF-8 target", exop.OIDAppPasswordRevokeAll, seq(berContext(0, "\xff"))},
		{"password modify with bare text", exop.OIDPasswordModify, []byte("New-Password-1")},
		{"password modify with fields out of order", exop.OIDPasswordModify,
			seq(berContext(2, "New-Password-1"), berContext(1, u.password))},
		{"password modify with universal fields", exop.OIDPasswordModify,
			seq(berOctets(u.password), berOctets("New-Password-1"))},
		{"password modify with trailing bytes", exop.OIDPasswordModify,
			trailing(seq(berContext(1, u.password), berContext(2, "New-Password-1")))},
	}
	for _, tc := range cases {
		_, err := extendedOp(c, tc.oid, tc.value)
		if rc := resultCode(t, err); rc != int(ldap.LDAPResultProtocolError) {
			t.Errorf("%s (%s): %v, want protocolError", tc.name, base64.StdEncoding.EncodeToString(tc.value), err)
		}
	}

	// Well-formed values that break the rules of a label are a
	// constraintViolation instead: the request was understood.
	for name, label := range map[string]string{
		"101 characters":           strings.Repeat("x", 101),
		"a control character":      "phone\tlaptop",
		"empty":                    "",
		"only spaces":              "   ",
		"a right-to-left override": "phone\u202etxt.exe",
		"a zero-width space":       "pho\u200bne",
		"a space at the end":       "phone ",
		"a line separator":         "phone\u2028laptop",
	} {
		_, err := extendedOp(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: label}.Encode())
		if rc := resultCode(t, err); rc != int(ldap.LDAPResultConstraintViolation) || !strings.Contains(err.Error(), "the label must") {
			t.Errorf("create with a label of %s: %v, want constraintViolation saying what the label must be", name, err)
		}
	}

	after := exopList(t, c, "")
	if !slices.EqualFunc(before, after, func(x, y exop.AppPassword) bool { return x.ID == y.ID && x.Label == y.Label }) {
		t.Errorf("the list changed: before %+v, after %+v", before, after)
	}
	requireActive(t, w, u.name, id)
	requireBind(t, w, u, pw, 0)
	requireBind(t, w, u, u.password+codes.next(), 0)
}
