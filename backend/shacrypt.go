package backend

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt ($5$ and $6$) as specified in Ulrich Drepper's "Unix crypt using
// SHA-256 and SHA-512" (the algorithm of glibc's and libxcrypt's crypt(3)).
// Only verification is needed: wicket rehashes such a password to argon2id
// on its first successful bind.

const (
	shaCryptRoundsDefault = 5000
	// The spec's own minimum: a smaller "rounds=" is raised to it, and crypt(3)
	// writes the raised value, so a stored hash never shows less.
	shaCryptRoundsMin = 1000
	// The spec allows 999,999,999 rounds, minutes of CPU per bind. Real
	// systems stay far below (passlib's default is 656,000), so a larger
	// count is refused rather than computed on every bind attempt.
	shaCryptRoundsMax = 1_000_000
	shaCryptSaltMax   = 16
	// Hashing the password takes time quadratic in its length (step 14 of
	// the spec) and linear per round, so a long "password" in a bind could
	// pin a hashing slot for minutes. wicket's own passwords stop at the
	// same length (ValidatePassword).
	shaCryptMaxPassword = 256
)

// cryptAlphabet is crypt(3)'s base-64 alphabet, which differs from RFC 4648's.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

type shaCryptVariant struct {
	magic   string
	newHash func() hash.Hash
	// order lists the digest bytes in the spec's output order, three per
	// group of four characters (the last group is shorter).
	order   []int
	encoded int // length of the encoded digest
}

var (
	sha256Crypt = &shaCryptVariant{magic: "$5$", newHash: sha256.New, encoded: 43, order: []int{
		0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14,
		15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8, 9, 19, 29,
		31, 30,
	}}
	sha512Crypt = &shaCryptVariant{magic: "$6$", newHash: sha512.New, encoded: 86, order: []int{
		0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4,
		47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29, 9, 30, 51,
		31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35,
		15, 36, 57, 37, 58, 16, 59, 17, 38, 18, 39, 60, 40, 61, 19,
		62, 20, 41,
		63,
	}}
)

// shaCryptHash is a parsed $5$ or $6$ string.
type shaCryptHash struct {
	v      *shaCryptVariant
	rounds int
	salt   []byte
	sum    []byte // the encoded digest as stored
}

func parseSHACrypt(s string) (*shaCryptHash, error) {
	var h shaCryptHash
	switch {
	case strings.HasPrefix(s, sha256Crypt.magic):
		h.v = sha256Crypt
	case strings.HasPrefix(s, sha512Crypt.magic):
		h.v = sha512Crypt
	default:
		return nil, fmt.Errorf("not a SHA-crypt string")
	}
	rest := s[len(h.v.magic):]
	h.rounds = shaCryptRoundsDefault
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		n, after, found := strings.Cut(r, "$")
		if !found || n == "" || len(n) > 10 || strings.Trim(n, "0123456789") != "" {
			return nil, fmt.Errorf("bad SHA-crypt rounds")
		}
		h.rounds, _ = strconv.Atoi(n)
		if h.rounds < shaCryptRoundsMin || h.rounds > shaCryptRoundsMax {
			return nil, fmt.Errorf("SHA-crypt rounds %s out of range (%d to %d)", n, shaCryptRoundsMin, shaCryptRoundsMax)
		}
		rest = after
	}
	salt, sum, found := strings.Cut(rest, "$")
	switch {
	case !found:
		return nil, fmt.Errorf("SHA-crypt string has no hash")
	case len(salt) > shaCryptSaltMax:
		return nil, fmt.Errorf("bad SHA-crypt salt")
	case len(sum) != h.v.encoded || strings.Trim(sum, cryptAlphabet) != "":
		return nil, fmt.Errorf("bad SHA-crypt hash")
	}
	h.salt, h.sum = []byte(salt), []byte(sum)
	return &h, nil
}

func (h *shaCryptHash) verify(password []byte) bool {
	if len(password) > shaCryptMaxPassword {
		return false
	}
	got := shaCryptSum(h.v, password, h.salt, h.rounds)
	return subtle.ConstantTimeCompare(got, h.sum) == 1
}

// shaCryptSum runs steps 1-22 of the spec and returns the encoded digest.
// The step numbers below are the spec's.
func shaCryptSum(v *shaCryptVariant, key, salt []byte, rounds int) []byte {
	// 4-8: digest B of key, salt, key.
	h := v.newHash()
	h.Write(key)
	h.Write(salt)
	h.Write(key)
	b := h.Sum(nil)

	// 1-3, 9-12: digest A.
	h.Reset()
	h.Write(key)
	h.Write(salt)
	h.Write(repeatTo(b, len(key)))
	for n := len(key); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(key)
		}
	}
	a := h.Sum(nil)

	// 13-16: byte sequence P from digest DP of the key repeated.
	h.Reset()
	for range key {
		h.Write(key)
	}
	p := repeatTo(h.Sum(nil), len(key))

	// 17-20: byte sequence S from digest DS of the salt repeated 16+A[0] times.
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(salt)
	}
	s := repeatTo(h.Sum(nil), len(salt))

	// 21: the rounds.
	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	clear(b)
	clear(p)
	clear(s)

	// 22: crypt's base-64 of the digest bytes in the spec's order, each
	// group of three bytes read as a big-endian number and written low six
	// bits first.
	out := make([]byte, 0, v.encoded)
	for i := 0; i < len(v.order); i += 3 {
		g := v.order[i:min(i+3, len(v.order))]
		var w uint32
		for _, idx := range g {
			w = w<<8 | uint32(c[idx])
		}
		chars := len(g) + 1
		for range chars {
			out = append(out, cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	clear(c)
	return out
}

// repeatTo returns n bytes of seq repeated.
func repeatTo(seq []byte, n int) []byte {
	out := make([]byte, n)
	for i := 0; i < n; i += len(seq) {
		copy(out[i:], seq)
	}
	return out
}
