package server

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

// The list operation shows app passwords to their owner and administrators
// only: a service reads the directory, but, as in a search, no app password
// of anyone else. A refusal does not depend on whether the target exists.
func TestAppPasswordList_OnlyOwnerAndAdministratorsSeeAnotherUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addService(t)
	rootSecret, _, _ := e.addUser(ctx, "root", "root@example.com", "root's own password")
	if err := e.svc.SetRole(ctx, "root", backend.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	e.addUser(ctx, "bob", "bob@example.com", "bob's own password")

	const (
		serviceRefusal = "service accounts read the directory but not other users' app passwords"
		userRefusal    = "you may list only your own app passwords"
	)
	cases := []struct {
		name     string
		bindDN   string
		password func() string
		target   string
		want     uint16
		diag     string // a part of the diagnostic
		listed   int    // app passwords in the answer, on success
	}{
		{"the owner lists their own", aliceDN, e.alicePasswordAndCode, "", ldap.LDAPResultSuccess, "", 1},
		{"the owner names themself", aliceDN, e.alicePasswordAndCode, "alice", ldap.LDAPResultSuccess, "", 1},
		{"the owner in an app-password session", aliceDN, func() string { return e.appPassword }, "", ldap.LDAPResultSuccess, "", 1},
		{"a user names another", aliceDN, e.alicePasswordAndCode, "bob", ldap.LDAPResultInsufficientAccessRights, userRefusal, 0},
		{"an administrator names a user", "uid=root,ou=people," + testBase,
			func() string { return "root's own password" + e.code(rootSecret) }, aliceDN, ldap.LDAPResultSuccess, "", 1},
		{"a service names a user by name", svcDN, func() string { return svcPassword }, "alice", ldap.LDAPResultInsufficientAccessRights, serviceRefusal, 0},
		{"a service names a user by DN", svcDN, func() string { return svcPassword }, aliceDN, ldap.LDAPResultInsufficientAccessRights, serviceRefusal, 0},
		{"a service names a user by mail", svcDN, func() string { return svcPassword }, aliceMail, ldap.LDAPResultInsufficientAccessRights, serviceRefusal, 0},
		{"a service names an administrator", svcDN, func() string { return svcPassword }, "root", ldap.LDAPResultInsufficientAccessRights, serviceRefusal, 0},
		{"a service names no such user", svcDN, func() string { return svcPassword }, "nobody", ldap.LDAPResultInsufficientAccessRights, serviceRefusal, 0},
		{"a service lists its own", svcDN, func() string { return svcPassword }, "", ldap.LDAPResultSuccess, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, e.addr)
			c.call(message(1, simpleBind(3, tc.bindDN, tc.password()))).
				assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
			var value []byte
			if tc.target != "" {
				value = exop.ListRequest{Target: tc.target}.Encode()
			}
			r := c.call(message(2, extended(exop.OIDAppPasswordList, value)))
			r.assert(t, 2, ldap.ApplicationExtendedResponse, tc.want)
			if !strings.Contains(r.diag, tc.diag) {
				t.Errorf("diagnostic %q, want one saying %q", r.diag, tc.diag)
			}
			if tc.want != ldap.LDAPResultSuccess {
				if len(r.value) != 0 {
					t.Errorf("a refusal carries a value of %d bytes", len(r.value))
				}
				return
			}
			list, err := exop.DecodeList(r.value)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != tc.listed {
				t.Errorf("%d app passwords listed, want %d", len(list), tc.listed)
			}
		})
	}
}
