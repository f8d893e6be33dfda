package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
)

func newRestoreCmd(g *globals) *cobra.Command {
	var keyFile string
	var noKey bool
	cmd := &cobra.Command{
		Use:   "restore BACKUP",
		Short: "Put a backup in place of the database, with its key file, while the server is stopped",
		Long: `Restore a backup made by 'wicket backup' as the database of --config (or
--db), with the key file written beside it (BACKUP.key, or --key FILE) as the
configured key file. Stop the server first: a database in use by any process
is refused.

Before anything changes, the backup is checked (PRAGMA quick_check, a schema
version this wicket knows) and so is the key, against every TOTP seed of the
backup. The database and key file it replaces, with any -wal file left by a
crash, are kept beside them as NAME.before-restore-TIME; the restored files
are 0600 and, when run as root, owned by the owner of the file they replace
(or of the directory). App passwords revoked after the backup was taken are
active again in it: they are listed, to be revoked again.

With --no-key the configured key file stays as it is, and must open the
backup's seeds.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if noKey && keyFile != "" {
				return &userError{msg: "--key and --no-key exclude each other"}
			}
			return restore(cmd, g, args[0], keyFile, noKey, cfg.Database, cfg.KeyPath())
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the backup's key file (default BACKUP.key)")
	cmd.Flags().BoolVar(&noKey, "no-key", false, "keep the configured key file (it must open the backup)")
	return cmd
}

// restoreResult is what a restore did, for its report.
type restoreResult struct {
	Database  fileJSON         `json:"database"`
	From      string           `json:"from"`
	Key       string           `json:"key"`
	KeptAside []string         `json:"kept_aside"`
	Owner     string           `json:"owner,omitempty"`
	Revived   []sqlite.Revived `json:"revived_app_passwords"`
	// Compare is why the replaced database could not be compared.
	Compare string `json:"compare_error,omitempty"`
}

// restorePlan is a restore checked and prepared in the target
// directory, not yet put in place.
type restorePlan struct {
	src, db, keyPath string
	copy             *sqlite.Copy
	keySource        *keySource
	newKey           *pendingFile // nil when the key file stays as it is
	keyNote          string
	uid, gid         int
	owned            bool
}

func restore(cmd *cobra.Command, g *globals, backupFile, keyFile string, noKey bool, db, keyPath string) error {
	p, err := prepareRestore(cmd, backupFile, keyFile, noKey, db, keyPath)
	if err != nil {
		return err
	}
	defer p.discard()
	res, err := p.install()
	if err != nil {
		return err
	}
	if len(res.KeptAside) > 0 {
		res.Revived, err = sqlite.RevivedAppPasswords(cmd.Context(), p.db, res.KeptAside[0])
		if err != nil {
			res.Compare = err.Error()
		}
	}
	return reportRestore(cmd.OutOrStdout(), g.json, res)
}

// prepareRestore checks the backup and its key and copies the backup into
// the target directory; nothing the server uses is touched yet.
func prepareRestore(cmd *cobra.Command, backupFile, keyFile string, noKey bool, db, keyPath string) (*restorePlan, error) {
	ctx := cmd.Context()
	src, err := filepath.Abs(backupFile)
	if err != nil {
		return nil, err
	}
	p := &restorePlan{src: src}
	p.db, _ = filepath.Abs(db)
	p.keyPath, _ = filepath.Abs(keyPath)
	dir := filepath.Dir(p.db)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, &userError{err: err, msg: fmt.Sprintf(
			"directory %s does not exist: create it first, owned by the user the server runs as, mode 0700", dir)}
	}
	if sameFile(src, p.db) {
		return nil, &userError{msg: fmt.Sprintf("%s is the database itself: name a backup", backupFile)}
	}
	if err := refuseInUse(p.db); err != nil {
		return nil, err
	}
	if p.keySource, err = restoreKeys(src, keyFile, p.keyPath, noKey); err != nil {
		return nil, err
	}
	info, err := sqlite.Inspect(ctx, src, p.keySource.checkSeed(src))
	if err != nil {
		return nil, err
	}
	if info.SchemaVersion > sqlite.SchemaVersion() {
		return nil, &userError{msg: fmt.Sprintf(
			"%s has schema version %d; this wicket knows up to %d: restore it with the wicket that wrote it",
			backupFile, info.SchemaVersion, sqlite.SchemaVersion())}
	}
	if p.copy, err = sqlite.CopyDatabase(ctx, src, dir, sqlite.CopyOptions{Seed: p.keySource.checkSeed(src)}); err != nil {
		return nil, err
	}
	if err := p.prepareKey(); err != nil {
		p.discard()
		return nil, err
	}
	p.uid, p.gid, p.owned = dirOwner(dir)
	if st, err := os.Stat(p.db); err == nil {
		p.uid, p.gid, p.owned = fileOwner(st)
	}
	return p, nil
}

// prepareKey writes the backup's key file beside the configured one,
// unless the configured one is the same or the keys come from elsewhere.
func (p *restorePlan) prepareKey() error {
	ks := p.keySource
	switch {
	case ks.path == "":
		p.keyNote = "the keys in $" + backend.KeyEnv + " (no key file is written)"
		return nil
	case sameFile(ks.path, p.keyPath):
		p.keyNote = "unchanged: " + p.keyPath
		return nil
	}
	if old, err := os.ReadFile(p.keyPath); err == nil && bytes.Equal(old, ks.text) {
		p.keyNote = fmt.Sprintf("unchanged: %s is the same as %s", p.keyPath, ks.path)
		return nil
	}
	var err error
	p.newKey, err = newPendingFile(p.keyPath, ks.text)
	p.keyNote = fmt.Sprintf("%s, copied from %s", p.keyPath, ks.path)
	return err
}

func (p *restorePlan) discard() {
	p.copy.Discard()
	if p.newKey != nil {
		p.newKey.discard()
	}
}

// install moves the database and key file aside and puts the prepared
// ones in their place.
func (p *restorePlan) install() (*restoreResult, error) {
	// Checked again at the last moment: a server started meanwhile would
	// go on writing to the file moved aside.
	if err := refuseInUse(p.db); err != nil {
		return nil, err
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	moved, err := moveAside(p.db, stamp, "", "-wal", "-shm", "-journal")
	if err != nil {
		return nil, err
	}
	if err := p.copy.Install(p.db, false); err != nil {
		return nil, errors.Join(err, moved.undo())
	}
	res := &restoreResult{From: p.src, Key: p.keyNote, KeptAside: moved.asides()}
	if p.newKey != nil {
		keyMoved, err := moveAside(p.keyPath, stamp, "")
		if err == nil {
			res.KeptAside = append(res.KeptAside, keyMoved.asides()...)
			err = p.newKey.install(false)
		}
		if err != nil {
			return nil, fmt.Errorf("the database %s was restored, but not its key file %s (copy it by hand from %s, mode 0600): %w",
				p.db, p.keyPath, p.keySource.path, err)
		}
	}
	if p.owned && os.Geteuid() == 0 {
		chown := []string{p.db}
		if p.newKey != nil {
			chown = append(chown, p.keyPath)
		}
		for _, f := range chown {
			if err := os.Chown(f, p.uid, p.gid); err != nil {
				return nil, fmt.Errorf("restored, but: %w", err)
			}
		}
		res.Owner = fmt.Sprintf("owner uid %d gid %d", p.uid, p.gid)
	}
	res.Database = toFileJSON(p.copy.Info)
	return res, nil
}

// restoreKeys reads the keys a restored database will be opened with: the
// backup's key file (BACKUP.key or --key), or with --no-key the
// configured one; $WICKET_KEYS, which the server reads instead of any
// file, wins over both.
func restoreKeys(src, keyFile, keyPath string, noKey bool) (*keySource, error) {
	from := keyPath
	if !noKey {
		from = keyFile
		if from == "" {
			from = src + ".key"
		}
	}
	ks, err := readKeySource(from)
	switch {
	case errors.Is(err, fs.ErrNotExist) && noKey:
		return nil, &userError{err: err, msg: fmt.Sprintf(
			"key file %s does not exist: restore the backup with its own key file (BACKUP.key, or --key FILE)", from)}
	case errors.Is(err, fs.ErrNotExist):
		return nil, &userError{err: err, msg: fmt.Sprintf(
			"key file %s does not exist: a backup is restored with the key file written beside it (or --key FILE), or with --no-key to keep the configured one", from)}
	}
	return ks, err
}

// refuseInUse refuses a database another process has open: a server
// would go on serving, and writing into, the file that the restore moves
// aside.
func refuseInUse(db string) error {
	busy, pid, err := sqlite.InUse(db)
	if err != nil {
		return fmt.Errorf("cannot tell whether %s is in use: %w", db, err)
	}
	if busy {
		return &userError{msg: fmt.Sprintf(
			"database %s is in use by process %d: stop the server (and any wicket or sqlite3 command using it) before restoring", db, pid)}
	}
	return nil
}

// move is a file renamed aside.
type move struct{ from, to string }

type moves []move

// moveAside renames path+suffix to path.before-restore-STAMP+suffix for
// each suffix that exists, so that a database keeps its -wal beside it
// and SQLite finds it there.
func moveAside(path, stamp string, suffixes ...string) (moves, error) {
	aside := path + ".before-restore-" + stamp
	var done moves
	for _, s := range suffixes {
		if _, err := os.Lstat(path + s); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if _, err := os.Lstat(aside + s); err == nil {
			return nil, errors.Join(fmt.Errorf("%s exists (a restore in the same second?): nothing was changed", aside+s), done.undo())
		}
		if err := os.Rename(path+s, aside+s); err != nil {
			return nil, errors.Join(err, done.undo())
		}
		done = append(done, move{path + s, aside + s})
	}
	return done, nil
}

func (ms moves) undo() error {
	var errs []error
	for _, m := range ms {
		if err := os.Rename(m.to, m.from); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (ms moves) asides() []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.to
	}
	return out
}

func reportRestore(w io.Writer, asJSON bool, r *restoreResult) error {
	if asJSON {
		return printJSON(w, r)
	}
	d := r.Database
	owner := ""
	if r.Owner != "" {
		owner = ", " + r.Owner
	}
	fmt.Fprintf(w, "restored %s to %s (%s, mode 0600%s)\n", r.From, d.Path, byteSize(d.Bytes), owner)
	fmt.Fprintf(w, "  schema version %d: %s, %d active and %d revoked app passwords, %s\n", d.SchemaVersion,
		plural(d.Accounts, "account", "accounts"), d.AppPasswords, d.RevokedAppPasswords,
		plural(d.TOTPSeeds, "TOTP seed", "TOTP seeds"))
	if d.SchemaVersion < sqlite.SchemaVersion() {
		fmt.Fprintf(w, "  the server migrates it to schema version %d when it starts\n", sqlite.SchemaVersion())
	}
	fmt.Fprintf(w, "key: %s\n", r.Key)
	for _, p := range r.KeptAside {
		fmt.Fprintf(w, "kept aside: %s\n", p)
	}
	switch {
	case r.Compare != "":
		fmt.Fprintf(w, "could not compare with the replaced database (%s): app passwords revoked after the backup was taken are active again\n", r.Compare)
	case len(r.Revived) == 1:
		fmt.Fprintln(w, "1 app password revoked in the replaced database is active again; revoke it again:")
	case len(r.Revived) > 1:
		fmt.Fprintf(w, "%d app passwords revoked in the replaced database are active again; revoke them again:\n", len(r.Revived))
	}
	for _, v := range r.Revived {
		fmt.Fprintf(w, "  wicket apppw revoke %s %s    # %s\n", v.Account, v.ID, v.Label)
	}
	return nil
}
