package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
)

func newBackupCmd(g *globals) *cobra.Command {
	var force, noKey bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the database, while the server runs, to FILE (and the key file to FILE.key)",
		Long: `Write a consistent copy of the database to FILE, also while the server runs
and writes: every change acknowledged before the backup starts is in it. FILE
is written to a temporary file of its directory, readable by its owner only
(0600) from the start, checked with PRAGMA quick_check, synced, and only then
renamed into place. The key file is copied beside it as FILE.key (0600): the
database cannot be read without it (app passwords do not bind, TOTP seeds do
not open). With --no-key it is not copied, and must be kept elsewhere.

An existing FILE or FILE.key is refused unless --force.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			return backup(cmd, g, cfg.Database, cfg.KeyPath(), args[0], force, noKey)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing FILE and FILE.key")
	cmd.Flags().BoolVar(&noKey, "no-key", false, "do not copy the key file (the backup cannot be read without it)")
	return cmd
}

// keySource is where the keys of a backup or a restore come from.
type keySource struct {
	keys *backend.Keys
	text []byte // the key file's bytes, to copy; nil for $WICKET_KEYS
	path string // the key file read, "" for $WICKET_KEYS
}

// readKeySource reads the keys from $WICKET_KEYS when set, as the server
// does, or from the key file at path.
func readKeySource(path string) (*keySource, error) {
	if k, ok, err := backend.KeysFromEnv(); ok {
		return &keySource{keys: k}, err
	}
	text, k, err := backend.ReadKeyFile(path)
	if err != nil {
		return nil, err
	}
	return &keySource{keys: k, text: text, path: path}, nil
}

// checkSeed is a CopyOptions.Seed that proves the keys open a database's
// seeds. A key file rotated meanwhile by another process is read again
// once: a rotation writes the new key to the ring before it reseals any
// seed, and never drops a key, so the newer ring opens everything the
// older one did.
func (ks *keySource) checkSeed(db string) func(int64, []byte) error {
	reread := false
	return func(id int64, sealed []byte) error {
		err := ks.keys.CheckSeed(id, sealed)
		if err != nil && !reread && ks.path != "" {
			reread = true
			if fresh, rerr := readKeySource(ks.path); rerr == nil {
				*ks = *fresh
				err = ks.keys.CheckSeed(id, sealed)
			}
		}
		if err != nil {
			return &userError{err: err, msg: fmt.Sprintf(
				"%s does not open the TOTP seed of account id %d in %s: the key and the database do not belong together",
				ks.describe(), id, db)}
		}
		return nil
	}
}

func (ks *keySource) describe() string {
	if ks.path == "" {
		return "the key in $" + backend.KeyEnv
	}
	return "the key file " + ks.path
}

func backup(cmd *cobra.Command, g *globals, db, keyPath, file string, force, noKey bool) error {
	dst, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	db, _ = filepath.Abs(db)
	keyPath, _ = filepath.Abs(keyPath)
	// Replacing the database or the key with their own copy would destroy
	// them; a copy inside the WAL's name would be taken for one.
	for _, live := range []string{db, db + "-wal", db + "-shm", db + "-journal", keyPath} {
		if sameFile(dst, live) || sameFile(dst+".key", live) {
			return &userError{msg: fmt.Sprintf("%s is the live %s: name another file for the backup", file, live)}
		}
	}

	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return &userError{err: err, msg: fmt.Sprintf(
			"database %s does not exist: nothing to back up (name the database with --config or --db)", db)}
	}
	var ks *keySource
	if !noKey {
		if ks, err = readKeySource(keyPath); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return &userError{err: err, msg: fmt.Sprintf(
					"key file %s does not exist: the database cannot be read without its key; name it with --config, or back up the database alone with --no-key", keyPath)}
			}
			return err
		}
	}
	copyKey := ks != nil && ks.text != nil
	outputs := []string{dst}
	if copyKey {
		outputs = append(outputs, dst+".key")
	}
	for _, p := range outputs {
		if _, err := os.Lstat(p); err == nil && !force {
			return &userError{err: fs.ErrExist, msg: fmt.Sprintf("%s exists: name a new file, or replace it with --force", p)}
		}
	}

	opt := sqlite.CopyOptions{}
	if ks != nil {
		opt.Seed = ks.checkSeed(db)
	}
	c, err := sqlite.CopyDatabase(cmd.Context(), db, filepath.Dir(dst), opt)
	if err != nil {
		return err
	}
	defer c.Discard()
	// The key file is copied after the database: whatever ring the copy
	// was checked with, or a newer one (see checkSeed), opens it.
	var keyTmp *pendingFile
	if copyKey {
		if keyTmp, err = newPendingFile(dst+".key", ks.text); err != nil {
			return err
		}
		defer keyTmp.discard()
	}
	if err := c.Install(dst, force); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &userError{err: err, msg: fmt.Sprintf("%s exists: name a new file, or replace it with --force", file)}
		}
		return err
	}
	if keyTmp != nil {
		if err := keyTmp.install(force); err != nil {
			return fmt.Errorf("the database was written to %s, but not its key: %w", dst, err)
		}
	}
	return reportBackup(cmd.OutOrStdout(), g.json, c.Info, ks, copyKey, keyPath)
}

func reportBackup(w io.Writer, asJSON bool, info sqlite.FileInfo, ks *keySource, copied bool, keyPath string) error {
	var keyFile, keyNote string
	switch {
	case copied:
		keyFile = info.Path + ".key"
		keyNote = fmt.Sprintf("copied from %s; it opens the %s", ks.path, plural(info.TOTPSeeds, "TOTP seed", "TOTP seeds"))
	case ks != nil:
		keyNote = fmt.Sprintf("not copied: the keys come from $%s, and the backup cannot be read without them: keep them with it", backend.KeyEnv)
	default:
		keyNote = fmt.Sprintf("not copied (--no-key): the backup cannot be read without the key file %s; keep a copy of it apart", keyPath)
	}
	if asJSON {
		return printJSON(w, struct {
			fileJSON
			KeyFile string `json:"key_file,omitempty"`
			KeyNote string `json:"key"`
		}{toFileJSON(info), keyFile, keyNote})
	}
	fmt.Fprintf(w, "wrote %s (%s, mode 0600)\n  %s\n", info.Path, byteSize(info.Size), describeContents(info))
	if keyFile != "" {
		fmt.Fprintf(w, "wrote %s (mode 0600): %s\n", keyFile, keyNote)
	} else {
		fmt.Fprintf(w, "key %s\n", keyNote)
	}
	return nil
}

// fileJSON is a database file in --json output.
type fileJSON struct {
	Path                string `json:"path"`
	Bytes               int64  `json:"bytes"`
	SchemaVersion       int    `json:"schema_version"`
	Accounts            int    `json:"accounts"`
	AppPasswords        int    `json:"app_passwords"`
	RevokedAppPasswords int    `json:"revoked_app_passwords"`
	TOTPSeeds           int    `json:"totp_seeds"`
}

func toFileJSON(i sqlite.FileInfo) fileJSON {
	return fileJSON{i.Path, i.Size, i.SchemaVersion, i.Accounts, i.AppPasswords, i.RevokedAppPasswords, i.TOTPSeeds}
}

func describeContents(i sqlite.FileInfo) string {
	return fmt.Sprintf("schema version %d: %s, %d active and %d revoked app passwords, %s",
		i.SchemaVersion, plural(i.Accounts, "account", "accounts"), i.AppPasswords, i.RevokedAppPasswords,
		plural(i.TOTPSeeds, "TOTP seed", "TOTP seeds"))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// sameFile tells whether a and b name one file: by path, or by inode when
// both exist (a link, another spelling of the path).
func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// pendingFile is a secret written and synced to a temporary file of its
// directory, mode 0600 from creation, until install gives it its name.
type pendingFile struct {
	tmp, path string
}

func newPendingFile(path string, data []byte) (*pendingFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	p := &pendingFile{tmp: f.Name(), path: path}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p.tmp)
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return p, nil
}

// install puts the file in place; an existing one is refused unless
// replace, in one step (a hard link fails on an existing name).
func (p *pendingFile) install(replace bool) error {
	var err error
	if replace {
		err = os.Rename(p.tmp, p.path)
	} else if err = os.Link(p.tmp, p.path); err == nil {
		err = os.Remove(p.tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		return &userError{err: err, msg: fmt.Sprintf("%s exists: name a new file, or replace it with --force", p.path)}
	}
	if err != nil {
		return err
	}
	p.tmp = ""
	d, err := os.Open(filepath.Dir(p.path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (p *pendingFile) discard() {
	if p.tmp != "" {
		os.Remove(p.tmp)
		p.tmp = ""
	}
}
