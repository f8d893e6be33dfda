package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// FileLostError is every write's error once the database file at the
// store's path is no longer the file the store has open: deleted, or
// replaced by another (a copy moved over it). SQLite would go on
// committing into the open file, which no other process and no restart
// will ever read: a revocation acknowledged there is lost. Writes are
// refused until the server is restarted on the right file (reads go on
// where a pooled connection has the old file open). It is an
// ErrUnavailable, so a bind that must record something fails closed.
type FileLostError struct {
	Path string
	// What happened to the path: "deleted" or "replaced by another file".
	What string
}

func (e *FileLostError) Error() string {
	return fmt.Sprintf("database file %s was %s while wicket had it open: writes are refused, "+
		"as nothing would ever read them; restore the file and restart wicket", e.Path, e.What)
}

func (e *FileLostError) Is(target error) bool { return target == backend.ErrUnavailable }

// OnFileLost sets f to be called once, with the FileLostError, when
// CheckFile first finds the file gone. Set it before the store is shared.
func (s *Store) OnFileLost(f func(error)) { s.onLost = f }

// CheckFile compares the file at the store's path with the one it opened
// (device and inode), and returns a *FileLostError if they differ. Every
// write checks first; a server calls it periodically too, so that a file
// deleted while nothing writes is still noticed. Once lost, always lost:
// the open file is the old one whatever appears at the path later. An
// error other than "does not exist" (a permission, an I/O error) says
// nothing about the file and lets the write try.
func (s *Store) CheckFile() error {
	if e := s.lost.Load(); e != nil {
		return e
	}
	st, err := os.Stat(s.path)
	var what string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		what = "deleted"
	case err != nil:
		return nil
	case !os.SameFile(s.file, st):
		what = "replaced by another file"
	default:
		return nil
	}
	e := &FileLostError{Path: s.path, What: what}
	if s.lost.CompareAndSwap(nil, e) && s.onLost != nil {
		s.onLost(e)
	}
	return s.lost.Load()
}

// SetAsideLostWAL renames the WAL of a lost database file, once the store
// is closed, and returns its new name ("" when there was nothing to do).
// SQLite neither checkpoints nor removes the WAL of a file that was moved
// or deleted, and would apply it to the next file put at the path: a
// restored backup would get the lost file's last pages written over it.
// The WAL is kept under another name, not deleted: its frames are the only
// copy of the last writes.
func (s *Store) SetAsideLostWAL() (string, error) {
	if s.lost.Load() == nil || s.walFile == nil {
		return "", nil
	}
	wal := s.path + "-wal"
	st, err := os.Stat(wal)
	if err != nil || !os.SameFile(st, s.walFile) {
		return "", nil
	}
	to := wal + ".lost-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(wal, to); err != nil {
		return "", fmt.Errorf("sqlite: setting aside the WAL of the lost database: %w", err)
	}
	return to, nil
}
