package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// stepCodes hands out the one-time codes of one account in the order the
// server's replay guard accepts them: every password+code bind uses up its
// 30 s step, and only steps T-1..T+1 are accepted, so each code must be of
// a later step than the last and still inside that window.
type stepCodes struct {
	t      testing.TB
	secret string
	last   int64
}

func newStepCodes(t testing.TB, u user) *stepCodes {
	t.Helper()
	if u.secret == "" {
		t.Fatalf("%s has no TOTP secret", u.name)
	}
	return &stepCodes{t: t, secret: u.secret}
}

func (c *stepCodes) next() string {
	c.t.Helper()
	for {
		now := time.Now()
		cur := now.Unix() / 30
		lo := cur - 1
		// Close to the end of a step, T-1 could fall out of the window
		// between computing the code and the server checking it.
		if now.Unix()%30 >= 28 {
			lo = cur
		}
		step := max(lo, c.last+1)
		if step <= cur+1 {
			c.last = step
			return totpCode(c.t, c.secret, time.Unix(step*30, 0))
		}
		wait := time.Until(time.Unix((cur+1)*30, 0))
		c.t.Logf("every step in the TOTP window is used up; waiting %v for the next one", wait.Round(time.Millisecond))
		time.Sleep(wait)
	}
}

// again is the last code handed out, for a retry after a bind that did not
// use it up (unavailable, throttled), as long as its step stays inside the
// window; otherwise the next code.
func (c *stepCodes) again() string {
	c.t.Helper()
	now := time.Now()
	cur := now.Unix() / 30
	if c.last >= cur || (c.last == cur-1 && now.Unix()%30 < 28) {
		return totpCode(c.t, c.secret, time.Unix(c.last*30, 0))
	}
	return c.next()
}

// withCode is the account's primary password followed by its next code.
func (c *stepCodes) withCode(u user) string { return u.password + c.next() }

// newAdministrator is an account with TOTP and role admin.
func newAdministrator(w *wicket, name string) user {
	w.t.Helper()
	u := w.newUser(name, true)
	w.admin("", "user", "role", name, "admin")
	return u
}

func appPasswordDN(u user, id string) string { return "appPasswordId=" + id + "," + u.dn }

// activeIDs is what the administration command, which reads the database
// directly, says is active: the reference for "nothing changed".
func activeIDs(w *wicket, name string) []string {
	w.t.Helper()
	var list []listedAppPassword
	w.adminJSON(&list, "", "apppw", "list", name)
	ids := make([]string, len(list))
	for i, p := range list {
		ids[i] = p.ID
	}
	slices.Sort(ids)
	return ids
}

func sortedIDs(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func requireActive(t *testing.T, w *wicket, name string, want ...string) {
	t.Helper()
	if got, want := activeIDs(w, name), sortedIDs(want...); !slices.Equal(got, want) {
		t.Errorf("active app passwords of %s: %v, want %v", name, got, want)
	}
}

// requireBind checks the result a fresh connection gets binding with
// password: success is checked by the Who am I? answer.
func requireBind(t *testing.T, w *wicket, u user, password string, want int) {
	t.Helper()
	authz, rc := goLDAPBind(t, w.url(), u.dn, password)
	switch {
	case rc != want:
		t.Errorf("bind as %s: result %d, want %d", u.name, rc, want)
	case want == 0 && authz != "dn:"+u.dn:
		t.Errorf("bind as %s: Who am I? says %q, want %q", u.name, authz, "dn:"+u.dn)
	}
}

// --- OpenLDAP's ldap-utils ---

// toolResult is what one ldap-utils run showed.
type toolResult struct {
	stdout, stderr string
	exit           int
	code           int // the LDAP result code; 0 on success
}

func (r toolResult) output() string { return r.stdout + r.stderr }

// resultLine is how the tools print a result: "ldap_delete: Insufficient
// access (50)", "Result: Success (0)", "No such object (32)".
var resultLine = regexp.MustCompile(`(?m)^(?:\S+: )?[A-Za-z][A-Za-z ,'/-]* \((-?\d+)\)$`)

// ldapTool runs one of ldap-utils. ldapexop and ldappasswd exit with 1
// whatever the failure, so the result code is read from what they print.
func ldapTool(t *testing.T, stdin, name string, args ...string) toolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(t, name), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := toolResult{stdout: o.String(), stderr: e.String()}
	if err == nil {
		return r
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("%s: %v", name, err)
	}
	r.exit = ee.ExitCode()
	for _, s := range []string{r.stderr, r.stdout} {
		if m := resultLine.FindStringSubmatch(s); m != nil {
			r.code, _ = strconv.Atoi(m[1])
			if r.code != 0 {
				return r
			}
		}
	}
	t.Fatalf("%s %s exited with %d without an LDAP result:\n%s", name, strings.Join(args, " "), r.exit, r.output())
	return r
}

// toolAuth are the options of a simple bind; an empty dn binds anonymously.
func toolAuth(w *wicket, dn, password string) []string {
	if dn == "" {
		return []string{"-x", "-H", w.url()}
	}
	return []string{"-x", "-H", w.url(), "-D", dn, "-w", password}
}

// requireCode checks a tool's result code, showing its output otherwise.
func requireCode(t *testing.T, what string, r toolResult, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("%s: result %d, want %d\n%s", what, r.code, want, r.output())
	}
}

func ldapsearchAs(t *testing.T, w *wicket, dn, password, base, scope string, attrs ...string) toolResult {
	t.Helper()
	args := append(toolAuth(w, dn, password), "-LLL", "-o", "ldif_wrap=no", "-b", base, "-s", scope, "(objectClass=*)")
	return ldapTool(t, "", "ldapsearch", append(args, attrs...)...)
}

func ldapexopAs(t *testing.T, w *wicket, dn, password, request string) toolResult {
	t.Helper()
	return ldapTool(t, "", "ldapexop", append(toolAuth(w, dn, password), "-o", "ldif_wrap=no", request)...)
}

func ldapdeleteAs(t *testing.T, w *wicket, dn, password, entry string) toolResult {
	t.Helper()
	return ldapTool(t, "", "ldapdelete", append(toolAuth(w, dn, password), entry)...)
}

func ldapmodifyAs(t *testing.T, w *wicket, dn, password, ldif string) toolResult {
	t.Helper()
	return ldapTool(t, ldif, "ldapmodify", toolAuth(w, dn, password)...)
}

// modifyLDIF is an LDIF change record; each change is its lines, and
// changes are separated by "-".
func modifyLDIF(dn string, changes ...[]string) string {
	var b strings.Builder
	b.WriteString("dn: " + dn + "\nchangetype: modify\n")
	for i, c := range changes {
		if i > 0 {
			b.WriteString("-\n")
		}
		for _, l := range c {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func deleteIDs(ids ...string) []string {
	lines := []string{"delete: appPasswordId"}
	for _, id := range ids {
		lines = append(lines, "appPasswordId: "+id)
	}
	return lines
}

// ldifRecord is one record of LDIF as ldapsearch and ldapexop print it.
type ldifRecord struct {
	dn    string
	attrs map[string][]string // by lower-case attribute name
}

func (r ldifRecord) get(attr string) []string { return r.attrs[strings.ToLower(attr)] }

func (r ldifRecord) first(attr string) string {
	if v := r.get(attr); len(v) > 0 {
		return v[0]
	}
	return ""
}

// parseLDIF reads records separated by blank lines, unfolding continued
// lines and decoding base64 ("attr:: ...") values.
func parseLDIF(t *testing.T, s string) []ldifRecord {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(l, " ") && len(lines) > 0 && lines[len(lines)-1] != "" {
			lines[len(lines)-1] += l[1:]
			continue
		}
		lines = append(lines, l)
	}
	var out []ldifRecord
	var cur *ldifRecord
	for _, l := range lines {
		switch {
		case l == "":
			cur = nil
			continue
		case strings.HasPrefix(l, "#"):
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("not an LDIF line: %q\n%s", l, s)
		}
		if strings.HasPrefix(value, ":") {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value[1:]))
			if err != nil {
				t.Fatalf("LDIF line %q: %v", l, err)
			}
			value = string(b)
		} else {
			value = strings.TrimPrefix(value, " ")
		}
		if cur == nil {
			out = append(out, ldifRecord{attrs: map[string][]string{}})
			cur = &out[len(out)-1]
		}
		if strings.EqualFold(name, "dn") {
			cur.dn = value
			continue
		}
		key := strings.ToLower(name)
		cur.attrs[key] = append(cur.attrs[key], value)
	}
	return out
}

// recordByDN finds a record by DN, compared as DNs are.
func recordByDN(t *testing.T, recs []ldifRecord, dn string) (ldifRecord, bool) {
	t.Helper()
	want, err := ldap.ParseDN(dn)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if got, err := ldap.ParseDN(r.dn); err == nil && got.EqualFold(want) {
			return r, true
		}
	}
	return ldifRecord{}, false
}

// requireNoSecret fails if text shows any form of a secret a client could
// type: app passwords are accepted without dashes and in any case.
func requireNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	low := strings.ToLower(text)
	for _, s := range secrets {
		for _, form := range []string{s, strings.ReplaceAll(s, "-", "")} {
			if strings.Contains(low, strings.ToLower(form)) {
				t.Errorf("%s shows the secret %q:\n%s", where, form, text)
			}
		}
	}
}

// --- go-ldap ---

func dialLDAP(t *testing.T, w *wicket) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(w.url())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetTimeout(30 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

// dialBound is a connection bound once, for many operations on one account.
func dialBound(t *testing.T, w *wicket, dn, password string) *ldap.Conn {
	t.Helper()
	c := dialLDAP(t, w)
	if err := c.Bind(dn, password); err != nil {
		t.Fatalf("bind as %s: %v", dn, err)
	}
	return c
}

// resultCode is the LDAP result code of a go-ldap error; 0 for nil.
func resultCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode >= ldap.ErrorNetwork {
		t.Fatalf("not an LDAP result: %v", err)
	}
	return int(le.ResultCode)
}

// extendedOp sends an extended request with value (absent when nil) and
// returns the response value. go-ldap sends a value packet as given, so
// it is wrapped in the requestValue [1] tag here.
func extendedOp(c *ldap.Conn, oid string, value []byte) ([]byte, error) {
	var p *ber.Packet
	if value != nil {
		p = ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, string(value), "")
	}
	res, err := c.Extended(ldap.NewExtendedRequest(oid, p))
	if err != nil {
		return nil, err
	}
	if res.Name != "" && res.Name != oid {
		return nil, errors.New("response names " + res.Name + ", not " + oid)
	}
	if res.Value == nil {
		return nil, nil
	}
	return res.Value.Data.Bytes(), nil
}

func exopCreate(t *testing.T, c *ldap.Conn, label, target string) exop.CreateResponse {
	t.Helper()
	v, err := extendedOp(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: label, Target: target}.Encode())
	if err != nil {
		t.Fatalf("create %q for %q: %v", label, target, err)
	}
	r, err := exop.DecodeCreateResponse(v)
	if err != nil {
		t.Fatalf("create response %x: %v", v, err)
	}
	return r
}

func exopList(t *testing.T, c *ldap.Conn, target string) []exop.AppPassword {
	t.Helper()
	var req []byte
	if target != "" {
		req = exop.ListRequest{Target: target}.Encode()
	}
	v, err := extendedOp(c, exop.OIDAppPasswordList, req)
	if err != nil {
		t.Fatalf("list of %q: %v", target, err)
	}
	list, err := exop.DecodeList(v)
	if err != nil {
		t.Fatalf("list response %x: %v", v, err)
	}
	return list
}

func listedIDs(list []exop.AppPassword) []string {
	ids := make([]string, len(list))
	for i, p := range list {
		ids[i] = p.ID
	}
	slices.Sort(ids)
	return ids
}

func searchEntries(c *ldap.Conn, base string, scope int) ([]*ldap.Entry, error) {
	res, err := c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"*", "+"}, nil))
	if res == nil {
		return nil, err
	}
	return res.Entries, err
}

func deleteIDsRequest(dn string, ids ...string) *ldap.ModifyRequest {
	m := ldap.NewModifyRequest(dn, nil)
	m.Delete("appPasswordId", ids)
	return m
}

// recent: a timestamp the server just wrote, at second precision.
func recent(ts time.Time) bool {
	d := time.Since(ts)
	return d > -2*time.Second && d < 2*time.Minute
}

func parseGeneralized(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse("20060102150405Z", s)
	if err != nil {
		t.Errorf("%q is not a GeneralizedTime: %v", s, err)
	}
	return ts
}

var appPasswordShape = regexp.MustCompile(`^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$`)
