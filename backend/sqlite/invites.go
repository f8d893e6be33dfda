package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wicketldap/wicket/backend"
)

var _ backend.InviteStore = (*Store)(nil)

func (s *Store) SetInvite(ctx context.Context, accountID int64, hash []byte, expires time.Time) error {
	return s.change(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, accountID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlite: set invite: account %d: %w", accountID, backend.ErrNotFound)
			}
			return fmt.Errorf("sqlite: set invite: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO totp_invites (account_id, hash, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET hash = excluded.hash, expires_at = excluded.expires_at`,
			accountID, hash, toNanos(expires))
		return mapErr("set invite", err)
	})
}

func (s *Store) InviteValid(ctx context.Context, accountID int64, hash []byte, now time.Time) (bool, error) {
	var stored []byte
	err := s.r.QueryRowContext(ctx, `SELECT hash FROM totp_invites WHERE account_id = ? AND expires_at > ?`,
		accountID, toNanos(now)).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: read invite: %w", err)
	}
	return subtle.ConstantTimeCompare(stored, hash) == 1, nil
}

func (s *Store) EnrolFirstTOTP(ctx context.Context, accountID int64, inviteHash, seed []byte, lastStep int64, now time.Time) error {
	if len(seed) == 0 {
		return fmt.Errorf("sqlite: enrol: empty seed: %w", backend.ErrInvalidInput)
	}
	return s.change(ctx, func(tx *sql.Tx) error {
		if inviteHash != nil {
			res, err := tx.ExecContext(ctx, `DELETE FROM totp_invites WHERE account_id = ? AND hash = ? AND expires_at > ?`,
				accountID, inviteHash, toNanos(now))
			if err != nil {
				return fmt.Errorf("sqlite: use invite: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("sqlite: use invite: account %d: %w", accountID, backend.ErrInvalidInvite)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET totp_seed = ?, totp_last_step = ? WHERE id = ? AND totp_seed IS NULL`,
			seed, lastStep, accountID)
		if err != nil {
			return mapErr("enrol", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("sqlite: enrol: account %d has TOTP already or is gone: %w", accountID, backend.ErrExists)
		}
		return nil
	})
}
