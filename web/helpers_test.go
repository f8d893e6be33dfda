package web_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
	"github.com/wicketldap/wicket/internal/addrlimit"
	"github.com/wicketldap/wicket/internal/testutil"
	"github.com/wicketldap/wicket/web"
)

const (
	password = "Correct-Horse-42"
	// seed is alice's TOTP secret, so that the test plays her phone.
	seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

	msgSignInFailed = "Sign-in failed: the name, password or code is wrong."
	msgThrottled    = "Too many attempts; wait a minute and try again."
)

// fixture is the page over a real backend on a SQLite file, served on a
// loopback port, with a clock the test moves.
type fixture struct {
	t     *testing.T
	svc   *backend.Service
	store *sqlite.Store
	clock *testutil.Clock
	srv   *httptest.Server
}

type options struct {
	web     web.Config
	backend backend.Options
	// limit is the failures per address: per minute and burst; 0: none.
	perMinute, burst int
}

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	dir := t.TempDir()
	keys, err := backend.CreateKeys(filepath.Join(dir, "wicket.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Create(filepath.Join(dir, "wicket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := testutil.NewClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	bo := o.backend
	bo.Argon2 = backend.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}
	bo.Now = clock.Now
	bo.Logger = slog.New(slog.DiscardHandler)
	bo.RequireSecondFactor = true
	svc := backend.New(st, keys, bo)
	t.Cleanup(svc.Close)

	wc := o.web
	wc.Now = clock.Now
	wc.Logger = slog.New(slog.DiscardHandler)
	if o.perMinute > 0 {
		wc.FailedBinds = addrlimit.New(float64(o.perMinute)/60, o.burst, clock.Now)
	}
	h, err := web.New(svc, wc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{t: t, svc: svc, store: st, clock: clock, srv: srv}
}

// user adds an account with the test's password, and TOTP with the
// test's seed unless bare.
func (f *fixture) user(name, role string, bare bool) {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.svc.AddUser(ctx, name, name+"@example.org", password, role); err != nil {
		f.t.Fatal(err)
	}
	if bare {
		return
	}
	s, err := backend.ParseTOTPSecret(seed)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.EnrollTOTP(ctx, name, s); err != nil {
		f.t.Fatal(err)
	}
}

// code is the current code of secret on the fixture's clock.
func (f *fixture) code(secret string) string {
	f.t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// nextStep moves the clock to the next 30 s step, so that a new code is due.
func (f *fixture) nextStep() { f.clock.Add(30 * time.Second) }

// browser is one cookie jar talking to the page, following no redirect.
type browser struct {
	f *fixture
	c *http.Client
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f: f, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) *response {
	b.f.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(path string) *response {
	b.f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.f.srv.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) *response {
	b.f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// submit posts form with the csrf token of the page at from.
func (b *browser) submit(from, path string, form url.Values) *response {
	b.f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrfOf(b.f.t, b.get(from).body))
	return b.post(path, form)
}

func (b *browser) signIn(name, pw, code string) *response {
	b.f.t.Helper()
	return b.submit("/signin", "/signin", url.Values{"username": {name}, "password": {pw}, "code": {code}})
}

// mustSignIn signs in as name with the password and the current code,
// then moves to the next step so that the code is not reused.
func (b *browser) mustSignIn(name string) {
	b.f.t.Helper()
	r := b.signIn(name, password, b.f.code(seed))
	b.f.nextStep()
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account" {
		b.f.t.Fatalf("sign-in of %s: %d %s, error %q", name, r.status, r.header.Get("Location"), byID(r.body, "error"))
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", body)
	}
	return m[1]
}

// byID is the text of the element with id, tags removed; "" when absent.
func byID(body, id string) string {
	re := regexp.MustCompile(`<(\w+)[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`)
	loc := re.FindStringSubmatchIndex(body)
	if loc == nil {
		return ""
	}
	tag := body[loc[2]:loc[3]]
	rest := body[loc[1]:]
	end := strings.Index(rest, "</"+tag+">")
	if end < 0 {
		end = len(rest)
	}
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(rest[:end], "")
	return strings.TrimSpace(html.UnescapeString(text))
}

func has(body, id string) bool { return strings.Contains(body, `id="`+id+`"`) }

// attr is the value of attribute a of the element with id.
func attr(body, id, a string) string {
	re := regexp.MustCompile(`<\w+[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`)
	el := re.FindString(body)
	m := regexp.MustCompile(`\b` + a + `="([^"]*)"`).FindStringSubmatch(el)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

var appPasswordRowRE = regexp.MustCompile(`<tr class="app-password" data-id="([^"]+)">`)

func rowIDs(body string) []string {
	var ids []string
	for _, m := range appPasswordRowRE.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func (f *fixture) appPasswords(name string) []backend.AppPassword {
	f.t.Helper()
	aps, err := f.svc.AppPasswords(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return aps
}

// audit is the audit trail about name once every queued record is
// written: the service is closed, so call it last.
func (f *fixture) audit(name string) []backend.AuditRecord {
	f.t.Helper()
	f.svc.Close()
	recs, err := f.svc.AuditRecords(context.Background(), backend.AuditFilter{Subject: name})
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor waits until cond holds. The time limit only ends a test whose
// event never comes; it decides nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 30 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
