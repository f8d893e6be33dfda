package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// failureColumns are the failure records of both paths, in the order
// scanAccount reads them.
const failureColumns = `password_failures, password_failed_at, password_locked_until,
	apppw_failures, apppw_failed_at, apppw_locked_until`

// pathColumns names one path's count, last failure and lock end.
func pathColumns(p backend.AuthPath) (count, at, until string, ok bool) {
	switch p {
	case backend.PathPassword:
		return "password_failures", "password_failed_at", "password_locked_until", true
	case backend.PathAppPassword:
		return "apppw_failures", "apppw_failed_at", "apppw_locked_until", true
	}
	return "", "", "", false
}

type failureRow struct{ count, at, until int64 }

func (r failureRow) failures() backend.Failures {
	return backend.Failures{Count: int(r.count), LastAt: fromNanos(r.at), LockedUntil: fromNanos(r.until)}
}

// RecordAuthFailure reads and rewrites the record in one immediate
// transaction: the write lock is taken at BEGIN, so parallel callers queue
// and each sees the one before it. The rule itself is backend.Failures.After,
// the same for every store.
func (s *Store) RecordAuthFailure(ctx context.Context, id int64, path backend.AuthPath, at time.Time, policy backend.LockoutPolicy) (backend.Failures, error) {
	cCount, cAt, cUntil, ok := pathColumns(path)
	if !ok {
		return backend.Failures{}, fmt.Errorf("sqlite: record failure: path %d: %w", path, backend.ErrInvalidInput)
	}
	var next backend.Failures
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var r failureRow
		// The column names are the constants above, never input.
		err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT %s, %s, %s FROM accounts WHERE id = ?`, cCount, cAt, cUntil), id).
			Scan(&r.count, &r.at, &r.until)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: record failure: account %d: %w", id, backend.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: record failure: %w", err)
		}
		next = r.failures().After(at, policy)
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`UPDATE accounts SET %s = ?, %s = ?, %s = ? WHERE id = ?`, cCount, cAt, cUntil),
			next.Count, toNanos(next.LastAt), toNanos(next.LockedUntil), id)
		if err != nil {
			return fmt.Errorf("sqlite: record failure: %w", err)
		}
		return nil
	})
	if err != nil {
		return backend.Failures{}, err
	}
	return failureRow{int64(next.Count), toNanos(next.LastAt), toNanos(next.LockedUntil)}.failures(), nil
}

func (s *Store) ResetAuthFailures(ctx context.Context, id int64, path backend.AuthPath) error {
	cCount, cAt, cUntil, ok := pathColumns(path)
	if !ok {
		return fmt.Errorf("sqlite: reset failures: path %d: %w", path, backend.ErrInvalidInput)
	}
	return s.updateAccount(ctx, "reset failures", id,
		fmt.Sprintf(`UPDATE accounts SET %s = 0, %s = 0, %s = 0 WHERE id = ?`, cCount, cAt, cUntil), id)
}

func (s *Store) UnlockAccount(ctx context.Context, id int64) error {
	return s.updateAccount(ctx, "unlock", id, `UPDATE accounts SET
		password_failures = 0, password_failed_at = 0, password_locked_until = 0,
		apppw_failures = 0, apppw_failed_at = 0, apppw_locked_until = 0, unlocks = unlocks + 1 WHERE id = ?`, id)
}
