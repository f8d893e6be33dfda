package backend

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Imported hashes: the userPassword forms an OpenLDAP or Dovecot store keeps,
// "{SCHEME}value", accepted so that accounts move to wicket without a
// password reset. Each is replaced by wicket's own argon2id on the account's
// first successful bind (verifyPassword reports it stale), and until then it
// is only ever verified, never produced.

// importedHash is a parsed imported hash.
type importedHash interface {
	verify(password []byte) bool
}

type schemeParser func(value string) (importedHash, error)

// importSchemes maps upper-case scheme names to their parsers. The names are
// OpenLDAP's (SSHA, CRYPT, and ARGON2 of its argon2 module) and Dovecot's
// (BLF-CRYPT, SHA512-CRYPT, ARGON2ID, ...), which agree where they overlap.
var importSchemes = map[string]schemeParser{
	"SHA":          parseSHADigest(sha1.New, false),
	"SHA1":         parseSHADigest(sha1.New, false),
	"SHA256":       parseSHADigest(sha256.New, false),
	"SHA512":       parseSHADigest(sha512.New, false),
	"SSHA":         parseSHADigest(sha1.New, true),
	"SSHA256":      parseSHADigest(sha256.New, true),
	"SSHA512":      parseSHADigest(sha512.New, true),
	"CRYPT":        parseCrypt,
	"SHA256-CRYPT": onlyPrefix(parseCrypt, "$5$"),
	"SHA512-CRYPT": onlyPrefix(parseCrypt, "$6$"),
	"BCRYPT":       onlyPrefix(parseCrypt, "$2"),
	"BLF-CRYPT":    onlyPrefix(parseCrypt, "$2"),
	"ARGON2":       parseImportedArgon2(""),
	"ARGON2I":      parseImportedArgon2("argon2i"),
	"ARGON2ID":     parseImportedArgon2("argon2id"),
}

// ImportSchemes lists the accepted {SCHEME} names, for messages and docs.
func ImportSchemes() []string {
	names := make([]string, 0, len(importSchemes))
	for n := range importSchemes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ValidatePasswordHash checks, without the password, that hash is one wicket
// can verify: its own argon2id PHC string, or "{SCHEME}value" of an imported
// scheme with parameters within the bounds a bind may spend.
func ValidatePasswordHash(hash string) error {
	var err error
	switch {
	case hash == "":
		err = fmt.Errorf("the hash is empty")
	case strings.HasPrefix(hash, "{"):
		_, err = parseImported(hash)
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err = parsePHC(hash)
	case strings.HasPrefix(hash, "$"):
		err = fmt.Errorf("a crypt(3) string needs its scheme in front, as OpenLDAP stores it: {CRYPT}%s…", hash[:min(len(hash), 4)])
	default:
		err = fmt.Errorf("expected {SCHEME}value (one of %s) or an $argon2id$ PHC string", strings.Join(ImportSchemes(), ", "))
	}
	if err != nil {
		return fmt.Errorf("%w: password hash: %v", ErrInvalidInput, err)
	}
	return nil
}

func parseImported(s string) (importedHash, error) {
	end := strings.IndexByte(s, '}')
	if !strings.HasPrefix(s, "{") || end < 2 || end > 32 {
		return nil, fmt.Errorf("no {SCHEME} prefix")
	}
	scheme := strings.ToUpper(s[1:end])
	parse, ok := importSchemes[scheme]
	if !ok {
		return nil, fmt.Errorf("unsupported scheme {%s} (supported: %s)", scheme, strings.Join(ImportSchemes(), ", "))
	}
	h, err := parse(s[end+1:])
	if err != nil {
		return nil, fmt.Errorf("{%s}: %w", scheme, err)
	}
	return h, nil
}

// verifyImported verifies password against an imported hash. It first spends
// one argon2id derivation with the configured parameters, as a native hash
// costs: {SSHA} alone takes microseconds, and a bind that fails that fast
// would tell an observer that the account exists (unknown accounts are
// checked against a dummy argon2id hash).
//
// That derivation is the account's new argon2id hash, with a fresh salt:
// when the password is right it replaces the imported one, so a migrated
// user's first bind costs one derivation, not the padding and then a
// second for the upgrade.
func verifyImported(stored, password string, want Argon2Params) (ok bool, upgrade string) {
	upgrade, herr := HashPassword(password, want)
	h, err := parseImported(stored)
	if err != nil || herr != nil || !h.verify([]byte(password)) {
		return false, ""
	}
	return true, upgrade
}

func onlyPrefix(parse schemeParser, prefix string) schemeParser {
	return func(v string) (importedHash, error) {
		if !strings.HasPrefix(v, prefix) {
			return nil, fmt.Errorf("value does not start with %s", prefix)
		}
		return parse(v)
	}
}

// shaDigest is {SHA}-family: base64 of digest(password‖salt)‖salt, the salt
// empty for the unsalted schemes.
type shaDigest struct {
	newHash func() hash.Hash
	digest  []byte
	salt    []byte
}

// maxSHASalt bounds the salt of {SSHA}-family values. OpenLDAP uses 4 or 8
// bytes and Dovecot 4 to 16; anything longer is taken for garbage.
const maxSHASalt = 64

func parseSHADigest(newHash func() hash.Hash, salted bool) schemeParser {
	size := newHash().Size()
	return func(v string) (importedHash, error) {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil && !strings.Contains(v, "=") {
			raw, err = base64.RawStdEncoding.DecodeString(v)
		}
		switch {
		case err != nil:
			return nil, fmt.Errorf("value is not base64")
		case !salted && len(raw) != size:
			return nil, fmt.Errorf("%d bytes, want a %d-byte digest", len(raw), size)
		case salted && len(raw) <= size:
			return nil, fmt.Errorf("%d bytes, want a %d-byte digest followed by a salt", len(raw), size)
		case len(raw) > size+maxSHASalt:
			return nil, fmt.Errorf("salt longer than %d bytes", maxSHASalt)
		}
		return &shaDigest{newHash: newHash, digest: raw[:size], salt: raw[size:]}, nil
	}
}

func (h *shaDigest) verify(password []byte) bool {
	d := h.newHash()
	d.Write(password)
	d.Write(h.salt)
	return subtle.ConstantTimeCompare(d.Sum(nil), h.digest) == 1
}

// parseCrypt takes the crypt(3) methods worth importing. DES and MD5 crypt
// are refused: they are broken, and nothing that stores them today can be
// trusted to have stored them well.
func parseCrypt(v string) (importedHash, error) {
	switch {
	case strings.HasPrefix(v, "$5$"), strings.HasPrefix(v, "$6$"):
		return parseSHACrypt(v)
	case strings.HasPrefix(v, "$2"):
		return parseBcrypt(v)
	case strings.HasPrefix(v, "$1$"):
		return nil, fmt.Errorf("MD5-crypt ($1$) is not supported")
	case strings.HasPrefix(v, "$y$"), strings.HasPrefix(v, "$7$"), strings.HasPrefix(v, "$gy$"):
		return nil, fmt.Errorf("yescrypt and scrypt are not supported")
	case !strings.HasPrefix(v, "$"):
		return nil, fmt.Errorf("traditional DES crypt is not supported")
	}
	return nil, fmt.Errorf("unsupported crypt method")
}

// bcryptMaxCost bounds imported bcrypt: cost 15 is already about two seconds
// of CPU per bind attempt, and each step up doubles it.
const bcryptMaxCost = 15

type bcryptHash []byte

// parseBcrypt checks the whole string, which x/crypto/bcrypt itself only
// partly does before computing.
func parseBcrypt(v string) (importedHash, error) {
	if len(v) != 60 || v[0] != '$' || v[1] != '2' || v[3] != '$' || v[6] != '$' {
		return nil, fmt.Errorf("not a bcrypt string")
	}
	// 2x marks hashes from crypt_blowfish's sign-extension bug, which
	// x/crypto does not reproduce.
	if v[2] != 'a' && v[2] != 'b' && v[2] != 'y' {
		return nil, fmt.Errorf("unsupported bcrypt version $2%c$", v[2])
	}
	if strings.Trim(v[4:6], "0123456789") != "" || strings.Trim(v[7:], cryptAlphabet) != "" {
		return nil, fmt.Errorf("not a bcrypt string")
	}
	if cost := int(v[4]-'0')*10 + int(v[5]-'0'); cost < bcrypt.MinCost || cost > bcryptMaxCost {
		return nil, fmt.Errorf("bcrypt cost %d out of range (%d to %d)", cost, bcrypt.MinCost, bcryptMaxCost)
	}
	return bcryptHash(v), nil
}

func (h bcryptHash) verify(password []byte) bool {
	// Constant time inside: x/crypto compares with subtle.ConstantTimeCompare.
	return bcrypt.CompareHashAndPassword(h, password) == nil
}

// parseImportedArgon2 takes the argon2 module's PHC strings; variant, when
// set, is the only one the scheme name allows.
func parseImportedArgon2(variant string) schemeParser {
	return func(v string) (importedHash, error) {
		h, err := parseArgon2(v)
		if err != nil {
			return nil, err
		}
		if variant != "" && h.variant != variant {
			return nil, fmt.Errorf("value is %s, scheme says %s", h.variant, variant)
		}
		return h, nil
	}
}
