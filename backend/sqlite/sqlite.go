// Package sqlite is the embedded default store of wicket: one SQLite file in
// WAL mode, written through a single connection and read through a pool.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/wicketldap/wicket/backend"
)

var _ backend.Store = (*Store)(nil)

// ErrSchemaTooNew is returned by Open for a database written by a later
// wicket: running old code against a newer schema could silently drop or
// misread data, so the database is left untouched.
var ErrSchemaTooNew = errors.New("database schema is newer than this wicket supports")

// busyTimeoutMS bounds how long a statement waits for another process (an
// administration command next to a running server) to release its lock.
const busyTimeoutMS = 5000

// Store implements backend.Store on SQLite.
type Store struct {
	path string
	// w is the only connection that writes. SQLite allows one writer at a
	// time anyway; funnelling writes through one connection turns lock
	// contention into a queue in database/sql instead of SQLITE_BUSY.
	w *sql.DB
	// r is a read-only pool: in WAL mode readers never wait for the writer.
	r *sql.DB

	accountByName         *sql.Stmt
	accountByMail         *sql.Stmt
	appPasswordByVerifier *sql.Stmt
	listAppPasswords      *sql.Stmt
	advanceTOTPStep       *sql.Stmt
	generation            *sql.Stmt
	// wal spares the bind path a query while nothing commits; pin keeps a
	// connection open for as long as it watches (walwatch.go).
	wal *walWatch
	pin *sql.Conn

	// file is the database file as the writer opened it; lost, once set,
	// refuses every write (filewatch.go).
	file   os.FileInfo
	lost   atomic.Pointer[FileLostError]
	onLost func(error)
	// walFile is the WAL this store's connections use, to tell it from
	// another file's after a loss (SetAsideLostWAL).
	walFile os.FileInfo
}

// Open opens the wicket database at path and migrates its schema to the
// version this binary knows. The file must exist and hold a wicket schema:
// a missing file, an empty one (SQLite would take it for a new database)
// or a SQLite file of something else is refused, so that a wrong path can
// never turn into a new, empty directory of accounts. Create makes a new
// database.
func Open(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path %q: %w", path, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("sqlite: database %s does not exist: %w", abs, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("sqlite: database: %w", err)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("sqlite: database %s is not a regular file", abs)
	case st.Size() == 0:
		return nil, fmt.Errorf("sqlite: database %s: %w", abs, ErrEmptyFile)
	}
	return open(abs, false)
}

// ErrEmptyFile is returned by Open for a database file of 0 bytes. SQLite
// would treat it as a new database; a wicket database never is empty (its
// first page is written when it is created), so the file was truncated or
// made by something else, and starting on it would serve no accounts.
var ErrEmptyFile = errors.New("the file is empty (0 bytes), so it is not a wicket database; restore the database from a backup")

// ErrNotWicket is returned by Open for a SQLite file without a wicket
// schema: migrating it would write wicket's tables into another program's
// database, or make a new directory of accounts out of a wrong path.
var ErrNotWicket = errors.New("the file holds no wicket schema (PRAGMA user_version is 0), so it is not a wicket database")

// Create makes a new, empty wicket database at path (mode 0600) and opens
// it. It fails, wrapping fs.ErrExist, when a file is there, and creates no
// directory. The database is built under a temporary name and linked into
// place when complete, so that path never holds a half-made database and
// two processes racing to create it cannot both succeed.
func Create(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path %q: %w", path, err)
	}
	dir := filepath.Dir(abs)
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("sqlite: database directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("sqlite: database directory %s is not a directory", dir)
	}
	if _, err := os.Lstat(abs); err == nil {
		return nil, fmt.Errorf("sqlite: database %s: %w", abs, fs.ErrExist)
	}
	// CreateTemp makes the file 0600; SQLite would otherwise create it with
	// the process umask, which usually leaves password hashes and sealed
	// seeds world-readable. The WAL and shared-memory files inherit the
	// mode of this file.
	f, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".new-*")
	if err != nil {
		return nil, fmt.Errorf("sqlite: create database: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create database: %w", err)
	}
	s, err := open(tmp, true)
	if err != nil {
		return nil, err
	}
	// The last connection to close checkpoints the WAL into the file and
	// removes it: what is linked into place is the whole database.
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create database: %w", err)
	}
	if _, err := os.Stat(tmp + "-wal"); err == nil {
		os.Remove(tmp + "-shm")
		return nil, fmt.Errorf("sqlite: create database: the WAL of %s was not checkpointed", tmp)
	}
	if err := os.Link(tmp, abs); err != nil {
		return nil, fmt.Errorf("sqlite: create database: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sqlite: create database: %w", err)
	}
	return Open(abs)
}

// open opens the file at abs; fresh allows a file without a schema, the
// one Create has just made.
func open(abs string, fresh bool) (*Store, error) {
	s := &Store{path: abs}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	var err error
	s.w, err = sql.Open("sqlite3", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	ctx := context.Background()
	if err := s.checkDurability(ctx); err != nil {
		return nil, err
	}
	// The writer has the file open: this is the file every write goes to,
	// which CheckFile compares the path with (filewatch.go).
	if s.file, err = os.Stat(abs); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if !fresh {
		var v int
		if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
		}
		if v == 0 {
			return nil, fmt.Errorf("sqlite: database %s: %w", abs, ErrNotWicket)
		}
	}
	if err := migrate(ctx, s.w, migrations); err != nil {
		return nil, err
	}

	// Opened only after migrating, so no reader ever sees a schema half-way.
	s.r, err = sql.Open("sqlite3", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if err := s.r.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}

	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	if s.pin, err = s.r.Conn(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	s.wal = openWALWatch(abs)
	// The pinned connection keeps the WAL in place for the store's life.
	s.walFile, _ = os.Stat(abs + "-wal")
	ok = true
	return s, nil
}

// dsn builds the connection string. Every pragma lives here rather than in
// a one-off Exec, because database/sql opens and reopens pooled connections
// on its own and each must come up with the same settings.
func dsn(abs string, readOnly bool) string {
	q := url.Values{}
	// The file already exists (Open checks it; Create makes it 0600);
	// mode=rw stops SQLite from creating one if it vanishes.
	q.Set("mode", "rw")
	q.Set("_journal_mode", "WAL")
	// Under WAL, NORMAL can lose the last commits on power loss: a revoked
	// app password or a used TOTP step would come back to life.
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMS))
	if readOnly {
		q.Set("_query_only", "true")
	} else {
		// A deferred transaction that reads then writes can fail with
		// SQLITE_BUSY at its first write, after the read it relied on;
		// taking the write lock at BEGIN makes read-check-write atomic.
		q.Set("_txlock", "immediate")
	}
	return fileURI(abs, q)
}

// checkDurability refuses to run when the file system cannot give WAL
// (SQLite then silently keeps another journal mode) or the synchronous
// setting did not take.
func (s *Store) checkDurability(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: %s: journal mode is %q, want wal (is the file system local?)", s.path, mode)
	}
	var sync int
	if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	if sync < 2 {
		return fmt.Errorf("sqlite: %s: synchronous is %d, want FULL (2)", s.path, sync)
	}
	return nil
}

// The statements of the bind path, and of what the bulk commands repeat
// for every account, prepared once at Open.
const (
	// A bind's lookup always yields one row, the account's or else the
	// decoy, and reads it the same way: a name that matches no account
	// must take as long to answer as one that does, or app-password-shaped
	// guesses would tell which names exist. SQLite runs UNION ALL's parts
	// in order, so LIMIT 1 keeps the account when there is one (the store
	// conformance tests would see the decoy win); real ids start at 1.
	qAccountByName = selectAccount + ` WHERE name = ?
		UNION ALL ` + decoyAccount + ` LIMIT 1`
	// "mail <> ''" repeats the partial index's condition so that SQLite
	// may use that index. An address is at most one account's, as mail or
	// alias, so the two halves never both yield a row.
	qAccountByMail = selectAccount + ` WHERE mail = ? AND mail <> ''
		UNION ALL ` + selectAccount + ` WHERE id = (SELECT account_id FROM aliases WHERE address = ?)
		UNION ALL ` + decoyAccount + ` LIMIT 1`
	// decoyAccount has the columns of selectAccount, with values shaped
	// like an enrolled account's: a PHC argon2id string, a sealed seed and
	// a salt of the usual lengths.
	decoyAccount = `SELECT 0, '', NULL, 'user', 0,
		'$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
		zeroblob(61), 0, '', '', '', zeroblob(16), 0, 0, 0, 0, 0, 0, 0, 0, 0`
	qAppPasswordByVerifier = selectAppPassword + ` WHERE account_id = ? AND verifier = ?`
	qAppPasswordByUUID     = selectAppPassword + ` WHERE uuid = ? AND revoked_at IS NULL`
	// rowid breaks ties between passwords created within the same instant
	// in creation order.
	qListAppPasswords = selectAppPassword + ` WHERE account_id = ? AND revoked_at IS NULL ORDER BY created_at, rowid`
	qAllAppPasswords  = selectAppPassword + ` WHERE revoked_at IS NULL ORDER BY account_id, created_at, rowid`
	qAdvanceTOTPStep  = `UPDATE accounts SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`
	qGeneration       = `SELECT n, stamp FROM generation`
)

func (s *Store) prepare(ctx context.Context) error {
	var err error
	prep := func(db *sql.DB, query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, query)
		if err != nil {
			err = fmt.Errorf("sqlite: prepare %q: %w", query, err)
		}
		return st
	}
	s.accountByName = prep(s.r, qAccountByName)
	s.accountByMail = prep(s.r, qAccountByMail)
	s.appPasswordByVerifier = prep(s.r, qAppPasswordByVerifier)
	s.listAppPasswords = prep(s.r, qListAppPasswords)
	s.advanceTOTPStep = prep(s.w, qAdvanceTOTPStep)
	s.generation = prep(s.r, qGeneration)
	return err
}

// Close finalizes the prepared statements, then closes the readers and the
// writer. The writer goes last so that, as the final connection, it can
// checkpoint the WAL back into the database file.
func (s *Store) Close() error {
	var errs []error
	if s.wal != nil {
		s.wal.close()
		s.wal = nil
	}
	if s.pin != nil {
		errs = append(errs, s.pin.Close())
		s.pin = nil
	}
	for _, st := range []*sql.Stmt{s.accountByName, s.accountByMail, s.appPasswordByVerifier, s.listAppPasswords, s.advanceTOTPStep, s.generation} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// mapErr turns a uniqueness violation into backend.ErrExists, keeping the
// driver's message for the log.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey) {
		return fmt.Errorf("sqlite: %s: %w (%v)", op, backend.ErrExists, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// inTx runs fn in one immediate transaction on the writer. fn must use only
// tx: the writer has a single connection, which tx is holding.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// Checked holding the write lock, before anything is written.
	if err := s.CheckFile(); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// change runs fn, a change to an account, its app passwords or the
// directory, as inTx does, and inserts the audit record ctx carries
// (backend.WithChange) in the same transaction before the commit: the
// change and its record commit together or not at all.
func (s *Store) change(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.changeCounting(ctx, func(tx *sql.Tx) (int, error) { return 0, fn(tx) })
}

// changeCounting is change for a change whose record counts what only the
// transaction knows (app passwords revoked, seeds re-encrypted): fn
// returns that count.
func (s *Store) changeCounting(ctx context.Context, fn func(tx *sql.Tx) (int, error)) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := fn(tx)
		if err != nil {
			return err
		}
		if c := backend.ChangeFrom(ctx); c != nil {
			return insertAudit(ctx, tx, []backend.AuditRecord{c.Record(n)})
		}
		return nil
	})
}

func (s *Store) Generation(ctx context.Context) (backend.Generation, error) {
	var h [walHeaderSize]byte
	watched := false
	if s.wal != nil {
		if h, watched = s.wal.header(); watched {
			if g, ok := s.wal.cached(h); ok {
				return g, nil
			}
		}
	}
	var n, stamp int64
	if err := s.generation.QueryRowContext(pointRead(ctx)).Scan(&n, &stamp); err != nil {
		return backend.Generation{}, fmt.Errorf("sqlite: generation: %w", err)
	}
	g := backend.Generation{N: uint64(n), Stamp: uint64(stamp)}
	if watched {
		s.wal.remember(h, g)
	}
	return g, nil
}

var _ backend.WriteChecker = (*Store)(nil)

// CheckWritable begins a write transaction and rolls it back. It takes the
// write lock as every change does (the writer's transactions are
// immediate), so it fails as a change would when the database is read-only
// or another process holds the lock past the busy timeout, and it writes
// nothing: no page, no audit record, no new generation.
func (s *Store) CheckWritable(ctx context.Context) error {
	// A deleted or replaced file takes writes in WAL mode until a
	// checkpoint, into a file nobody will open again: only its watch knows.
	if err := s.CheckFile(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: beginning a write: %w", err)
	}
	if err := tx.Rollback(); err != nil {
		return fmt.Errorf("sqlite: rolling back: %w", err)
	}
	return nil
}
