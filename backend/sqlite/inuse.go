//go:build unix

package sqlite

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// SQLite's lock bytes (https://www.sqlite.org/fileformat.html, "The
// Lock-Byte Page"): the pending byte, the reserved byte, then the shared
// range. Every connection holds a read lock on the shared range for as
// long as it is open in WAL mode, not only during a transaction.
const (
	pendingByte = 0x40000000
	lockBytes   = 2 + 510
)

// InUse tells whether another process has the database at path open (a
// server, an administration command, an sqlite3 shell), and which; it
// takes no lock and changes nothing. A missing file is in use by no one.
func InUse(path string) (inUse bool, pid int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	// F_GETLK asks whether a write lock could be taken, and reports a
	// conflicting lock of another process if not.
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: pendingByte, Len: lockBytes}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return false, 0, err
	}
	if lk.Type == syscall.F_UNLCK {
		return false, 0, nil
	}
	return true, int(lk.Pid), nil
}
