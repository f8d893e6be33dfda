package backend

import (
	"fmt"
	"os"
)

// ReadKeyFile reads and parses the key file at path, never creating one:
// for a backup, which copies the file as it is, and a restore, which must
// know that a key opens the database it is paired with. A missing file is
// an error that wraps fs.ErrNotExist.
func ReadKeyFile(path string) (text []byte, k *Keys, err error) {
	text, err = readKeyFile(path)
	if err != nil {
		return nil, nil, err
	}
	k, err = parseKeys(text)
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	k.path = path
	return text, k, nil
}

// KeysFromEnv parses $WICKET_KEYS; ok is false when it is not set.
func KeysFromEnv() (k *Keys, ok bool, err error) {
	text, ok := os.LookupEnv(KeyEnv)
	if !ok {
		return nil, false, nil
	}
	k, err = parseKeys([]byte(text))
	if err != nil {
		return nil, true, fmt.Errorf("$%s: %w", KeyEnv, err)
	}
	return k, true, nil
}

// CheckSeed returns an error unless the ring opens the TOTP seed sealed
// for accountID: the one proof, short of a user's bind, that a key file
// belongs with a database. The seed itself is dropped at once.
func (k *Keys) CheckSeed(accountID int64, sealed []byte) error {
	seed, _, err := k.open(accountID, sealed)
	clear(seed)
	return err
}
