package integration

import (
	"regexp"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/internal/slapdtest"
)

// A move from slapd: the users exported with ldapsearch (operational
// attributes included, as an administrator exports them) and imported
// keep slapd's entryUUID, so that a client that knows users by it
// (Nextcloud's user_ldap, SSSD) sees the same users after the move, and a
// search by entryUUID finds them.
func TestImport_FromSlapdKeepsEntryUUID(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	for _, name := range []string{"alice", "bob"} {
		s.AddUser(t, name, "Old-Password-"+name)
	}
	export := ldapTool(t, "", "ldapsearch", "-x", "-H", s.URL, "-D", s.AdminDN, "-w", s.AdminPassword,
		"-LLL", "-o", "ldif_wrap=no", "-b", s.PeopleDN, "(objectClass=inetOrgPerson)", "*", "+")
	requireCode(t, "export from slapd", export, 0)
	slapdUUID := map[string]string{}
	for _, entry := range strings.Split(export.stdout, "\n\n") {
		uid := regexp.MustCompile(`(?m)^uid: (\S+)$`).FindStringSubmatch(entry)
		u := regexp.MustCompile(`(?m)^entryUUID: (\S+)$`).FindStringSubmatch(entry)
		if uid != nil && u != nil {
			slapdUUID[uid[1]] = u[1]
		}
	}
	if len(slapdUUID) != 2 {
		t.Fatalf("slapd's export has entryUUIDs for %v, want alice and bob\n%s", slapdUUID, export.stdout)
	}

	w := startWicket(t, "")
	w.admin(export.stdout, "user", "import", "-")
	svc := w.newUser("svc", false)
	w.admin("", "user", "role", "svc", "service")
	for name, want := range slapdUUID {
		r := ldapsearchAs(t, w, svc.dn, svc.password, "uid="+name+",ou=people,dc=example,dc=org", "base", "entryUUID")
		requireCode(t, "entryUUID of "+name, r, 0)
		if !strings.Contains(r.stdout, "entryUUID: "+want+"\n") {
			t.Errorf("%s in wicket:\n%s\nwant slapd's entryUUID %s", name, r.stdout, want)
		}
		r = ldapTool(t, "", "ldapsearch", append(toolAuth(w, svc.dn, svc.password), "-LLL", "-b", "ou=people,dc=example,dc=org",
			"(entryUUID="+strings.ToUpper(want)+")", "uid")...)
		requireCode(t, "search by entryUUID", r, 0)
		if !strings.Contains(r.stdout, "uid: "+name+"\n") || strings.Count(r.stdout, "dn: ") != 1 {
			t.Errorf("(entryUUID=%s) found:\n%s\nwant %s alone", want, r.stdout, name)
		}
	}
}
