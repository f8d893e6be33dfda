package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wicketldap/wicket/backend"
)

const selectAppPassword = `SELECT id, account_id, label, created_at, last_used_at, last_used_from, revoked_at, uuid
	FROM app_passwords`

func scanAppPassword(row scanner) (*backend.AppPassword, error) {
	var (
		p                 backend.AppPassword
		created           int64
		lastUsed, revoked sql.NullInt64
		lastUsedFrom      sql.NullString
		uuid              []byte
	)
	if err := row.Scan(&p.ID, &p.AccountID, &p.Label, &created, &lastUsed, &lastUsedFrom, &revoked, &uuid); err != nil {
		return nil, err
	}
	copy(p.UUID[:], uuid)
	p.CreatedAt = fromNanos(created)
	p.LastUsedAt = fromNullNanos(lastUsed)
	p.LastUsedFrom = lastUsedFrom.String
	p.RevokedAt = fromNullNanos(revoked)
	return &p, nil
}

// CreateAppPassword stores p as a new, active and never used app password;
// p's LastUsed and Revoked fields are ignored.
func (s *Store) CreateAppPassword(ctx context.Context, p *backend.AppPassword, verifier []byte, limit int) error {
	if p.ID == "" || len(verifier) == 0 {
		return fmt.Errorf("sqlite: create app password: empty id or verifier: %w", backend.ErrInvalidInput)
	}
	// Immediate transaction: the count and the insert see the same state,
	// so parallel creations cannot together pass the limit.
	var uuid backend.UUID
	err := s.change(ctx, func(tx *sql.Tx) error {
		ins, err := prepareAppPasswordInsert(ctx, tx)
		if err != nil {
			return err
		}
		defer ins.close()
		uuid, err = ins.insert(ctx, p, verifier, limit)
		return err
	})
	if err == nil {
		p.UUID = uuid
	}
	return err
}

func (s *Store) GrantAppPasswords(ctx context.Context, grants []backend.AppPasswordGrant, limit int) error {
	for _, g := range grants {
		if !g.EnrolOnly() && (g.AppPassword.ID == "" || len(g.Verifier) == 0) {
			return fmt.Errorf("sqlite: grant app passwords: empty id or verifier: %w", backend.ErrInvalidInput)
		}
	}
	if len(grants) == 0 {
		return nil
	}
	uuids := make([]backend.UUID, len(grants))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ins, err := prepareAppPasswordInsert(ctx, tx)
		if err != nil {
			return err
		}
		defer ins.close()
		audit, err := tx.PrepareContext(ctx, qInsertAudit)
		if err != nil {
			return fmt.Errorf("sqlite: grant app passwords: %w", err)
		}
		defer audit.Close()
		enrol, err := tx.PrepareContext(ctx, `UPDATE accounts SET totp_seed = ?, totp_last_step = 0
			WHERE id = ? AND coalesce(length(totp_seed), 0) = 0`)
		if err != nil {
			return fmt.Errorf("sqlite: grant app passwords: %w", err)
		}
		defer enrol.Close()
		for i, g := range grants {
			p := &g.AppPassword
			if len(g.Seed) > 0 {
				res, err := enrol.ExecContext(ctx, g.Seed, p.AccountID)
				if err != nil {
					return mapErr("enrol totp", err)
				}
				if n, err := res.RowsAffected(); err != nil || n != 1 {
					// No row: an unknown account, or one enrolled meanwhile.
					enrolled, err := ins.enrolled(ctx, p.AccountID)
					if err != nil {
						return err
					}
					if enrolled {
						return fmt.Errorf("sqlite: enrol totp: account %d already has a second factor: %w", p.AccountID, backend.ErrExists)
					}
					return fmt.Errorf("sqlite: enrol totp: account %d: %w", p.AccountID, backend.ErrNotFound)
				}
				if g.Enrolment != nil {
					if err := execAudit(ctx, audit, g.Enrolment.Record(0)); err != nil {
						return err
					}
				}
			}
			if g.EnrolOnly() {
				continue
			}
			if uuids[i], err = ins.insert(ctx, p, g.Verifier, limit); err != nil {
				return err
			}
			if g.Creation != nil {
				if err := execAudit(ctx, audit, g.Creation.Record(0)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Only once committed: a refused batch leaves its app passwords as given.
	for i := range grants {
		grants[i].AppPassword.UUID = uuids[i]
	}
	return nil
}

// appPasswordInsert holds the statements that create an app password,
// prepared once for a whole batch.
type appPasswordInsert struct {
	enrolledQ, active, insertQ *sql.Stmt
}

func prepareAppPasswordInsert(ctx context.Context, tx *sql.Tx) (*appPasswordInsert, error) {
	var w appPasswordInsert
	for _, st := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&w.enrolledQ, `SELECT coalesce(length(totp_seed), 0) > 0 FROM accounts WHERE id = ?`},
		{&w.active, `SELECT count(*) FROM app_passwords WHERE account_id = ? AND revoked_at IS NULL`},
		{&w.insertQ, `INSERT INTO app_passwords (id, account_id, label, verifier, created_at, uuid) VALUES (?, ?, ?, ?, ?, ?)`},
	} {
		var err error
		if *st.dst, err = tx.PrepareContext(ctx, st.query); err != nil {
			w.close()
			return nil, fmt.Errorf("sqlite: create app password: %w", err)
		}
	}
	return &w, nil
}

func (w *appPasswordInsert) close() {
	for _, st := range []*sql.Stmt{w.enrolledQ, w.active, w.insertQ} {
		if st != nil {
			st.Close()
		}
	}
}

// enrolled reports whether the account has a second factor; ErrNotFound
// when there is no such account.
func (w *appPasswordInsert) enrolled(ctx context.Context, accountID int64) (bool, error) {
	var enrolled bool
	err := w.enrolledQ.QueryRowContext(ctx, accountID).Scan(&enrolled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("sqlite: create app password: account %d: %w", accountID, backend.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: create app password: %w", err)
	}
	return enrolled, nil
}

// insert stores p with a new UUID, which it returns, unless the account
// has no second factor or already has limit active app passwords, as
// CreateAppPassword documents.
func (w *appPasswordInsert) insert(ctx context.Context, p *backend.AppPassword, verifier []byte, limit int) (backend.UUID, error) {
	// The second factor is checked here, not only by the caller, so a
	// concurrent TOTP removal cannot leave an app password behind.
	enrolled, err := w.enrolled(ctx, p.AccountID)
	if err != nil {
		return backend.UUID{}, err
	}
	if !enrolled {
		return backend.UUID{}, backend.ErrSecondFactorRequired
	}
	var active int
	if err := w.active.QueryRowContext(ctx, p.AccountID).Scan(&active); err != nil {
		return backend.UUID{}, fmt.Errorf("sqlite: create app password: %w", err)
	}
	if active >= limit {
		return backend.UUID{}, fmt.Errorf("sqlite: create app password: %d active, limit %d: %w", active, limit, backend.ErrLimitReached)
	}
	uuid := backend.NewUUID()
	_, err = w.insertQ.ExecContext(ctx, p.ID, p.AccountID, p.Label, verifier, toNanos(p.CreatedAt), uuid[:])
	return uuid, mapErr("create app password", err)
}

func (s *Store) AppPasswordByVerifier(ctx context.Context, accountID int64, verifier []byte) (*backend.AppPassword, error) {
	p, err := scanAppPassword(s.appPasswordByVerifier.QueryRowContext(pointRead(ctx), accountID, verifier))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: app password of account %d: %w", accountID, backend.ErrNoSuchAppPassword)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: app password of account %d: %w", accountID, err)
	}
	return p, nil
}

func (s *Store) AppPasswordByUUID(ctx context.Context, u backend.UUID) (*backend.AppPassword, error) {
	p, err := scanAppPassword(s.r.QueryRowContext(pointRead(ctx), qAppPasswordByUUID, u[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: app password %s: %w", u, backend.ErrNoSuchAppPassword)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: app password %s: %w", u, err)
	}
	return p, nil
}

func (s *Store) ListAppPasswords(ctx context.Context, accountID int64) ([]backend.AppPassword, error) {
	var out []backend.AppPassword
	err := scanAppPasswords(s.listAppPasswords.QueryContext(pointRead(ctx), accountID))(func(p *backend.AppPassword) {
		out = append(out, *p)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list app passwords: %w", err)
	}
	return out, nil
}

func (s *Store) AllAppPasswords(ctx context.Context) (map[int64][]backend.AppPassword, error) {
	out := make(map[int64][]backend.AppPassword)
	err := scanAppPasswords(s.r.QueryContext(ctx, qAllAppPasswords))(func(p *backend.AppPassword) {
		out[p.AccountID] = append(out[p.AccountID], *p)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list all app passwords: %w", err)
	}
	return out, nil
}

// scanAppPasswords calls each with every row of a query of selectAppPassword.
func scanAppPasswords(rows *sql.Rows, err error) func(each func(*backend.AppPassword)) error {
	return func(each func(*backend.AppPassword)) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanAppPassword(rows)
			if err != nil {
				return err
			}
			each(p)
		}
		return rows.Err()
	}
}

func (s *Store) RevokeAppPassword(ctx context.Context, accountID int64, id string, at time.Time) error {
	return s.change(ctx, func(tx *sql.Tx) error {
		// Matching on the account too keeps one user from revoking another's
		// password by guessing its id.
		res, err := tx.ExecContext(ctx,
			`UPDATE app_passwords SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL`,
			revokedAt(at), id, accountID)
		if err != nil {
			return fmt.Errorf("sqlite: revoke app password: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: revoke app password: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: revoke app password %q: %w", id, backend.ErrNoSuchAppPassword)
		}
		return nil
	})
}

func (s *Store) RevokeAppPasswords(ctx context.Context, accountID int64, ids []string, at time.Time) error {
	return s.change(ctx, func(tx *sql.Tx) error {
		for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
			res, err := tx.ExecContext(ctx,
				`UPDATE app_passwords SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL`,
				revokedAt(at), id, accountID)
			if err != nil {
				return fmt.Errorf("sqlite: revoke app passwords: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				// Rolls back the ones already revoked in this transaction.
				return fmt.Errorf("sqlite: revoke app password %q: %w", id, backend.ErrNoSuchAppPassword)
			}
		}
		return nil
	})
}

func (s *Store) RevokeAllAppPasswords(ctx context.Context, accountID int64, at time.Time) (int, error) {
	revoked := 0
	err := s.changeCounting(ctx, func(tx *sql.Tx) (int, error) {
		var err error
		revoked, err = revokeAll(ctx, tx, accountID, at)
		return revoked, err
	})
	if err != nil {
		return 0, err
	}
	return revoked, nil
}

func revokeAll(ctx context.Context, tx *sql.Tx, accountID int64, at time.Time) (int, error) {
	res, err := tx.ExecContext(ctx,
		`UPDATE app_passwords SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL`,
		revokedAt(at), accountID)
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke app passwords: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke app passwords: %w", err)
	}
	return int(n), nil
}

// revokedAt never yields NULL: a NULL revoked_at means active, so revoking
// "at the zero time" must still revoke.
func revokedAt(at time.Time) int64 {
	if at.IsZero() {
		return 0
	}
	return at.UnixNano()
}

func (s *Store) RecordAppPasswordUses(ctx context.Context, uses []backend.AppPasswordUse) error {
	if len(uses) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// The condition keeps last_used_at monotonic when batches, or uses
		// within one, arrive out of order. Unknown ids (an account deleted
		// since) match nothing and are dropped.
		st, err := tx.PrepareContext(ctx, `UPDATE app_passwords SET last_used_at = ?, last_used_from = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
		if err != nil {
			return fmt.Errorf("sqlite: record app password uses: %w", err)
		}
		defer st.Close()
		for _, u := range uses {
			if u.At.IsZero() {
				continue
			}
			at := u.At.UnixNano()
			if _, err := st.ExecContext(ctx, at, nullString(u.From), u.ID, at); err != nil {
				return fmt.Errorf("sqlite: record app password use: %w", err)
			}
		}
		return nil
	})
}
