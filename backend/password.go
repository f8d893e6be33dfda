package backend

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/wicketldap/wicket/internal/argon2"
)

// Argon2Params are the argon2id cost parameters of primary passwords.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2Params is the OWASP Password Storage Cheat Sheet minimum for
// argon2id (m=19456 KiB, t=2, p=1), also the floor DESIGN.md names. It keeps
// one hash near 20-40 ms and 19 MiB, so a bounded number of slots bounds
// memory under a flood.
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19456, Time: 2, Threads: 1}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Validate rejects parameters that would make hashes trivially cheap or
// unusable.
func (p Argon2Params) Validate() error {
	switch {
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB < 1024:
		return fmt.Errorf("argon2id memory %d KiB is below the minimum of 1024 KiB", p.MemoryKiB)
	case p.Time < 1:
		return fmt.Errorf("argon2id time must be at least 1")
	case p.Threads < 1:
		return fmt.Errorf("argon2id threads must be at least 1")
	}
	return nil
}

// HashPassword returns a PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash.
func HashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

type phcHash struct {
	variant string // "argon2id", or "argon2i" in imported hashes
	params  Argon2Params
	salt    []byte
	key     []byte
}

// maxPHCMemoryKiB stops a hand-edited or imported hash from asking for
// gigabytes on the bind path.
const maxPHCMemoryKiB = 4 << 20

// parsePHC parses wicket's own form: argon2id with parameters that
// Argon2Params.Validate accepts.
func parsePHC(s string) (*phcHash, error) {
	h, err := parseArgon2(s)
	if err != nil {
		return nil, err
	}
	if h.variant != "argon2id" {
		return nil, fmt.Errorf("not an argon2id PHC string")
	}
	if h.params.Validate() != nil {
		return nil, fmt.Errorf("argon2id parameters out of range")
	}
	return h, nil
}

// parseArgon2 parses an argon2id or argon2i PHC string of version 19 (the
// only one x/crypto computes), refusing parameters that would cost more than
// a bind may.
func parseArgon2(s string) (*phcHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || (parts[1] != "argon2id" && parts[1] != "argon2i") {
		return nil, fmt.Errorf("not an argon2id or argon2i PHC string")
	}
	h := phcHash{variant: parts[1]}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return nil, fmt.Errorf("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.params.MemoryKiB, &h.params.Time, &h.params.Threads); err != nil {
		return nil, fmt.Errorf("bad %s parameters", h.variant)
	}
	if p := h.params; p.Threads < 1 || p.Time < 1 || p.MemoryKiB < 8*uint32(p.Threads) ||
		p.MemoryKiB > maxPHCMemoryKiB || p.Time > 64 {
		return nil, fmt.Errorf("%s parameters out of range", h.variant)
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, fmt.Errorf("bad %s salt", h.variant)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return nil, fmt.Errorf("bad %s hash", h.variant)
	}
	return &h, nil
}

func (h *phcHash) verify(password []byte) bool {
	derive := argon2.IDKey
	if h.variant == "argon2i" {
		derive = argon2.Key
	}
	key := derive(password, h.salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// verifyPassword checks password against a stored hash in constant time and
// reports whether the hash should be replaced after a successful bind: made
// with other parameters than want, or imported in another scheme (see
// hashimport.go).
func verifyPassword(stored, password string, want Argon2Params) (ok, stale bool) {
	ok, stale, _ = checkPassword(stored, password, want)
	return ok, stale
}

// checkPassword is verifyPassword for a bind: when the stored hash should
// be replaced (stale) and its replacement came with the check (an imported
// hash, see verifyImported), upgrade is that replacement.
func checkPassword(stored, password string, want Argon2Params) (ok, stale bool, upgrade string) {
	if strings.HasPrefix(stored, "{") {
		ok, upgrade = verifyImported(stored, password, want)
		return ok, true, upgrade
	}
	h, err := parsePHC(stored)
	if err != nil {
		return false, false, ""
	}
	return h.verify([]byte(password)), h.params != want, ""
}
