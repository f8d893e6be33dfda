package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wicketldap/wicket/backend"
)

// userError is a failure already worded for the administrator. It keeps the
// backend error underneath so callers can still test for the sentinel.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.err }

// accountError rewords the store's errors about an account: the store
// speaks of rows and SQL, the administrator of accounts.
func accountError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backend.ErrNotFound):
		return &userError{msg: "no such account: " + name, err: err}
	}
	return err
}

// nArgs is cobra.ExactArgs with the usage line as the message, which tells
// what is missing better than a count does.
func nArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("usage: %s", cmd.UseLine())
		}
		return nil
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// maxPasswordLine bounds what --password-stdin reads: far above any valid
// password, so the length check reports it rather than memory filling up.
const maxPasswordLine = 4096

// hiddenReader shows prompt on w and reads one line from a terminal
// without echo, then ends the line on w.
type hiddenReader func(w io.Writer, prompt string) (string, error)

// terminalFor returns a hiddenReader when in is an interactive terminal, nil
// otherwise. Tests in this package replace it; integration/terminal_test.go
// drives the real one through a pseudo-terminal.
var terminalFor = func(in io.Reader) hiddenReader {
	f, ok := in.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	fd := int(f.Fd())
	return func(w io.Writer, prompt string) (string, error) { return readNoEcho(fd, w, prompt) }
}

// readNoEcho is term.ReadPassword that turns echo off before the prompt
// shows, as getpass(3) does (what is typed as soon as the prompt appears is
// never echoed), and puts echo back when interrupted: otherwise ^C at the
// prompt leaves the shell typing blind.
func readNoEcho(fd int, w io.Writer, prompt string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	sig := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(sig, os.Interrupt)
	go func() {
		select {
		case <-sig:
			term.Restore(fd, state)
			fmt.Fprintln(w)
			os.Exit(130)
		case <-done:
		}
	}()
	defer func() {
		signal.Stop(sig)
		close(done)
		term.Restore(fd, state)
		fmt.Fprintln(w)
	}()
	if err := disableEcho(fd); err != nil {
		return "", err
	}
	fmt.Fprint(w, prompt)
	// ReadPassword turns echo off again itself and restores this state,
	// with echo already off.
	b, err := term.ReadPassword(fd)
	return string(b), err
}

// readLine reads the first line of r, without its line ending, at most
// maxPasswordLine bytes: what --password-stdin and '-' read from a pipe.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readNewPassword gets a new primary password for account: typed twice at a
// terminal, or the first line of standard input with --password-stdin when
// that is a pipe or a file. It never falls back to reading a pipe silently,
// so a script that forgot the flag fails instead of setting a password from
// whatever it piped. --password-stdin at a terminal, as deploy/README.md
// has administrators type it, prompts like the terminal does without it:
// nothing typed is echoed.
func readNewPassword(cmd *cobra.Command, account string, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	read := terminalFor(in)
	if fromStdin && read == nil {
		pw, err := readLine(in)
		if err != nil {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		if pw == "" {
			return "", errors.New("no password on standard input (--password-stdin reads the first line)")
		}
		return pw, backend.ValidatePassword(pw)
	}
	if read == nil {
		return "", errors.New("standard input is not a terminal: pass the password on its first line with --password-stdin")
	}
	prompt := cmd.ErrOrStderr()
	pw, err := read(prompt, fmt.Sprintf("New password for %s: ", account))
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	// Checked before the second prompt, so a too-short password is not typed twice.
	if err := backend.ValidatePassword(pw); err != nil {
		return "", err
	}
	again, err := read(prompt, "Repeat the password: ")
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if pw != again {
		return "", errors.New("the two passwords do not match; nothing was changed")
	}
	return pw, nil
}

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage accounts",
	}
	cmd.AddCommand(newUserAddCmd(g), newUserListCmd(g), newUserShowCmd(g), newUserSetCmd(g), newUserPasswdCmd(g),
		newUserDisableCmd(g, true), newUserDisableCmd(g, false), newUserDeleteCmd(g), newUserRoleCmd(g),
		newUserImportCmd(g), newUserUnlockCmd(g), newUserSyncCmd(g))
	return cmd
}

func newUserAddCmd(g *globals) *cobra.Command {
	var mail, role, hash string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an account",
		Long: `Create an account with a primary password, typed twice at the terminal or,
for scripts, read from the first line of standard input with --password-stdin.

--password-hash instead takes the password as hashed by another directory,
such as an OpenLDAP userPassword or a Dovecot passdb entry ("{SSHA}...",
"{CRYPT}$6$...", "{BLF-CRYPT}$2y$...", "{ARGON2}$argon2id$..."; '-' reads it
from standard input, out of sight of ps and the shell history). The user signs
in with the old password, and the first successful bind stores it as argon2id.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, role := strings.ToLower(args[0]), strings.ToLower(role)
			// Checked before the password prompt, so a mistake costs no typing.
			if err := backend.ValidateName(name); err != nil {
				return err
			}
			switch role {
			case backend.RoleUser, backend.RoleService, backend.RoleAdmin:
			default:
				return fmt.Errorf("role %q is not one of user, service, admin", role)
			}
			importing := cmd.Flags().Changed("password-hash")
			if importing {
				var err error
				if hash, err = readPasswordHash(cmd, hash); err != nil {
					return err
				}
			}
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			switch _, err := e.svc.User(ctx, name); {
			case err == nil:
				return &userError{msg: "account " + name + " already exists", err: backend.ErrExists}
			case !errors.Is(err, backend.ErrNotFound):
				return err
			}
			var ui *backend.UserInfo
			if importing {
				ui, err = e.svc.AddUserWithHash(ctx, name, mail, hash, role)
			} else {
				var pw string
				if pw, err = readNewPassword(cmd, name, fromStdin); err != nil {
					return err
				}
				ui, err = e.svc.AddUser(ctx, name, mail, pw, role)
			}
			if errors.Is(err, backend.ErrExists) {
				// The name was free a moment ago, so the mail address is the
				// likelier clash; either way one of them is taken.
				msg := "account " + name + " already exists"
				if mail != "" {
					msg = "account " + name + " or mail address " + mail + " is already in use"
				}
				return &userError{msg: msg, err: err}
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), ui)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created account %s (role %s)\n", ui.Name, ui.Role)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&mail, "mail", "", "mail address (also accepted as a bind name)")
	f.StringVar(&role, "role", backend.RoleUser, "user, service or admin")
	f.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input (at a terminal: asked for twice, without echo)")
	f.StringVar(&hash, "password-hash", "", "import the password as hashed by another directory ('-': first line of standard input)")
	cmd.MarkFlagsMutuallyExclusive("password-stdin", "password-hash")
	return cmd
}

func newUserListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  nArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			users, err := e.svc.Users(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, users)
			}
			if len(users) == 0 {
				fmt.Fprintln(out, "no accounts yet: create one with 'wicket user add NAME'")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "NAME\tROLE\tMAIL\tSTATUS\tTWO-FACTOR\tAPP PASSWORDS")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", u.Name, u.Role, orDash(u.Mail),
					status(u), yesNo(u.TOTPEnrolled, "totp", "-"), u.ActiveAppPasswords)
			}
			return tw.Flush()
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// status names why an account cannot bind, if it cannot.
func status(u backend.UserInfo) string {
	switch {
	case u.Disabled:
		return "disabled"
	case u.UpstreamDisabled:
		return "disabled upstream"
	case u.Upstream && u.PasswordLockout.Locked():
		return "upstream password, locked"
	case u.Upstream:
		return "upstream password"
	case !u.HasPassword:
		return "no password"
	case u.PasswordLockout.Locked():
		return "password locked"
	}
	return "enabled"
}

func newUserShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one account",
		Args:  nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			u, err := e.svc.User(cmd.Context(), args[0])
			if err != nil {
				return accountError(args[0], err)
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, u)
			}
			tw := newTable(out)
			fmt.Fprintf(tw, "name:\t%s\n", u.Name)
			fmt.Fprintf(tw, "mail:\t%s\n", orDash(u.Mail))
			for _, f := range []struct{ key, val string }{
				{"aliases", strings.Join(u.Aliases, ", ")},
				{"display name", u.DisplayName},
				{"given name", u.GivenName},
				{"surname", u.Surname},
				{"groups", strings.Join(u.Groups, ", ")},
			} {
				if f.val != "" {
					fmt.Fprintf(tw, "%s:\t%s\n", f.key, f.val)
				}
			}
			if p := u.Posix; p != nil {
				shell := ""
				if p.LoginShell != "" {
					shell = ", shell " + p.LoginShell
				}
				fmt.Fprintf(tw, "posix:\tuid %d, gid %d, home %s%s\n", p.UIDNumber, p.GIDNumber, p.HomeDirectory, shell)
			}
			fmt.Fprintf(tw, "role:\t%s\n", u.Role)
			fmt.Fprintf(tw, "status:\t%s\n", status(*u))
			fmt.Fprintf(tw, "two-factor:\t%s\n", yesNo(u.TOTPEnrolled, "TOTP enrolled", "not enrolled"))
			fmt.Fprintf(tw, "app passwords:\t%d active\n", u.ActiveAppPasswords)
			// Failed password binds from all sources; app passwords are
			// never locked.
			fmt.Fprintf(tw, "password sign-in:\t%s\n", lockSummary(u.PasswordLockout))
			fmt.Fprintf(tw, "created:\t%s\n", formatTime(u.CreatedAt))
			fmt.Fprintf(tw, "entry UUID:\t%s\n", u.UUID)
			switch {
			case u.Upstream:
				// When wicket last saw it change upstream, or took the
				// account over.
				fmt.Fprintf(tw, "password:\tkept upstream (last change seen, or account created: %s)\n", formatTime(u.PasswordChangedAt))
			case u.HasPassword:
				fmt.Fprintf(tw, "password changed:\t%s\n", formatTime(u.PasswordChangedAt))
			}
			return tw.Flush()
		},
	}
}

func newUserPasswdCmd(g *globals) *cobra.Command {
	var fromStdin bool
	var hash string
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set an account's primary password (revokes all its app passwords)",
		Long: `Set an account's primary password, typed twice at the terminal or read from
the first line of standard input with --password-stdin, or imported with
--password-hash as hashed by another directory (see 'wicket user add').
Either way every app password of the account is revoked.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			importing := cmd.Flags().Changed("password-hash")
			if importing {
				var err error
				if hash, err = readPasswordHash(cmd, hash); err != nil {
					return err
				}
			}
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				var revoked int
				var err error
				if importing {
					revoked, err = e.svc.SetPasswordHash(ctx, u.Name, hash)
				} else {
					var pw string
					if pw, err = readNewPassword(cmd, u.Name, fromStdin); err != nil {
						return err
					}
					revoked, err = e.svc.SetPassword(ctx, u.Name, pw)
				}
				if err != nil {
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, struct {
						Name    string `json:"name"`
						Revoked int    `json:"revoked_app_passwords"`
					}{u.Name, revoked})
				}
				fmt.Fprintf(out, "password changed for %s; %s revoked\n", u.Name, plural(revoked, "app password", "app passwords"))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input (at a terminal: asked for twice, without echo)")
	cmd.Flags().StringVar(&hash, "password-hash", "", "import the password as hashed by another directory ('-': first line of standard input)")
	cmd.MarkFlagsMutuallyExclusive("password-stdin", "password-hash")
	return cmd
}

func newUserDisableCmd(g *globals, disable bool) *cobra.Command {
	use, short := "enable NAME", "Let a disabled account bind again"
	if disable {
		use, short = "disable NAME", "Refuse every bind of an account, keeping its app passwords"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				was := u.Disabled
				if err := e.svc.SetDisabled(ctx, u.Name, disable); err != nil {
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, struct {
						Name     string `json:"name"`
						Disabled bool   `json:"disabled"`
					}{u.Name, disable})
				}
				switch {
				case was == disable:
					fmt.Fprintf(out, "%s was already %s\n", u.Name, yesNo(disable, "disabled", "enabled"))
				case disable && u.ActiveAppPasswords > 0:
					fmt.Fprintf(out, "disabled %s: every bind fails now; its %s stay for when it is enabled again\n",
						u.Name, plural(u.ActiveAppPasswords, "app password", "app passwords"))
				case disable:
					fmt.Fprintf(out, "disabled %s: every bind fails now\n", u.Name)
				default:
					fmt.Fprintf(out, "enabled %s\n", u.Name)
				}
				return nil
			})
		},
	}
}

func newUserDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an account and its app passwords",
		Args:  nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				if err := e.svc.DeleteUser(ctx, u.Name); err != nil {
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, struct {
						Name         string `json:"name"`
						Deleted      bool   `json:"deleted"`
						AppPasswords int    `json:"deleted_app_passwords"`
					}{u.Name, true, u.ActiveAppPasswords})
				}
				fmt.Fprintf(out, "deleted account %s with its %s\n", u.Name,
					plural(u.ActiveAppPasswords, "active app password", "active app passwords"))
				return nil
			})
		},
	}
}

func newUserRoleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "role NAME ROLE",
		Short: "Set an account's role: user, service (reads the directory) or admin (manages everyone)",
		Args:  nArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				role := strings.ToLower(args[1])
				if err := e.svc.SetRole(ctx, u.Name, role); err != nil {
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, struct {
						Name string `json:"name"`
						Role string `json:"role"`
					}{u.Name, role})
				}
				if u.Role == role {
					fmt.Fprintf(out, "%s already has role %s\n", u.Name, role)
				} else {
					fmt.Fprintf(out, "role of %s changed from %s to %s\n", u.Name, u.Role, role)
				}
				return nil
			})
		},
	}
}
