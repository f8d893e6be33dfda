package sqlite

import (
	"context"
	"database/sql"
)

// Revived is an app password that a restore makes active again.
type Revived struct {
	Account string `json:"account"`
	ID      string `json:"id"`
	Label   string `json:"label"`
}

// RevivedAppPasswords lists the app passwords active in the database at
// restored that were revoked in the one at replaced: a restore brings back
// the state of its backup, revocations made since included, and an
// administrator must know which passwords to revoke again. Nothing is
// changed in either, but the replaced one is opened for writing: as the
// last connection to close, that one folds any -wal file into the
// database and removes it, where a read-only one would leave an empty -wal
// and -shm beside it.
func RevivedAppPasswords(ctx context.Context, restored, replaced string) ([]Revived, error) {
	revoked := map[string]bool{}
	err := openFile(ctx, replaced, "rw", func(db *sql.DB) error {
		rows, err := db.QueryContext(ctx, `SELECT id FROM app_passwords WHERE revoked_at IS NOT NULL`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			revoked[id] = true
		}
		return rows.Err()
	})
	if err != nil || len(revoked) == 0 {
		return nil, err
	}
	var out []Revived
	err = openFile(ctx, restored, "ro", func(db *sql.DB) error {
		rows, err := db.QueryContext(ctx, `SELECT a.name, p.id, p.label FROM app_passwords p
			JOIN accounts a ON a.id = p.account_id WHERE p.revoked_at IS NULL ORDER BY a.name, p.created_at`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Revived
			if err := rows.Scan(&r.Account, &r.ID, &r.Label); err != nil {
				return err
			}
			if revoked[r.ID] {
				out = append(out, r)
			}
		}
		return rows.Err()
	})
	return out, err
}
