package loadgen

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"
)

// totpCode is the 6-digit code of RFC 6238 (HMAC-SHA1, 30 s steps) for
// key at t, as an authenticator app shows it.
func totpCode(key []byte, t time.Time) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	s := strconv.Itoa(int(v % 1000000))
	return strings.Repeat("0", 6-len(s)) + s
}

// parseTOTPSecret reads a secret as authenticator apps take it: base32,
// any case, padding and spaces optional.
func parseTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "=", "").Replace(s))
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	switch {
	case err != nil:
		return nil, errors.New("the TOTP secret is not base32")
	case len(key) < 10:
		return nil, errors.New("the TOTP secret is shorter than 80 bits")
	}
	return key, nil
}
