package integration

// Apache httpd with mod_authnz_ldap in front of a DAV server, configured
// from deploy/apache/wicket-dav.conf, as an administrator would protect a
// CalDAV/CardDAV location with wicket. The test runs a private Apache from
// a configuration of its own on a free loopback port, and a small HTTP
// server on loopback stands in for the DAV server behind it.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const apacheModules = "/usr/lib/apache2/modules"

// apacheValues fills the placeholders of deploy/apache/wicket-dav.conf
// and of the harness's httpd.conf.
type apacheValues struct {
	// Placeholders of deploy/, documented in the file.
	WicketURI             string
	ApacheServicePassword string
	Location              string
	Backend               string
	Require               string

	// The harness's own.
	Root, Modules, Example string
	Port                   int
	User, Group            string
	Extra                  string
}

// apacheConf is the whole server around the example: modules loaded from
// Debian's directory, one listener, logs to standard error, few workers.
// Run as root (in CI), Apache starts its children as User, which must not
// be root; otherwise they run as whoever started it.
const apacheConf = `ServerRoot "{{.Root}}"
ServerName 127.0.0.1
Listen 127.0.0.1:{{.Port}}
PidFile "{{.Root}}/httpd.pid"
DefaultRuntimeDir "{{.Root}}"
ErrorLog /dev/stderr
LogLevel warn authnz_ldap:info
{{if .User}}User {{.User}}
Group {{.Group}}
{{end}}
LoadModule mpm_event_module {{.Modules}}/mod_mpm_event.so
LoadModule authn_core_module {{.Modules}}/mod_authn_core.so
LoadModule authz_core_module {{.Modules}}/mod_authz_core.so
LoadModule authz_user_module {{.Modules}}/mod_authz_user.so
LoadModule auth_basic_module {{.Modules}}/mod_auth_basic.so
LoadModule ldap_module {{.Modules}}/mod_ldap.so
LoadModule authnz_ldap_module {{.Modules}}/mod_authnz_ldap.so
LoadModule proxy_module {{.Modules}}/mod_proxy.so
LoadModule proxy_http_module {{.Modules}}/mod_proxy_http.so
LoadModule headers_module {{.Modules}}/mod_headers.so

StartServers 1
ServerLimit 1
ThreadLimit 8
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8

Include "{{.Example}}"
{{.Extra}}
`

// apacheServer is one running Apache and what it proxies to.
type apacheServer struct {
	t    *testing.T
	url  string
	dav  *davBackend
	root string
}

// davBackend stands in for the DAV server: it answers 200 and records the
// user Apache says it checked.
type davBackend struct {
	mu    sync.Mutex
	users []string
}

func (b *davBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.users = append(b.users, r.Header.Get("X-Remote-User"))
	b.mu.Unlock()
	fmt.Fprintf(w, "calendar of %s\n", r.Header.Get("X-Remote-User"))
}

// seen returns and forgets the users of the requests that reached it.
func (b *davBackend) seen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.users
	b.users = nil
	return u
}

// requireApache finds Apache httpd and the modules the example needs,
// installed by scripts/install-test-deps.sh (apache2-bin).
func requireApache(t *testing.T) string {
	t.Helper()
	bin := "/usr/sbin/apache2"
	missing := ""
	if _, err := os.Stat(bin); err != nil {
		missing = bin
	}
	for _, m := range []string{"mod_mpm_event", "mod_ldap", "mod_authnz_ldap", "mod_auth_basic", "mod_authz_user",
		"mod_proxy", "mod_proxy_http", "mod_headers"} {
		if _, err := os.Stat(filepath.Join(apacheModules, m+".so")); err != nil && missing == "" {
			missing = m
		}
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Apache httpd is not installed, %s is missing (run scripts/install-test-deps.sh)", missing)
		}
		t.Skipf("Apache httpd is not installed, %s is missing (run scripts/install-test-deps.sh)", missing)
	}
	return bin
}

// startApache runs a private Apache with the example protecting /dav/ on
// w, require filling its Require placeholder, and extra lines after it.
// The service account uid=apache is added to w here, as deploy/ says.

func startApache(t *testing.T, w *wicket, require, extra string) *apacheServer {
	t.Helper()
	bin := requireApache(t)
	dav := &davBackend{}
	backend := httptest.NewServer(dav)
	t.Cleanup(backend.Close)

	root := t.TempDir()
	v := apacheValues{
		WicketURI:             w.url(),
		ApacheServicePassword: apacheServiceAccount(w),
		Location:              "/dav/",
		Backend:               backend.URL + "/",
		Require:               require,
		Root:                  root,
		Modules:               apacheModules,
		Example:               filepath.Join(root, "wicket-dav.conf"),
		Port:                  mailFreePort(t),
		Extra:                 extra,
	}
	if os.Geteuid() == 0 {
		// The children need to reach only the loopback sockets, not a file
		// under root: anonymous shared memory, pthread mutexes, logs on
		// the parent's standard error.
		nobody := mailRequireAccount(t, "nobody")
		group, err := osuser.LookupGroupId(nobody.Gid)
		if err != nil {
			t.Fatal(err)
		}
		v.User, v.Group = nobody.Username, group.Name
	}
	text, err := os.ReadFile(filepath.Join(mailDeploy, "apache", "wicket-dav.conf"))
	if err != nil {
		t.Fatal(err)
	}
	mailWrite(t, v.Example, mailExecute(t, "wicket-dav.conf", string(text), v), 0o600)
	conf := filepath.Join(root, "httpd.conf")
	mailWrite(t, conf, mailExecute(t, "httpd.conf", apacheConf, v), 0o600)

	if out, err := exec.Command(bin, "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("apache2 -t: %v\n%s", err, out)
	}
	d := mailStartDaemon(t, "apache2", exec.Command(bin, "-f", conf, "-DFOREGROUND"))
	addr := fmt.Sprintf("127.0.0.1:%d", v.Port)
	d.waitListening(t, addr)
	return &apacheServer{t: t, url: "http://" + addr + v.Location, dav: dav, root: root}
}

// apacheAccounts holds the password of uid=apache of each wicket, so that
// a test can run several Apaches in front of one.
var apacheAccounts sync.Map // *wicket → string

func apacheServiceAccount(w *wicket) string {
	if pw, ok := apacheAccounts.Load(w); ok {
		return pw.(string)
	}
	pw := mailServiceAccount(w, "apache")
	apacheAccounts.Store(w, pw)
	w.t.Cleanup(func() { apacheAccounts.Delete(w) })
	return pw
}

// get fetches the protected location with HTTP Basic credentials and
// returns the status.
func (a *apacheServer) get(user, password string) int {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.url, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		a.t.Fatalf("GET %s as %s: %v", a.url, user, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// want checks one request's status, and that the DAV server was reached
// as user exactly when Apache let the request through.
func (a *apacheServer) want(what, user, password string, status int) {
	a.t.Helper()
	got := a.get(user, password)
	reached := a.dav.seen()
	switch {
	case got != status:
		a.t.Errorf("%s: HTTP %d, want %d", what, got, status)
	case status == http.StatusOK && (len(reached) != 1 || reached[0] != user):
		a.t.Errorf("%s: the DAV server saw %q, want one request from %s", what, reached, user)
	case status != http.StatusOK && len(reached) != 0:
		a.t.Errorf("%s: HTTP %d, but the DAV server was reached by %q", what, got, reached)
	}
}

// Every user with an app password gets in; a wrong password, a code alone
// or nothing does not, and a revoked app password stops working on the
// next request.
func TestApache_ValidUserSignsInWithAnAppPassword(t *testing.T) {
	w := startWicket(t, "")
	w.newUser("alice", true)
	bob := w.newUser("bob", true)
	id, app := w.appPassword("alice", "calendar")
	_, bobApp := w.appPassword("bob", "contacts")
	a := startApache(t, w, "Require valid-user", "")

	a.want("alice's app password", "alice", app, http.StatusOK)
	a.want("alice's app password again", "alice", app, http.StatusOK)
	a.want("bob's app password", "bob", bobApp, http.StatusOK)
	a.want("a wrong password", "alice", "abcd-efgh-ijkl-mnop", http.StatusUnauthorized)
	a.want("bob's app password for alice", "alice", bobApp, http.StatusUnauthorized)
	a.want("a primary password without a code", "bob", bob.password, http.StatusUnauthorized)
	a.want("an unknown user", "mallory", app, http.StatusUnauthorized)

	w.admin("", "apppw", "revoke", "alice", id)
	a.want("alice's revoked app password", "alice", app, http.StatusUnauthorized)
	a.want("bob after alice's revocation", "bob", bobApp, http.StatusOK)

	// A service account binds with its password alone; the URL's filter
	// on the role keeps it out all the same.
	a.want("the service account's right password", "apache", apacheServiceAccount(w), http.StatusUnauthorized)
	nc := mailServiceAccount(w, "nextcloud")
	a.want("a service account added since", "nextcloud", nc, http.StatusUnauthorized)
	if out, code := ldapwhoami(t, w.url(), "uid=nextcloud,ou=people,dc=example,dc=org", nc); code != 0 {
		t.Errorf("the service account's own bind: exit %d, %s", code, out)
	}
}

// Require ldap-filter on memberOf: a member of the group gets in, a user
// outside it does not, and whoever is added to the group gets in at once.
func TestApache_LDAPFilterOnMemberOfAdmitsGroupMembersOnly(t *testing.T) {
	w := startWicket(t, "")
	w.newUser("alice", true)
	w.newUser("bob", true)
	_, aliceApp := w.appPassword("alice", "calendar")
	_, bobApp := w.appPassword("bob", "calendar")
	w.admin("", "group", "add", "calendar")
	w.admin("", "group", "member-add", "calendar", "alice")
	a := startApache(t, w, "Require ldap-filter memberOf=cn=calendar,ou=groups,dc=example,dc=org", "")

	a.want("a member", "alice", aliceApp, http.StatusOK)
	a.want("a user outside the group", "bob", bobApp, http.StatusUnauthorized)
	a.want("a member with a wrong password", "alice", bobApp, http.StatusUnauthorized)
	w.admin("", "group", "member-add", "calendar", "bob")
	a.want("bob once a member", "bob", bobApp, http.StatusOK)
}

// Require ldap-group: mod_authnz_ldap compares the group's member
// attribute with the user's DN (LDAP Compare, as the service account). A
// member gets in, others do not, and a member removed from the group is
// refused at the next request (the example keeps no compare cache).
func TestApache_LDAPGroupAdmitsMembersOnly(t *testing.T) {
	w := startWicket(t, "")
	w.newUser("alice", true)
	w.newUser("bob", true)
	_, aliceApp := w.appPassword("alice", "calendar")
	_, bobApp := w.appPassword("bob", "calendar")
	w.admin("", "group", "add", "calendar")
	w.admin("", "group", "member-add", "calendar", "alice")
	a := startApache(t, w, "Require ldap-group cn=calendar,ou=groups,dc=example,dc=org", "")

	a.want("a member", "alice", aliceApp, http.StatusOK)
	a.want("a user outside the group", "bob", bobApp, http.StatusUnauthorized)
	w.admin("", "group", "member-remove", "calendar", "alice")
	a.want("alice once removed", "alice", aliceApp, http.StatusUnauthorized)
}

// Require ldap-attribute compares an attribute of the user's own entry.
func TestApache_LDAPAttributeComparesTheUsersEntry(t *testing.T) {
	w := startWicket(t, "")
	w.newUser("alice", true)
	w.newUser("bob", true)
	_, aliceApp := w.appPassword("alice", "calendar")
	_, bobApp := w.appPassword("bob", "calendar")
	a := startApache(t, w, "Require ldap-attribute mail=ALICE@example.org", "")

	a.want("alice, whose mail it is", "alice", aliceApp, http.StatusOK)
	a.want("bob, whose mail it is not", "bob", bobApp, http.StatusUnauthorized)
}

// Why the example turns mod_ldap's cache off: with Apache's defaults, a
// revoked app password keeps working from the cache (for up to
// LDAPCacheTTL, 600 s), although wicket refuses it at once.
func TestApache_ModLDAPDefaultCacheKeepsARevokedAppPassword(t *testing.T) {
	w := startWicket(t, "")
	alice := w.newUser("alice", true)
	id, app := w.appPassword("alice", "calendar")
	a := startApache(t, w, "Require valid-user", "LDAPCacheEntries 1024\nLDAPOpCacheEntries 1024\n")

	a.want("alice's app password", "alice", app, http.StatusOK)
	w.admin("", "apppw", "revoke", "alice", id)
	whoamiWants(t, w, "the revoked app password, asked of wicket", alice, app, 49)
	a.want("the revoked app password, from Apache's cache", "alice", app, http.StatusOK)
}
