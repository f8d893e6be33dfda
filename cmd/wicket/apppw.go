package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

func newAppPWCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apppw",
		Short: "Manage app-specific passwords",
		Long: `App-specific passwords let clients that cannot type a one-time code (mail
apps, CalDAV accounts, relays) sign in. Each is shown once when created, can be
revoked on its own, and all are revoked when the primary password changes.`,
	}
	cmd.AddCommand(newAppPWCreateCmd(g), newAppPWCreateBulkCmd(g), newAppPWListCmd(g), newAppPWRevokeCmd(g))
	return cmd
}

func newAppPWCreateCmd(g *globals) *cobra.Command {
	var label string
	cmd := &cobra.Command{
		Use:   "create NAME --label LABEL",
		Short: "Create an app password and print it, once",
		Args:  nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				ap, err := e.svc.CreateAppPassword(ctx, u.Name, label)
				switch {
				case errors.Is(err, backend.ErrSecondFactorRequired):
					return &userError{err: err, msg: fmt.Sprintf(
						"%s has no two-factor (TOTP) enrolled, which app passwords require: run 'wicket totp enroll %s' first",
						u.Name, u.Name)}
				case errors.Is(err, backend.ErrLimitReached):
					return &userError{err: err, msg: fmt.Sprintf(
						"%s already has %d active app passwords, the maximum; revoke one first ('wicket apppw list %s', 'wicket apppw revoke %s ID')",
						u.Name, e.cfg.Auth.MaxAppPasswords, u.Name, u.Name)}
				case err != nil:
					return accountError(u.Name, err)
				}
				return printNewAppPassword(cmd.OutOrStdout(), g.json, u.Name,
					exop.CreateResponse{ID: ap.ID, Password: ap.Password, Created: ap.CreatedAt}, ap.Label,
					"wicket apppw revoke "+u.Name+" "+ap.ID)
			})
		},
	}
	cmd.Flags().StringVar(&label, "label", "", `what the password is for, e.g. "Thunderbird on laptop" (required)`)
	cmd.MarkFlagRequired("label")
	return cmd
}

// appPasswordJSON is the scripting view of an app password. LastUsed is null
// until the first bind, rather than Go's zero time, which reads as a date.
type appPasswordJSON struct {
	ID           string     `json:"id"`
	Label        string     `json:"label"`
	Created      time.Time  `json:"created"`
	LastUsed     *time.Time `json:"last_used"`
	LastUsedFrom string     `json:"last_used_from"`
}

// printNewAppPassword shows a created app password, the only time it is
// shown; revoke is the command that would revoke it.
func printNewAppPassword(out io.Writer, asJSON bool, who string, ap exop.CreateResponse, label, revoke string) error {
	if asJSON {
		return printJSON(out, struct {
			ID       string    `json:"id"`
			Label    string    `json:"label"`
			Password string    `json:"password"`
			Created  time.Time `json:"created"`
		}{ap.ID, label, ap.Password, ap.Created})
	}
	fmt.Fprintf(out, "app password for %s:\n\n    %s\n\n", who, ap.Password)
	tw := newTable(out)
	fmt.Fprintf(tw, "id:\t%s\n", ap.ID)
	fmt.Fprintf(tw, "label:\t%s\n", label)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nIt will not be shown again. Type it into the client in place of the password;")
	fmt.Fprintf(out, "the dashes are optional. Revoke it with '%s'.\n", revoke)
	return nil
}

// printAppPasswords shows a list of app passwords, local or remote, the
// same way: a table, or JSON for scripts.
func printAppPasswords(out io.Writer, asJSON bool, who string, aps []exop.AppPassword) error {
	if asJSON {
		list := make([]appPasswordJSON, 0, len(aps))
		for _, ap := range aps {
			j := appPasswordJSON{ID: ap.ID, Label: ap.Label, Created: ap.Created, LastUsedFrom: ap.LastUsedFrom}
			if !ap.LastUsed.IsZero() {
				j.LastUsed = &ap.LastUsed
			}
			list = append(list, j)
		}
		return printJSON(out, list)
	}
	if len(aps) == 0 {
		fmt.Fprintf(out, "%s has no active app passwords\n", who)
		return nil
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tLABEL\tCREATED\tLAST USED\tFROM")
	for _, ap := range aps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ap.ID, ap.Label, formatTime(ap.Created),
			formatTime(ap.LastUsed), orDash(ap.LastUsedFrom))
	}
	return tw.Flush()
}

func newAppPWListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list NAME",
		Short: "List an account's active app passwords",
		Args:  nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				aps, err := e.svc.AppPasswords(ctx, u.Name)
				if err != nil {
					return accountError(u.Name, err)
				}
				list := make([]exop.AppPassword, len(aps))
				for i, ap := range aps {
					list[i] = exop.AppPassword{ID: ap.ID, Label: ap.Label, Created: ap.CreatedAt,
						LastUsed: ap.LastUsedAt, LastUsedFrom: ap.LastUsedFrom}
				}
				return printAppPasswords(cmd.OutOrStdout(), g.json, u.Name, list)
			})
		},
	}
}

func newAppPWRevokeCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "revoke NAME {ID | --all}",
		Short: "Revoke one app password, or all of an account's",
		Long: `Revoke one app password by its id (see 'wicket apppw list NAME'), or every
one of the account with --all. A client using a revoked password fails on its
next bind.`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0 || len(args) > 2:
				return fmt.Errorf("usage: %s", cmd.UseLine())
			case all && len(args) == 2:
				return errors.New("give either an app password ID or --all, not both")
			case !all && len(args) == 1:
				return fmt.Errorf("give the ID of the app password to revoke (see 'wicket apppw list %s'), or --all", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				out := cmd.OutOrStdout()
				type result struct {
					Name    string `json:"name"`
					ID      string `json:"id,omitempty"`
					Label   string `json:"label,omitempty"`
					Revoked int    `json:"revoked"`
				}

				if all {
					n, err := e.svc.RevokeAllAppPasswords(ctx, u.Name)
					if err != nil {
						return accountError(u.Name, err)
					}
					if g.json {
						return printJSON(out, result{Name: u.Name, Revoked: n})
					}
					fmt.Fprintf(out, "revoked %s of %s\n", plural(n, "app password", "app passwords"), u.Name)
					return nil
				}

				// The label is looked up only to say what was revoked; the
				// revocation itself decides whether the id exists.
				id := strings.ToLower(args[1])
				label := ""
				if aps, err := e.svc.AppPasswords(ctx, u.Name); err == nil {
					for _, ap := range aps {
						if ap.ID == id {
							label = ap.Label
						}
					}
				}
				err := e.svc.RevokeAppPassword(ctx, u.Name, id)
				if errors.Is(err, backend.ErrNoSuchAppPassword) {
					return &userError{err: err, msg: fmt.Sprintf(
						"%s has no active app password with id %s (see 'wicket apppw list %s')", u.Name, id, u.Name)}
				}
				if err != nil {
					return accountError(u.Name, err)
				}
				if g.json {
					return printJSON(out, result{Name: u.Name, ID: id, Label: label, Revoked: 1})
				}
				if label != "" {
					fmt.Fprintf(out, "revoked app password %s (%q) of %s\n", id, label, u.Name)
				} else {
					fmt.Fprintf(out, "revoked app password %s of %s\n", id, u.Name)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "revoke every app password of the account")
	return cmd
}
