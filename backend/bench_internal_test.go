package backend

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// The pieces of a bind that cost CPU, apart, so that a regression in one
// shows even when the network hides it end to end.

func BenchmarkAppPasswordVerifier(b *testing.B) {
	pepper := make([]byte, 32)
	salt := make([]byte, 16)
	norm, _ := NormalizeAppPassword(FormatAppPassword(GenerateAppPassword()))
	b.ReportAllocs()
	for b.Loop() {
		appPasswordVerifier(pepper, salt, norm)
	}
}

func BenchmarkNormalizeAppPassword(b *testing.B) {
	typed := FormatAppPassword(GenerateAppPassword())
	b.ReportAllocs()
	for b.Loop() {
		NormalizeAppPassword(typed)
	}
}

func BenchmarkMatchTOTP(b *testing.B) {
	seed := make([]byte, 20)
	now := time.Unix(1_700_000_000, 0)
	code, err := hotp.GenerateCodeCustom(b32.EncodeToString(seed), uint64(totpStep(now)),
		hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if matchTOTP(seed, code, now) < 0 {
			b.Fatal("code not matched")
		}
	}
}

// BenchmarkVerifyPassword_Argon2idDefault is the cost a password+code bind
// cannot avoid: one argon2id verification with the default parameters.
// cores ÷ this time is the ceiling of password+code binds per second.
func BenchmarkVerifyPassword_Argon2idDefault(b *testing.B) {
	hash, err := HashPassword("Correct-Horse-Battery", DefaultArgon2Params)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := verifyPassword(hash, "Correct-Horse-Battery", DefaultArgon2Params); !ok {
			b.Fatal("password not verified")
		}
	}
}
