package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/wicketldap/wicket/backend"
)

// --- sign-in ---

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	if s.sessions.get(cookie(r, sessionCookie)) != nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "signin", &page{Title: "Sign in", CSRF: s.anonCSRF(w, r), Enrol: s.cfg.Enrolment})
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	again := func(status int, msg string) {
		s.render(w, r, status, "signin", &page{Title: "Sign in", CSRF: s.anonCSRF(w, r), Enrol: s.cfg.Enrolment,
			Error: msg, Username: field(r, "username", 256)})
	}
	if !anonCSRFOK(r) {
		s.forbidden(w, r, "This form has expired or did not come from this page; reload the page and try again.")
		return
	}
	login := strings.TrimSpace(field(r, "username", 256))
	password := field(r, "password", 1024)
	code := digits(field(r, "code", 32))
	from := s.clientAddr(r)
	settle, ok := s.reserve(r)
	if !ok {
		s.svc.Audit(r.Context(), backend.AuditRecord{Action: backend.ActionSignIn, Actor: login, Method: viaWeb,
			Remote: from, Result: backend.FailRateLimited})
		again(http.StatusTooManyRequests, msgThrottled)
		return
	}
	var p *backend.Principal
	var err error
	if login == "" {
		err = &backend.AuthFailure{Reason: "no name", Category: backend.FailInvalidName}
	} else {
		p, err = s.svc.SignIn(r.Context(), login, password, code, from)
	}
	s.auditSignIn(r, login, from, p, err)
	settle(err)
	switch {
	case errors.Is(err, backend.ErrInvalidCredentials):
		again(http.StatusOK, msgSignInFailed)
		return
	case err != nil:
		s.log.Warn("web: sign-in could not be checked", "err", err)
		again(http.StatusServiceUnavailable, msgBusy)
		return
	}
	u, err := s.svc.Standing(r.Context(), p.Name)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	token, _ := s.sessions.create(p.Name, p.Method, u.PasswordChangedAt)
	s.setCookie(w, sessionCookie, token, "/", 0)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// auditSignIn records a sign-in as a bind is recorded: the name as typed,
// the account, the outcome and its reason, never a secret.
func (s *Server) auditSignIn(r *http.Request, login, from string, p *backend.Principal, err error) {
	rec := backend.AuditRecord{Action: backend.ActionSignIn, Actor: login, Method: viaWeb, Remote: from,
		Result: backend.FailureCategory(err)}
	var af *backend.AuthFailure
	switch {
	case p != nil:
		rec.Subject, rec.Detail = p.Name, backend.KV("with", string(p.Method))
	case errors.As(err, &af):
		rec.Subject, rec.Detail = af.Account, backend.KV("reason", af.Reason)
	case err != nil:
		rec.Detail = backend.KV("err", err.Error())
	}
	s.svc.Audit(r.Context(), rec)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request, se *session, _ *backend.UserInfo) {
	s.sessions.end(se)
	s.setCookie(w, sessionCookie, "", "/", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// --- the account ---

func (s *Server) accountPage(r *http.Request, se *session, u *backend.UserInfo) (*page, error) {
	aps, err := s.svc.AppPasswords(r.Context(), u.Name)
	if err != nil {
		return nil, err
	}
	notice, problem := s.sessions.takeFlash(se)
	return &page{Title: "Your account", User: u.Name, CSRF: se.csrf, Max: s.cfg.MaxAppPasswords,
		Admin: u.Role == backend.RoleAdmin, Enrolled: u.TOTPEnrolled, AppPasswords: aps,
		Notice: notice, Error: problem}, nil
}

func (s *Server) account(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	p, err := s.accountPage(r, se, u)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "account", p)
}

// back shows the account page after a change, by a redirect, so that a
// reload repeats nothing.
func (s *Server) back(w http.ResponseWriter, r *http.Request, se *session, notice, problem string) {
	s.sessions.flash(se, notice, problem)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// problemText is what a person can act on for a refused change.
func problemText(err error) string {
	var le *backend.LimitError
	switch {
	case errors.As(err, &le):
		return le.Error()
	case errors.Is(err, backend.ErrSecondFactorRequired):
		return "Two-factor sign-in must be on before you can create app passwords."
	case errors.Is(err, backend.ErrServiceAccount):
		return "Service accounts sign in with their own password and have no app passwords."
	case errors.Is(err, backend.ErrNoSuchAppPassword):
		return "That app password does not exist or was already revoked."
	case errors.Is(err, backend.ErrInvalidInput):
		_, msg, _ := strings.Cut(err.Error(), ": ")
		if msg == "" {
			return "That value is not valid."
		}
		return strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	return ""
}

// generate creates an app password and shows it in this answer only: it is
// in no session, no log and no page that a reload or the back button
// brings back (the answer is no-store, and a reload would post again and
// make another).
func (s *Server) generate(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	label := field(r, "label", 512)
	created, err := s.svc.CreateAppPassword(s.actor(r, u.Name), u.Name, label)
	if err != nil {
		msg := problemText(err)
		if msg == "" {
			s.unavailable(w, r, err)
			return
		}
		s.back(w, r, se, "", msg)
		return
	}
	p, err := s.accountPage(r, se, u)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	p.Title = "New app password"
	p.NewPassword, p.NewLabel, p.Script = created.Password, created.Label, true
	s.render(w, r, http.StatusOK, "account", p)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	id := field(r, "id", 64)
	if err := s.svc.RevokeAppPassword(s.actor(r, u.Name), u.Name, id); err != nil {
		msg := problemText(err)
		if msg == "" {
			s.unavailable(w, r, err)
			return
		}
		s.back(w, r, se, "", msg)
		return
	}
	s.back(w, r, se, "The app password was revoked. A device using it can no longer sign in.", "")
}

func revokedText(n int) string {
	return fmt.Sprintf("%d app passwords were revoked.", n)
}

func (s *Server) revokeAll(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	if r.PostFormValue("confirm") != "yes" {
		aps, err := s.svc.AppPasswords(r.Context(), u.Name)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "confirm", &page{Title: "Revoke all app passwords?", User: u.Name,
			CSRF: se.csrf, AppPasswords: aps, Admin: u.Role == backend.RoleAdmin})
		return
	}
	n, err := s.svc.RevokeAllAppPasswords(s.actor(r, u.Name), u.Name)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.back(w, r, se, revokedText(n), "")
}

// changePassword asks for the current password and a fresh code, checked
// as a sign-in is (counted, the code used up): a session left open is not
// enough to take the account over.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	current := field(r, "current_password", 1024)
	next := r.PostFormValue("new_password")
	code := digits(field(r, "code", 32))
	if err := backend.ValidatePassword(next); err != nil {
		s.back(w, r, se, "", "The new password was not accepted: "+problemText(err))
		return
	}
	settle, ok := s.reserve(r)
	if !ok {
		s.back(w, r, se, "", msgThrottled)
		return
	}
	ctx := s.actor(r, u.Name)
	from := s.clientAddr(r)
	_, err := s.svc.SignIn(ctx, u.Name, current, code, from)
	settle(err)
	if err != nil {
		s.svc.Audit(ctx, backend.AuditRecord{Action: backend.ActionPasswordChange, Subject: u.Name,
			Result: backend.FailureCategory(err), Detail: backend.KV("reason", "current password or code did not verify")})
		if errors.Is(err, backend.ErrInvalidCredentials) {
			s.back(w, r, se, "", "The password was not changed: the current password or the code is wrong.")
			return
		}
		s.unavailable(w, r, err)
		return
	}
	n, err := s.svc.SetPassword(ctx, u.Name, next)
	if err != nil {
		if msg := problemText(err); msg != "" {
			s.back(w, r, se, "", "The new password was not accepted: "+msg)
			return
		}
		s.unavailable(w, r, err)
		return
	}
	s.sessions.endUser(u.Name, se)
	if now, err := s.svc.Standing(r.Context(), u.Name); err == nil {
		s.sessions.setPasswordChanged(se, now.PasswordChangedAt)
	}
	s.back(w, r, se, "Password changed. "+revokedText(n)+" Other browsers signed in to this account were signed out.", "")
}

// --- enrolment ---

func (s *Server) enrolForm(w http.ResponseWriter, r *http.Request, status int, p *page) {
	p.Title = "Turn on two-factor sign-in"
	p.CSRF = s.anonCSRF(w, r)
	p.Enrol = s.cfg.Enrolment
	p.Invite = s.cfg.Enrolment == EnrolInvite
	s.render(w, r, status, "enrol", p)
}

func (s *Server) enrolPage(w http.ResponseWriter, r *http.Request) {
	s.enrolForm(w, r, http.StatusOK, &page{})
}

const msgEnrolFailed = "Enrolment failed: the name, password or enrolment code is wrong, or two-factor sign-in is already on for this account."

func (s *Server) enrolStart(w http.ResponseWriter, r *http.Request) {
	if !anonCSRFOK(r) {
		s.forbidden(w, r, "This form has expired or did not come from this page; reload the page and try again.")
		return
	}
	if s.cfg.Enrolment == EnrolOff {
		s.enrolForm(w, r, http.StatusForbidden, &page{})
		return
	}
	login := strings.TrimSpace(field(r, "username", 256))
	password := field(r, "password", 1024)
	invite := field(r, "invite", 64)
	from := s.clientAddr(r)
	again := func(status int, msg string) {
		s.enrolForm(w, r, status, &page{Error: msg, Username: login})
	}
	settle, ok := s.reserve(r)
	if !ok {
		again(http.StatusTooManyRequests, msgThrottled)
		return
	}
	var pe *backend.PendingEnrolment
	var err error
	if login == "" {
		err = &backend.AuthFailure{Reason: "no name", Category: backend.FailInvalidName}
	} else {
		pe, err = s.svc.BeginEnrolment(r.Context(), login, password, invite, from, s.cfg.Enrolment == EnrolInvite)
	}
	settle(err)
	if err != nil {
		rec := backend.AuditRecord{Action: backend.ActionTOTPEnroll, Actor: login, Method: viaWeb, Remote: from,
			Result: backend.FailureCategory(err)}
		var af *backend.AuthFailure
		if errors.As(err, &af) {
			rec.Subject, rec.Detail = af.Account, backend.KV("reason", af.Reason)
		}
		s.svc.Audit(r.Context(), rec)
		if errors.Is(err, backend.ErrInvalidCredentials) {
			again(http.StatusOK, msgEnrolFailed)
			return
		}
		s.log.Warn("web: enrolment could not be checked", "err", err)
		again(http.StatusServiceUnavailable, msgBusy)
		return
	}
	png, err := qrcode.Encode(pe.URI, qrcode.Medium, 256)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	en := &enrolment{pending: pe, qr: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}
	token := s.enrols.add(en)
	s.setCookie(w, enrolCookie, token, "/enrol", int(enrolTTL/time.Second))
	s.showQR(w, r, http.StatusOK, en, "")
}

func (s *Server) showQR(w http.ResponseWriter, r *http.Request, status int, en *enrolment, problem string) {
	s.render(w, r, status, "enrol-qr", &page{Title: "Scan the QR code", CSRF: s.anonCSRF(w, r),
		QR: template.URL(en.qr), Secret: en.pending.Secret, Username: en.pending.Name, Error: problem})
}

func (s *Server) enrolConfirm(w http.ResponseWriter, r *http.Request) {
	if !anonCSRFOK(r) {
		s.forbidden(w, r, "This form has expired or did not come from this page; reload the page and try again.")
		return
	}
	token := cookie(r, enrolCookie)
	en := s.enrols.get(token)
	if en == nil {
		s.enrolForm(w, r, http.StatusOK, &page{Error: "This enrolment has expired; start again."})
		return
	}
	from := s.clientAddr(r)
	ctx := s.actor(r, en.pending.Name)
	err := s.svc.ConfirmEnrolment(ctx, en.pending, digits(field(r, "code", 32)))
	switch {
	case errors.Is(err, backend.ErrInvalidCredentials):
		if s.enrols.miss(token) {
			s.showQR(w, r, http.StatusOK, en, "That code is wrong. Type the code your app shows now for this account.")
			return
		}
		s.setCookie(w, enrolCookie, "", "/enrol", -1)
		s.enrolForm(w, r, http.StatusOK, &page{Error: "Too many wrong codes; start again."})
		return
	case errors.Is(err, backend.ErrInvalidInvite), errors.Is(err, backend.ErrExists):
		s.enrols.drop(token)
		s.setCookie(w, enrolCookie, "", "/enrol", -1)
		s.enrolForm(w, r, http.StatusOK, &page{Error: msgEnrolFailed})
		return
	case err != nil:
		s.log.Warn("web: enrolment could not be saved", "from", from, "err", err)
		s.unavailable(w, r, err)
		return
	}
	s.enrols.drop(token)
	s.setCookie(w, enrolCookie, "", "/enrol", -1)
	s.render(w, r, http.StatusOK, "enrol-qr", &page{Title: "Two-factor sign-in is on", Done: true,
		Notice: "Two-factor sign-in is on for " + en.pending.Name + "."})
}

// --- helpdesk ---

// maxFound bounds a search's answer.
const maxFound = 50

func (s *Server) helpdesk(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 256 {
		q = q[:256]
	}
	p := &page{Title: "Helpdesk", User: u.Name, Admin: true, CSRF: se.csrf, Query: q}
	if q != "" {
		d, err := s.svc.Directory(r.Context())
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		fold := strings.ToLower(q)
		for _, e := range d.All() {
			if strings.Contains(strings.ToLower(e.Name), fold) || strings.Contains(strings.ToLower(e.Mail), fold) {
				p.Users = append(p.Users, e.Name)
				if len(p.Users) == maxFound {
					break
				}
			}
		}
		if len(p.Users) == 0 {
			p.Notice = "No account matches."
		}
	}
	s.render(w, r, http.StatusOK, "admin", p)
}

func (s *Server) userPage(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo, name string, p *page) {
	t, err := s.svc.User(r.Context(), name)
	if errors.Is(err, backend.ErrNotFound) {
		s.render(w, r, http.StatusNotFound, "admin", &page{Title: "Helpdesk", User: u.Name, Admin: true,
			CSRF: se.csrf, Error: "No such account."})
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	aps, err := s.svc.AppPasswords(r.Context(), t.Name)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	p.Title, p.User, p.Admin, p.CSRF = "Account "+t.Name, u.Name, true, se.csrf
	p.Target, p.AppPasswords = t, aps
	if t.PasswordLockout.Locked() {
		p.Locked, p.Until = true, when(t.PasswordLockout.LockedUntil)
	}
	s.render(w, r, http.StatusOK, "admin-user", p)
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	s.userPage(w, r, se, u, r.URL.Query().Get("name"), &page{})
}

func (s *Server) adminRevokeAll(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	name := field(r, "name", 256)
	n, err := s.svc.RevokeAllAppPasswords(s.actor(r, u.Name), name)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		s.unavailable(w, r, err)
		return
	}
	s.userPage(w, r, se, u, name, &page{Notice: revokedText(n)})
}

func (s *Server) adminUnlock(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	name := field(r, "name", 256)
	if err := s.svc.Unlock(s.actor(r, u.Name), name); err != nil && !errors.Is(err, backend.ErrNotFound) {
		s.unavailable(w, r, err)
		return
	}
	s.userPage(w, r, se, u, name, &page{Notice: "Failed sign-ins cleared; the account is not locked."})
}

// adminInvite shows the new code in this answer only (no-store).
func (s *Server) adminInvite(w http.ResponseWriter, r *http.Request, se *session, u *backend.UserInfo) {
	name := field(r, "name", 256)
	code, expires, err := s.svc.IssueInvite(s.actor(r, u.Name), name, 0)
	switch {
	case errors.Is(err, backend.ErrExists):
		s.userPage(w, r, se, u, name, &page{Error: "This account already has two-factor sign-in; an enrolment code is for a first enrolment."})
		return
	case err != nil && !errors.Is(err, backend.ErrNotFound):
		s.unavailable(w, r, err)
		return
	}
	s.userPage(w, r, se, u, name, &page{Code: code, Expires: when(expires),
		Notice: "Enrolment code issued; it replaces any earlier one."})
}
