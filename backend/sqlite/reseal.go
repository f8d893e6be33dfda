package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

func (s *Store) ResealTOTPSeeds(ctx context.Context, reseal func(int64, []byte) ([]byte, error)) (int, error) {
	n := 0
	err := s.changeCounting(ctx, func(tx *sql.Tx) (int, error) {
		rows, err := tx.QueryContext(ctx, `SELECT id, totp_seed FROM accounts WHERE totp_seed IS NOT NULL AND length(totp_seed) > 0`)
		if err != nil {
			return 0, err
		}
		type row struct {
			id   int64
			seed []byte
		}
		var all []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.seed); err != nil {
				rows.Close()
				return 0, err
			}
			all = append(all, r)
		}
		if err := rows.Close(); err != nil {
			return 0, err
		}
		for _, r := range all {
			sealed, err := reseal(r.id, r.seed)
			if err != nil {
				return 0, fmt.Errorf("account %d: %w", r.id, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET totp_seed = ? WHERE id = ?`, sealed, r.id); err != nil {
				return 0, err
			}
			n++
		}
		return n, nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: reseal TOTP seeds: %w", err)
	}
	return n, nil
}
