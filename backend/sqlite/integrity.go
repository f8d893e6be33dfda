package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// ErrDamaged is returned by CheckIntegrity for a database SQLite finds
// damaged.
var ErrDamaged = errors.New("the database is damaged")

// CheckIntegrity runs PRAGMA quick_check, or integrity_check when full,
// which also compares every index with its table (slower, in proportion
// to the database). A damaged page may sit unnoticed until a write needs
// it: a revocation that then fails with "malformed" is worse than a
// server that refuses to start.
func (s *Store) CheckIntegrity(ctx context.Context, full bool) error {
	pragma := "quick_check"
	if full {
		pragma = "integrity_check"
	}
	// At most this many problems are listed: the first say enough.
	rows, err := s.r.QueryContext(ctx, "PRAGMA "+pragma+"(10)")
	if err != nil {
		return damaged(s.path, pragma, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			return damaged(s.path, pragma, err)
		}
		found = append(found, msg)
	}
	if err := rows.Err(); err != nil {
		return damaged(s.path, pragma, err)
	}
	if len(found) == 1 && found[0] == "ok" {
		return nil
	}
	return fmt.Errorf("sqlite: %s: %w (PRAGMA %s: %s); restore it from a backup",
		s.path, ErrDamaged, pragma, strings.Join(found, "; "))
}

// damaged words a check that could not even run: SQLite's own report of
// corruption is the answer, anything else an error of its own.
func damaged(path, pragma string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return fmt.Errorf("sqlite: %s: %w (PRAGMA %s: %v); restore it from a backup", path, ErrDamaged, pragma, err)
	}
	return fmt.Errorf("sqlite: %s: PRAGMA %s: %w", path, pragma, err)
}
