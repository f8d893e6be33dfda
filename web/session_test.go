package web

import (
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/internal/testutil"
)

// However many sign-ins come, the sessions kept stay at the bound, the
// oldest going first; the server keeps no token, only its hash.
func TestSessions_BoundedOldestFirst(t *testing.T) {
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	s := newSessions(15*time.Minute, 8*time.Hour, 3, clock.Now)
	var tokens []string
	for range 5 {
		tok, se := s.create("alice", backend.MethodPasswordTOTP, time.Time{})
		if se.key != tokenKey(tok) || len(tok) != 43 {
			t.Fatalf("token %q, key %x", tok, se.key)
		}
		tokens = append(tokens, tok)
		clock.Add(time.Second)
	}
	if n := s.count(); n != 3 {
		t.Fatalf("%d sessions kept, want 3", n)
	}
	for i, tok := range tokens {
		if live := s.get(tok) != nil; live != (i >= 2) {
			t.Errorf("session %d live: %v", i, live)
		}
	}
	if n := s.endUser("alice", nil); n != 3 || s.count() != 0 {
		t.Errorf("endUser ended %d, %d left", n, s.count())
	}
}

func TestEnrolments_BoundedAndExpiring(t *testing.T) {
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	e := newEnrolments(clock.Now)
	first := e.add(&enrolment{})
	for range maxEnrolments {
		clock.Add(time.Millisecond)
		e.add(&enrolment{})
	}
	if e.get(first) != nil || len(e.m) != maxEnrolments {
		t.Fatalf("%d enrolments kept, the oldest still there: %v", len(e.m), e.get(first) != nil)
	}
	tok := e.add(&enrolment{})
	for range maxEnrolAttempts - 1 {
		if !e.miss(tok) {
			t.Fatal("an enrolment ended before its last attempt")
		}
	}
	if e.miss(tok) || e.get(tok) != nil {
		t.Fatal("an enrolment outlived its attempts")
	}
	tok = e.add(&enrolment{})
	clock.Add(enrolTTL)
	if e.get(tok) != nil {
		t.Fatal("an enrolment outlived its time")
	}
}
