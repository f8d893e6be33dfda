package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wicketldap/wicket/backend"
)

const selectAccount = `SELECT id, name, mail, role, disabled, password_hash, totp_seed, totp_last_step,
	given_name, surname, display_name, apppw_salt, created_at, password_changed_at,
	` + failureColumns + `, unlocks FROM accounts`

type scanner interface {
	Scan(dest ...any) error
}

func scanAccount(row scanner) (*backend.Account, error) {
	var (
		a                    backend.Account
		mail                 sql.NullString
		created, pwChangedAt int64
		pwFail, appFail      failureRow
	)
	err := row.Scan(&a.ID, &a.Name, &mail, &a.Role, &a.Disabled, &a.PasswordHash, &a.TOTPSeed,
		&a.TOTPLastStep, &a.GivenName, &a.Surname, &a.DisplayName, &a.AppPasswordSalt, &created, &pwChangedAt,
		&pwFail.count, &pwFail.at, &pwFail.until, &appFail.count, &appFail.at, &appFail.until, &a.Unlocks)
	if err != nil {
		return nil, err
	}
	a.PasswordFailures, a.AppPasswordFailures = pwFail.failures(), appFail.failures()
	a.Mail = mail.String
	a.CreatedAt = fromNanos(created)
	a.PasswordChangedAt = fromNanos(pwChangedAt)
	return &a, nil
}

// errNoSuchAccount is made once: formatting the name into it would be work
// only unknown names cost (see qAccountByName).
var errNoSuchAccount = fmt.Errorf("sqlite: no such account: %w", backend.ErrNotFound)

// pointRead is the context of a lookup by an indexed key on the bind path.
// database/sql watches a cancellable context with a goroutine per query;
// a read that takes microseconds is not worth one.
func pointRead(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (s *Store) AccountByName(ctx context.Context, name string) (*backend.Account, error) {
	a, err := scanAccount(s.accountByName.QueryRowContext(pointRead(ctx), name))
	if err == nil && a.ID == 0 {
		return nil, errNoSuchAccount
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: account %q: %w", name, err)
	}
	return a, nil
}

func (s *Store) AccountByMail(ctx context.Context, mail string) (*backend.Account, error) {
	// An empty address is how "no mail" is stored; it must never select
	// one of the accounts that lack one.
	if mail == "" {
		return nil, fmt.Errorf("sqlite: account by empty mail: %w", backend.ErrNotFound)
	}
	a, err := scanAccount(s.accountByMail.QueryRowContext(pointRead(ctx), mail, mail))
	if err == nil && a.ID == 0 {
		return nil, errNoSuchAccount
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: account with mail %q: %w", mail, err)
	}
	return a, nil
}

func (s *Store) ListAccounts(ctx context.Context) ([]backend.Account, error) {
	rows, err := s.r.QueryContext(ctx, selectAccount+` ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	defer rows.Close()
	var out []backend.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list accounts: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	return out, nil
}

func (s *Store) CreateAccount(ctx context.Context, a *backend.Account) error {
	var id int64
	err := s.change(ctx, func(tx *sql.Tx) error {
		ins, err := prepareAccountInsert(ctx, tx)
		if err != nil {
			return err
		}
		defer ins.close()
		id, err = ins.insert(ctx, a)
		return err
	})
	if err != nil {
		return err
	}
	a.ID = id
	return nil
}

func (s *Store) CreateAccounts(ctx context.Context, batch []backend.AccountCreation) error {
	if len(batch) == 0 {
		return nil
	}
	ids := make([]int64, len(batch))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ins, err := prepareAccountInsert(ctx, tx)
		if err != nil {
			return err
		}
		defer ins.close()
		audit, err := tx.PrepareContext(ctx, qInsertAudit)
		if err != nil {
			return fmt.Errorf("sqlite: create accounts: %w", err)
		}
		defer audit.Close()
		for i, c := range batch {
			if ids[i], err = ins.insert(ctx, c.Account); err != nil {
				return err
			}
			if c.Change != nil {
				if err := execAudit(ctx, audit, c.Change.Record(0)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Only once committed: a refused batch leaves its accounts as given.
	for i, c := range batch {
		c.Account.ID = ids[i]
	}
	return nil
}

// accountInsert holds the statements that create an account, prepared
// once for a whole batch.
type accountInsert struct {
	account, aliasOwner, uuidOwner *sql.Stmt
}

func prepareAccountInsert(ctx context.Context, tx *sql.Tx) (*accountInsert, error) {
	var w accountInsert
	var err error
	if w.account, err = tx.PrepareContext(ctx, `INSERT INTO accounts
		(name, mail, role, disabled, password_hash, totp_seed, totp_last_step, given_name, surname, display_name,
		 apppw_salt, created_at, password_changed_at, uuid, modified_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return nil, fmt.Errorf("sqlite: create account: %w", err)
	}
	if w.aliasOwner, err = tx.PrepareContext(ctx, qAliasOwner); err != nil {
		w.account.Close()
		return nil, fmt.Errorf("sqlite: create account: %w", err)
	}
	if w.uuidOwner, err = tx.PrepareContext(ctx, `SELECT name FROM accounts WHERE uuid = ?`); err != nil {
		w.account.Close()
		w.aliasOwner.Close()
		return nil, fmt.Errorf("sqlite: create account: %w", err)
	}
	return &w, nil
}

func (w *accountInsert) close() {
	w.account.Close()
	w.aliasOwner.Close()
	w.uuidOwner.Close()
}

// insert creates a, with a new UUID unless it keeps one, and returns its
// id.
func (w *accountInsert) insert(ctx context.Context, a *backend.Account) (int64, error) {
	salt := a.AppPasswordSalt
	if salt == nil {
		// The column is NOT NULL; a nil salt binds as NULL.
		salt = []byte{}
	}
	op := fmt.Sprintf("create account %q", a.Name)
	// The unique index keeps the mail from another account's mail; only
	// this check, in the same transaction, keeps it from an alias.
	if a.Mail != "" {
		var owner int64
		err := w.aliasOwner.QueryRowContext(ctx, a.Mail).Scan(&owner)
		switch {
		case err == nil:
			return 0, fmt.Errorf("sqlite: %s: mail is an alias of account %d: %w", op, owner, backend.ErrExists)
		case !errors.Is(err, sql.ErrNoRows):
			return 0, fmt.Errorf("sqlite: %s: %w", op, err)
		}
	}
	uuid := a.KeepUUID
	if uuid.IsZero() {
		uuid = backend.NewUUID()
	} else {
		// The unique index would refuse it too, but not say why.
		var owner string
		err := w.uuidOwner.QueryRowContext(ctx, uuid[:]).Scan(&owner)
		switch {
		case err == nil:
			return 0, fmt.Errorf("sqlite: %s: entryUUID %s is account %s's: %w", op, uuid, owner, backend.ErrUUIDTaken)
		case !errors.Is(err, sql.ErrNoRows):
			return 0, fmt.Errorf("sqlite: %s: %w", op, err)
		}
	}
	res, err := w.account.ExecContext(ctx,
		a.Name, nullString(a.Mail), a.Role, a.Disabled, a.PasswordHash, nullBlob(a.TOTPSeed), a.TOTPLastStep,
		a.GivenName, a.Surname, a.DisplayName, salt, toNanos(a.CreatedAt), toNanos(a.PasswordChangedAt),
		uuid[:], toNanos(a.CreatedAt))
	if err != nil {
		return 0, mapErr(op, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return id, nil
}

func (s *Store) DeleteAccount(ctx context.Context, id int64) error {
	// Its app passwords, aliases and group memberships go with it through
	// ON DELETE CASCADE.
	return s.updateAccount(ctx, "delete account", id, `DELETE FROM accounts WHERE id = ?`, id)
}

func (s *Store) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.updateAccount(ctx, "set disabled", id, `UPDATE accounts SET disabled = ? WHERE id = ?`, disabled, id)
}

func (s *Store) SetRole(ctx context.Context, id int64, role string) error {
	return s.updateAccount(ctx, "set role", id, `UPDATE accounts SET role = ? WHERE id = ?`, role, id)
}

// updateAccount runs one statement on the row of account id, as a change
// with its audit record, and reports ErrNotFound when no row matched.
func (s *Store) updateAccount(ctx context.Context, op string, id int64, query string, args ...any) error {
	return s.change(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return mapErr(op, err)
		}
		return mustAffect(op, res, id)
	})
}

func mustAffect(op string, res sql.Result, id int64) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: account %d: %w", op, id, backend.ErrNotFound)
	}
	return nil
}

func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string, revokeApps bool, at time.Time) (int, error) {
	revoked := 0
	err := s.changeCounting(ctx, func(tx *sql.Tx) (int, error) {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = ?, password_changed_at = ? WHERE id = ?`,
			hash, toNanos(at), id)
		if err != nil {
			return 0, mapErr("set password", err)
		}
		if err := mustAffect("set password", res, id); err != nil {
			return 0, err
		}
		if revokeApps {
			revoked, err = revokeAll(ctx, tx, id, at)
		}
		return revoked, err
	})
	if err != nil {
		return 0, err
	}
	return revoked, nil
}

func (s *Store) SetTOTPSeed(ctx context.Context, id int64, seed []byte, at time.Time) (int, error) {
	revoked := 0
	err := s.changeCounting(ctx, func(tx *sql.Tx) (int, error) {
		// A new seed restarts the step count: steps of the old seed say
		// nothing about codes of the new one.
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET totp_seed = ?, totp_last_step = 0 WHERE id = ?`,
			nullBlob(seed), id)
		if err != nil {
			return 0, mapErr("set totp seed", err)
		}
		if err := mustAffect("set totp seed", res, id); err != nil {
			return 0, err
		}
		// An empty seed is stored as NULL and so counts as removal: app
		// passwords must not outlive the second factor they depend on.
		if len(seed) == 0 {
			revoked, err = revokeAll(ctx, tx, id, at)
		}
		return revoked, err
	})
	if err != nil {
		return 0, err
	}
	return revoked, nil
}

func (s *Store) AdvanceTOTPStep(ctx context.Context, id int64, step int64) (bool, error) {
	// One conditional UPDATE: SQLite serialises writers, so of two callers
	// with the same step only the first finds totp_last_step < step.
	if err := s.CheckFile(); err != nil {
		return false, err
	}
	res, err := s.advanceTOTPStep.ExecContext(ctx, step, id, step)
	if err != nil {
		return false, fmt.Errorf("sqlite: advance totp step: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: advance totp step: %w", err)
	}
	return n == 1, nil
}

// posixColumns are the POSIX attributes, NULL when the account has none.
const posixColumns = `uid_number, gid_number, home_directory, login_shell`

type posixRow struct {
	uid, gid    sql.NullInt64
	home, shell sql.NullString
}

func (r posixRow) posix() *backend.Posix {
	if !r.uid.Valid {
		return nil
	}
	return &backend.Posix{UIDNumber: uint32(r.uid.Int64), GIDNumber: uint32(r.gid.Int64),
		HomeDirectory: r.home.String, LoginShell: r.shell.String}
}

// posixArgs are the column values of p, NULL for none.
func posixArgs(p *backend.Posix) []any {
	if p == nil {
		return []any{nil, nil, nil, nil}
	}
	return []any{int64(p.UIDNumber), int64(p.GIDNumber), p.HomeDirectory, nullString(p.LoginShell)}
}

// toNanos and fromNanos store times as Unix nanoseconds (years 1678 to
// 2262), with the zero time as 0 in the NOT NULL columns.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nullNanos and fromNullNanos map the zero time to NULL in optional columns.
func nullNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNullNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// HoldsSecrets reports whether the database holds anything a new key file
// would betray: a password hash, a sealed TOTP seed (opened only with the
// key that sealed it) or an app password (its verifier derived with the
// key's pepper). A database that does must never get a new key.
func (s *Store) HoldsSecrets(ctx context.Context) (bool, error) {
	var held bool
	err := s.r.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM accounts WHERE password_hash <> '' OR length(totp_seed) > 0)
		OR EXISTS (SELECT 1 FROM app_passwords)`).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", s.path, err)
	}
	return held, nil
}
