package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	mailboxMaps     = "ldap-virtual-mailbox-maps.cf"
	aliasMaps       = "ldap-virtual-alias-maps.cf"
	senderLoginMaps = "ldap-smtpd-sender-login-maps.cf"
)

// Postfix's ldap tables of deploy/postfix, queried by the real postmap
// bound as uid=postfix, say which addresses have a mailbox and where, which
// are aliases of which, and who may send as whom.
func TestPostmap(t *testing.T) {
	w := startWicket(t, "")
	s := mailNewStack(t, w)
	s.renderPostfix()
	alice := w.newUser("alice", false)
	w.newUser("bob", false)
	w.admin("", "user", "set", alice.name, "--alias", "ali@example.org", "--alias", "postmaster@example.org")

	t.Run("PrimaryAddressHasAMailbox", func(t *testing.T) {
		s := s.with(t)
		// Postfix looks addresses up as they were written; LDAP compares
		// mail addresses without regard to case.
		for _, addr := range []string{alice.mail, "Alice@Example.ORG"} {
			if got, code := s.postmap(mailboxMaps, addr); code != 0 || got != "alice/Maildir/" {
				t.Errorf("mailbox of %s: %q (exit %d), want %q", addr, got, code, "alice/Maildir/")
			}
		}
	})

	t.Run("AliasLeadsToPrimaryAddress", func(t *testing.T) {
		s := s.with(t)
		for _, alias := range []string{"ali@example.org", "postmaster@example.org"} {
			if got, code := s.postmap(aliasMaps, alias); code != 0 || got != alice.mail {
				t.Errorf("alias %s: %q (exit %d), want %q", alias, got, code, alice.mail)
			}
			// An alias has no mailbox of its own: Postfix rewrites it first.
			if got, code := s.postmap(mailboxMaps, alias); code != 1 || got != "" {
				t.Errorf("mailbox of alias %s: %q (exit %d), want nothing (exit 1)", alias, got, code)
			}
		}
		// The primary address is no alias: rewriting stops there.
		if got, code := s.postmap(aliasMaps, alice.mail); code != 1 || got != "" {
			t.Errorf("alias %s: %q (exit %d), want nothing (exit 1)", alice.mail, got, code)
		}
	})

	t.Run("SenderAddressesBelongToTheirUser", func(t *testing.T) {
		s := s.with(t)
		// The owners are the login names the user may give at SMTP AUTH.
		want := []string{"alice", "alice@example.org"}
		for _, addr := range []string{alice.mail, "ali@example.org"} {
			got, code := s.postmap(senderLoginMaps, addr)
			owners := strings.Split(got, ",")
			slices.Sort(owners)
			if code != 0 || !slices.Equal(owners, want) {
				t.Errorf("owners of %s: %q (exit %d), want %q", addr, got, code, strings.Join(want, ","))
			}
		}
		if got, code := s.postmap(senderLoginMaps, "bob@example.org"); code != 0 || !slices.Contains(strings.Split(got, ","), "bob") || strings.Contains(got, "alice") {
			t.Errorf("owners of bob@example.org: %q (exit %d), want bob's names only", got, code)
		}
	})

	t.Run("UnknownAddressFindsNothing", func(t *testing.T) {
		s := s.with(t)
		for _, key := range []string{
			"nobody@example.org",
			"alice@example.net", // outside the tables' domain: never asked
			"alice",             // a uid is not an address
			"*@example.org",     // Postfix escapes the filter's special characters
			"dovecot@example.org",
		} {
			for _, table := range []string{mailboxMaps, aliasMaps, senderLoginMaps} {
				if got, code := s.postmap(table, key); code != 1 || got != "" {
					t.Errorf("%s in %s: %q (exit %d), want nothing (exit 1)", key, table, got, code)
				}
			}
		}
	})
}

// SMTP AUTH on Postfix's submission service (deploy/postfix/master.cf)
// goes through Dovecot's SASL socket, and so to a bind to wicket as the
// user.
func TestPostfix_SubmissionAuth(t *testing.T) {
	w := startWicket(t, "")
	s := mailNewStack(t, w)
	s.startPostfix()
	u := w.newUser("alice", true)
	id, pw := w.appPassword(u.name, "Thunderbird")
	_, other := w.appPassword(u.name, "Phone")

	s.requireSMTPAuth("app password", u.name, pw, 235)
	s.requireSMTPAuth("the same app password, login with the mail address", u.mail, pw, 235)
	s.requireSMTPAuth("password+current code", u.name, newStepCodes(t, u).withCode(u), 235)

	wrong := []byte(pw)
	wrong[len(wrong)-1] = 'a' + (wrong[len(wrong)-1]-'a'+1)%26
	s.requireSMTPAuth("wrong app password", u.name, string(wrong), 535)

	w.admin("", "apppw", "revoke", u.name, id)
	s.requireSMTPAuth("revoked app password", u.name, pw, 535)
	s.requireSMTPAuth("the other app password", u.name, other, 235)

	// Right password, but a service account: it may read the directory,
	// not relay mail.
	s.requireSMTPAuth("Postfix's service account", "postfix", s.v.PostfixServicePassword, 535)
}

// The examples fit together: mail submitted to an alias is rewritten to
// the primary address, delivered by Postfix's virtual(8) into the
// mailbox the ldap table names, and read there by Dovecot, whose userdb
// names the same Maildir. On the way, smtpd refuses unknown recipients
// and senders the user does not own.
func TestPostfix_SubmissionDeliversWhereDovecotReads(t *testing.T) {
	w := startWicket(t, "")
	s := mailNewStack(t, w)
	s.startPostfix()
	u := w.newUser("alice", true)
	w.newUser("bob", false)
	w.admin("", "user", "set", u.name, "--alias", "ali@example.org")
	_, pw := w.appPassword(u.name, "Thunderbird")

	c := s.dialSubmission()
	if code, msg := c.authPlain(u.name, pw); code != 235 {
		t.Fatalf("AUTH PLAIN: %d %s", code, msg)
	}
	c.cmd(250, "MAIL FROM:<"+u.mail+">")
	if code, msg := c.cmd(0, "RCPT TO:<nobody@example.org>"); code != 550 {
		t.Errorf("RCPT TO an unknown address: %d %s, want 550", code, msg)
	}
	c.cmd(250, "RSET")
	// smtpd_delay_reject: a sender restriction answers at RCPT TO.
	c.cmd(250, "MAIL FROM:<bob@example.org>")
	if code, msg := c.cmd(0, "RCPT TO:<"+u.mail+">"); code != 553 {
		t.Errorf("alice sending as bob: %d %s, want 553", code, msg)
	}
	c.cmd(250, "RSET")
	c.send("ali@example.org", "ali@example.org", "to the alias")
	c.send(u.mail, u.mail, "to the primary address")
	c.cmd(221, "QUIT")

	newMail := filepath.Join(s.v.MailRoot, u.name, "Maildir", "new")
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := os.ReadDir(newMail)
		if len(files) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages after 30s, want 2", newMail, len(files))
		}
		time.Sleep(50 * time.Millisecond)
	}

	m := mailDialIMAP(t, s.imap)
	if st, text, _ := m.command("LOGIN " + mailQuote(u.name) + " " + mailQuote(pw)); st != "OK" {
		t.Fatalf("IMAP LOGIN: %s %s", st, text)
	}
	st, text, untagged := m.command("SELECT INBOX")
	if st != "OK" || !contains(untagged, "* 2 EXISTS") {
		t.Fatalf("SELECT INBOX: %s %s %q, want 2 messages", st, text, untagged)
	}
	st, text, untagged = m.command("FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	all := strings.Join(untagged, "\n")
	if st != "OK" || !strings.Contains(all, "Subject: to the alias") || !strings.Contains(all, "Subject: to the primary address") {
		t.Errorf("FETCH subjects: %s %s\n%s", st, text, all)
	}
	m.command("LOGOUT")
}
