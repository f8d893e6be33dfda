package backend

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// RFC 6238 parameters: SHA-1, 6 digits, 30 s steps, one step of drift either
// way (the RFC's recommended network delay allowance).
const (
	totpDigits = 6
	totpPeriod = 30
	totpSkew   = 1
	// TOTPSeedBytes is 160 bits, the HMAC-SHA1 block-friendly size RFC 4226 recommends.
	TOTPSeedBytes = 20
	// TOTPMinSeedBytes is the shortest seed taken from another system: 80
	// bits, 16 base32 characters, what many issuers (Google Authenticator's
	// examples among them) hand out. Shorter ones are refused.
	TOTPMinSeedBytes = 10
	// TOTPWeakSeedBytes: a seed shorter than this (128 bits, RFC 4226's
	// minimum) is taken, with a warning for the administrator.
	TOTPWeakSeedBytes = 16
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpStep is the RFC 6238 counter T for a time.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// matchTOTP returns the step in [now-1, now+1] whose code equals code, or -1.
// All three codes are computed and compared in constant time whatever the
// outcome, so timing does not tell which step matched or whether any did.
func matchTOTP(seed []byte, code string, now time.Time) int64 {
	secret := b32.EncodeToString(seed)
	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	match := int64(-1)
	t := totpStep(now)
	for step := t - totpSkew; step <= t+totpSkew; step++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), opts)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			match = step
		}
	}
	return match
}

// splitPasswordCode splits "primaryPassword123456" into the password and the
// trailing 6-digit code.
func splitPasswordCode(s string) (password, code string, ok bool) {
	if len(s) <= totpDigits {
		return "", "", false
	}
	code = s[len(s)-totpDigits:]
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", "", false
		}
	}
	return s[:len(s)-totpDigits], code, true
}

// ParseTOTPSecret decodes a base32 seed as authenticator apps show it
// (spaces and case ignored, padding optional), of at least
// TOTPMinSeedBytes; below TOTPWeakSeedBytes the caller should warn.
func ParseTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	s = strings.TrimRight(s, "=")
	seed, err := b32.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: TOTP secret is not base32", ErrInvalidInput)
	}
	if len(seed) < TOTPMinSeedBytes {
		return nil, fmt.Errorf("%w: TOTP secret is %d base32 characters (%d bits); it must have at least 16 (80 bits)",
			ErrInvalidInput, len(s), len(s)*5)
	}
	if len(seed) > 64 {
		return nil, fmt.Errorf("%w: TOTP secret is longer than 512 bits", ErrInvalidInput)
	}
	return seed, nil
}

func newTOTPSeed() []byte {
	seed := make([]byte, TOTPSeedBytes)
	if _, err := rand.Read(seed); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return seed
}

// TOTPEnrollment is what an administrator hands to the user once.
type TOTPEnrollment struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

func totpEnrollment(issuer, account string, seed []byte) (TOTPEnrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		Secret:      seed,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTPEnrollment{}, err
	}
	return TOTPEnrollment{Secret: key.Secret(), URI: key.URL()}, nil
}
