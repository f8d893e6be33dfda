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

// python3-ldap3 as an application uses it: a default Server(), which reads
// the root DSE and the subschema on every bind and then checks every
// attribute name it sends against that schema. Against a subschema that
// did not describe its own attributes, the second connection (or a
// StartTLS, which reads them again) raised "invalid attribute type
// objectClasses"; against slapd the same code works.

// requirePythonModule finds Debian's python3 with module importable: the
// interpreter first in PATH may be another one, without Debian's modules.
func requirePythonModule(t *testing.T, module, pkg string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import "+module).Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (Debian's %s) is not installed for %s (run scripts/install-test-deps.sh): %v", module, pkg, py, err)
		}
		t.Skipf("%s (Debian's %s) is not installed for %s (run scripts/install-test-deps.sh)", module, pkg, py)
	}
	return py
}

// ldap3Script signs in three times through one default Server(): the
// service account, which finds a user; the user with password and code
// after StartTLS; the user with an app password, who compares their own
// mail. Between them it reads the subschema entry as a program would, and
// it reports what the client made of the schema. Any exception is a failure (exit status 1).
const ldap3Script = `
import json, ssl, sys
from ldap3 import Server, Connection, Tls, BASE, SUBTREE

url, ca, base, svc_dn, svc_pw, user_dn, user_pw_code, user_app, user_mail = sys.argv[1:10]
server = Server(url, tls=Tls(ca_certs_file=ca, validate=ssl.CERT_REQUIRED))
out = {}

c = Connection(server, svc_dn, svc_pw, auto_bind=True)
c.search('ou=people,' + base, '(uid=alice)', SUBTREE, attributes=['uid', 'mail', 'cn', 'memberOf'])
out['found'] = [{'dn': e.entry_dn, 'mail': [str(v) for v in e.mail.values]} for e in c.entries]
c.unbind()

c = Connection(server, user_dn, user_pw_code)
c.open()
out['start_tls'] = c.start_tls()
out['tls_bind'] = c.bind()
out['tls_whoami'] = c.extend.standard.who_am_i()
c.unbind()

c = Connection(server, user_dn, user_app, auto_bind=True)
out['app_whoami'] = c.extend.standard.who_am_i()
out['compare'], out['compare_results'] = [], []
for mail in (user_mail, 'someone@example.org'):
    out['compare'].append(c.compare(user_dn, 'mail', mail))
    out['compare_results'].append(c.result['description'])
c.search('cn=Subschema', '(objectClass=subschema)', BASE,
         attributes=['objectClasses', 'attributeTypes', 'ldapSyntaxes', 'matchingRules', 'matchingRuleUse'])
e = c.entries[0]
out['subschema'] = {a: len(e[a].values) for a in ('objectClasses', 'attributeTypes', 'ldapSyntaxes', 'matchingRules', 'matchingRuleUse')}
c.unbind()

schema = server.schema
out['classes'] = sorted(schema.object_classes.keys())
# inetOrgPerson's optional attributes with those it inherits.
may, oc = set(), 'inetOrgPerson'
while oc and oc.lower() != 'top':
    may.update(schema.object_classes[oc].may_contain)
    oc = (schema.object_classes[oc].superior or [None])[0]
out['person_may'] = sorted(may)
# What a loader checks: every attribute a class names and every rule and
# syntax a type names is described.
missing = []
for name, oc in schema.object_classes.items():
    for a in list(oc.must_contain) + list(oc.may_contain):
        if a not in schema.attribute_types:
            missing.append('class %s: attribute %s' % (name, a))
def values(v):
    return v if isinstance(v, list) else [v] if v else []
for name, at in schema.attribute_types.items():
    for rule in values(at.equality) + values(at.ordering) + values(at.substring):
        if rule not in schema.matching_rules:
            missing.append('type %s: rule %s' % (name, rule))
    for syntax in values(at.syntax):
        if syntax.split('{')[0] not in schema.ldap_syntaxes:
            missing.append('type %s: syntax %s' % (name, syntax))
    for sup in values(at.superior):
        if sup not in schema.attribute_types:
            missing.append('type %s: supertype %s' % (name, sup))
out['missing'] = sorted(set(missing))
print(json.dumps(out))
`

func TestLDAP3_DefaultServerSignsInTwiceAndWithStartTLS(t *testing.T) {
	py := requirePythonModule(t, "ldap3", "python3-ldap3")
	s := newTLSSetup(t)
	w := startTLSWicket(t, s, "")
	alice := w.newUser("alice", true)
	_, app := w.appPassword("alice", "ldap3")
	script := filepath.Join(t.TempDir(), "ldap3_client.py")
	if err := os.WriteFile(script, []byte(ldap3Script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, w.url(), s.certFile, "dc=example,dc=org", s.svcDN, s.password,
		alice.dn, alice.password+totpCode(t, alice.secret, time.Now()), app, alice.mail)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("the ldap3 client failed: %v\n%s%s", err, stdout, stderr.String())
	}
	var got struct {
		Found []struct {
			DN   string   `json:"dn"`
			Mail []string `json:"mail"`
		} `json:"found"`
		StartTLS  bool           `json:"start_tls"`
		TLSBind   bool           `json:"tls_bind"`
		TLSWhoAmI string         `json:"tls_whoami"`
		AppWhoAmI string         `json:"app_whoami"`
		Compare   []bool         `json:"compare"`
		Results   []string       `json:"compare_results"`
		Subschema map[string]int `json:"subschema"`
		Classes   []string       `json:"classes"`
		PersonMay []string       `json:"person_may"`
		Missing   []string       `json:"missing"`
		Features  []string       `json:"features"`
	}
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(got.Found) != 1 || got.Found[0].DN != alice.dn || !slices.Equal(got.Found[0].Mail, []string{alice.mail}) {
		t.Errorf("the service account's search found %+v, want %s with mail %s", got.Found, alice.dn, alice.mail)
	}
	if !got.StartTLS || !got.TLSBind || got.TLSWhoAmI != "dn:"+alice.dn {
		t.Errorf("StartTLS %v, bind with password and code %v, who am I %q; want true, true, dn:%s",
			got.StartTLS, got.TLSBind, got.TLSWhoAmI, alice.dn)
	}
	if got.AppWhoAmI != "dn:"+alice.dn {
		t.Errorf("who am I with the app password: %q, want dn:%s", got.AppWhoAmI, alice.dn)
	}
	if !slices.Equal(got.Compare, []bool{true, false}) || !slices.Equal(got.Results, []string{"compareTrue", "compareFalse"}) {
		t.Errorf("compare of alice's mail, hers and another: %v %v, want [true false] [compareTrue compareFalse]", got.Compare, got.Results)
	}
	for _, a := range []string{"objectClasses", "attributeTypes", "ldapSyntaxes", "matchingRules", "matchingRuleUse"} {
		if got.Subschema[a] == 0 {
			t.Errorf("the subschema entry as read by ldap3 has no %s: %v", a, got.Subschema)
		}
	}
	for _, c := range []string{"inetOrgPerson", "wicketAccount", "wicketAppPassword", "groupOfNames", "subschema"} {
		if !slices.Contains(got.Classes, c) {
			t.Errorf("ldap3 found no object class %s in the schema: %v", c, got.Classes)
		}
	}
	for _, a := range []string{"description", "telephoneNumber", "title", "mobile", "employeeNumber", "mail", "uid"} {
		if !slices.Contains(got.PersonMay, a) {
			t.Errorf("inetOrgPerson and its superclasses may contain %v, without %s", got.PersonMay, a)
		}
	}
	if len(got.Missing) > 0 {
		t.Errorf("ldap3's schema names what it does not describe:\n%s", strings.Join(got.Missing, "\n"))
	}
}
