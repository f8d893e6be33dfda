package sqlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// An invitation is one per account, expires, is used up only together
// with the first enrolment, and goes with its account.
func TestInvites_OneUseWithTheFirstEnrolment(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := seedAccount(t, s, "carol")
	if _, err := s.SetTOTPSeed(ctx, a.ID, nil, t0); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0).UTC()
	h1, h2 := sha256.Sum256([]byte("one")), sha256.Sum256([]byte("two"))
	if err := s.SetInvite(ctx, 9999, h1[:], now.Add(time.Hour)); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("invite for no account: %v", err)
	}
	if err := s.SetInvite(ctx, a.ID, h1[:], now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInvite(ctx, a.ID, h2[:], now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hash []byte
		at   time.Time
		want bool
	}{
		{"the replaced one", h1[:], now, false},
		{"the current one", h2[:], now, true},
		{"the current one, expired", h2[:], now.Add(time.Hour), false},
	} {
		if ok, err := s.InviteValid(ctx, a.ID, tc.hash, tc.at); err != nil || ok != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, ok, err, tc.want)
		}
	}
	seed := []byte("a sealed seed of some length....")
	if err := s.EnrolFirstTOTP(ctx, a.ID, h1[:], seed, 5, now); !errors.Is(err, backend.ErrInvalidInvite) {
		t.Fatalf("enrol with the replaced invitation: %v", err)
	}
	if got, _ := s.AccountByName(ctx, "carol"); got.TOTPEnrolled() {
		t.Fatal("a refused enrolment set the seed")
	}
	if err := s.EnrolFirstTOTP(ctx, a.ID, h2[:], seed, 5, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.AccountByName(ctx, "carol")
	if err != nil || !got.TOTPEnrolled() || got.TOTPLastStep != 5 {
		t.Fatalf("after enrolling: %+v, %v", got, err)
	}
	if ok, _ := s.InviteValid(ctx, a.ID, h2[:], now); ok {
		t.Error("the invitation outlived the enrolment")
	}
	// A second enrolment replaces nothing and leaves a new invitation.
	if err := s.SetInvite(ctx, a.ID, h1[:], now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.EnrolFirstTOTP(ctx, a.ID, h1[:], []byte("another seed...................."), 9, now); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("enrolling an enrolled account: %v", err)
	}
	if ok, _ := s.InviteValid(ctx, a.ID, h1[:], now); !ok {
		t.Error("a refused enrolment used the invitation up")
	}
	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM totp_invites`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d invitations left after the account was deleted (%v)", n, err)
	}
}
