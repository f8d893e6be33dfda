package backend

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const serverSecretBytes = 32

// Keys are the server secrets derived from the key file: kept outside the
// database so a copy of the database alone reveals no seed and allows no
// offline guessing of app passwords.
type Keys struct {
	appPasswordPepper []byte
	seedAEAD          cipher.AEAD
}

// LoadOrCreateKeys reads the server secret at path, creating it (mode 0600,
// directory 0700) on first start. A key file readable by group or others is
// refused, as ssh refuses such a private key.
func LoadOrCreateKeys(path string) (*Keys, error) {
	secret, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret, err = createKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	return deriveKeys(secret)
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
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(buf[:n])))
	if err != nil || len(secret) != serverSecretBytes {
		return nil, fmt.Errorf("key file %s is not a wicket key (want %d base64-encoded bytes)", path, serverSecretBytes)
	}
	return secret, nil
}

func createKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	secret := make([]byte, serverSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		return readKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(secret) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return secret, f.Close()
}

func deriveKeys(secret []byte) (*Keys, error) {
	pepper, err := hkdf.Key(sha256.New, secret, nil, "wicket app-password pepper v1", 32)
	if err != nil {
		return nil, err
	}
	seedKey, err := hkdf.Key(sha256.New, secret, nil, "wicket totp seed encryption v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(seedKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keys{appPasswordPepper: pepper, seedAEAD: aead}, nil
}

// The account id is the associated data, so a sealed seed copied onto another
// account's row does not open.
func seedAAD(accountID int64) []byte { return []byte("totp-seed:" + strconv.FormatInt(accountID, 10)) }

func (k *Keys) sealSeed(accountID int64, seed []byte) []byte {
	nonce := make([]byte, k.seedAEAD.NonceSize(), k.seedAEAD.NonceSize()+len(seed)+k.seedAEAD.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return k.seedAEAD.Seal(nonce, nonce, seed, seedAAD(accountID))
}

func (k *Keys) openSeed(accountID int64, sealed []byte) ([]byte, error) {
	ns := k.seedAEAD.NonceSize()
	if len(sealed) < ns+k.seedAEAD.Overhead() {
		return nil, errors.New("sealed TOTP seed is truncated")
	}
	seed, err := k.seedAEAD.Open(nil, sealed[:ns], sealed[ns:], seedAAD(accountID))
	if err != nil {
		return nil, errors.New("TOTP seed does not decrypt with this key file")
	}
	return seed, nil
}
