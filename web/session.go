package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// A session token is 256 random bits, given to the browser once in its
// cookie; the server keeps only its SHA-256, so that a dump of the
// process's memory holds no token that would let anyone in.

func newToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// sameToken compares two tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// session is one browser signed in. It never holds a password, a code or
// a new app password.
type session struct {
	key     [32]byte
	name    string
	method  backend.Method
	created time.Time
	seen    time.Time
	// csrf is the token every form of the session carries.
	csrf string
	// pwChanged is the account's password change time at sign-in: a
	// change made anywhere else ends the session.
	pwChanged time.Time
	// notice and problem are shown once by the next page (after a
	// redirect); they are plain messages, never secrets.
	notice, problem string
}

// sessions keeps the sessions in memory, bounded: past max the oldest
// goes first, so that no number of sign-ins grows the process.
type sessions struct {
	mu   sync.Mutex
	m    map[[32]byte]*session
	idle time.Duration
	abs  time.Duration
	max  int
	now  func() time.Time
}

func newSessions(idle, abs time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{m: make(map[[32]byte]*session), idle: idle, abs: abs, max: max, now: now}
}

// create starts a session and returns its token, for the cookie only.
func (s *sessions) create(name string, method backend.Method, pwChanged time.Time) (string, *session) {
	token := newToken()
	now := s.now()
	se := &session{key: tokenKey(token), name: name, method: method, created: now, seen: now,
		csrf: newToken(), pwChanged: pwChanged}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if len(s.m) >= s.max {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.created.Before(oldest.created) {
				oldest = o
			}
		}
		delete(s.m, oldest.key)
	}
	s.m[se.key] = se
	return token, se
}

// get returns the live session of token, and marks it used.
func (s *sessions) get(token string) *session {
	if token == "" {
		return nil
	}
	k := tokenKey(token)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[k]
	if se == nil {
		return nil
	}
	if s.expired(se, now) {
		delete(s.m, k)
		return nil
	}
	se.seen = now
	return se
}

func (s *sessions) expired(se *session, now time.Time) bool {
	return now.Sub(se.seen) >= s.idle || now.Sub(se.created) >= s.abs
}

// sweep drops expired sessions; called with mu held, on sign-in only, so
// its cost falls on the request that adds one.
func (s *sessions) sweep(now time.Time) {
	for k, se := range s.m {
		if s.expired(se, now) {
			delete(s.m, k)
		}
	}
}

func (s *sessions) end(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, se.key)
}

// endUser ends every session of the account but keep (nil: all).
func (s *sessions) endUser(name string, keep *session) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, se := range s.m {
		if se.name == name && se != keep {
			delete(s.m, k)
			n++
		}
	}
	return n
}

// flash sets the messages of the session's next page.
func (s *sessions) flash(se *session, notice, problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se.notice, se.problem = notice, problem
}

// takeFlash returns the messages and clears them.
func (s *sessions) takeFlash(se *session) (notice, problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	notice, problem = se.notice, se.problem
	se.notice, se.problem = "", ""
	return notice, problem
}

// passwordChanged is the password change time the session stands on.
func (s *sessions) passwordChanged(se *session) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return se.pwChanged
}

func (s *sessions) setPasswordChanged(se *session, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se.pwChanged = at
}

func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// enrolment is a second factor shown and not yet confirmed, keyed by the
// hash of the wicket_enrol cookie's token. The seed stays here, never in
// a page field, a cookie or a URL.
type enrolment struct {
	pending  *backend.PendingEnrolment
	created  time.Time
	attempts int
	qr       string // the PNG data: URI, made once
}

// enrolTTL is how long a shown QR code waits for its confirming code;
// maxEnrolAttempts how many wrong codes it takes.
const (
	enrolTTL         = 10 * time.Minute
	maxEnrolAttempts = 5
	maxEnrolments    = 1024
)

type enrolments struct {
	mu  sync.Mutex
	m   map[[32]byte]*enrolment
	now func() time.Time
}

func newEnrolments(now func() time.Time) *enrolments {
	return &enrolments{m: make(map[[32]byte]*enrolment), now: now}
}

func (e *enrolments) add(en *enrolment) string {
	token := newToken()
	now := e.now()
	en.created = now
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, o := range e.m {
		if now.Sub(o.created) >= enrolTTL {
			delete(e.m, k)
		}
	}
	if len(e.m) >= maxEnrolments {
		var oldest [32]byte
		var at time.Time
		for k, o := range e.m {
			if at.IsZero() || o.created.Before(at) {
				oldest, at = k, o.created
			}
		}
		delete(e.m, oldest)
	}
	e.m[tokenKey(token)] = en
	return token
}

func (e *enrolments) get(token string) *enrolment {
	if token == "" {
		return nil
	}
	k := tokenKey(token)
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.m[k]
	if en != nil && e.now().Sub(en.created) >= enrolTTL {
		delete(e.m, k)
		return nil
	}
	return en
}

// miss counts a wrong code and reports whether the enrolment may go on.
func (e *enrolments) miss(token string) bool {
	k := tokenKey(token)
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.m[k]
	if en == nil {
		return false
	}
	en.attempts++
	if en.attempts >= maxEnrolAttempts {
		delete(e.m, k)
		return false
	}
	return true
}

func (e *enrolments) drop(token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, tokenKey(token))
}
