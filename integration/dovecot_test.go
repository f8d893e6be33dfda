package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Dovecot, configured by deploy/dovecot, checks every IMAP login with a bind
// to wicket as the user, and finds the mailbox with a search as its service
// account.
func TestDovecot_IMAPLogin(t *testing.T) {
	w := startWicket(t, "")
	s := mailNewStack(t, w)
	s.startDovecot()

	t.Run("AppPasswordIsAccepted", func(t *testing.T) {
		s := s.with(t)
		u := w.newUser("alice", true)
		_, pw := w.appPassword(u.name, "Thunderbird")
		s.requireIMAPLogin("app password", u.name, pw, true)
		s.requireIMAPLogin("the same app password again", u.name, pw, true)
		s.requireIMAPLogin("app password, login with the mail address", u.mail, pw, true)
		s.requireIMAPLogin("app password typed without dashes, in capitals", u.name, strings.ToUpper(strings.ReplaceAll(pw, "-", "")), true)
	})

	t.Run("PasswordPlusCurrentCodeIsAcceptedOnce", func(t *testing.T) {
		s := s.with(t)
		u := w.newUser("bob", true)
		codes := newStepCodes(t, u)
		withCode := codes.withCode(u)
		s.requireIMAPLogin("password+code", u.name, withCode, true)
		s.requireIMAPLogin("the same password+code again", u.name, withCode, false)
		s.requireIMAPLogin("password+next code", u.name, codes.withCode(u), true)
	})

	t.Run("WrongPasswordsAreRefused", func(t *testing.T) {
		s := s.with(t)
		u := w.newUser("carol", true)
		_, pw := w.appPassword(u.name, "Thunderbird")
		wrong := []byte(pw)
		wrong[0] = 'a' + (wrong[0]-'a'+1)%26
		s.requireIMAPLogin("wrong app password", u.name, string(wrong), false)
		s.requireIMAPLogin("primary password without a code", u.name, u.password, false)
		s.requireIMAPLogin("app password of someone else", "alice", pw, false)
		s.requireIMAPLogin("unknown user", "nobody-here", pw, false)
		s.requireIMAPLogin("the right app password after all that", u.name, pw, true)
	})

	t.Run("RevokedAppPasswordFailsAtTheNextLogin", func(t *testing.T) {
		s := s.with(t)
		u := w.newUser("dave", true)
		laptopID, laptop := w.appPassword(u.name, "Thunderbird on laptop")
		_, phone := w.appPassword(u.name, "Phone")
		s.requireIMAPLogin("laptop's app password", u.name, laptop, true)
		w.admin("", "apppw", "revoke", u.name, laptopID)
		// No cache anywhere between the client and wicket
		// (auth_cache_size = 0): the very next login is refused.
		s.requireIMAPLogin("laptop's app password, revoked", u.name, laptop, false)
		s.requireIMAPLogin("laptop's app password, revoked, again", u.name, laptop, false)
		s.requireIMAPLogin("phone's app password", u.name, phone, true)
	})

	t.Run("ServiceAccountsCannotLogIn", func(t *testing.T) {
		s := s.with(t)
		// The service accounts' passwords are right: wicket accepts them
		// alone. The passdb's filter on the role keeps them out of mail.
		s.requireIMAPLogin("Dovecot's service account", "dovecot", s.v.DovecotServicePassword, false)
		s.requireIMAPLogin("Postfix's service account", "postfix@example.org", s.v.PostfixServicePassword, false)
	})
}

// The userdb of deploy/dovecot finds a user's mailbox by searching wicket
// as uid=dovecot; `doveadm user` shows what it found.
func TestDovecot_UserdbFindsMailboxThroughServiceAccount(t *testing.T) {
	w := startWicket(t, "")
	s := mailNewStack(t, w)
	s.startDovecot()
	w.newUser("alice", false)

	for _, login := range []string{"alice", "alice@example.org"} {
		fields, code := s.doveadmUser(login)
		if code != 0 {
			t.Fatalf("doveadm user %s: exit %d, %v", login, code, fields)
		}
		want := map[string]string{
			"home": filepath.Join(s.v.MailRoot, "alice"),
			"mail": "maildir:~/Maildir",
			"uid":  strconv.Itoa(s.v.MailUID),
			"gid":  strconv.Itoa(s.v.MailGID),
		}
		if login != "alice" {
			// Shown only when the userdb changed it.
			want["user"] = "alice"
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("doveadm user %s: %s = %q, want %q (all: %v)", login, k, fields[k], v, fields)
			}
		}
	}

	// Service accounts have no mail address, so no mailbox either.
	for _, login := range []string{"nobody-here", "dovecot"} {
		if fields, code := s.doveadmUser(login); code != mailExitNoUser {
			t.Errorf("doveadm user %s: exit %d, %v; want %d (no such user)", login, code, fields, mailExitNoUser)
		}
	}
}

// mailExitNoUser is doveadm's exit status for an unknown user
// (EX_NOUSER in sysexits.h).
const mailExitNoUser = 67

// with is the stack seen from a subtest, so that failures and cleanups are
// the subtest's.
func (s *mailStack) with(t *testing.T) *mailStack {
	c := *s
	c.t = t
	return &c
}

// doveadmUser asks Dovecot's auth process for a userdb lookup, and returns
// the fields and doveadm's exit status.
func (s *mailStack) doveadmUser(login string) (map[string]string, int) {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, requireTool(t, "doveadm"), "-c", s.dovecotConf, "user", login).CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("doveadm user %s: %v", login, err)
		}
		code = ee.ExitCode()
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		} else if line != "" {
			fields["?"] += line
		}
	}
	return fields, code
}
