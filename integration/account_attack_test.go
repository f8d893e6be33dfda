package integration

// Must-show 3: what a hostile page elsewhere, or a guesser, can do to the
// account page, in the same real browser a victim would use.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"
)

// serveOn serves handler on a free port of a loopback address, as another
// site would.
func serveOn(t *testing.T, host string, handler http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listening on %s: %v", host, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// autoPost is a page that, once opened, posts a form to action with the
// given fields, as a hostile site would: no token, since it cannot read one.
func autoPost(action string, fields map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in strings.Builder
		for k, v := range fields {
			fmt.Fprintf(&in, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(v))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>You have won</title>
<form id="f" method="post" action="%s">%s</form>
<script>document.getElementById("f").submit()</script>`, html.EscapeString(action), in.String())
	})
}

// followTo opens pageURL and waits until the tab has loaded a page of the
// account page's origin, where a hostile page sent it; it returns that
// document's HTTP status.
func (b *tab) followTo(pageURL string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	var (
		mu        sync.Mutex
		status    int64 = -1
		arrived   bool
		loaded    = make(chan struct{})
		closeOnce sync.Once
	)
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventResponseReceived:
			if ev.Type == network.ResourceTypeDocument && strings.HasPrefix(ev.Response.URL, b.base+"/") {
				status = ev.Response.Status
			}
		case *page.EventFrameNavigated:
			if ev.Frame.ParentID == "" && strings.HasPrefix(ev.Frame.URL, b.base+"/") {
				arrived = true
			}
		case *page.EventLoadEventFired:
			if arrived {
				closeOnce.Do(func() { close(loaded) })
			}
		}
	}); err != nil {
		b.t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: pageURL}); err != nil {
		b.t.Fatalf("opening %s: %v", pageURL, err)
	}
	select {
	case <-loaded:
	case <-ctx.Done():
		b.t.Fatalf("opening %s: the tab never reached %s\n%s", pageURL, b.base, b.describe())
	}
	mu.Lock()
	defer mu.Unlock()
	return status
}

// A signed-in victim opens a hostile page that posts forms to the account
// page: from another site (127.0.0.2, where SameSite=Strict keeps the
// session cookie home) and from another port of the same host (the same
// site, so the cookie goes along and only the missing token stops it).
// Every post is answered 403 and changes nothing.
func TestAccountPage_CrossSiteFormPostIsRefused(t *testing.T) {
	t.Parallel()
	w, base := startWebWicket(t, "", "")
	u := w.newUser("victor", true)
	codes := newStepCodes(t, u)
	b := newTab(t, base)
	b.mustSignIn(u, codes)
	kept := b.generate("Thunderbird")
	before := activeIDs(w, u.name)

	attacks := map[string]struct {
		action string
		fields map[string]string
	}{
		"generate":   {"/account/app-passwords", map[string]string{"label": "attacker"}},
		"revoke-all": {"/account/app-passwords/revoke-all", map[string]string{"confirm": "yes"}},
		"password":   {"/account/password", map[string]string{"current_password": "x", "new_password": "Attacker-Chosen-1", "code": "123456"}},
	}
	for _, host := range []string{"127.0.0.2", "127.0.0.1"} {
		for name, a := range attacks {
			hostile := serveOn(t, host, autoPost(base+a.action, a.fields))
			st := b.followTo(hostile)
			if st != http.StatusForbidden {
				t.Errorf("%s posted from %s: status %d, want 403\n%s", name, hostile, st, b.describe())
			}
			if b.count("#new-app-password") != 0 {
				t.Errorf("%s posted from %s: a new app password was shown", name, hostile)
			}
		}
	}
	if after := activeIDs(w, u.name); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("active app passwords were %v before the hostile posts, %v after", before, after)
	}
	whoamiWants(t, w, "the app password after the hostile posts", u, kept, 0)
	// The victim's session still works, and the password is unchanged.
	if b.open("/account"); !strings.HasSuffix(b.location(), "/account") {
		t.Fatalf("the victim's session is gone after the hostile posts\n%s", b.describe())
	}
	whoamiWants(t, w, "the password after the hostile posts", u, codes.withCode(u), 0)
}

// A hostile page that frames the account page, to trick a click on it,
// gets an empty frame: the browser refuses to render it. An ordinary page
// in the same hostile page is rendered, so the probe does see into frames.
func TestAccountPage_FramingIsRefused(t *testing.T) {
	t.Parallel()
	w, base := startWebWicket(t, "", "")
	for _, path := range []string{"/signin", "/enrol"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q, want DENY", path, got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q, want frame-ancestors 'none'", path, got)
		}
	}

	u := w.newUser("fiona", true)
	codes := newStepCodes(t, u)
	b := newTab(t, base)
	b.mustSignIn(u, codes)

	// Frames from the same site share the page's renderer, where the
	// DevTools protocol can look into them.
	control := serveOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><p id="marker">an ordinary page</p>`)
	}))
	hostile := serveOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>Click to win</title>
<iframe id="victim" src="%s/account" width="800" height="600"></iframe>
<iframe id="control" src="%s/"></iframe>`, base, control)
	}))
	b.open("/")
	b.do("opening the hostile page", chromedp.Navigate(hostile))
	doc := run(b, "reading the frames", chromedp.Action[dom.GetDocumentResult](
		func(ctx context.Context, t *chromedp.Target) (dom.GetDocumentResult, error) {
			return cdp.Call(ctx, t, dom.GetDocument, dom.GetDocumentParams{Depth: ptrTo[int64](-1), Pierce: ptrTo(true)})
		}))
	frames := map[string]*cdp.Node{}
	walkNodes(doc.Root, func(n *cdp.Node) {
		if n.NodeName == "IFRAME" {
			frames[attrOf(n, "id")] = n.ContentDocument
		}
	})
	if !hasID(frames["control"], "marker") {
		t.Fatal("the probe does not see the ordinary page in its frame")
	}
	for _, id := range []string{"signout", "generate-form", "app-passwords", "signin", "password-form"} {
		if hasID(frames["victim"], id) {
			t.Fatalf("the framed account page rendered #%s", id)
		}
	}
	if d := frames["victim"]; d != nil {
		t.Logf("the refused frame holds %q", d.DocumentURL)
	}
}

func ptrTo[T any](v T) *T { return &v }

func walkNodes(n *cdp.Node, f func(*cdp.Node)) {
	if n == nil {
		return
	}
	f(n)
	for _, c := range n.Children {
		walkNodes(c, f)
	}
	walkNodes(n.ContentDocument, f)
}

func attrOf(n *cdp.Node, name string) string {
	for i := 0; i+1 < len(n.Attributes); i += 2 {
		if n.Attributes[i] == name {
			return n.Attributes[i+1]
		}
	}
	return ""
}

func hasID(root *cdp.Node, id string) bool {
	found := false
	walkNodes(root, func(n *cdp.Node) {
		if chromedp.NodeType(n.NodeType) == chromedp.NodeTypeElement && attrOf(n, "id") == id {
			found = true
		}
	})
	return found
}

// Under TLS (the certificate from `wicket cert selfsigned`, as an
// administrator would make it), the page is served over HTTPS with that
// certificate, and the session cookie is Secure besides HttpOnly and
// SameSite=Strict.
func TestAccountPage_OverTLSTheSessionCookieIsSecure(t *testing.T) {
	t.Parallel()
	cert := wicketCert(t, "selfsigned", "--out-dir", t.TempDir(), "--host", "127.0.0.1", "--host", "localhost")
	w, base := startWebWicket(t, "", fmt.Sprintf("\n[tls]\ncert_file = %q\nkey_file = %q\n", cert.CertFile, cert.KeyFile))
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("with a certificate configured the page is at %s; want https://127.0.0.1:PORT", base)
	}
	// A client that trusts that certificate and nothing else connects.
	pemBytes, err := os.ReadFile(cert.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no certificate in %s", cert.CertFile)
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("the page does not present the configured certificate: %v", err)
	}
	conn.Close()

	u := w.newUser("heidi", true)
	codes := newStepCodes(t, u)
	b := newTab(t, base)
	// chromium has no way to trust one self-signed certificate for one
	// tab; this tab accepts the one just checked.
	b.do("accepting the certificate", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true})
		return err
	}))
	b.mustSignIn(u, codes)
	c := b.cookie("wicket_session", "/")
	if c == nil || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" {
		t.Fatalf("over TLS the session cookie is %+v; want wicket_session, Secure, HttpOnly, SameSite=Strict, Path=/", c)
	}
}

// csrfInput is the hidden token field of a form, as the page renders it.
var (
	csrfInput = regexp.MustCompile(`<input[^>]*name="csrf"[^>]*>`)
	valueAttr = regexp.MustCompile(`value="([^"]*)"`)
)

func csrfToken(body string) string {
	if in := csrfInput.FindString(body); in != "" {
		if m := valueAttr.FindStringSubmatch(in); m != nil {
			return html.UnescapeString(m[1])
		}
	}
	return ""
}

// clientFrom is an HTTP client whose connections come from a chosen
// loopback address, as a browser on another host would be seen. It keeps
// cookies and does not follow redirects.
func clientFrom(from string) *http.Client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	return &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       2 * time.Minute,
	}
}

// 1,000 wrong sign-ins from one address, many at once, are throttled by
// the limit per address that slows LDAP binds (the same settings): no more
// are even checked than the bucket lets through, the rest are answered 429
// with the page's message; meanwhile the right user signs in in a browser
// from another address.
func TestAccountPage_ThousandWrongSignInsFromOneAddressAreThrottled(t *testing.T) {
	t.Parallel()
	const perMinute, burst = 30, 10
	w, base := startWebWicket(t, "", fmt.Sprintf(`
[lockout]
address_failures_per_minute = %d
address_failure_burst       = %d
# Without the growing delay of failures in a row, only the limit per
# address slows the guesser.
failure_delay               = "0s"
`, perMinute, burst))
	u := w.newUser("grace", true)
	codes := newStepCodes(t, u)

	hammer := clientFrom("127.0.0.2")
	resp, err := hammer.Get(base + "/signin")
	if err != nil {
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	}
	body := readBody(t, resp)
	token := csrfToken(body)
	if token == "" {
		t.Fatalf("the sign-in page has no csrf field:\n%s", body)
	}

	const total, workers = 1000, 25
	var (
		next, refused, checked atomic.Int64
		firstRefusal           = make(chan struct{})
		once                   sync.Once
		wg                     sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			tok := token
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				resp, err := hammer.PostForm(base+"/signin", url.Values{
					"username": {fmt.Sprintf("guess%d", i)}, "password": {"Winter2025!"},
					"code": {"123456"}, "csrf": {tok},
				})
				if err != nil {
					t.Errorf("wrong sign-in %d: %v", i, err)
					return
				}
				body := readBody(t, resp)
				switch {
				case resp.StatusCode == http.StatusTooManyRequests && strings.Contains(body, msgThrottled):
					refused.Add(1)
					once.Do(func() { close(firstRefusal) })
				case resp.StatusCode == http.StatusOK && strings.Contains(body, msgSignInFailed):
					checked.Add(1)
				default:
					t.Errorf("wrong sign-in %d: status %d, want 200 with %q or 429 with %q\n%.400s",
						i, resp.StatusCode, msgSignInFailed, msgThrottled, body)
					return
				}
				if nt := csrfToken(body); nt != "" {
					tok = nt
				}
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-firstRefusal:
	case <-allDone:
	}
	// While the guesser is being refused, the right user from another
	// address (the browser's, 127.0.0.1) gets in.
	b := newTab(t, base)
	b.mustSignIn(u, codes)
	<-allDone
	elapsed := time.Since(start)
	if refused.Load() == 0 {
		t.Fatalf("none of %d wrong sign-ins from one address was refused with 429", total)
	}

	// A token bucket lets through at most its burst plus what came in
	// during the run; a request may wait up to 5 s for a token.
	limit := int64(burst) + int64((elapsed+5*time.Second).Minutes()*perMinute) + 1
	t.Logf("%d wrong sign-ins from 127.0.0.2 in %v: %d checked, %d refused with 429 (at most %d could be checked)",
		total, elapsed.Round(time.Millisecond), checked.Load(), refused.Load(), limit)
	if checked.Load()+refused.Load() != total {
		t.Fatalf("%d of %d wrong sign-ins got an answer", checked.Load()+refused.Load(), total)
	}
	if checked.Load() > limit {
		t.Errorf("%d wrong sign-ins were checked; the limit lets through at most %d", checked.Load(), limit)
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, io.LimitReader(resp.Body, 1<<20)); err != nil {
		t.Errorf("reading a response: %v", err)
	}
	return b.String()
}
