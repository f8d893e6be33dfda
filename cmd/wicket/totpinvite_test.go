package main

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/wicketldap/wicket/backend"
)

var inviteCodeRE = regexp.MustCompile(`(?m)^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$`)

// `totp invite` prints one code that, with the password, enrols once on
// the account page; a newer code replaces it; the issue is audited.
func TestTOTPInvite_PrintsACodeThatEnrolsOnce(t *testing.T) {
	c := newCLI(t, "")
	c.addUser("alice")
	first := inviteCodeRE.FindString(c.ok("", "totp", "invite", "alice"))
	if first == "" {
		t.Fatal("totp invite printed no code of the form ABCD-EFGH-JKLM-NPQR")
	}
	var js struct {
		Name    string    `json:"name"`
		Code    string    `json:"code"`
		Expires time.Time `json:"expires"`
	}
	decode(t, c.ok("", "--json", "totp", "invite", "alice", "--ttl", "1h"), &js)
	if !inviteCodeRE.MatchString(js.Code) || js.Code == first || time.Until(js.Expires) > time.Hour || time.Until(js.Expires) < 50*time.Minute {
		t.Fatalf("totp invite --json --ttl 1h: %+v", js)
	}

	e := c.service()
	defer e.Close()
	ctx := context.Background()
	if _, err := e.svc.BeginEnrolment(ctx, "alice", "correct horse battery", first, "192.0.2.7", true); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("the replaced code: %v; want refused", err)
	}
	pe, err := e.svc.BeginEnrolment(ctx, "alice", "correct horse battery", js.Code, "192.0.2.7", true)
	if err != nil {
		t.Fatalf("the current code: %v", err)
	}
	code, err := totp.GenerateCode(pe.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ConfirmEnrolment(ctx, pe, code); err != nil {
		t.Fatalf("confirming: %v", err)
	}
	if u := c.users()[0]; !u.TOTPEnrolled {
		t.Fatal("alice has no TOTP after the enrolment")
	}
	contains(t, "a second code for an enrolled account", c.fail("", "totp", "invite", "alice"), "already has TOTP")
	contains(t, "an unknown account", c.fail("", "totp", "invite", "nobody"), "no such account: nobody")
	contains(t, "a ttl over the bound", c.fail("", "totp", "invite", "alice", "--ttl", "1000h"), "between 1m and")
	contains(t, "the audit trail", c.ok("", "audit", "--user", "alice"), "totp-invite", "totp-enroll")
}
