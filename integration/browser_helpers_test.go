package integration

// The account page's tests drive Debian's chromium through the DevTools
// protocol (chromedp): one headless browser for the whole test binary,
// since it takes seconds to start, and a fresh browser context (like an
// incognito window: no cookies, no cache) for every test.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wicketldap/wicket/internal/testutil"
)

// chromiumPath is Debian's chromium, which scripts/install-test-deps.sh
// installs. It is named rather than searched for so that a stray browser
// build elsewhere on PATH is never what the tests run.
const chromiumPath = "/usr/bin/chromium"

var browser struct {
	once    sync.Once
	ctx     context.Context // the browser's first tab; every test's context is a child
	cancel  func()
	dataDir string
	output  testutil.SyncBuffer
	err     error
}

// sharedBrowser starts the test binary's browser on first use.
func sharedBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (run scripts/install-test-deps.sh)", chromiumPath)
		}
		t.Skipf("%s is not installed (run scripts/install-test-deps.sh)", chromiumPath)
	}
	browser.once.Do(func() {
		browser.dataDir, browser.err = os.MkdirTemp("", "wicket-chromium-")
		if browser.err != nil {
			return
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(chromiumPath),
			chromedp.Headless,
			chromedp.NoSandbox, // the tests run as root, where the sandbox will not start
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.WindowSize(1280, 800),
			chromedp.UserDataDir(browser.dataDir),
			chromedp.CombinedOutput(&browser.output),
		)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		browser.ctx = ctx
		browser.cancel = func() { cancelCtx(); cancelAlloc() }
		start, cancelStart := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancelStart()
		// The browser lives as long as ctx, not as long as this call's
		// deadline: only the wait for it is bounded.
		done := make(chan error, 1)
		go func() { done <- chromedp.Do(ctx) }()
		select {
		case browser.err = <-done:
		case <-start.Done():
			browser.err = fmt.Errorf("chromium did not start within 60s")
		}
		if browser.err != nil {
			browser.err = fmt.Errorf("starting %s: %w\n%s", chromiumPath, browser.err, browser.output.String())
		}
	})
	if browser.err != nil {
		t.Fatal(browser.err)
	}
	return browser.ctx
}

// stopBrowser ends the shared browser, if one was started; TestMain calls
// it once every test has run.
func stopBrowser() {
	if browser.cancel != nil {
		browser.cancel()
	}
	if browser.dataDir != "" {
		os.RemoveAll(browser.dataDir)
	}
}

// tab is one test's browser tab in a browser context of its own.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string // the account page's URL, without a trailing slash
}

// newTab opens a tab with no cookies, on the page served at base.
func newTab(t *testing.T, base string) *tab {
	t.Helper()
	parent := sharedBrowser(t)
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first call on a context opens its tab and ties the tab's life to
	// the context it is given: the tab's own, not a step's deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx, base: strings.TrimSuffix(base, "/")}
}

// actionTimeout bounds one step, so that a page that never shows what a
// test waits for fails the test instead of hanging it.
const actionTimeout = 60 * time.Second

// do runs steps that return nothing; a failure ends the test with what the
// tab shows.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.describe())
	}
}

// run runs one step that returns a value.
func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.describe())
	}
	return v
}

// describe is the tab's address and visible text, for a failure report.
func (b *tab) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return fmt.Sprintf("the tab shows %s:\n%s", loc, text)
}

// open loads a path of the page and returns the HTTP status of the
// document that ends up shown (after redirects).
func (b *tab) open(path string) int64 {
	b.t.Helper()
	resp := run(b, "opening "+path, chromedp.NavigateResponse(b.base+path))
	if resp == nil {
		b.t.Fatalf("opening %s: no response", path)
	}
	return resp.Status
}

// click presses a button that submits a form and waits for the page the
// server answers with; it returns that page's HTTP status.
func (b *tab) click(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("clicking %s: %v\n%s", sel, err, b.describe())
	}
	if resp == nil {
		b.t.Fatalf("clicking %s: no page came back\n%s", sel, b.describe())
	}
	return resp.Status
}

// fill types values into the named inputs of the form sel.
func (b *tab) fill(form string, values map[string]string) {
	b.t.Helper()
	for name, v := range values {
		sel := fmt.Sprintf(`%s input[name=%q]`, form, name)
		b.do("filling "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SetValue(chromedp.CSS(sel), v))
	}
}

// text is the visible text of the first element matching sel, once it is
// visible.
func (b *tab) text(sel string) string {
	b.t.Helper()
	b.do("waiting for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(run(b, "reading "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// count is how many elements match sel in the page as loaded.
func (b *tab) count(sel string) int {
	b.t.Helper()
	return run(b, "counting "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// location is the address the tab shows.
func (b *tab) location() string {
	b.t.Helper()
	return run(b, "reading the address", chromedp.Location())
}

// cookie is the cookie of that name the browser would send to a path of
// the page, or nil.
func (b *tab) cookie(name, path string) *network.Cookie {
	b.t.Helper()
	res := run(b, "reading cookies", chromedp.Action[network.GetCookiesResult](
		func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
			return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + path}})
		}))
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// The messages the contract fixes, word for word.
const (
	msgSignInFailed = "Sign-in failed: the name, password or code is wrong."
	msgThrottled    = "Too many attempts; wait a minute and try again."
	// The page's additions to the contract: one answer for every refused
	// enrolment, as for sign-in.
	msgEnrolmentFailed = "Enrolment failed: the name, password or enrolment code is wrong, or two-factor sign-in is already on for this account."
)

// signIn fills the sign-in form and submits it, returning the status of
// the page that comes back.
func (b *tab) signIn(name, password, code string) int64 {
	b.t.Helper()
	b.open("/signin")
	b.fill("", map[string]string{"username": name, "password": password, "code": code})
	return b.click("#signin")
}

// mustSignIn signs in and expects the account page.
func (b *tab) mustSignIn(u user, codes *stepCodes) {
	b.t.Helper()
	if st := b.signIn(u.name, u.password, codes.next()); st != http.StatusOK || !strings.HasSuffix(b.location(), "/account") {
		b.t.Fatalf("signing in as %s: status %d at %s, want the account page\n%s", u.name, st, b.location(), b.describe())
	}
	if h := b.text("h1, h2"); !strings.Contains(b.text("body"), "App-specific passwords") {
		b.t.Fatalf("the account page (heading %q) does not say \"App-specific passwords\"\n%s", h, b.describe())
	}
}

// wantError checks that the page shows the #error alert with text.
func (b *tab) wantError(what, text string) {
	b.t.Helper()
	if got := b.text("#error"); !strings.Contains(got, text) {
		b.t.Fatalf("%s: #error says %q, want %q", what, got, text)
	}
}

// appPasswordFormat is how the page shows a new app password.
var appPasswordFormat = regexp.MustCompile(`^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$`)

// generate creates an app password on the account page and returns it as
// the page shows it, once.
func (b *tab) generate(label string) string {
	b.t.Helper()
	b.open("/account")
	b.fill("#generate-form", map[string]string{"label": label})
	if st := b.click("#generate"); st != http.StatusOK {
		b.t.Fatalf("generating %q: status %d\n%s", label, st, b.describe())
	}
	pw := b.text("#new-app-password")
	if !appPasswordFormat.MatchString(pw) {
		b.t.Fatalf("#new-app-password shows %q, want xxxx-xxxx-xxxx-xxxx", pw)
	}
	return pw
}

// rows is the labels of the app passwords the account page lists, by id.
func (b *tab) rows() map[string]string {
	b.t.Helper()
	raw := run(b, "reading the app-password table", chromedp.Evaluate[string](`JSON.stringify(Array.from(
		document.querySelectorAll("#app-passwords tr.app-password"),
		r => [r.dataset.id, (r.querySelector(".label") || {}).textContent || ""]))`))
	var pairs [][2]string
	if err := json.Unmarshal([]byte(raw), &pairs); err != nil {
		b.t.Fatalf("reading the app-password table: %v (%s)", err, raw)
	}
	m := map[string]string{}
	for _, p := range pairs {
		m[p[0]] = strings.TrimSpace(p[1])
	}
	return m
}

// webConfig turns the account page on at a free loopback port; extra goes
// into [web].
func webConfig(extra string) string {
	return "\n[web]\nlisten = \"127.0.0.1:0\"\n" + extra + "\n"
}

// startWebWicket starts wicket with the account page, and returns the
// page's base URL from the server's "listening" line.
func startWebWicket(t *testing.T, web, extra string) (*wicket, string) {
	t.Helper()
	w := startWicket(t, webConfig(web)+extra)
	return w, webURL(t, w)
}

// webURL is the account page's address from the "listening" line.
func webURL(t *testing.T, w *wicket) string {
	t.Helper()
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var rec struct {
			Msg string `json:"msg"`
			Web string `json:"web_addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" && rec.Web != "" {
			return rec.Web
		}
	}
	t.Fatalf("no web_addr in the listening line:\n%s", w.logs.String())
	return ""
}
