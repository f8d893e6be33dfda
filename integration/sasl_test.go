package integration

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// SASL PLAIN binds (RFC 4616, RFC 4513 5.2), as Cyrus SASL clients such as
// ldapwhoami send them and, byte for byte, as any client library would.

// dirNoSASLPlain reports that the Cyrus SASL PLAIN plugin is missing:
// ldapwhoami is installed without it unless libsasl2-modules is.
func dirNoSASLPlain(t *testing.T, detail string) {
	t.Helper()
	msg := "Cyrus SASL has no PLAIN mechanism (install libsasl2-modules, or run scripts/install-test-deps.sh)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s\n%s", msg, detail)
	}
	t.Skipf("%s\n%s", msg, detail)
}

// dirRequireSASLPlain is requireTool for a plugin, which PATH cannot find.
func dirRequireSASLPlain(t *testing.T) {
	t.Helper()
	requireTool(t, "ldapwhoami")
	for _, pattern := range []string{"/usr/lib/*/sasl2/libplain.so*", "/usr/lib/sasl2/libplain.so*", "/usr/lib64/sasl2/libplain.so*"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return
		}
	}
	dirNoSASLPlain(t, "no libplain.so under /usr/lib*/**/sasl2")
}

// dirSASLWhoAmI runs ldapwhoami with a SASL PLAIN bind as authcid, acting
// as authzid when it is not empty. It returns the authorization identity
// printed and the result code.
func dirSASLWhoAmI(t *testing.T, w *wicket, authcid, password, authzid string) (string, int) {
	t.Helper()
	// libldap's default SASL security properties are "noanonymous,noplain"
	// (ldap.conf(5)), which rule PLAIN out on a connection without TLS;
	// -O none lifts that for this loopback test.
	args := []string{"-H", w.url(), "-Q", "-O", "none", "-Y", "PLAIN", "-U", authcid, "-w", password}
	if authzid != "" {
		args = append(args, "-X", authzid)
	}
	r := ldapTool(t, "", "ldapwhoami", args...)
	if strings.Contains(r.output(), "SASL(-4)") {
		dirNoSASLPlain(t, r.output())
	}
	return strings.TrimSpace(r.stdout), r.code
}

func TestSASLPlain_LDAPWhoAmI(t *testing.T) {
	dirRequireSASLPlain(t)
	w := startWicket(t, "")
	alice := w.newUser("alice", true)
	bob := w.newUser("bob", true)
	root := newAdministrator(w, "root")
	_, alicePW := w.appPassword("alice", "phone")
	_, rootPW := w.appPassword("root", "cli")
	codes := newStepCodes(t, alice)

	cases := []struct {
		name                       string
		authcid, password, authzid string
		want                       string // authorization identity on success
		code                       int
	}{
		{"app password", "alice", alicePW, "", "dn:" + alice.dn, 0},
		{"password and code", "alice", codes.withCode(alice), "", "dn:" + alice.dn, 0},
		{"mail address as authcid", alice.mail, alicePW, "", "dn:" + alice.dn, 0},
		{"wrong password", "alice", "not-" + alice.password, "", "", int(ldap.LDAPResultInvalidCredentials)},
		{"password without its code", "alice", alice.password, "", "", int(ldap.LDAPResultInvalidCredentials)},
		{"unknown user", "nobody", alicePW, "", "", int(ldap.LDAPResultInvalidCredentials)},
		{"authzid of oneself", "alice", alicePW, "u:alice", "dn:" + alice.dn, 0},
		{"authzid of another, not an administrator", "alice", alicePW, "u:bob", "", int(ldap.LDAPResultInsufficientAccessRights)},
		{"authzid of another as DN, not an administrator", "alice", alicePW, "dn:" + bob.dn, "", int(ldap.LDAPResultInsufficientAccessRights)},
		{"administrator acting as another user", "root", rootPW, "u:bob", "dn:" + bob.dn, 0},
		{"administrator acting as another user by DN", "root", rootPW, "dn:" + bob.dn, "dn:" + bob.dn, 0},
		{"administrator with a wrong password", "root", "not-" + root.password, "u:bob", "", int(ldap.LDAPResultInvalidCredentials)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			authz, code := dirSASLWhoAmI(t, w, c.authcid, c.password, c.authzid)
			if code != c.code || (c.code == 0 && authz != c.want) {
				t.Errorf("got (%q, %d), want (%q, %d)", authz, code, c.want, c.code)
			}
		})
	}

	t.Run("an administrator acting as a user sees what that user sees", func(t *testing.T) {
		bobID, bobPW := w.appPassword("bob", "laptop")
		args := []string{"-H", w.url(), "-Q", "-O", "none", "-Y", "PLAIN", "-U", "root", "-w", rootPW, "-X", "u:bob",
			"-LLL", "-o", "ldif_wrap=no", "-b", dirBase, "-s", "sub", "(objectClass=*)", "1.1"}
		r := ldapTool(t, "", "ldapsearch", args...)
		if strings.Contains(r.output(), "SASL(-4)") {
			dirNoSASLPlain(t, r.output())
		}
		requireCode(t, "ldapsearch as root acting as bob", r, 0)
		requireNoSecret(t, "ldapsearch", r.output(), alicePW, rootPW, bobPW, root.password, bob.password)
		lower := func(dns ...string) []string {
			for i := range dns {
				dns[i] = strings.ToLower(dns[i])
			}
			slices.Sort(dns)
			return dns
		}
		var got []string
		for _, rec := range parseLDIF(t, r.stdout) {
			got = append(got, rec.dn)
		}
		if got, want := lower(got...), lower(dirBase, dirPeople, dirGroups, bob.dn, appPasswordDN(bob, bobID)); !slices.Equal(got, want) {
			t.Errorf("found %v, want %v", got, want)
		}
	})
}

// --- raw BER: go-ldap has no SASL PLAIN bind ---

// dirRaw is an LDAP connection driven message by message.
type dirRaw struct {
	t  *testing.T
	c  net.Conn
	id int64
}

func dirDialRaw(t *testing.T, w *wicket) *dirRaw {
	t.Helper()
	c, err := net.DialTimeout("tcp", w.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &dirRaw{t: t, c: c}
}

// roundTrip sends op in an LDAPMessage and returns the response's op,
// checking that it answers this message.
func (r *dirRaw) roundTrip(op *ber.Packet) *ber.Packet {
	r.t.Helper()
	r.id++
	m := ber.NewSequence("LDAPMessage")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, r.id, "messageID"))
	m.AppendChild(op)
	r.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.c.Write(m.Bytes()); err != nil {
		r.t.Fatalf("write: %v", err)
	}
	p, err := ber.ReadPacket(r.c)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	if len(p.Children) < 2 {
		r.t.Fatalf("response with %d fields", len(p.Children))
	}
	if id, ok := p.Children[0].Value.(int64); !ok || id != r.id {
		r.t.Fatalf("response to message %v, want %d", p.Children[0].Value, r.id)
	}
	return p.Children[1]
}

// resultOf reads an LDAPResult's resultCode from a response op.
func (r *dirRaw) resultOf(resp *ber.Packet, tag ber.Tag) int {
	r.t.Helper()
	if resp.ClassType != ber.ClassApplication || resp.Tag != tag || len(resp.Children) < 3 {
		r.t.Fatalf("response is not [APPLICATION %d] with an LDAPResult: %v", tag, resp.Tag)
	}
	code, ok := resp.Children[0].Value.(int64)
	if !ok {
		r.t.Fatalf("resultCode is %T", resp.Children[0].Value)
	}
	return int(code)
}

// saslBind sends a BindRequest with SaslCredentials; creds nil leaves the
// credentials out, as the first step of a multi-step bind does.
func (r *dirRaw) saslBind(mech string, creds []byte) int {
	r.t.Helper()
	b := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "BindRequest")
	b.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "version"))
	b.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "name"))
	sc := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "SaslCredentials")
	sc.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, mech, "mechanism"))
	if creds != nil {
		sc.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(creds), "credentials"))
	}
	b.AppendChild(sc)
	return r.resultOf(r.roundTrip(b), ldap.ApplicationBindResponse)
}

// plain is a SASL PLAIN bind with the initial response go-sasl's client
// builds: authzid NUL authcid NUL password.
func (r *dirRaw) plain(authzid, authcid, password string) int {
	r.t.Helper()
	mech, ir, err := sasl.NewPlainClient(authzid, authcid, password).Start()
	if err != nil {
		r.t.Fatal(err)
	}
	return r.saslBind(mech, ir)
}

// whoAmI asks RFC 4532's question on this connection.
func (r *dirRaw) whoAmI() string {
	r.t.Helper()
	x := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "ExtendedRequest")
	x.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, exop.OIDWhoAmI, "requestName"))
	resp := r.roundTrip(x)
	if code := r.resultOf(resp, ldap.ApplicationExtendedResponse); code != 0 {
		r.t.Fatalf("Who am I?: result %d", code)
	}
	for _, c := range resp.Children[3:] {
		if c.ClassType == ber.ClassContext && c.Tag == 11 {
			return c.Data.String()
		}
	}
	return ""
}

func TestSASLPlain_GoSASLOverRawBER(t *testing.T) {
	w := startWicket(t, "")
	alice := w.newUser("alice", true)
	bob := w.newUser("bob", true)
	newAdministrator(w, "root")
	_, alicePW := w.appPassword("alice", "phone")
	_, rootPW := w.appPassword("root", "cli")
	codes := newStepCodes(t, alice)
	const (
		ok         = 0
		inProgress = int(ldap.LDAPResultSaslBindInProgress)
		invalid    = int(ldap.LDAPResultInvalidCredentials)
		denied     = int(ldap.LDAPResultInsufficientAccessRights)
	)

	cases := []struct {
		name                       string
		authzid, authcid, password string
		code                       int
		authz                      string // Who am I? afterwards
	}{
		{"app password", "", "alice", alicePW, ok, "dn:" + alice.dn},
		{"password and code", "", "alice", codes.withCode(alice), ok, "dn:" + alice.dn},
		{"entry DN as authcid", "", alice.dn, alicePW, ok, "dn:" + alice.dn},
		{"wrong password", "", "alice", "not-" + alice.password, invalid, ""},
		{"unknown user", "", "nobody", alicePW, invalid, ""},
		{"empty password", "", "alice", "", invalid, ""},
		{"authzid of oneself", "u:alice", "alice", alicePW, ok, "dn:" + alice.dn},
		{"authzid of another, not an administrator", "u:bob", "alice", alicePW, denied, ""},
		{"administrator acting as another user", "u:bob", "root", rootPW, ok, "dn:" + bob.dn},
		{"administrator acting as another user by DN", "dn:" + bob.dn, "root", rootPW, ok, "dn:" + bob.dn},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dirDialRaw(t, w)
			if code := r.plain(c.authzid, c.authcid, c.password); code != c.code {
				t.Errorf("bind: result %d, want %d", code, c.code)
			}
			if got := r.whoAmI(); got != c.authz {
				t.Errorf("Who am I? %q, want %q", got, c.authz)
			}
		})
	}

	t.Run("two steps: mechanism first, then the credentials", func(t *testing.T) {
		r := dirDialRaw(t, w)
		if code := r.saslBind("PLAIN", nil); code != inProgress {
			t.Fatalf("PLAIN without credentials: result %d, want saslBindInProgress (%d)", code, inProgress)
		}
		mech, ir, err := sasl.NewPlainClient("", "alice", alicePW).Start()
		if err != nil {
			t.Fatal(err)
		}
		if code := r.saslBind(mech, ir); code != ok {
			t.Fatalf("PLAIN with credentials: result %d, want 0", code)
		}
		if got := r.whoAmI(); got != "dn:"+alice.dn {
			t.Errorf("Who am I? %q, want %q", got, "dn:"+alice.dn)
		}
	})

	t.Run("a failed bind leaves the connection anonymous", func(t *testing.T) {
		r := dirDialRaw(t, w)
		if code := r.plain("", "alice", alicePW); code != ok {
			t.Fatalf("first bind: result %d", code)
		}
		if code := r.plain("", "alice", "not-"+alice.password); code != invalid {
			t.Fatalf("second bind: result %d, want %d", code, invalid)
		}
		if got := r.whoAmI(); got != "" {
			t.Errorf("Who am I? after the failed bind: %q, want anonymous", got)
		}
	})

	t.Run("a mechanism other than PLAIN is authMethodNotSupported", func(t *testing.T) {
		r := dirDialRaw(t, w)
		if code := r.saslBind("DIGEST-MD5", nil); code != int(ldap.LDAPResultAuthMethodNotSupported) {
			t.Errorf("DIGEST-MD5: result %d, want %d", code, ldap.LDAPResultAuthMethodNotSupported)
		}
		if got := r.whoAmI(); got != "" {
			t.Errorf("Who am I? %q, want anonymous", got)
		}
	})

	t.Run("credentials that are not authzid NUL authcid NUL password are refused", func(t *testing.T) {
		r := dirDialRaw(t, w)
		if code := r.saslBind("PLAIN", []byte("alice "+alicePW)); code == ok {
			t.Errorf("malformed PLAIN credentials: result 0")
		}
		if got := r.whoAmI(); got != "" {
			t.Errorf("Who am I? %q, want anonymous", got)
		}
	})
}
