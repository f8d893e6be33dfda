package integration

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var uuidText = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ldapsearch '+' shows every entry's operational attributes, as Nextcloud
// and SSSD read them, and each is found again by its entryUUID.
func TestEntries_OperationalAttributesThroughLdapsearch(t *testing.T) {
	d := dirSetup(t)
	r := d.ldapsearch(t, "root", dirQuery{base: dirBase, scope: "sub", attrs: []string{"+"}})
	requireCode(t, "ldapsearch '+'", r, 0)
	recs := parseLDIF(t, r.stdout)
	if got, want := d.names(dirRecordDNs(recs)), dirWant(dirEveryone); !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	structural := map[string]string{"base": "organization", "people": "organizationalUnit", "groups": "organizationalUnit",
		"alice": "inetOrgPerson", "bob": "inetOrgPerson", "carol": "inetOrgPerson", "root": "inetOrgPerson",
		"dovecot": "account", "staff": "groupOfNames", "admins": "groupOfNames",
		"alice/phone": "wicketAppPassword", "bob/laptop": "wicketAppPassword", "root/cli": "wicketAppPassword"}
	// An account has subordinates when the session sees an app password
	// below it: root, an administrator, sees every one.
	subordinates := map[string]string{"base": "TRUE", "people": "TRUE", "groups": "TRUE", "alice": "TRUE", "bob": "TRUE",
		"root": "TRUE", "carol": "FALSE", "dovecot": "FALSE"}
	uuids := map[string]string{}
	for _, rec := range recs {
		label := d.names([]string{rec.dn})[0]
		u := rec.first("entryUUID")
		if !uuidText.MatchString(u) {
			t.Errorf("%s: entryUUID %q", label, u)
		}
		if other, dup := uuids[u]; dup {
			t.Errorf("%s has the entryUUID of %s: %s", label, other, u)
		}
		uuids[u] = label
		if got := rec.first("entryDN"); !strings.EqualFold(got, rec.dn) {
			t.Errorf("%s: entryDN %q", label, got)
		}
		if got := rec.first("structuralObjectClass"); got != structural[label] {
			t.Errorf("%s: structuralObjectClass %q, want %s", label, got, structural[label])
		}
		if want := subordinates[label]; want == "" && rec.first("hasSubordinates") != "FALSE" || want != "" && rec.first("hasSubordinates") != want {
			t.Errorf("%s: hasSubordinates %q", label, rec.first("hasSubordinates"))
		}
		if got := rec.first("subschemaSubentry"); got != "cn=Subschema" {
			t.Errorf("%s: subschemaSubentry %q", label, got)
		}
		rowless := label == "base" || label == "people" || label == "groups"
		if has := rec.first("modifyTimestamp") != "" && rec.first("createTimestamp") != ""; has == rowless {
			t.Errorf("%s: createTimestamp %q, modifyTimestamp %q", label, rec.first("createTimestamp"), rec.first("modifyTimestamp"))
		}
		for _, user := range []string{"objectClass", "uid", "cn", "mail"} {
			if rec.get(user) != nil {
				t.Errorf("%s: '+' returned %s, a user attribute", label, user)
			}
		}
	}
	// Nor is an operational attribute among "*".
	r = d.ldapsearch(t, "root", dirQuery{base: d.alice.dn, scope: "base", attrs: []string{"*"}})
	for _, op := range []string{"entryUUID", "modifyTimestamp", "entryDN", "hasSubordinates"} {
		if parseLDIF(t, r.stdout)[0].get(op) != nil {
			t.Errorf("'*' returned %s", op)
		}
	}

	for u, label := range uuids {
		for _, spelled := range []string{u, strings.ToUpper(u)} {
			r := d.ldapsearch(t, "root", dirQuery{base: dirBase, scope: "sub", filter: "(entryUUID=" + spelled + ")", attrs: []string{"1.1"}})
			requireCode(t, "ldapsearch (entryUUID=...)", r, 0)
			if got := d.names(dirRecordDNs(parseLDIF(t, r.stdout))); !slices.Equal(got, []string{label}) {
				t.Errorf("(entryUUID=%s) found %v, want %s", spelled, got, label)
			}
		}
	}
	// The service account looks users up by UUID as Nextcloud does, and
	// finds no app password that way.
	for label, want := range map[string][]string{"alice": {"alice"}, "alice/phone": nil} {
		var u string
		for k, v := range uuids {
			if v == label {
				u = k
			}
		}
		r := d.ldapsearch(t, "dovecot", dirQuery{base: dirPeople, scope: "sub",
			filter: "(&(objectClass=*)(entryUUID=" + u + "))", attrs: []string{"1.1"}})
		if got := d.names(dirRecordDNs(parseLDIF(t, r.stdout))); !slices.Equal(got, want) {
			t.Errorf("dovecot, by the UUID of %s: %v, want %v", label, got, want)
		}
	}
}

// A refresh asks what changed since a time: a change from the command
// line moves the entry's modifyTimestamp, and (modifyTimestamp>=T) finds
// it and nothing that did not change.
func TestEntries_ModifyTimestampFindsWhatChanged(t *testing.T) {
	d := dirSetup(t)
	// GeneralizedTime counts seconds: wait for the next one to begin, so
	// that everything done so far is before it.
	since := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(since))
	stamp := since.Format("20060102150405Z")
	d.w.admin("", "user", "set", "carol", "--display-name", "Carol C.")
	d.w.admin("", "group", "member-add", "admins", "bob")
	for f, want := range map[string]string{
		"(modifyTimestamp>=" + stamp + ")":                               "carol bob admins",
		"(&(objectClass=inetOrgPerson)(modifyTimestamp>=" + stamp + "))": "carol bob",
		// The base and the ous have no modifyTimestamp: not at or after.
		"(!(modifyTimestamp>=" + stamp + "))":                              "base people groups alice root dovecot staff alice/phone bob/laptop root/cli",
		"(modifyTimestamp>=" + strings.TrimSuffix(stamp, "Z") + ".0+0000)": "carol bob admins",
		"(modifyTimestamp<=19700101000000Z)":                               "",
		"(modifyTimestamp>=yesterday)":                                     "",
	} {
		for _, cl := range dirClients {
			got, code := cl.search(t, d, "root", dirQuery{base: dirBase, scope: "sub", filter: f})
			if want := dirWant(want); code != 0 || !slices.Equal(got, want) {
				t.Errorf("%s, %s: %v (result %d), want %v", cl.name, f, got, code, want)
			}
		}
	}
}

// entryUUID never changes: not with an edit, not with a restart. A name
// created again is another entry, and another database has other UUIDs,
// even for the entries without a row.
func TestEntries_UUIDStaysWithTheEntry(t *testing.T) {
	w := startWicket(t, "")
	root := newAdministrator(w, "root")
	_, rootPW := w.appPassword(root.name, "cli")
	alice := w.newUser("alice", true)
	w.admin("", "group", "add", "staff")
	apID, _ := w.appPassword(alice.name, "phone")
	dns := []string{dirBase, dirPeople, dirGroups, "cn=Subschema", alice.dn, dirGroupDN("staff"), appPasswordDN(alice, apID)}
	read := func(w *wicket, pw string) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, dn := range dns {
			r := dirLDAPSearch(t, w, dirCred{root.dn, pw}, dirQuery{base: dn, scope: "base", attrs: []string{"entryUUID"}}, nil)
			requireCode(t, "ldapsearch -b "+dn, r, 0)
			out[dn] = parseLDIF(t, r.stdout)[0].first("entryUUID")
			if !uuidText.MatchString(out[dn]) {
				t.Fatalf("%s: entryUUID %q", dn, out[dn])
			}
		}
		return out
	}
	first := read(w, rootPW)

	w.admin("", "user", "set", alice.name, "--mail", "liddell@example.org", "--display-name", "Alice L.",
		"--alias", "al@example.org", "--uid-number", "10001", "--gid-number", "100", "--home-directory", "/home/alice")
	w.admin("", "apppw", "create", alice.name, "--label", "laptop")
	w.admin("", "user", "role", alice.name, "admin")
	w.admin("", "user", "disable", alice.name)
	w.admin("", "group", "member-add", "staff", alice.name)
	if got := read(w, rootPW); !mapsEqual(got, first) {
		t.Errorf("after edits:\n got %v\nwant %v", got, first)
	}
	w.stop()
	w.start()
	if got := read(w, rootPW); !mapsEqual(got, first) {
		t.Errorf("after a restart:\n got %v\nwant %v", got, first)
	}

	// Deleted and created again: a new entry, a new UUID.
	w.admin("", "user", "delete", alice.name)
	w.newUser(alice.name, false)
	r := dirLDAPSearch(t, w, dirCred{root.dn, rootPW}, dirQuery{base: alice.dn, scope: "base", attrs: []string{"entryUUID"}}, nil)
	if again := parseLDIF(t, r.stdout)[0].first("entryUUID"); again == first[alice.dn] || !uuidText.MatchString(again) {
		t.Errorf("alice created again has entryUUID %q, the deleted one had %s", again, first[alice.dn])
	}
	if r := dirLDAPSearch(t, w, dirCred{root.dn, rootPW}, dirQuery{base: dirBase, scope: "sub",
		filter: "(entryUUID=" + first[alice.dn] + ")", attrs: []string{"1.1"}}, nil); len(parseLDIF(t, r.stdout)) != 0 {
		t.Errorf("the deleted account's UUID still finds:\n%s", r.stdout)
	}

	other := startWicket(t, "")
	otherRoot := newAdministrator(other, "root")
	_, otherPW := other.appPassword(otherRoot.name, "cli")
	for _, dn := range []string{dirBase, dirPeople, dirGroups, "cn=Subschema"} {
		r := dirLDAPSearch(t, other, dirCred{otherRoot.dn, otherPW}, dirQuery{base: dn, scope: "base", attrs: []string{"entryUUID"}}, nil)
		if theirs := parseLDIF(t, r.stdout)[0].first("entryUUID"); theirs == first[dn] || !uuidText.MatchString(theirs) {
			t.Errorf("%s: another database's entryUUID %q, this one's %s", dn, theirs, first[dn])
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// wicket user set gives an account the POSIX attributes, and the entry
// becomes a posixAccount at once, as nslcd and SSSD look it up.
func TestEntries_PosixAccountFromTheCommandLine(t *testing.T) {
	d := dirSetup(t)
	lookup := func(filter string) []ldifRecord {
		t.Helper()
		r := d.ldapsearch(t, "dovecot", dirQuery{base: dirPeople, scope: "sub", filter: filter,
			attrs: []string{"objectClass", "uid", "cn", "uidNumber", "gidNumber", "homeDirectory", "loginShell"}})
		requireCode(t, filter, r, 0)
		return parseLDIF(t, r.stdout)
	}
	if got := lookup("(objectClass=posixAccount)"); len(got) != 0 {
		t.Fatalf("posixAccount entries before any was given: %v", dirRecordDNs(got))
	}
	out := d.w.admin("", "user", "set", "alice", "--uid-number", "10001", "--gid-number", "100",
		"--home-directory", "/home/alice", "--login-shell", "/bin/bash")
	if !strings.Contains(out, "uid number:") {
		t.Errorf("user set printed:\n%s", out)
	}
	for _, f := range []string{"(&(objectClass=posixAccount)(uid=alice))", "(uidNumber=10001)", "(&(objectClass=posixAccount)(uidNumber>=1000))"} {
		got := lookup(f)
		if len(got) != 1 || got[0].dn != d.alice.dn {
			t.Fatalf("%s: %v, want alice", f, dirRecordDNs(got))
		}
		e := got[0]
		for attr, want := range map[string]string{"uidNumber": "10001", "gidNumber": "100", "homeDirectory": "/home/alice",
			"loginShell": "/bin/bash", "cn": "Alice Liddell", "uid": "alice"} {
			if v := e.first(attr); v != want {
				t.Errorf("%s: %s = %q, want %q", f, attr, v, want)
			}
		}
		if !slices.Contains(e.get("objectClass"), "posixAccount") {
			t.Errorf("%s: objectClass %v", f, e.get("objectClass"))
		}
	}
	// Refused whole: nothing of it shows.
	if _, errOut, err := d.w.run("", "user", "set", "bob", "--uid-number", "10002"); err == nil || !strings.Contains(errOut, "missing") {
		t.Errorf("a uid number alone: %v, %s", err, errOut)
	}
	if got := lookup("(uid=bob)"); len(got) != 1 || got[0].first("uidNumber") != "" {
		t.Errorf("bob after a refused change: %+v", got)
	}
	d.w.admin("", "user", "set", "alice", "--no-posix")
	if got := lookup("(objectClass=posixAccount)"); len(got) != 0 {
		t.Errorf("posixAccount entries after --no-posix: %v", dirRecordDNs(got))
	}
}
