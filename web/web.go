// Package web is the account page: server-rendered pages, embedded in the
// binary, where users sign in with password and code, manage their app
// passwords, change their password and enrol a second factor, and where
// administrators find a user, revoke, unlock and issue enrolment codes.
// It calls the same backend rules as the LDAP server: the same counts,
// locks and limits per address, the same audit trail.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/internal/addrlimit"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Enrolment modes (config web.enrolment).
const (
	EnrolInvite   = "invite"
	EnrolPassword = "password"
	EnrolOff      = "off"
)

// Cookie names. The session's and the enrolment's hold a random token
// whose hash the server keeps; the csrf cookie is the double-submit token
// of the forms shown before sign-in.
const (
	sessionCookie = "wicket_session"
	enrolCookie   = "wicket_enrol"
	csrfCookie    = "wicket_csrf"
)

// viaWeb is the Method of the page's audit records.
const viaWeb = "web"

// Config configures the page.
type Config struct {
	// Enrolment is EnrolInvite (default), EnrolPassword or EnrolOff.
	Enrolment string
	// SessionIdle (default 15 min) and SessionMax (default 8 h) end
	// sessions; MaxSessions (default 10,000) bounds how many are kept.
	SessionIdle, SessionMax time.Duration
	MaxSessions             int
	// TrustedProxies may name the client in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Secure marks the cookies Secure: the page is served over TLS.
	Secure bool
	// MaxAppPasswords is the limit the rules state (backend's).
	MaxAppPasswords int
	// FailedBinds is the limiter of failures per client address, shared
	// with the LDAP server; nil: none.
	FailedBinds *addrlimit.Limiter
	Logger      *slog.Logger
	// Now is the clock of sessions; nil means time.Now.
	Now func() time.Time
}

// Server is the account page's handler.
type Server struct {
	svc      *backend.Service
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	pages    map[string]*template.Template
	sessions *sessions
	enrols   *enrolments
	mux      *http.ServeMux
	// inFlight bounds the requests being answered at once: a sign-in may
	// wait seconds for its address's token or a hashing slot, and a flood
	// must not pile up waiters without end.
	inFlight chan struct{}
}

// maxInFlight is the cap of inFlight; beyond it a request is answered 503
// at once.
const maxInFlight = 512

// New returns the page's handler over svc.
func New(svc *backend.Service, cfg Config) (*Server, error) {
	if cfg.Enrolment == "" {
		cfg.Enrolment = EnrolInvite
	}
	switch cfg.Enrolment {
	case EnrolInvite, EnrolPassword, EnrolOff:
	default:
		return nil, errors.New("web: enrolment must be invite, password or off")
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 15 * time.Minute
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 8 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.MaxAppPasswords <= 0 {
		cfg.MaxAppPasswords = backend.DefaultMaxAppPasswords
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{svc: svc, cfg: cfg, log: cfg.Logger, now: cfg.Now, pages: pages,
		sessions: newSessions(cfg.SessionIdle, cfg.SessionMax, cfg.MaxSessions, cfg.Now),
		enrols:   newEnrolments(cfg.Now), mux: http.NewServeMux(), inFlight: make(chan struct{}, maxInFlight)}
	s.routes()
	return s, nil
}

// groups splits a secret to be typed into groups of four, as
// authenticator apps show and accept them (they ignore the spaces), so
// that it wraps between groups on a phone and is easier to copy by eye.
func groups(secret string) string {
	var b strings.Builder
	for i, r := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"when": when, "groups": groups}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template)
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

// when shows a time as people read it; the zero time is "never".
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.root)
	s.mux.HandleFunc("GET /signin", s.signinPage)
	s.mux.HandleFunc("POST /signin", s.signin)
	s.mux.HandleFunc("POST /signout", s.signedIn(s.signout))
	s.mux.HandleFunc("GET /account", s.signedIn(s.account))
	s.mux.HandleFunc("POST /account/app-passwords", s.signedIn(s.generate))
	s.mux.HandleFunc("POST /account/app-passwords/revoke", s.signedIn(s.revoke))
	s.mux.HandleFunc("POST /account/app-passwords/revoke-all", s.signedIn(s.revokeAll))
	s.mux.HandleFunc("POST /account/password", s.signedIn(s.changePassword))
	s.mux.HandleFunc("GET /enrol", s.enrolPage)
	s.mux.HandleFunc("POST /enrol", s.enrolStart)
	s.mux.HandleFunc("POST /enrol/confirm", s.enrolConfirm)
	s.mux.HandleFunc("GET /admin", s.admin(s.helpdesk))
	s.mux.HandleFunc("GET /admin/user", s.admin(s.adminUser))
	s.mux.HandleFunc("POST /admin/user/revoke-all", s.admin(s.adminRevokeAll))
	s.mux.HandleFunc("POST /admin/user/unlock", s.admin(s.adminUnlock))
	s.mux.HandleFunc("POST /admin/user/invite", s.admin(s.adminInvite))
}

// contentSecurityPolicy allows nothing inline and nothing from elsewhere:
// the QR code is the one data: image.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxForm bounds what a form may send: the longest field is a password.
const maxForm = 16 << 10

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if s.cfg.Secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		h.Set("Retry-After", "5")
		s.render(w, r, http.StatusServiceUnavailable, "message", &page{Title: "Busy", Error: msgBusy})
		return
	}
	if r.Method == http.MethodPost {
		if !s.sameOrigin(r) {
			s.forbidden(w, r, "This form did not come from this site.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.render(w, r, http.StatusBadRequest, "message", &page{Title: "Bad request", Error: "The form could not be read."})
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// sameOrigin is the defence behind the CSRF tokens: a browser says where a
// form was posted from (Sec-Fetch-Site, Origin), and a post from another
// site is refused whatever it carries.
func (s *Server) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	// A browser sends Origin "null" for a context it will not name (a
	// sandboxed frame, a page whose referrer policy hides its address);
	// Sec-Fetch-Site above and the form's token then decide.
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, s.host(r))
}

// host is the name the browser used for the page: the Host header, or,
// behind a trusted proxy that rewrites it, the proxy's X-Forwarded-Host.
func (s *Server) host(r *http.Request) string {
	if fwd := r.Header.Get("X-Forwarded-Host"); fwd != "" {
		h, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			h = r.RemoteAddr
		}
		if peer, err := netip.ParseAddr(h); err == nil && s.proxy(peer) {
			first, _, _ := strings.Cut(fwd, ",")
			return strings.TrimSpace(first)
		}
	}
	return r.Host
}

// clientAddr is the client's address: the peer's, or, when the peer is a
// trusted proxy, the last address in X-Forwarded-For that is not one.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.proxy(peer) {
		return host
	}
	xff := r.Header.Values("X-Forwarded-For")
	hops := strings.Split(strings.Join(xff, ","), ",")
	if len(hops) > 64 {
		hops = hops[len(hops)-64:]
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !s.proxy(a) {
			return a.String()
		}
	}
	return host
}

func (s *Server) proxy(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// page is what every template gets.
type page struct {
	Title    string
	Notice   string
	Error    string
	CSRF     string
	User     string
	Admin    bool
	Script   bool
	Enrol    string
	Max      int
	Enrolled bool

	AppPasswords []backend.AppPassword
	NewPassword  string
	NewLabel     string

	Invite   bool
	Username string
	QR       template.URL
	Secret   string
	Done     bool

	Query   string
	Users   []string
	Target  *backend.UserInfo
	Locked  bool
	Until   string
	Code    string
	Expires string
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.Error("web: rendering a page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, why string) {
	s.render(w, r, http.StatusForbidden, "message", &page{Title: "Refused", Error: why})
}

func (s *Server) setCookie(w http.ResponseWriter, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
}

func cookie(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// anonCSRF is the double-submit token of the forms shown before sign-in:
// the cookie's value, made when there is none.
func (s *Server) anonCSRF(w http.ResponseWriter, r *http.Request) string {
	if t := cookie(r, csrfCookie); len(t) == 43 {
		return t
	}
	t := newToken()
	s.setCookie(w, csrfCookie, t, "/", 0)
	return t
}

func anonCSRFOK(r *http.Request) bool {
	return sameToken(cookie(r, csrfCookie), r.PostFormValue("csrf"))
}

// actor is ctx naming who changes what, for the audit trail.
func (s *Server) actor(r *http.Request, name string) context.Context {
	return backend.WithActor(r.Context(), backend.Actor{Name: name, Method: viaWeb, Remote: s.clientAddr(r)})
}

// signedIn runs h for a live session whose account still stands as it did
// at sign-in, and checks the form's token on a POST.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, *session, *backend.UserInfo)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.sessions.get(cookie(r, sessionCookie))
		if se == nil {
			if r.Method == http.MethodPost {
				s.forbidden(w, r, "Your session has ended; sign in again.")
				return
			}
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !sameToken(se.csrf, r.PostFormValue("csrf")) {
			s.forbidden(w, r, "This form has expired or did not come from this page; reload the page and try again.")
			return
		}
		u, err := s.svc.Standing(r.Context(), se.name)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			s.sessions.end(se)
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		case err != nil:
			s.unavailable(w, r, err)
			return
		case u.Disabled || !u.PasswordChangedAt.Equal(s.sessions.passwordChanged(se)):
			s.sessions.end(se)
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		h(w, r, se, u)
	}
}

// admin is signedIn for administrators who signed in with password and
// code; everyone else gets 403.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request, *session, *backend.UserInfo)) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
		if u.Role != backend.RoleAdmin || se.method != backend.MethodPasswordTOTP {
			s.forbidden(w, r, "The helpdesk is for administrators signed in with a password and a code.")
			return
		}
		h(w, r, se, u)
	})
}

func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("web: request failed", "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusServiceUnavailable, "message", &page{Title: "Unavailable",
		Error: "The server cannot answer this now; try again in a moment."})
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	if s.sessions.get(cookie(r, sessionCookie)) != nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// reserve takes the client address's token before a password is checked,
// as an LDAP bind does: false when the address is over its limit (the
// caller answers 429). The returned func settles it with the outcome.
func (s *Server) reserve(r *http.Request) (settle func(error), ok bool) {
	l := s.cfg.FailedBinds
	a, err := netip.ParseAddr(s.clientAddr(r))
	if l == nil || err != nil {
		return func(error) {}, true
	}
	k := addrlimit.Key(a.Unmap())
	wait, ok := l.Reserve(k)
	if !ok {
		return nil, false
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			l.Refund(k)
			return nil, false
		}
	}
	return func(err error) {
		if !errors.Is(err, backend.ErrInvalidCredentials) {
			l.Refund(k)
		}
		// The backend's delay of failures in a row, as a bind's answer
		// waits for it.
		var af *backend.AuthFailure
		if errors.As(err, &af) && af.Delay > 0 {
			t := time.NewTimer(af.Delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
			}
		}
	}, true
}

const (
	msgSignInFailed = "Sign-in failed: the name, password or code is wrong."
	msgThrottled    = "Too many attempts; wait a minute and try again."
	msgBusy         = "The server is busy; try again in a moment."
)

// field is a form value bounded to n bytes: a longer one is cut, and so
// fails whatever check it meets.
func field(r *http.Request, name string, n int) string {
	v := r.PostFormValue(name)
	if len(v) > n {
		v = v[:n]
	}
	return v
}

// digits keeps a code as typed in groups ("123 456").
func digits(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
}
