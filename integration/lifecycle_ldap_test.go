package integration

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// The app-password lifecycle driven by the stock OpenLDAP tools, as a user
// or a helpdesk script would.

func TestLDAPExop_CreateShowsThePasswordOnceAndItWorks(t *testing.T) {
	w := startWicket(t, "")

	// What a person types: the label as plain text after the OID. ldapexop
	// prints the response value only as base64, so the password is also
	// in the diagnostic message, the one part it shows as text.
	bareLabel := func(t *testing.T, name, label string) {
		u := w.newUser(name, true)
		r := ldapexopAs(t, w, u.dn, newStepCodes(t, u).withCode(u), exop.OIDAppPasswordCreate+":"+label)
		requireCode(t, "ldapexop create", r, 0)
		recs := parseLDIF(t, r.stdout)
		if len(recs) != 1 || recs[0].first("oid") != exop.OIDAppPasswordCreate {
			t.Fatalf("ldapexop printed %d records, want one response naming the OID:\n%s", len(recs), r.stdout)
		}
		resp, err := exop.DecodeCreateResponse([]byte(recs[0].first("data")))
		if err != nil {
			t.Fatalf("the response value: %v\n%s", err, r.stdout)
		}
		if !appPasswordShape.MatchString(resp.Password) || resp.ID == "" || !recent(resp.Created) {
			t.Errorf("response %+v: want an id, a password shown as xxxx-xxxx-xxxx-xxxx and the time now", resp)
		}
		info := recs[0].first("Additional info")
		if !strings.Contains(info, resp.Password) || !strings.Contains(info, resp.ID) {
			t.Errorf("Additional info %q does not show the password and its id", info)
		}
		out, rc := ldapwhoami(t, w.url(), u.dn, resp.Password)
		if rc != 0 || strings.TrimSpace(out) != "dn:"+u.dn {
			t.Errorf("ldapwhoami with the new app password: (%q, %d), want dn:%s", out, rc, u.dn)
		}
		var list []listedAppPassword
		w.adminJSON(&list, "", "apppw", "list", name)
		if len(list) != 1 || list[0].ID != resp.ID || list[0].Label != label {
			t.Errorf("apppw list = %+v, want %s labelled %q", list, resp.ID, label)
		}
	}
	t.Run("bare label", func(t *testing.T) { bareLabel(t, "ulla", "Thunderbird") })
	t.Run("bare label with spaces and accents", func(t *testing.T) { bareLabel(t, "ugo", "Thunderbird für Küche") })
	// A label is text whatever its first character; '0' is also the first
	// byte of a BER SEQUENCE.
	t.Run("bare label starting with 0", func(t *testing.T) { bareLabel(t, "uwe", "0ffice laptop") })

	// ldapexop's "oid::base64" form sends the BER request itself; such a
	// client reads the response value, so the secret stays out of the
	// diagnostic, which clients tend to log.
	t.Run("BER request", func(t *testing.T) {
		u := w.newUser("ulrike", true)
		req := exop.CreateRequest{Label: "Kalender – Telefon"}.Encode()
		r := ldapexopAs(t, w, u.dn, newStepCodes(t, u).withCode(u),
			exop.OIDAppPasswordCreate+"::"+base64.StdEncoding.EncodeToString(req))
		requireCode(t, "ldapexop create", r, 0)
		recs := parseLDIF(t, r.stdout)
		if len(recs) != 1 {
			t.Fatalf("ldapexop printed %d records:\n%s", len(recs), r.stdout)
		}
		resp, err := exop.DecodeCreateResponse([]byte(recs[0].first("data")))
		if err != nil {
			t.Fatalf("the response value: %v\n%s", err, r.stdout)
		}
		requireNoSecret(t, "the diagnostic message", recs[0].first("Additional info"), resp.Password)
		requireBind(t, w, u, resp.Password, 0)
		var list []listedAppPassword
		w.adminJSON(&list, "", "apppw", "list", u.name)
		if len(list) != 1 || list[0].Label != "Kalender – Telefon" {
			t.Errorf("apppw list = %+v, want the one labelled %q", list, "Kalender – Telefon")
		}
	})
}

func TestLDAPSearch_OwnerSeesAppPasswordEntriesButNoSecret(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("sven", true)
	codes := newStepCodes(t, u)
	idPhone, pwPhone := w.appPassword(u.name, "phone")
	idLaptop, pwLaptop := w.appPassword(u.name, "Thunderbird on laptop")
	labels := map[string]string{idPhone: "phone", idLaptop: "Thunderbird on laptop"}
	secrets := []string{pwPhone, pwLaptop, u.password}

	check := func(t *testing.T, r toolResult) []ldifRecord {
		t.Helper()
		requireCode(t, "ldapsearch", r, 0)
		requireNoSecret(t, "ldapsearch", r.output(), secrets...)
		recs := parseLDIF(t, r.stdout)
		if len(recs) != 3 {
			t.Fatalf("ldapsearch found %d entries, want the user and two app passwords:\n%s", len(recs), r.stdout)
		}
		ue, ok := recordByDN(t, recs, u.dn)
		if !ok {
			t.Fatalf("no entry %s:\n%s", u.dn, r.stdout)
		}
		if got := sortedIDs(ue.get("appPasswordId")...); !slices.Equal(got, sortedIDs(idPhone, idLaptop)) {
			t.Errorf("appPasswordId of the user entry = %v, want %v", got, sortedIDs(idPhone, idLaptop))
		}
		if ue.get("userPassword") != nil {
			t.Errorf("the user entry shows userPassword")
		}
		for id, label := range labels {
			e, ok := recordByDN(t, recs, appPasswordDN(u, id))
			if !ok {
				t.Errorf("no entry %s:\n%s", appPasswordDN(u, id), r.stdout)
				continue
			}
			if !slices.Contains(e.get("objectClass"), "wicketAppPassword") || e.first("appPasswordId") != id ||
				e.first("label") != label {
				t.Errorf("entry %s = %v, want objectClass wicketAppPassword, appPasswordId %s, label %q", e.dn, e.attrs, id, label)
			}
			if ts := e.first("createTimestamp"); !recent(parseGeneralized(t, ts)) {
				t.Errorf("entry %s: createTimestamp %q, want the time of creation", e.dn, ts)
			}
		}
		return recs
	}

	t.Run("bound with password and code", func(t *testing.T) {
		recs := check(t, ldapsearchAs(t, w, u.dn, codes.withCode(u), u.dn, "sub", "*", "+"))
		for _, r := range recs {
			if r.get("lastUsedTimestamp") != nil || r.get("lastUsedFrom") != nil {
				t.Errorf("%s shows a last use before any", r.dn)
			}
		}
	})
	t.Run("bound with an app password", func(t *testing.T) {
		// The bind is a use, so its own entry shows it at once; the other
		// one has still never been used.
		recs := check(t, ldapsearchAs(t, w, u.dn, pwPhone, u.dn, "sub", "*", "+"))
		phone, _ := recordByDN(t, recs, appPasswordDN(u, idPhone))
		if ts := phone.first("lastUsedTimestamp"); ts == "" || !recent(parseGeneralized(t, ts)) {
			t.Errorf("lastUsedTimestamp of the app password just used: %q, want now", ts)
		}
		if from := phone.first("lastUsedFrom"); from != "127.0.0.1" {
			t.Errorf("lastUsedFrom of the app password just used: %q, want 127.0.0.1", from)
		}
		laptop, _ := recordByDN(t, recs, appPasswordDN(u, idLaptop))
		if laptop.get("lastUsedTimestamp") != nil || laptop.get("lastUsedFrom") != nil {
			t.Errorf("the unused app password shows a last use: %v", laptop.attrs)
		}
	})
	t.Run("operational attributes only when asked for", func(t *testing.T) {
		r := ldapsearchAs(t, w, u.dn, pwLaptop, u.dn, "one", "*")
		requireCode(t, "ldapsearch", r, 0)
		recs := parseLDIF(t, r.stdout)
		if len(recs) != 2 {
			t.Fatalf("a one-level search found %d entries, want the two app passwords:\n%s", len(recs), r.stdout)
		}
		for _, e := range recs {
			if e.first("label") == "" || e.get("createTimestamp") != nil || e.get("lastUsedTimestamp") != nil {
				t.Errorf("%s with '*': %v, want label and no operational attributes", e.dn, e.attrs)
			}
		}
	})
}

func TestLDAPModifyAndDelete_Revoke(t *testing.T) {
	w := startWicket(t, "")
	// setup gives an account three app passwords.
	setup := func(t *testing.T, name string) (u user, ids, pws []string) {
		u = w.newUser(name, true)
		for _, label := range []string{"phone", "laptop", "tablet"} {
			id, pw := w.appPassword(name, label)
			ids, pws = append(ids, id), append(pws, pw)
		}
		return u, ids, pws
	}

	t.Run("ldapdelete of one entry revokes that one only", func(t *testing.T) {
		u, ids, pws := setup(t, "dora")
		// Attribute types and uid compare without regard to case, as a
		// person may type them.
		entry := "APPPASSWORDID=" + ids[0] + "," + strings.ToUpper(u.dn)
		requireCode(t, "ldapdelete", ldapdeleteAs(t, w, u.dn, newStepCodes(t, u).withCode(u), entry), 0)
		requireBind(t, w, u, pws[0], int(ldap.LDAPResultInvalidCredentials))
		requireBind(t, w, u, pws[1], 0)
		requireBind(t, w, u, pws[2], 0)
		requireActive(t, w, u.name, ids[1], ids[2])
		r := ldapsearchAs(t, w, u.dn, pws[1], appPasswordDN(u, ids[0]), "base")
		requireCode(t, "ldapsearch of the deleted entry", r, int(ldap.LDAPResultNoSuchObject))
	})
	t.Run("ldapmodify deleting one value revokes that one only", func(t *testing.T) {
		u, ids, pws := setup(t, "mona")
		ldif := modifyLDIF(u.dn, deleteIDs(ids[1]))
		requireCode(t, "ldapmodify", ldapmodifyAs(t, w, u.dn, newStepCodes(t, u).withCode(u), ldif), 0)
		requireBind(t, w, u, pws[1], int(ldap.LDAPResultInvalidCredentials))
		requireBind(t, w, u, pws[0], 0)
		requireBind(t, w, u, pws[2], 0)
		requireActive(t, w, u.name, ids[0], ids[2])
	})
	t.Run("ldapmodify deleting the attribute revokes all", func(t *testing.T) {
		u, _, pws := setup(t, "alma")
		ldif := modifyLDIF(u.dn, deleteIDs())
		requireCode(t, "ldapmodify", ldapmodifyAs(t, w, u.dn, newStepCodes(t, u).withCode(u), ldif), 0)
		for _, pw := range pws {
			requireBind(t, w, u, pw, int(ldap.LDAPResultInvalidCredentials))
		}
		requireActive(t, w, u.name)
	})
	t.Run("a disallowed change beside a revocation changes nothing", func(t *testing.T) {
		u, ids, pws := setup(t, "mixa")
		ldif := modifyLDIF(u.dn, deleteIDs(ids[0]), []string{"replace: mail", "mail: someone-else@example.org"})
		r := ldapmodifyAs(t, w, u.dn, newStepCodes(t, u).withCode(u), ldif)
		requireCode(t, "ldapmodify", r, int(ldap.LDAPResultUnwillingToPerform))
		if !strings.Contains(r.output(), "appPasswordId") {
			t.Errorf("the refusal does not say what is supported:\n%s", r.output())
		}
		requireActive(t, w, u.name, ids...)
		requireBind(t, w, u, pws[0], 0)
		s := ldapsearchAs(t, w, u.dn, pws[0], u.dn, "base", "mail")
		requireCode(t, "ldapsearch", s, 0)
		if recs := parseLDIF(t, s.stdout); len(recs) != 1 || recs[0].first("mail") != u.mail {
			t.Errorf("mail after the refused modify:\n%s", s.stdout)
		}
	})
	t.Run("an unknown id is noSuchAttribute and revokes nothing", func(t *testing.T) {
		u, ids, pws := setup(t, "nico")
		codes := newStepCodes(t, u)
		unknown := "00000000ff"
		for slices.Contains(ids, unknown) {
			unknown += "0"
		}
		r := ldapmodifyAs(t, w, u.dn, codes.withCode(u), modifyLDIF(u.dn, deleteIDs(unknown)))
		requireCode(t, "ldapmodify of an unknown id", r, int(ldap.LDAPResultNoSuchAttribute))
		// All or nothing: a known id beside the unknown one stays active.
		r = ldapmodifyAs(t, w, u.dn, codes.withCode(u), modifyLDIF(u.dn, deleteIDs(ids[0], unknown)))
		requireCode(t, "ldapmodify of a known and an unknown id", r, int(ldap.LDAPResultNoSuchAttribute))
		requireActive(t, w, u.name, ids...)
		requireBind(t, w, u, pws[0], 0)
	})
	t.Run("an administrator revokes another user's", func(t *testing.T) {
		u, ids, pws := setup(t, "hugo")
		adm := newAdministrator(w, "helpdesk1")
		codes := newStepCodes(t, adm)
		requireCode(t, "ldapmodify by an administrator",
			ldapmodifyAs(t, w, adm.dn, codes.withCode(adm), modifyLDIF(u.dn, deleteIDs(ids[0]))), 0)
		requireCode(t, "ldapdelete by an administrator",
			ldapdeleteAs(t, w, adm.dn, codes.withCode(adm), appPasswordDN(u, ids[1])), 0)
		requireBind(t, w, u, pws[0], int(ldap.LDAPResultInvalidCredentials))
		requireBind(t, w, u, pws[1], int(ldap.LDAPResultInvalidCredentials))
		requireBind(t, w, u, pws[2], 0)
		requireActive(t, w, u.name, ids[2])
	})
}

func TestLDAPPasswd_ChangesPasswordAndRevokesAppPasswords(t *testing.T) {
	w := startWicket(t, "")
	invalid := int(ldap.LDAPResultInvalidCredentials)

	t.Run("own password with the old one revokes every app password", func(t *testing.T) {
		u := w.newUser("petra", true)
		codes := newStepCodes(t, u)
		_, pw1 := w.appPassword(u.name, "phone")
		_, pw2 := w.appPassword(u.name, "laptop")
		const newPassword = "Battery-Staple-petra"
		r := ldapTool(t, "", "ldappasswd", append(toolAuth(w, u.dn, codes.withCode(u)), "-a", u.password, "-s", newPassword)...)
		requireCode(t, "ldappasswd", r, 0)
		if !strings.Contains(r.output(), "2 app passwords revoked") {
			t.Errorf("ldappasswd does not say that 2 app passwords were revoked:\n%s", r.output())
		}
		requireNoSecret(t, "ldappasswd", r.output(), newPassword)
		requireBind(t, w, u, pw1, invalid)
		requireBind(t, w, u, pw2, invalid)
		requireActive(t, w, u.name)
		requireBind(t, w, u, newPassword+codes.next(), 0)
		requireBind(t, w, u, u.password+codes.next(), invalid)
	})
	t.Run("without a new password one is generated and printed", func(t *testing.T) {
		u := w.newUser("gerd", true)
		codes := newStepCodes(t, u)
		_, pw := w.appPassword(u.name, "phone")
		r := ldapTool(t, "", "ldappasswd", append(toolAuth(w, u.dn, codes.withCode(u)), "-a", u.password)...)
		requireCode(t, "ldappasswd", r, 0)
		var generated string
		for _, l := range strings.Split(r.stdout, "\n") {
			if v, ok := strings.CutPrefix(l, "New password: "); ok {
				generated = v
			}
		}
		if len(generated) < 12 {
			t.Fatalf("ldappasswd printed no generated password of at least 12 characters:\n%s", r.output())
		}
		requireBind(t, w, u, pw, invalid)
		requireBind(t, w, u, generated+codes.next(), 0)
	})
	t.Run("a wrong old password is refused and changes nothing", func(t *testing.T) {
		u := w.newUser("wolf", true)
		codes := newStepCodes(t, u)
		id, pw := w.appPassword(u.name, "phone")
		r := ldapTool(t, "", "ldappasswd", append(toolAuth(w, u.dn, codes.withCode(u)),
			"-a", "Not-"+u.password, "-s", "Never-Set-wolf")...)
		requireCode(t, "ldappasswd with a wrong old password", r, invalid)
		requireActive(t, w, u.name, id)
		requireBind(t, w, u, pw, 0)
		requireBind(t, w, u, "Never-Set-wolf"+codes.next(), invalid)
		requireBind(t, w, u, u.password+codes.next(), 0)
	})
	t.Run("without the old password is refused", func(t *testing.T) {
		u := w.newUser("otto", true)
		codes := newStepCodes(t, u)
		id, _ := w.appPassword(u.name, "phone")
		r := ldapTool(t, "", "ldappasswd", append(toolAuth(w, u.dn, codes.withCode(u)), "-s", "Never-Set-otto")...)
		requireCode(t, "ldappasswd without -a", r, int(ldap.LDAPResultUnwillingToPerform))
		requireActive(t, w, u.name, id)
		requireBind(t, w, u, u.password+codes.next(), 0)
	})
	t.Run("an administrator's own password needs the old one too", func(t *testing.T) {
		adm := newAdministrator(w, "helpdesk3")
		codes := newStepCodes(t, adm)
		r := ldapTool(t, "", "ldappasswd", append(toolAuth(w, adm.dn, codes.withCode(adm)), "-s", "Never-Set-helpdesk3")...)
		requireCode(t, "ldappasswd by an administrator for themself without -a", r, int(ldap.LDAPResultUnwillingToPerform))
		requireBind(t, w, adm, adm.password+codes.next(), 0)
	})
	t.Run("an administrator sets another user's without the old one", func(t *testing.T) {
		adm := newAdministrator(w, "helpdesk2")
		u := w.newUser("tina", true)
		_, pw := w.appPassword(u.name, "phone")
		const newPassword = "Reset-By-Helpdesk-tina"
		r := ldapTool(t, "", "ldappasswd", append(toolAuth(w, adm.dn, newStepCodes(t, adm).withCode(adm)),
			"-s", newPassword, u.dn)...)
		requireCode(t, "ldappasswd by an administrator", r, 0)
		requireBind(t, w, u, pw, invalid)
		requireActive(t, w, u.name)
		codes := newStepCodes(t, u)
		requireBind(t, w, u, newPassword+codes.next(), 0)
		requireBind(t, w, u, u.password+codes.next(), invalid)
	})
}
