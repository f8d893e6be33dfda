// Command wicket is an LDAP authentication proxy with two-factor sign-in and
// app-specific passwords. One binary: the server and its administration.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
	"github.com/wicketldap/wicket/backend/upstream"
	"github.com/wicketldap/wicket/config"
)

// globals are the flags every subcommand takes.
type globals struct {
	configPath string
	db         string
	json       bool
	// flags holds the flags above, to tell one given empty from one not
	// given.
	flags interface{ Changed(name string) bool }
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	// Every change a command makes is recorded as this user's.
	if err := root.ExecuteContext(backend.WithActor(ctx, cliActor())); err != nil {
		fmt.Fprintf(stderr, "wicket: %s\n", userMessage(err))
		return 1
	}
	return 0
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "wicket",
		Short:         "LDAP authentication proxy with two-factor sign-in and app-specific passwords",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version (and -v), as `wicket version` without the details.
		Version: buildVersion(),
	}
	root.SetVersionTemplate("wicket {{.Version}}\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "",
		"TOML configuration file (default: $"+config.PathEnv+", else "+config.SystemPath+" if it exists)")
	pf.StringVar(&g.db, "db", "", "SQLite database (overrides the config file)")
	pf.BoolVar(&g.json, "json", false, "print JSON for scripts")
	g.flags = pf

	root.AddCommand(newServeCmd(g), newUserCmd(g), newGroupCmd(g), newTOTPCmd(g), newAppPWCmd(g), newRemoteCmd(g), newCertCmd(g), newKeyCmd(g))
	root.AddCommand(newAuditCmd(g), newInitCmd(g))
	root.AddCommand(newBackupCmd(g), newRestoreCmd(g))
	root.AddCommand(newBenchCmd(g))
	root.AddCommand(newVersionCmd(g), newConfigCmd(g))
	return root
}

// configFile is the configuration file in use: --config, or the one
// config.Find names; "" for none (the defaults).
func (g *globals) configFile() (string, error) {
	if !g.flags.Changed("config") {
		return config.Find()
	}
	if g.configPath == "" {
		return "", errors.New("--config: empty path; name a configuration file, or leave the flag out")
	}
	return g.configPath, nil
}

// load reads the configuration and applies the global flag overrides.
// An empty --config or --db is refused rather than taken for "not given":
// `--db "$DB"` with DB unset must not fall back to another database.
func (g *globals) load() (*config.Config, error) {
	path, err := g.configFile()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if g.flags.Changed("db") {
		if g.db == "" {
			return nil, errors.New("--db: empty path; name the database file, or leave the flag out")
		}
		cfg.Database = g.db
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// env is an opened store and service, for one command.
type env struct {
	cfg   *config.Config
	store *sqlite.Store
	keys  *backend.Keys
	svc   *backend.Service
	// up is the upstream directory, nil without one.
	up *upstream.Directory
}

func (e *env) Close() {
	e.svc.Close()
	e.store.Close()
	if e.up != nil {
		e.up.Close()
	}
}

func (g *globals) open(log *slog.Logger) (*env, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	return openEnv(cfg, log)
}

// openEnv opens the database for a command, which exits right after: a
// change's audit record is written in the transaction of the change, a
// refused one's when the command closes the env, and only warnings (an
// audit record that could not be written) are logged, on stderr. The
// database and the key file must exist: a command creates neither.
func openEnv(cfg *config.Config, log *slog.Logger) (*env, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return openEnvFor(cfg, log, existingFiles)
}

// openEnvFor opens the database and the key file as mode allows (files.go).
func openEnvFor(cfg *config.Config, log *slog.Logger, mode filesMode) (*env, error) {
	// Before the files: a wrong [upstream] leaves nothing behind.
	up, err := openUpstream(cfg, log)
	if err != nil {
		return nil, err
	}
	keys, store, err := openFiles(cfg, log, mode)
	if err != nil {
		if up != nil {
			up.Close()
		}
		return nil, err
	}
	e := newEnv(cfg, log, keys, store, up)
	return e, nil
}

func newEnv(cfg *config.Config, log *slog.Logger, keys *backend.Keys, store *sqlite.Store, up *upstream.Directory) *env {
	var verifier backend.PrimaryVerifier
	if up != nil {
		verifier = up
	}
	svc := backend.New(store, keys, backend.Options{
		Upstream: verifier,
		Argon2: backend.Argon2Params{MemoryKiB: cfg.Argon2.MemoryKiB, Time: cfg.Argon2.Time,
			Threads: cfg.Argon2.Threads},
		HashSlots:           cfg.HashSlots(),
		WaitTimeout:         cfg.Limits.BindTimeout.Duration,
		MaxAppPasswords:     cfg.Auth.MaxAppPasswords,
		RequireSecondFactor: cfg.Auth.RequireSecondFactor,
		TOTPIssuer:          cfg.Auth.TOTPIssuer,
		Lockout:             lockoutPolicy(cfg),
		Logger:              log,
	})
	return &env{cfg: cfg, store: store, keys: keys, svc: svc, up: up}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// otpauth URIs carry &: keep them readable and pasteable.
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// userMessage turns a backend error into a sentence for the terminal.
func userMessage(err error) string {
	// Subcommands word some failures themselves, with the account's name.
	var ue *userError
	if errors.As(err, &ue) {
		return ue.msg
	}
	switch {
	case errors.Is(err, backend.ErrLimitReached):
		return "the account already has the maximum number of active app passwords; revoke one first"
	case errors.Is(err, backend.ErrSecondFactorRequired):
		return "two-factor (TOTP) must be enrolled before creating app passwords: run 'wicket totp enroll NAME' first"
	}
	return strings.TrimPrefix(err.Error(), "invalid input: ")
}

// withAccount opens the database, looks up the account named and runs f:
// the frame of every command about one account.
func (g *globals) withAccount(cmd *cobra.Command, name string, f func(ctx context.Context, e *env, u *backend.UserInfo) error) error {
	e, err := g.open(nil)
	if err != nil {
		return err
	}
	defer e.Close()
	u, err := e.svc.User(cmd.Context(), name)
	if err != nil {
		return accountError(name, err)
	}
	return f(cmd.Context(), e, u)
}
