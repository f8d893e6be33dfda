package integration

import (
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// The same lifecycle as a program would drive it: go-ldap with the BER
// values of package exop, on connections bound once.

func TestGoLDAP_AppPasswordLifecycleWithBERValues(t *testing.T) {
	w := startWicket(t, "")
	adm := newAdministrator(w, "ada")
	u := w.newUser("bert", true)
	ac := dialBound(t, w, adm.dn, newStepCodes(t, adm).withCode(adm))

	// An administrator may name the user by DN, name or mail address.
	var byAdmin []exop.CreateResponse
	for _, target := range []string{u.dn, u.name, u.mail} {
		r := exopCreate(t, ac, "set up by helpdesk for "+target, target)
		if !appPasswordShape.MatchString(r.Password) || r.ID == "" || !recent(r.Created) {
			t.Errorf("created for %q: %+v", target, r)
		}
		byAdmin = append(byAdmin, r)
	}
	for _, r := range byAdmin {
		requireBind(t, w, u, r.Password, 0)
		requireBind(t, w, adm, r.Password, int(ldap.LDAPResultInvalidCredentials))
	}
	if got := exopList(t, ac, u.name); len(got) != 3 {
		t.Fatalf("the administrator lists %d of bert's app passwords, want 3: %+v", len(got), got)
	}
	if got := exopList(t, ac, ""); len(got) != 0 {
		t.Errorf("the administrator's own list shows %+v, want none", got)
	}

	uc := dialBound(t, w, u.dn, newStepCodes(t, u).withCode(u))
	own := exopCreate(t, uc, "Thunderbird on laptop", "")
	list := exopList(t, uc, "")
	want := sortedIDs(own.ID, byAdmin[0].ID, byAdmin[1].ID, byAdmin[2].ID)
	if got := listedIDs(list); !slices.Equal(got, want) {
		t.Fatalf("bert's list = %v, want %v", got, want)
	}
	for _, p := range list {
		if p.ID == own.ID && (p.Label != "Thunderbird on laptop" || !p.Created.Equal(own.Created)) {
			t.Errorf("listed %+v, created %+v", p, own)
		}
		if p.ID == byAdmin[0].ID && (p.LastUsed.IsZero() || p.LastUsedFrom != "127.0.0.1") {
			t.Errorf("listed %+v: want the last use of the bind above, from 127.0.0.1", p)
		}
	}

	revoke := func(c *ldap.Conn, value []byte) {
		t.Helper()
		if _, err := extendedOp(c, exop.OIDAppPasswordRevoke, value); err != nil {
			t.Fatalf("revoke %q: %v", value, err)
		}
	}
	revoke(uc, exop.RevokeRequest{ID: byAdmin[0].ID}.Encode())
	revoke(uc, []byte(byAdmin[1].ID)) // the bare form
	revoke(ac, exop.RevokeRequest{ID: byAdmin[2].ID, Target: u.mail}.Encode())
	for _, r := range byAdmin {
		requireBind(t, w, u, r.Password, int(ldap.LDAPResultInvalidCredentials))
	}
	requireBind(t, w, u, own.Password, 0)
	if got := listedIDs(exopList(t, ac, u.dn)); !slices.Equal(got, []string{own.ID}) {
		t.Errorf("after three revocations the list is %v, want [%s]", got, own.ID)
	}

	revokeAll := func(c *ldap.Conn, target string) int {
		t.Helper()
		var req []byte
		if target != "" {
			req = exop.RevokeAllRequest{Target: target}.Encode()
		}
		v, err := extendedOp(c, exop.OIDAppPasswordRevokeAll, req)
		if err != nil {
			t.Fatalf("revoke all of %q: %v", target, err)
		}
		r, err := exop.DecodeRevokeAllResponse(v)
		if err != nil {
			t.Fatalf("revoke-all response %x: %v", v, err)
		}
		return r.Revoked
	}
	if n := revokeAll(uc, ""); n != 1 {
		t.Errorf("revoke all: %d revoked, want 1", n)
	}
	requireBind(t, w, u, own.Password, int(ldap.LDAPResultInvalidCredentials))
	if n := revokeAll(uc, ""); n != 0 {
		t.Errorf("revoke all with none left: %d revoked, want 0", n)
	}

	var again []string
	for _, label := range []string{"phone", "tablet"} {
		again = append(again, exopCreate(t, uc, label, "").Password)
	}
	if n := revokeAll(ac, u.name); n != 2 {
		t.Errorf("an administrator's revoke all: %d revoked, want 2", n)
	}
	for _, pw := range again {
		requireBind(t, w, u, pw, int(ldap.LDAPResultInvalidCredentials))
	}
	requireActive(t, w, u.name)
}

func TestRevocation_NextBindFailsOnOpenConnections(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("rita", true)
	codes := newStepCodes(t, u)
	id1, pw1 := w.appPassword(u.name, "phone")
	id2, pw2 := w.appPassword(u.name, "laptop")

	// Two connections of a client that binds with the app password, as
	// Dovecot does, and keeps them open.
	c1 := dialBound(t, w, u.dn, pw1)
	idle := dialBound(t, w, u.dn, pw1)
	if _, err := searchEntries(c1, u.dn, ldap.ScopeBaseObject); err != nil {
		t.Fatalf("search before the revocation: %v", err)
	}

	owner := dialBound(t, w, u.dn, codes.withCode(u))
	if _, err := extendedOp(owner, exop.OIDAppPasswordRevoke, []byte(id1)); err != nil {
		t.Fatalf("revoke: %v", err)
	}

	invalid := int(ldap.LDAPResultInvalidCredentials)
	if rc := resultCode(t, c1.Bind(u.dn, pw1)); rc != invalid {
		t.Errorf("re-bind on the open connection: result %d, want 49", rc)
	}
	// A failed bind leaves the connection anonymous.
	if _, err := searchEntries(c1, u.dn, ldap.ScopeBaseObject); resultCode(t, err) != int(ldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("search after the failed re-bind: %v, want insufficientAccessRights", err)
	}
	if rc := resultCode(t, idle.Bind(u.dn, pw1)); rc != invalid {
		t.Errorf("re-bind on the idle connection: result %d, want 49", rc)
	}
	requireBind(t, w, u, pw1, invalid)
	if out, rc := ldapwhoami(t, w.url(), u.dn, pw1); rc != invalid {
		t.Errorf("ldapwhoami with the revoked app password: (%q, %d), want 49", out, rc)
	}

	// The other app password still works on the same connection, until
	// it too is revoked, here with ldapdelete.
	if err := c1.Bind(u.dn, pw2); err != nil {
		t.Fatalf("the other app password on the same connection: %v", err)
	}
	requireCode(t, "ldapdelete", ldapdeleteAs(t, w, u.dn, codes.withCode(u), appPasswordDN(u, id2)), 0)
	if rc := resultCode(t, c1.Bind(u.dn, pw2)); rc != invalid {
		t.Errorf("re-bind after ldapdelete: result %d, want 49", rc)
	}
	requireActive(t, w, u.name)
}
