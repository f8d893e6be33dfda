package backend

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// AppPasswordLetters is the number of letters in an app password: 16 letters
// of 26 are about 75 bits.
const AppPasswordLetters = 16

// appPasswordIterations sets the cost of the one derivation an app-password
// bind does. NIST SP 800-63B-4 3.1.2.2 wants secrets under 112 bits hashed
// with a password-hashing scheme, though with a small work factor: this is
// tuned to roughly 20 µs, so a bind stays cheap while an offline attacker
// holding the database and the pepper pays per guess.
const appPasswordIterations = 64

// GenerateAppPassword returns 16 uniformly random lowercase letters.
func GenerateAppPassword() string {
	var b [AppPasswordLetters]byte
	for i := range b {
		b[i] = 'a' + byte(randIndex(26))
	}
	return string(b[:])
}

// FormatAppPassword shows an app password as xxxx-xxxx-xxxx-xxxx.
func FormatAppPassword(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(p[i:min(i+4, len(p))])
	}
	return b.String()
}

// NormalizeAppPassword accepts an app password as typed: with or without
// dashes, any case. It reports false when s cannot be an app password, so the
// bind path does not spend a derivation on it.
func NormalizeAppPassword(s string) (string, bool) {
	if len(s) != AppPasswordLetters && len(s) != AppPasswordLetters+3 {
		return "", false
	}
	var b [AppPasswordLetters]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' && len(s) == AppPasswordLetters+3 && i%5 == 4:
			continue
		case c >= 'a' && c <= 'z':
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		default:
			return "", false
		}
		if n == AppPasswordLetters {
			return "", false
		}
		b[n] = c
		n++
	}
	if n != AppPasswordLetters {
		return "", false
	}
	return string(b[:]), true
}

// appPasswordVerifier derives what the store keeps of an app password: a
// salted, slightly costly derivation keyed with the server pepper, so a stolen
// database alone is useless.
func appPasswordVerifier(pepper, salt []byte, normalized string) []byte {
	dk, err := pbkdf2.Key(sha256.New, normalized, salt, appPasswordIterations, 32)
	if err != nil {
		panic("pbkdf2: " + err.Error())
	}
	m := hmac.New(sha256.New, pepper)
	m.Write(dk)
	return m.Sum(nil)
}

// newAppPasswordID returns a short random identifier, what users type to
// revoke one and what names its directory entry.
func newAppPasswordID() string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
