package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
	"github.com/wicketldap/wicket/config"
)

// Files are never made up (DESIGN.md): a wrong path must not become a new,
// empty directory of accounts, and a database must not be paired with a
// key that cannot open what it holds. Only the server's first start,
// where neither file exists, or an explicit `wicket init` creates them.

// filesMode says what opening may create.
type filesMode int

const (
	// existingFiles: a command; both files must be there.
	existingFiles filesMode = iota
	// firstStart: the server; creates both when neither is there, and a
	// key for a database that holds no secret yet.
	firstStart
)

// openFiles opens the database and the keys of cfg.
func openFiles(cfg *config.Config, log *slog.Logger, mode filesMode) (*backend.Keys, *sqlite.Store, error) {
	dbPath, keyPath := cfg.Database, cfg.KeyPath()
	_, envKeys := os.LookupEnv(backend.KeyEnv)
	dbThere, err := exists(dbPath)
	if err != nil {
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	keyThere := false
	if !envKeys {
		if keyThere, err = exists(keyPath); err != nil {
			return nil, nil, fmt.Errorf("key file: %w", err)
		}
	}
	if !dbThere {
		switch {
		case keyThere:
			return nil, nil, fmt.Errorf("database %s does not exist, but the key file %s does: the database was "+
				"deleted or moved, or the path is wrong (%s). Restore the database from a backup or correct the path; "+
				"wicket does not start a new, empty database beside a key in use%s",
				dbPath, keyPath, configSource(cfg), staleWAL(dbPath))
		case mode != firstStart:
			return nil, nil, missingDatabase(cfg)
		case envKeys:
			return nil, nil, fmt.Errorf("database %s does not exist (%s), and the keys come from $%s: the database "+
				"was lost or the path is wrong. Restore it from a backup; for a first start, run wicket init",
				dbPath, configSource(cfg), backend.KeyEnv)
		}
		return createFiles(cfg, log)
	}

	store, err := sqlite.Open(dbPath)
	if err != nil {
		return nil, nil, err
	}
	keys, err := openKeys(cfg, log, store, keyThere || envKeys, mode)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return keys, store, nil
}

// openKeys reads the keys of an open database, or for the server's start
// makes a key for a database that holds no secret yet (a first start cut
// short between the two files).
func openKeys(cfg *config.Config, log *slog.Logger, store *sqlite.Store, there bool, mode filesMode) (*backend.Keys, error) {
	keyPath := cfg.KeyPath()
	if there {
		return backend.LoadKeys(keyPath)
	}
	secrets, err := store.HoldsSecrets(context.Background())
	if err != nil {
		return nil, err
	}
	switch {
	case secrets:
		return nil, fmt.Errorf("key file %s does not exist, and the database %s holds password hashes, TOTP seeds "+
			"or app passwords, which a new key could not open: the TOTP seeds and app passwords cannot be read "+
			"without the key they were made with. Restore the key file from the backup made with the database, "+
			"or set key_file (or $%s) to it (%s); wicket will not make a new one",
			keyPath, cfg.Database, backend.KeyEnv, configSource(cfg))
	case mode != firstStart:
		return nil, fmt.Errorf("key file %s does not exist (%s); the database %s holds no secret yet, and "+
			"wicket serve makes a key for it on its start", keyPath, configSource(cfg), cfg.Database)
	}
	keys, err := backend.CreateKeys(keyPath)
	if err != nil {
		return nil, err
	}
	log.Warn("the database holds no secret yet and had no key file: created a new one", "key_file", keyPath,
		"database", cfg.Database)
	return keys, nil
}

// createFiles makes a new database and key file: the server's first start
// and wicket init. Every directory must exist: a missing one is a wrong
// path far more often than a first start, and which owner and mode it
// should have is the administrator's to say.
func createFiles(cfg *config.Config, log *slog.Logger) (*backend.Keys, *sqlite.Store, error) {
	dbPath, keyPath := cfg.Database, cfg.KeyPath()
	_, envKeys := os.LookupEnv(backend.KeyEnv)
	if err := needDir("database", dbPath); err != nil {
		return nil, nil, err
	}
	if !envKeys {
		if err := needDir("key file", keyPath); err != nil {
			return nil, nil, err
		}
	}
	// The database first: cut short before the key, the next start finds a
	// database that holds no secret and makes the key; the other way
	// round, it would find a key without its database and refuse.
	store, err := sqlite.Create(dbPath)
	if err != nil {
		return nil, nil, err
	}
	var keys *backend.Keys
	if envKeys {
		keys, err = backend.LoadKeys(keyPath)
	} else {
		keys, err = backend.CreateKeys(keyPath)
	}
	if err != nil {
		// Nothing is left behind: the database is new and empty.
		store.Close()
		os.Remove(dbPath)
		return nil, nil, err
	}
	if envKeys {
		log.Info("created a new, empty database; the keys come from $"+backend.KeyEnv, "database", dbPath)
	} else {
		log.Info("created a new, empty database and its key file (back up both)", "database", dbPath, "key_file", keyPath)
	}
	return keys, store, nil
}

// staleWAL warns of a WAL left by a lost database, which SQLite would
// apply to a file restored in its place.
func staleWAL(db string) string {
	if there, _ := exists(db + "-wal"); !there {
		return ""
	}
	return fmt.Sprintf(". First move away %s-wal and %s-shm: they belong to the lost file, and SQLite would "+
		"apply them to the restored one", db, db)
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

func needDir(what, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s: the directory %s does not exist; create it (owned by the user wicket runs as, "+
			"mode 0700) or correct the path", what, path, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case !st.IsDir():
		return fmt.Errorf("%s %s: %s is not a directory", what, path, dir)
	}
	return nil
}

func missingDatabase(cfg *config.Config) error {
	where := ""
	if _, err := os.Stat(filepath.Dir(cfg.Database)); errors.Is(err, fs.ErrNotExist) {
		where = ", nor does its directory"
	}
	return fmt.Errorf("database %s does not exist%s (%s). Check --db, --config or $%s; "+
		"wicket serve creates the database on its first start, or run wicket init",
		cfg.Database, where, configSource(cfg), config.PathEnv)
}

// configSource says where the paths came from, for an error about them.
func configSource(cfg *config.Config) string {
	if cfg.Path == "" {
		return "no configuration file: built-in defaults"
	}
	return "configuration " + cfg.Path
}

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a new, empty database and its key file",
		Long: `Create the database (database, --db) and the key file (key_file, by default
wicket.key beside the database), both mode 0600, for a first start. Nothing
is created if either exists, nor any directory. With $WICKET_KEYS set, only
the database is created.

wicket serve does the same on its first start; every other command refuses
a database that does not exist. Back the key file up with the database:
without it the TOTP seeds and app passwords cannot be read.`,
		Args: nArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			_, envKeys := os.LookupEnv(backend.KeyEnv)
			paths := []string{cfg.Database}
			if !envKeys {
				paths = append(paths, cfg.KeyPath())
			}
			for _, p := range paths {
				there, err := exists(p)
				if err != nil {
					return err
				}
				if there {
					return fmt.Errorf("%s already exists: nothing created (%s)", p, configSource(cfg))
				}
			}
			quiet := slog.New(slog.DiscardHandler)
			_, store, err := createFiles(cfg, quiet)
			if err != nil {
				return err
			}
			if err := store.Close(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				v := struct {
					Database string `json:"database"`
					KeyFile  string `json:"key_file,omitempty"`
				}{Database: cfg.Database}
				if !envKeys {
					v.KeyFile = cfg.KeyPath()
				}
				return printJSON(out, v)
			}
			if envKeys {
				fmt.Fprintf(out, "created the database %s; the keys come from $%s\n", cfg.Database, backend.KeyEnv)
				return nil
			}
			fmt.Fprintf(out, "created the database %s and the key file %s\n"+
				"Back up the key file with the database: without it, TOTP seeds and app passwords cannot be read.\n",
				cfg.Database, cfg.KeyPath())
			return nil
		},
	}
}
