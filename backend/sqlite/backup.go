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
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// SchemaVersion is the schema version this binary migrates databases to.
func SchemaVersion() int { return len(migrations) }

// FileInfo describes a wicket database file, with counts and never a
// secret.
type FileInfo struct {
	Path                string
	Size                int64
	SchemaVersion       int
	Accounts            int
	AppPasswords        int // active
	RevokedAppPasswords int
	TOTPSeeds           int
}

// CopyOptions tune CopyDatabase.
type CopyOptions struct {
	// Seed, when set, is given every sealed TOTP seed of the copy; an
	// error refuses the copy. It lets the caller prove that a key file
	// opens what the copy holds before anyone relies on the pair.
	Seed func(accountID int64, sealed []byte) error
}

// Copy is a checked copy of a database, in a temporary file of the
// directory it is meant for, until Install puts it in place.
type Copy struct {
	tmp  string
	Info FileInfo
}

// CopyDatabase copies the database at src into a new temporary file of
// dir, consistently even while a server writes to src, and checks the copy.
//
// It uses SQLite's online backup API in one step: the pages are read inside
// a single read transaction of src, and in WAL mode a read transaction sees
// exactly the transactions committed before it began, whether their pages
// are still in the -wal file or already checkpointed into the database
// file. Copying the database file alone misses the first kind (a
// revocation acknowledged a moment ago lives only in the -wal), and a
// backup run in several steps would start again each time the server
// commits. VACUUM INTO would be as consistent, but it rebuilds every
// table and index, holding the read transaction longer for no gain.
//
// The temporary file is created 0600 before SQLite opens it (SQLite
// creates files with the umask, usually world-readable), so the copy's
// password hashes and sealed seeds are never readable by others. The copy
// is switched out of WAL mode, so that it is one self-contained file that
// can be copied or archived alone; the server puts it back into WAL when
// it opens it. Nothing is left in dir when CopyDatabase fails.
func CopyDatabase(ctx context.Context, src, dir string, opt CopyOptions) (_ *Copy, err error) {
	src, err = filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	if err := requireDatabaseFile(src); err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}

	from, err := sql.Open("sqlite3", fileURI(src, url.Values{
		// Query-only: a backup never migrates or writes the database it
		// copies. Not mode=ro: opening a WAL database makes its -wal and
		// -shm files if the server is stopped, and only a read-write
		// connection, closing last, removes them again.
		"mode":          {"rw"},
		"_query_only":   {"true"},
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
	}))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", src, err)
	}
	defer from.Close()
	if err := requireWicketSchema(ctx, from, src); err != nil {
		return nil, err
	}

	f, err := os.CreateTemp(dir, "."+filepath.Base(src)+".copy-*")
	if err != nil {
		return nil, err
	}
	c := &Copy{tmp: f.Name()}
	if err := f.Close(); err != nil {
		os.Remove(c.tmp)
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Discard()
		}
	}()

	to, err := sql.Open("sqlite3", fileURI(c.tmp, url.Values{
		"mode":          {"rw"},
		"_journal_mode": {"DELETE"},
		"_synchronous":  {"FULL"},
	}))
	if err != nil {
		return nil, fmt.Errorf("open the copy: %w", err)
	}
	defer to.Close()
	if err := backupOnce(ctx, to, from); err != nil {
		return nil, fmt.Errorf("copy %s: %w", src, err)
	}
	// The copy's header says WAL, as the original's does; until the mode
	// is set again on this connection, reading it would make a -wal file.
	var mode string
	if err := to.QueryRowContext(ctx, "PRAGMA journal_mode = DELETE").Scan(&mode); err != nil {
		return nil, fmt.Errorf("copy %s: %w", src, err)
	}
	if !strings.EqualFold(mode, "delete") {
		return nil, fmt.Errorf("copy %s: journal mode stayed %q", src, mode)
	}
	if err := quickCheck(ctx, to); err != nil {
		return nil, fmt.Errorf("the copy of %s fails its check, so it was not kept: %w", src, err)
	}
	if err := describe(ctx, to, &c.Info, opt.Seed); err != nil {
		return nil, fmt.Errorf("the copy of %s: %w", src, err)
	}
	if err := to.Close(); err != nil {
		return nil, fmt.Errorf("close the copy: %w", err)
	}
	if c.Info.Size, err = syncFile(c.tmp); err != nil {
		return nil, fmt.Errorf("sync the copy: %w", err)
	}
	return c, nil
}

// Install puts the copy in place as dst, which must be in the directory
// the copy was made in. An existing dst is refused unless replace is set;
// the check and the placement are one step (a hard link fails on an
// existing name), so two backups started together cannot both think
// they wrote dst.
func (c *Copy) Install(dst string, replace bool) error {
	abs, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	if filepath.Dir(abs) != filepath.Dir(c.tmp) {
		return fmt.Errorf("install %s: the copy was made in %s", dst, filepath.Dir(c.tmp))
	}
	if replace {
		err = os.Rename(c.tmp, abs)
	} else if err = os.Link(c.tmp, abs); err == nil {
		err = os.Remove(c.tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: %w", dst, fs.ErrExist)
	}
	if err != nil {
		return err
	}
	c.tmp = ""
	c.Info.Path = abs
	return syncDir(filepath.Dir(abs))
}

// Discard removes the copy if it was not installed.
func (c *Copy) Discard() {
	if c.tmp == "" {
		return
	}
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(c.tmp + suffix)
	}
	c.tmp = ""
}

// Inspect describes the database at path, read-only, after a quick check;
// seed is given every sealed TOTP seed (see CopyOptions.Seed). A backup is
// inspected before it is restored, so that a wrong file is refused before
// anything changes.
func Inspect(ctx context.Context, path string, seed func(accountID int64, sealed []byte) error) (*FileInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	info := &FileInfo{Path: abs}
	err = openFile(ctx, abs, "ro", func(db *sql.DB) error {
		if err := requireWicketSchema(ctx, db, path); err != nil {
			return err
		}
		if err := quickCheck(ctx, db); err != nil {
			return fmt.Errorf("%s fails its check: %w", path, err)
		}
		if err := describe(ctx, db, info, seed); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	info.Size = st.Size()
	return info, nil
}

// requireDatabaseFile refuses a path that is missing or not a file before
// SQLite is asked to open it: SQLite would create a missing one.
func requireDatabaseFile(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("database %s does not exist: %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("database %s is not a regular file", path)
	}
	if st.Size() == 0 {
		return fmt.Errorf("database %s is empty (0 bytes): not a wicket database", path)
	}
	return nil
}

// requireWicketSchema refuses a file that SQLite opens but wicket never
// wrote, or one that has not been migrated at all.
func requireWicketSchema(ctx context.Context, db *sql.DB, path string) error {
	var v, tables int
	err := db.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('accounts', 'app_passwords'))`).Scan(&v, &tables)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if v < 1 || tables != 2 {
		return fmt.Errorf("%s is not a wicket database (schema version %d, no accounts table)", path, v)
	}
	return nil
}

func backupOnce(ctx context.Context, to, from *sql.DB) error {
	dst, err := to.Conn(ctx)
	if err != nil {
		return err
	}
	defer dst.Close()
	src, err := from.Conn(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	return dst.Raw(func(d any) error {
		return src.Raw(func(s any) error {
			b, err := d.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			// -1: every page in one step, hence one read transaction.
			// Busy only while another process recovers the WAL index,
			// which takes moments: wait and try again.
			for {
				done, err := b.Step(-1)
				if err != nil || done {
					if ferr := b.Finish(); err == nil {
						err = ferr
					}
					return err
				}
				select {
				case <-ctx.Done():
					b.Finish()
					return ctx.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	})
}

// quickCheck runs PRAGMA quick_check: every page and b-tree readable, as
// the server will need them; it skips only the slow comparison of each
// index with its table.
func quickCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(20)")
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("PRAGMA quick_check: %s", strings.Join(problems, "; "))
	}
	return nil
}

func describe(ctx context.Context, db *sql.DB, info *FileInfo, seed func(int64, []byte) error) error {
	err := db.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM accounts),
		(SELECT count(*) FROM app_passwords WHERE revoked_at IS NULL),
		(SELECT count(*) FROM app_passwords WHERE revoked_at IS NOT NULL)`).Scan(
		&info.SchemaVersion, &info.Accounts, &info.AppPasswords, &info.RevokedAppPasswords)
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT id, totp_seed FROM accounts WHERE length(totp_seed) > 0`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var sealed []byte
		if err := rows.Scan(&id, &sealed); err != nil {
			return err
		}
		info.TOTPSeeds++
		if seed != nil {
			if err := seed(id, sealed); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), f.Close()
}

// syncDir makes a rename or link in dir survive a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fileURI is the SQLite URI of the file at abs with the parameters q.
// EscapedPath keeps '?', '#' and '%' in a directory name from being read
// as URI syntax; a URI path must start with '/' ("C:/…" on Windows would
// otherwise parse as an authority).
func fileURI(abs string, q url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + q.Encode()
}

// openFile runs fn on the existing database at path, opened with mode
// "ro" or "rw" (never "rwc": nothing is created).
func openFile(ctx context.Context, path, mode string, fn func(*sql.DB) error) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := requireDatabaseFile(abs); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", fileURI(abs, url.Values{"mode": {mode}, "_busy_timeout": {fmt.Sprint(busyTimeoutMS)}}))
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}
