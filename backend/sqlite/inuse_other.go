//go:build !unix

package sqlite

import "errors"

// InUse cannot tell on this system.
func InUse(path string) (bool, int, error) {
	return false, 0, errors.New("cannot tell whether another process uses the database on this system")
}
