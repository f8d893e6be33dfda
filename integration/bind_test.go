package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// client is one real LDAP client: it binds and reports what a user sees,
// the Who am I? answer on success or the LDAP result code on failure.
type client struct {
	name string
	bind func(t *testing.T, url, dn, password string) (authzID string, code int)
}

var clients = []client{
	{"ldapwhoami", func(t *testing.T, url, dn, password string) (string, int) {
		out, code := ldapwhoami(t, url, dn, password)
		return strings.TrimSpace(out), code
	}},
	{"go-ldap", goLDAPBind},
}

func goLDAPBind(t *testing.T, url, dn, password string) (string, int) {
	t.Helper()
	conn, err := ldap.DialURL(url, ldap.DialWithDialer(nil))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetTimeout(30 * time.Second)
	// AllowEmptyPassword: go-ldap refuses an empty password itself
	// otherwise, and the server's own answer is what is under test.
	_, err = conn.SimpleBind(&ldap.SimpleBindRequest{Username: dn, Password: password, AllowEmptyPassword: true})
	if err != nil {
		var le *ldap.Error
		if errors.As(err, &le) {
			return "", int(le.ResultCode)
		}
		t.Fatalf("bind: %v", err)
	}
	res, err := conn.WhoAmI(nil)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	return res.AuthzID, 0
}

func forEachClient(t *testing.T, f func(t *testing.T, c client)) {
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) { f(t, c) })
	}
}

func TestBind_PasswordPlusCurrentCodeSucceedsOnceOnly(t *testing.T) {
	w := startWicket(t, "")
	forEachClient(t, func(t *testing.T, c client) {
		u := w.newUser("alice-"+strings.ReplaceAll(c.name, "-", ""), true)
		code := totpCode(t, u.secret, time.Now())

		authz, rc := c.bind(t, w.url(), u.dn, u.password+code)
		if rc != 0 || authz != "dn:"+u.dn {
			t.Fatalf("password+code: got (%q, %d), want (%q, 0)", authz, rc, "dn:"+u.dn)
		}
		if _, rc := c.bind(t, w.url(), u.dn, u.password+code); rc != int(ldap.LDAPResultInvalidCredentials) {
			t.Fatalf("the same code a second time: got result %d, want 49", rc)
		}
		// A later code still works: the replay guard refuses old steps only.
		next := totpCode(t, u.secret, time.Now().Add(30*time.Second))
		if _, rc := c.bind(t, w.url(), u.dn, u.password+next); rc != 0 {
			t.Fatalf("the next step's code: got result %d, want 0", rc)
		}
	})
}

func TestBind_BareUsernameAndMailAreAccepted(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("bob", true)
	_, pw := w.appPassword("bob", "laptop")
	for _, name := range []string{u.name, u.mail, strings.ToUpper(u.dn)} {
		authz, rc := goLDAPBind(t, w.url(), name, pw)
		if rc != 0 || authz != "dn:"+u.dn {
			t.Errorf("bind as %q: got (%q, %d), want (%q, 0)", name, authz, rc, "dn:"+u.dn)
		}
	}
}

func TestBind_FailuresAnswerInvalidCredentials(t *testing.T) {
	w := startWicket(t, "")
	type setup func(t *testing.T, name string) (dn, password string)
	cases := []struct {
		name  string
		setup setup
	}{
		{"wrong code", func(t *testing.T, name string) (string, string) {
			u := w.newUser(name, true)
			return u.dn, u.password + wrongCode(t, u.secret)
		}},
		{"wrong password", func(t *testing.T, name string) (string, string) {
			u := w.newUser(name, true)
			return u.dn, "not-" + u.password + totpCode(t, u.secret, time.Now())
		}},
		{"unknown user", func(t *testing.T, name string) (string, string) {
			u := w.newUser(name, true)
			return "uid=nobody-" + name + ",ou=people,dc=example,dc=org", u.password + totpCode(t, u.secret, time.Now())
		}},
		{"missing code", func(t *testing.T, name string) (string, string) {
			u := w.newUser(name, true)
			return u.dn, u.password
		}},
		{"disabled user", func(t *testing.T, name string) (string, string) {
			u := w.newUser(name, true)
			w.admin("", "user", "disable", name)
			return u.dn, u.password + totpCode(t, u.secret, time.Now())
		}},
		{"disabled user's app password", func(t *testing.T, name string) (string, string) {
			u := w.newUser(name, true)
			_, pw := w.appPassword(name, "phone")
			w.admin("", "user", "disable", name)
			return u.dn, pw
		}},
		{"revoked app password", func(t *testing.T, name string) (string, string) {
			u := w.newUser(name, true)
			id, pw := w.appPassword(name, "phone")
			if _, rc := goLDAPBind(t, w.url(), u.dn, pw); rc != 0 {
				t.Fatalf("app password before revocation: result %d", rc)
			}
			w.admin("", "apppw", "revoke", name, id)
			return u.dn, pw
		}},
		{"another user's app password", func(t *testing.T, name string) (string, string) {
			u := w.newUser(name, true)
			w.newUser(name+"x", true)
			_, pw := w.appPassword(name+"x", "phone")
			return u.dn, pw
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachClient(t, func(t *testing.T, c client) {
				name := strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", ""), "'", "") + c.name[:2] + string(rune('a'+i))
				dn, pw := tc.setup(t, name)
				authz, rc := c.bind(t, w.url(), dn, pw)
				if rc != int(ldap.LDAPResultInvalidCredentials) {
					t.Fatalf("got (%q, %d), want result 49", authz, rc)
				}
			})
		})
	}
}

// wrongCode is a code that is not valid in the current window.
func wrongCode(t *testing.T, secret string) string {
	now := time.Now()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
		valid[totpCode(t, secret, now.Add(d))] = true
	}
	for _, c := range []string{"000000", "111111", "123456", "999999"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no invalid code found")
	return ""
}

// An empty password is an unauthenticated bind (RFC 4513 5.1.2), refused
// with unwillingToPerform, and never authenticates.
func TestBind_EmptyPasswordNeverAuthenticates(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("carol", true)
	forEachClient(t, func(t *testing.T, c client) {
		for _, dn := range []string{u.dn, u.name} {
			authz, rc := c.bind(t, w.url(), dn, "")
			if rc != int(ldap.LDAPResultUnwillingToPerform) {
				t.Errorf("bind as %q with empty password: got (%q, %d), want result 53", dn, authz, rc)
			}
		}
	})
}

func TestBind_AppPasswordWithOrWithoutDashesAnyCase(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("dave", true)
	_, pw := w.appPassword("dave", "Thunderbird on laptop")
	if len(pw) != 19 || strings.Count(pw, "-") != 3 {
		t.Fatalf("app password %q is not shown as xxxx-xxxx-xxxx-xxxx", pw)
	}
	forms := []string{pw, strings.ReplaceAll(pw, "-", ""), strings.ToUpper(pw), strings.ToUpper(strings.ReplaceAll(pw, "-", ""))}
	forEachClient(t, func(t *testing.T, c client) {
		for _, f := range forms {
			authz, rc := c.bind(t, w.url(), u.dn, f)
			if rc != 0 || authz != "dn:"+u.dn {
				t.Errorf("app password as %q: got (%q, %d), want success", f, authz, rc)
			}
		}
	})
}

func TestUserPasswd_RevokesEveryAppPassword(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("erin", true)
	var pws []string
	for _, label := range []string{"phone", "laptop", "tablet"} {
		_, pw := w.appPassword("erin", label)
		pws = append(pws, pw)
	}
	for _, pw := range pws {
		if _, rc := goLDAPBind(t, w.url(), u.dn, pw); rc != 0 {
			t.Fatalf("app password before the change: result %d", rc)
		}
	}
	out := w.admin("New-Password-For-Erin\n", "user", "passwd", "erin", "--password-stdin")
	if !strings.Contains(out, "3") {
		t.Errorf("user passwd output does not say that 3 app passwords were revoked:\n%s", out)
	}
	forEachClient(t, func(t *testing.T, c client) {
		for _, pw := range pws {
			if _, rc := c.bind(t, w.url(), u.dn, pw); rc != int(ldap.LDAPResultInvalidCredentials) {
				t.Errorf("app password after the password change: got result %d, want 49", rc)
			}
		}
	})
	code := totpCode(t, u.secret, time.Now())
	if _, rc := goLDAPBind(t, w.url(), u.dn, "New-Password-For-Erin"+code); rc != 0 {
		t.Errorf("the new password with a code: got result %d, want 0", rc)
	}
	var list []map[string]any
	w.adminJSON(&list, "", "apppw", "list", "erin")
	if len(list) != 0 {
		t.Errorf("apppw list after the password change shows %d app passwords, want none", len(list))
	}
}
