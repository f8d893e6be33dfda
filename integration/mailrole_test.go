package integration

import (
	"testing"
)

// The role in the directory keeps service accounts out of mail. wicket
// accepts a service account's password alone, so Dovecot's passdb
// (deploy/dovecot) looks logins up with a filter that finds people only:
// a service account's right password is refused for IMAP LOGIN and for
// SMTP AUTH through Postfix (Dovecot SASL), also for a service account
// created after the mail servers started, which no list of names would
// know, while people log in with their app passwords.
func TestMail_RoleFilterKeepsServiceAccountsOut(t *testing.T) {
	w := startWicket(t, "")
	s := mailNewStack(t, w)
	s.startPostfix()
	alice := w.newUser("alice", true)
	_, alicePW := w.appPassword(alice.name, "Thunderbird")
	root := w.newUser("root", true)
	w.admin("", "user", "role", root.name, "admin")
	_, rootPW := w.appPassword(root.name, "Phone")
	late := mailServiceAccount(w, "nextcloud")
	w.admin("", "user", "set", "nextcloud", "--mail", "nextcloud@example.org")

	services := map[string]string{"dovecot": s.v.DovecotServicePassword, "postfix": s.v.PostfixServicePassword, "nextcloud": late}
	// Nothing but the filter stands between them and mail: wicket takes
	// each password alone.
	for name, pw := range services {
		if out, code := ldapwhoami(t, w.url(), "uid="+name+",ou=people,dc=example,dc=org", pw); code != 0 {
			t.Fatalf("%s's own bind to wicket: exit %d, %s", name, code, out)
		}
	}

	s.requireIMAPLogin("a user's app password", alice.name, alicePW, true)
	s.requireIMAPLogin("an administrator's app password", root.mail, rootPW, true)
	s.requireSMTPAuth("a user's app password", alice.mail, alicePW, 235)
	s.requireSMTPAuth("an administrator's app password", root.name, rootPW, 235)
	// SMTP AUTH asks the passdb alone, which is where the filter is.
	for name, pw := range services {
		for _, login := range []string{name, name + "@example.org"} {
			s.requireSMTPAuth("service account "+name+"'s right password", login, pw, 535)
		}
	}
	// IMAP asks the userdb too, which finds no mailbox for a service; the
	// passdb's filter refuses the login before, as a plain failure.
	for name, pw := range services {
		for _, login := range []string{name, name + "@example.org"} {
			s.requireIMAPLogin("service account "+name+"'s right password", login, pw, false)
		}
	}
	// And people still log in after all those refusals.
	s.requireIMAPLogin("the user again", alice.name, alicePW, true)
}
