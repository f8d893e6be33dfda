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
	"github.com/wicketldap/wicket/config"
)

// globals are the flags every subcommand takes.
type globals struct {
	configPath string
	db         string
	json       bool
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
	pf.StringVar(&g.configPath, "config", "", "TOML configuration file")
	pf.StringVar(&g.db, "db", "", "SQLite database (overrides the config file)")
	pf.BoolVar(&g.json, "json", false, "print JSON for scripts")

	root.AddCommand(newServeCmd(g), newUserCmd(g), newGroupCmd(g), newTOTPCmd(g), newAppPWCmd(g), newRemoteCmd(g), newCertCmd(g), newKeyCmd(g))
	root.AddCommand(newAuditCmd(g))
	root.AddCommand(newBackupCmd(g), newRestoreCmd(g))
	root.AddCommand(newBenchCmd(g))
	root.AddCommand(newVersionCmd(g), newConfigCmd(g))
	return root
}

// load reads the configuration and applies the global flag overrides.
func (g *globals) load() (*config.Config, error) {
	cfg, err := config.Load(g.configPath)
	if err != nil {
		return nil, err
	}
	if g.db != "" {
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
}

func (e *env) Close() {
	e.svc.Close()
	e.store.Close()
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
// audit record that could not be written) are logged, on stderr.
func openEnv(cfg *config.Config, log *slog.Logger) (*env, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return openEnvFor(cfg, log)
}

// openEnvFor opens the database.
func openEnvFor(cfg *config.Config, log *slog.Logger) (*env, error) {
	if err := config.CheckWritableDir(cfg.Database); err != nil {
		return nil, err
	}
	keys, err := backend.LoadOrCreateKeys(cfg.KeyPath())
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	svc := backend.New(store, keys, backend.Options{
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
	return &env{cfg: cfg, store: store, keys: keys, svc: svc}, nil
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
