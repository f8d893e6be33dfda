package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pageBrowser is a cookie jar on the page that follows no redirect.
type pageBrowser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newPageBrowser(t *testing.T, base string, tr *http.Transport) *pageBrowser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if tr != nil {
		c.Transport = tr
	}
	return &pageBrowser{t: t, base: base, c: c}
}

func (b *pageBrowser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var pageCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// submit posts form with the token of the page at from.
func (b *pageBrowser) submit(from, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	_, page := b.get(from)
	m := pageCSRF.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no csrf field on %s:\n%s", from, page)
	}
	form.Set("csrf", m[1])
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func pageText(body, id string) string {
	m := regexp.MustCompile(`id="` + id + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(m[1]))
}

// An app password made on the page binds with ldapwhoami, and stops
// binding once revoked there; SIGTERM stops the page with LDAP.
func TestAccountPage_AppPasswordMadeThereBindsUntilRevoked(t *testing.T) {
	requireTool(t, "ldapwhoami")
	w := startWicket(t, "[web]\nlisten = \"127.0.0.1:0\"\n")
	base := webURL(t, w)
	u := w.newUser("alice", true)
	b := newPageBrowser(t, base, nil)
	resp, body := b.submit("/signin", "/signin", url.Values{"username": {u.name}, "password": {u.password},
		"code": {totpCode(t, u.secret, time.Now())}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %q", resp.StatusCode, pageText(body, "error"))
	}
	_, body = b.submit("/account", "/account/app-passwords", url.Values{"label": {"Thunderbird on laptop"}})
	pw := pageText(body, "new-app-password")
	if !regexp.MustCompile(`^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$`).MatchString(pw) {
		t.Fatalf("#new-app-password %q", pw)
	}
	if out, code := ldapwhoami(t, w.url(), u.dn, pw); code != 0 || !strings.Contains(out, u.dn) {
		t.Fatalf("ldapwhoami with the page's app password: %d %s", code, out)
	}
	resp, _ = b.submit("/account", "/account/app-passwords/revoke-all", url.Values{"confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke all: %d", resp.StatusCode)
	}
	if out, code := ldapwhoami(t, w.url(), u.dn, pw); code != 49 {
		t.Fatalf("ldapwhoami after revoking on the page: %d %s", code, out)
	}
	w.stop()
	if _, err := http.Get(base + "/signin"); err == nil {
		t.Error("the page still answers after SIGTERM")
	}
}

func TestAccountPage_NonLoopbackWithoutTLSIsRefused(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		web   string
		flags []string
	}{
		"in the file": {"[web]\nlisten = \"0.0.0.0:0\"\n", nil},
		"by the flag": {"[web]\nlisten = \"127.0.0.1:0\"\n", []string{"--web-listen", "0.0.0.0:0"}},
	} {
		cfg := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".toml")
		body := fmt.Sprintf(testConfig, filepath.Join(dir, "wicket.db"), tc.web)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		logs := serveRefused(t, dir, nil, cfg, tc.flags...)
		if !strings.Contains(logs, "web.listen") || !strings.Contains(logs, "tls.cert_file") {
			t.Errorf("%s: the refusal does not name web.listen and tls.cert_file:\n%s", name, logs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "wicket.db")); err == nil {
		t.Error("a refused start created the database")
	}
}

// With a TLS certificate the page speaks HTTPS with it, and its cookies
// are Secure.
func TestAccountPage_HTTPSWithTheLDAPCertificate(t *testing.T) {
	certDir := t.TempDir()
	c := wicketCert(t, "selfsigned", "--out-dir", certDir, "--host", "127.0.0.1")
	w := startWicket(t, fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n[web]\nlisten = \"127.0.0.1:0\"\n", c.CertFile, c.KeyFile))
	base := webURL(t, w)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("web_addr %s is not https", base)
	}
	pem, err := os.ReadFile(c.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	b := newPageBrowser(t, base, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}})
	resp, _ := b.get("/signin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /signin over HTTPS: %d", resp.StatusCode)
	}
	if ck := strings.Join(resp.Header.Values("Set-Cookie"), "; "); !strings.Contains(ck, "Secure") {
		t.Errorf("cookies over HTTPS are not Secure: %s", ck)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no Strict-Transport-Security over HTTPS")
	}
	// Plain HTTP on the same port gets no page.
	if r, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/signin"); err == nil && r.StatusCode == http.StatusOK {
		r.Body.Close()
		t.Error("the HTTPS port answers plain HTTP with the page")
	}
}
