package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// PHP's ldap extension as Nextcloud's user_ldap and Roundcube use it: bind
// as a service account, read the root DSE, list the users a page at a
// time, find the user who signs in by uid or by mail, then bind as that
// user's DN with the password typed, on a connection of its own.

// phpLoginScript prints what the login saw as JSON; any unexpected LDAP
// failure throws, and PHP exits non-zero.
const phpLoginScript = `<?php
[, $url, $svcDN, $svcPW, $base, $login, $password] = $argv;

function connection(string $url) {
    $c = ldap_connect($url);
    if ($c === false) throw new Exception("ldap_connect($url) failed");
    ldap_set_option($c, LDAP_OPT_PROTOCOL_VERSION, 3);
    ldap_set_option($c, LDAP_OPT_REFERRALS, 0);
    ldap_set_option($c, LDAP_OPT_NETWORK_TIMEOUT, 10);
    return $c;
}
function must($c, $ok, string $what) {
    if ($ok === false) throw new Exception("$what: " . ldap_error($c) . " (" . ldap_errno($c) . ")");
    return $ok;
}

$out = [];
$c = connection($url);
must($c, ldap_bind($c, $svcDN, $svcPW), 'service bind');

$dse = ldap_get_entries($c, must($c, ldap_read($c, '', '(objectClass=*)', ['supportedControl', 'namingContexts']), 'root DSE'));
$out['paging'] = in_array(LDAP_CONTROL_PAGEDRESULTS, $dse[0]['supportedcontrol'] ?? [], true);
$out['naming_context'] = $dse[0]['namingcontexts'][0] ?? null;

// Nextcloud lists the users a page at a time (RFC 2696).
$people = "ou=people,$base";
$listed = [];
$cookie = '';
do {
    $sr = must($c, ldap_search($c, $people, '(objectClass=inetOrgPerson)', ['uid'], 0, 0, 0, LDAP_DEREF_NEVER,
        [['oid' => LDAP_CONTROL_PAGEDRESULTS, 'value' => ['size' => 2, 'cookie' => $cookie]]]), 'paged search');
    must($c, ldap_parse_result($c, $sr, $errcode, $matcheddn, $errmsg, $referrals, $controls), 'paged result');
    foreach (ldap_get_entries($c, $sr) as $k => $e) {
        if ($k !== 'count') $listed[] = $e['uid'][0];
    }
    $cookie = $controls[LDAP_CONTROL_PAGEDRESULTS]['value']['cookie'] ?? '';
    $out['pages'] = ($out['pages'] ?? 0) + 1;
} while ($cookie !== '' && $out['pages'] < 100);
sort($listed);
$out['listed'] = $listed;
$all = [];
foreach (ldap_get_entries($c, must($c, ldap_search($c, $people, '(objectClass=inetOrgPerson)', ['uid']), 'search')) as $k => $e) {
    if ($k !== 'count') $all[] = $e['uid'][0];
}
sort($all);
$out['all'] = $all;

// The login: uid or mail, escaped as user_ldap escapes it.
$l = ldap_escape($login, '', LDAP_ESCAPE_FILTER);
$sr = must($c, ldap_search($c, $people, "(&(objectClass=inetOrgPerson)(|(uid=$l)(mail=$l)))",
    ['uid', 'mail', 'cn', 'displayName', 'memberOf', 'entryUUID']), 'login search');
$found = ldap_get_entries($c, $sr);
$out['found'] = $found['count'];
if ($found['count'] === 1) {
    $e = $found[0];
    $out['dn'] = $e['dn'];
    $out['uid'] = $e['uid'][0];
    $out['mail'] = $e['mail'][0];
    $out['memberof'] = array_values(array_filter($e['memberof'] ?? [], 'is_string'));
    $out['entryuuid'] = $e['entryuuid'][0] ?? null;
    // user_ldap finds a mapped user again by its UUID.
    if ($out['entryuuid'] !== null) {
        $q = ldap_escape($out['entryuuid'], '', LDAP_ESCAPE_FILTER);
        $again = ldap_get_entries($c, must($c, ldap_search($c, $people, "(&(objectClass=inetOrgPerson)(entryUUID=$q))", ['uid']), 'search by UUID'));
        $out['by_uuid'] = $again['count'] === 1 ? $again[0]['dn'] : null;
    }
    $u = connection($url);
    $out['bind'] = @ldap_bind($u, $e['dn'], $password);
    $out['bind_errno'] = ldap_errno($u);
    // Group membership as Roundcube's and Nextcloud's group backends ask
    // it, and a secret, which must not be comparable.
    $group = "cn=staff,ou=groups,$base";
    $out['compare_member'] = ldap_compare($c, $group, 'member', $e['dn']);
    $out['compare_other'] = ldap_compare($c, $group, 'member', "uid=nobody,$people");
    $out['compare_password'] = @ldap_compare($c, $e['dn'], 'userPassword', $password);
    $out['compare_password_errno'] = ldap_errno($c);
}
echo json_encode($out), "\n";
`

// requirePHPLDAP finds php with the ldap extension (php-cli, php-ldap).
func requirePHPLDAP(t *testing.T) string {
	t.Helper()
	php := requireTool(t, "php")
	if err := exec.Command(php, "-r", `exit(function_exists("ldap_connect") ? 0 : 1);`).Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PHP's ldap extension is not installed (run scripts/install-test-deps.sh): %v", err)
		}
		t.Skip("PHP's ldap extension is not installed (run scripts/install-test-deps.sh)")
	}
	return php
}

type phpLogin struct {
	Paging        bool     `json:"paging"`
	NamingContext string   `json:"naming_context"`
	Pages         int      `json:"pages"`
	Listed        []string `json:"listed"`
	All           []string `json:"all"`
	Found         int      `json:"found"`
	DN            string   `json:"dn"`
	UID           string   `json:"uid"`
	Mail          string   `json:"mail"`
	MemberOf      []string `json:"memberof"`
	// EntryUUID is what user_ldap maps a user by, asked for by name; ByUUID
	// the DN that (entryUUID=...) finds.
	EntryUUID string `json:"entryuuid"`
	ByUUID    string `json:"by_uuid"`
	Bind      bool   `json:"bind"`
	BindErrno int    `json:"bind_errno"`
	// ldap_compare gives true, false, or -1 on an error.
	CompareMember   any `json:"compare_member"`
	CompareOther    any `json:"compare_other"`
	ComparePassword any `json:"compare_password"`
	ComparePwErrno  int `json:"compare_password_errno"`
}

func TestPHP_NextcloudStyleLogin(t *testing.T) {
	php := requirePHPLDAP(t)
	w := startWicket(t, "")
	svcPassword := mailServiceAccount(w, "nextcloud")
	alice := w.newUser("alice", true)
	for _, n := range []string{"bob", "carol", "dave"} {
		w.newUser(n, false)
	}
	aliceID, app := w.appPassword("alice", "nextcloud")
	w.admin("", "group", "add", "staff")
	w.admin("", "group", "member-add", "staff", "alice")
	script := filepath.Join(t.TempDir(), "login.php")
	if err := os.WriteFile(script, []byte(phpLoginScript), 0o600); err != nil {
		t.Fatal(err)
	}
	login := func(name, password string) phpLogin {
		t.Helper()
		cmd := exec.Command(php, script, w.url(), "uid=nextcloud,ou=people,dc=example,dc=org", svcPassword,
			"dc=example,dc=org", name, password)
		cmd.Env = append(os.Environ(), "LDAPRC=/dev/null", "HOME="+t.TempDir())
		cmd.WaitDelay = 5 * time.Second
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("php login as %s: %v\n%s%s", name, err, out, stderr.String())
		}
		var got phpLogin
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("php login as %s: %v\n%s", name, err, out)
		}
		return got
	}

	got := login("alice", app)
	if !got.Paging || got.NamingContext != "dc=example,dc=org" {
		t.Errorf("root DSE: paging %v, naming context %q", got.Paging, got.NamingContext)
	}
	// A page at a time, the same users as one search finds, the people
	// among them.
	if !slices.Equal(got.Listed, got.All) || got.Pages < (len(got.All)+1)/2 {
		t.Errorf("paged listing: %v in %d pages of 2, want %v in %d", got.Listed, got.Pages, got.All, (len(got.All)+1)/2)
	}
	for _, n := range []string{"alice", "bob", "carol", "dave"} {
		if !slices.Contains(got.All, n) {
			t.Errorf("the people search found %v, without %s", got.All, n)
		}
	}
	if got.Found != 1 || got.DN != alice.dn || got.UID != "alice" || got.Mail != alice.mail ||
		!slices.Equal(got.MemberOf, []string{"cn=staff,ou=groups,dc=example,dc=org"}) {
		t.Errorf("login search found %d: %+v", got.Found, got)
	}
	if !got.Bind {
		t.Errorf("bind as %s with the app password failed (%d)", got.DN, got.BindErrno)
	}
	if got.CompareMember != true || got.CompareOther != false {
		t.Errorf("ldap_compare of staff's member: alice %v, nobody %v; want true, false", got.CompareMember, got.CompareOther)
	}
	if got.ComparePassword == true || got.ComparePwErrno == 0 {
		t.Errorf("ldap_compare of userPassword with the right value: %v (errno %d), want an error", got.ComparePassword, got.ComparePwErrno)
	}
	if !uuidText.MatchString(got.EntryUUID) || got.ByUUID != alice.dn {
		t.Errorf("entryUUID %q finds %q; want a UUID that finds %s", got.EntryUUID, got.ByUUID, alice.dn)
	}
	if again := login(alice.mail, app); again.DN != alice.dn || !again.Bind || again.EntryUUID != got.EntryUUID {
		t.Errorf("login by mail: %+v; want alice, with the entryUUID %s", again, got.EntryUUID)
	}
	if got := login("alice", "abcd-efgh-ijkl-mnop"); got.DN != alice.dn || got.Bind || got.BindErrno != 49 {
		t.Errorf("login with a wrong password: bind %v, errno %d; want false, 49", got.Bind, got.BindErrno)
	}
	if got := login("nobody", app); got.Found != 0 || got.Bind {
		t.Errorf("login as an unknown user found %d entries, bind %v", got.Found, got.Bind)
	}
	// A login name is a value in the filter, not a part of it.
	if got := login("*", app); got.Found != 0 {
		t.Errorf("login as * found %d entries", got.Found)
	}
	w.admin("", "apppw", "revoke", "alice", aliceID)
	if got := login("alice", app); got.Bind || got.BindErrno != 49 {
		t.Errorf("login with the revoked app password: bind %v, errno %d; want false, 49", got.Bind, got.BindErrno)
	}
}
