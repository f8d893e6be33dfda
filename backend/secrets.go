package backend

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

const serverSecretBytes = 32

// KeyEnv, when set, holds the key material itself (the key file's text), for
// deployments that keep secrets in the environment rather than on disk.
const KeyEnv = "WICKET_KEYS"

// Keys are the server secrets kept outside the database, so a copy of the
// database alone reveals no seed and allows no offline guessing of app
// passwords: the app-password pepper, and a ring of TOTP-seed encryption
// keys of which the newest seals and every one still opens.
//
// The key file is either the first format, one base64 line from which both
// are derived, or the ring written by a rotation:
//
//	wicket-keys 2
//	pepper <base64>
//	seed 1 <base64>
//	seed 2 <base64>
type Keys struct {
	path string // "" when the keys came from the environment

	mu      sync.RWMutex
	pepper  []byte
	seeds   map[byte]cipher.AEAD
	raw     map[byte][]byte // to write the ring back
	current byte
}

// LoadKeys reads the keys from $WICKET_KEYS or else the file at path. A
// missing file is an error (wrapping fs.ErrNotExist), never a reason to make
// one up: a new key cannot open the TOTP seeds or verify the app passwords
// sealed under the old one. A key file readable by group or others is
// refused, as ssh refuses such a private key.
func LoadKeys(path string) (*Keys, error) {
	if text, ok := os.LookupEnv(KeyEnv); ok {
		k, err := parseKeys([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", KeyEnv, err)
		}
		return k, nil
	}
	text, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return keysFromFile(path, text)
}

// CreateKeys writes a new random key file at path (mode 0600) and returns
// its keys. It fails, wrapping fs.ErrExist, if the file exists, and creates
// no directory. The file appears whole or not at all, so that a crash while
// writing cannot leave a truncated key behind. It does not consult
// $WICKET_KEYS: deciding whether a file is wanted is the caller's.
func CreateKeys(path string) (*Keys, error) {
	secret := make([]byte, serverSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	text := []byte(base64.StdEncoding.EncodeToString(secret) + "\n")
	if err := createFileAtomic(path, text); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	return keysFromFile(path, text)
}

func keysFromFile(path string, text []byte) (*Keys, error) {
	k, err := parseKeys(text)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	k.path = path
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: it must not be readable by group or others (chmod 600 %s)",
			path, st.Mode().Perm(), path)
	}
	buf := make([]byte, 64<<10)
	n, _ := f.Read(buf)
	return buf[:n], nil
}

// createFileAtomic writes data to a temporary file beside path and links it
// to path, which fails if path exists: two processes racing on a first
// start cannot overwrite each other's key.
func createFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeTemp writes data to a new 0600 file in dir and syncs it.
func writeTemp(dir string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, ".wicket-keys-*")
	if err != nil {
		return "", err
	}
	name := tmp.Name()
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const ringHeader = "wicket-keys 2"

func parseKeys(text []byte) (*Keys, error) {
	text = bytes.TrimSpace(text)
	if !bytes.HasPrefix(text, []byte(ringHeader)) {
		secret, err := base64.StdEncoding.DecodeString(string(text))
		if err != nil || len(secret) != serverSecretBytes {
			return nil, fmt.Errorf("not a wicket key (want %d base64-encoded bytes, or a key ring)", serverSecretBytes)
		}
		return deriveFirstKeys(secret)
	}
	k := &Keys{seeds: map[byte]cipher.AEAD{}, raw: map[byte][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "pepper":
			b, err := decodeKey(f[1])
			if err != nil {
				return nil, err
			}
			k.pepper = b
		case len(f) == 3 && f[0] == "seed":
			id, err := strconv.Atoi(f[1])
			if err != nil || id < 1 || id > 255 {
				return nil, fmt.Errorf("seed key id %q is not 1-255", f[1])
			}
			b, err := decodeKey(f[2])
			if err != nil {
				return nil, err
			}
			if err := k.addSeedKey(byte(id), b); err != nil {
				return nil, err
			}
		case len(f) == 0:
		default:
			return nil, fmt.Errorf("unreadable key ring line %q", f[0])
		}
	}
	if k.pepper == nil || k.current == 0 {
		return nil, errors.New("the key ring lacks the pepper or a seed key")
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != serverSecretBytes {
		return nil, fmt.Errorf("a key is not %d base64-encoded bytes", serverSecretBytes)
	}
	return b, nil
}

// deriveFirstKeys reads the first key-file format: both secrets from one.
// Its seed key is id 1 of the ring, and seeds it sealed carry no id.
func deriveFirstKeys(secret []byte) (*Keys, error) {
	pepper, err := hkdf.Key(sha256.New, secret, nil, "wicket app-password pepper v1", 32)
	if err != nil {
		return nil, err
	}
	seedKey, err := hkdf.Key(sha256.New, secret, nil, "wicket totp seed encryption v1", 32)
	if err != nil {
		return nil, err
	}
	k := &Keys{pepper: pepper, seeds: map[byte]cipher.AEAD{}, raw: map[byte][]byte{}}
	return k, k.addSeedKey(1, seedKey)
}

func (k *Keys) addSeedKey(id byte, key []byte) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	k.seeds[id], k.raw[id] = aead, key
	k.current = max(k.current, id)
	return nil
}

func (k *Keys) appPasswordPepper() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.pepper
}

// The account id is the associated data, so a sealed seed copied onto another
// account's row does not open.
func seedAAD(accountID int64) []byte { return []byte("totp-seed:" + strconv.FormatInt(accountID, 10)) }

// sealedMagic starts a seed sealed under a ring key: magic, key id, nonce,
// ciphertext. Seeds of the first format are nonce and ciphertext under key 1.
const sealedMagic = 0x57

func (k *Keys) sealSeed(accountID int64, seed []byte) []byte {
	k.mu.RLock()
	id, aead := k.current, k.seeds[k.current]
	k.mu.RUnlock()
	ns := aead.NonceSize()
	out := make([]byte, 2+ns, 2+ns+len(seed)+aead.Overhead())
	out[0], out[1] = sealedMagic, id
	if _, err := rand.Read(out[2:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return aead.Seal(out, out[2:], seed, seedAAD(accountID))
}

// openSeed opens a sealed seed. A key id the ring lacks means the key file
// was rotated by another process: the file is read again once.
func (k *Keys) openSeed(accountID int64, sealed []byte) ([]byte, error) {
	seed, unknown, err := k.open(accountID, sealed)
	if unknown && k.path != "" && k.reload() == nil {
		seed, _, err = k.open(accountID, sealed)
	}
	return seed, err
}

func (k *Keys) open(accountID int64, sealed []byte) (seed []byte, unknownKey bool, err error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	aad := seedAAD(accountID)
	if len(sealed) > 2 && sealed[0] == sealedMagic {
		if aead, ok := k.seeds[sealed[1]]; ok {
			ns := aead.NonceSize()
			if len(sealed) >= 2+ns+aead.Overhead() {
				if seed, err := aead.Open(nil, sealed[2:2+ns], sealed[2+ns:], aad); err == nil {
					return seed, false, nil
				}
			}
		} else {
			unknownKey = true
		}
	}
	// The first format has no prefix; a random nonce may begin with the
	// magic byte, so it is tried whatever the first byte.
	if aead, ok := k.seeds[1]; ok {
		ns := aead.NonceSize()
		if len(sealed) >= ns+aead.Overhead() {
			if seed, err := aead.Open(nil, sealed[:ns], sealed[ns:], aad); err == nil {
				return seed, false, nil
			}
		}
	}
	return nil, unknownKey, errors.New("TOTP seed does not decrypt with this key file")
}

// Reload reads the key file again (SIGHUP, or a seed sealed under a key
// this process has not seen).
func (k *Keys) Reload() error { return k.reload() }

func (k *Keys) reload() error {
	if k.path == "" {
		return nil
	}
	text, err := readKeyFile(k.path)
	if err != nil {
		return err
	}
	fresh, err := parseKeys(text)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pepper, k.seeds, k.raw, k.current = fresh.pepper, fresh.seeds, fresh.raw, fresh.current
	return nil
}

// addRingKey adds a new seed key, makes it the sealing one and writes the
// ring to the key file atomically (a temporary file renamed over it). The
// pepper is kept: changing it would invalidate every app password.
func (k *Keys) addRingKey() (byte, error) {
	if k.path == "" {
		return 0, fmt.Errorf("the keys come from $%s: rotate them there", KeyEnv)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current == 255 {
		return 0, errors.New("the key ring is full (255 seed keys)")
	}
	key := make([]byte, serverSecretBytes)
	if _, err := rand.Read(key); err != nil {
		return 0, err
	}
	old := k.current
	if err := k.addSeedKey(old+1, key); err != nil {
		return 0, err
	}
	var b strings.Builder
	b.WriteString(ringHeader + "\n")
	b.WriteString("pepper " + base64.StdEncoding.EncodeToString(k.pepper) + "\n")
	for id := byte(1); id <= k.current; id++ {
		if raw, ok := k.raw[id]; ok {
			fmt.Fprintf(&b, "seed %d %s\n", id, base64.StdEncoding.EncodeToString(raw))
		}
	}
	if err := writeFileAtomic(k.path, []byte(b.String())); err != nil {
		delete(k.seeds, k.current)
		delete(k.raw, k.current)
		k.current = old
		return 0, err
	}
	return k.current, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := writeTemp(filepath.Dir(path), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Rename(tmp, path)
}

// RotateSeedKey adds a new TOTP-seed key to the ring and re-encrypts every
// seed with it, in one transaction. Older keys stay in the ring, so a
// server that has not yet read the new ring still opens what it finds; it
// reads the ring again when it meets the new key id, or on SIGHUP.
//
// The record (key-rotate) names the new key's id and how many seeds were
// re-encrypted, in the transaction that re-encrypts them.
func (s *Service) RotateSeedKey(ctx context.Context) (resealed int, keyID byte, err error) {
	rctx, ch := s.changing(ctx, ActionKeyRotate, "", "")
	keyID, err = s.keys.addRingKey()
	if err != nil {
		s.changed(rctx, ch, err)
		return 0, 0, err
	}
	ch.counted = func(n int) string { return KV("key", int(keyID), "resealed", n) }
	n, err := s.store.ResealTOTPSeeds(rctx, func(id int64, sealed []byte) ([]byte, error) {
		seed, err := s.keys.openSeed(id, sealed)
		if err != nil {
			return nil, err
		}
		return s.keys.sealSeed(id, seed), nil
	})
	s.changed(rctx, ch, committed(ch, err))
	return n, keyID, err
}
