package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/wicketldap/wicket/backend"
)

func (s *Store) InsertAudit(ctx context.Context, recs []backend.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return insertAudit(ctx, tx, recs) })
}

const qInsertAudit = `INSERT INTO audit (at, actor, action, subject, method, remote, result, detail, count)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

func insertAudit(ctx context.Context, tx *sql.Tx, recs []backend.AuditRecord) error {
	st, err := tx.PrepareContext(ctx, qInsertAudit)
	if err != nil {
		return fmt.Errorf("sqlite: insert audit records: %w", err)
	}
	defer st.Close()
	for _, r := range recs {
		if err := execAudit(ctx, st, r); err != nil {
			return err
		}
	}
	return nil
}

// execAudit inserts r with st, a prepared qInsertAudit.
func execAudit(ctx context.Context, st *sql.Stmt, r backend.AuditRecord) error {
	if _, err := st.ExecContext(ctx, toNanos(r.At), nullString(r.Actor), r.Action, nullString(r.Subject),
		nullString(r.Method), nullString(r.Remote), r.Result, nullString(r.Detail), max(1, r.Count)); err != nil {
		return fmt.Errorf("sqlite: insert audit record: %w", err)
	}
	return nil
}

func (s *Store) ListAudit(ctx context.Context, f backend.AuditFilter) ([]backend.AuditRecord, error) {
	// Conditions are added only when set, so that SQLite picks the index
	// that fits: audit_subject for one account, audit_at otherwise.
	var where []string
	var args []any
	if f.Subject != "" {
		where, args = append(where, "subject = ?"), append(args, f.Subject)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, f.Since.UnixNano())
	}
	q := `SELECT id, at, actor, action, subject, method, remote, result, detail, count FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// id breaks ties between records of the same instant in insertion order.
	q += " ORDER BY at DESC, id DESC"
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit records: %w", err)
	}
	defer rows.Close()
	var out []backend.AuditRecord
	for rows.Next() {
		var (
			r                                      backend.AuditRecord
			at                                     int64
			actor, subject, method, remote, detail sql.NullString
		)
		if err := rows.Scan(&r.ID, &at, &actor, &r.Action, &subject, &method, &remote, &r.Result, &detail, &r.Count); err != nil {
			return nil, fmt.Errorf("sqlite: list audit records: %w", err)
		}
		r.At = fromNanos(at)
		r.Actor, r.Subject, r.Method, r.Remote, r.Detail = actor.String, subject.String, method.String, remote.String, detail.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit records: %w", err)
	}
	return out, nil
}

func (s *Store) PruneAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	// DELETE … LIMIT needs a compile-time option; a subquery on the index
	// of at bounds the statement all the same.
	if err := s.CheckFile(); err != nil {
		return 0, err
	}
	res, err := s.w.ExecContext(ctx,
		`DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY at LIMIT ?)`,
		before.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune audit records: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune audit records: %w", err)
	}
	return int(n), nil
}
