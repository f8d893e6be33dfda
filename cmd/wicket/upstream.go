package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend/upstream"
	"github.com/wicketldap/wicket/config"
)

// openUpstream makes the upstream directory of [upstream], nil when none
// is configured. It reads the service password but does not connect: a
// server starts while its upstream is down, and serves app passwords.
func openUpstream(cfg *config.Config, log *slog.Logger) (*upstream.Directory, error) {
	u := cfg.Upstream
	if !u.Enabled() {
		return nil, nil
	}
	var password string
	if u.BindPasswordFile != "" {
		b, err := os.ReadFile(u.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("upstream.bind_password_file: %w", err)
		}
		password, _, _ = strings.Cut(string(b), "\n")
		password = strings.TrimSuffix(password, "\r")
		if password == "" {
			return nil, fmt.Errorf("upstream.bind_password_file %s: the first line is empty", u.BindPasswordFile)
		}
	}
	return upstream.New(upstream.Config{
		URL:               u.URL,
		StartTLS:          u.StartTLS,
		CAFile:            u.CAFile,
		BindDN:            u.BindDN,
		BindPassword:      password,
		DNTemplate:        u.DNTemplate,
		Base:              u.Base,
		UserFilter:        u.UserFilter,
		UIDAttribute:      u.UIDAttribute,
		MailAttribute:     u.MailAttribute,
		AliasAttribute:    u.AliasAttribute,
		GroupAttribute:    u.GroupAttribute,
		GroupBase:         u.GroupBase,
		GroupFilter:       u.GroupFilter,
		ChangedAttributes: u.PasswordChangedAttributes,
		DialTimeout:       u.DialTimeout.Duration,
		Timeout:           u.Timeout.Duration,
		PoolSize:          u.PoolSize,
		MaxFailures:       u.MaxFailures,
		FailureWindow:     u.FailureWindow.Duration,
		NegativeCacheTTL:  u.NegativeCacheTTL.Duration,
		Logger:            log,
	})
}

func newUserSyncCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sync",
		Short: "Create and update the accounts of the upstream directory's users",
		Long: `Read every user of the [upstream] directory (a search of upstream.base with
upstream.user_filter) and bring wicket's accounts to it: a user without an
account gets one, with no password of its own (the upstream checks it), and
its mail, aliases and groups; an account whose password changed upstream
loses its app passwords; an account disabled, locked or gone upstream is
refused on every path until the upstream shows it again. Local accounts
(those with a password of their own) are never touched. A running server
does the same without creating accounts every upstream.poll_interval.

New accounts still need a second factor: 'wicket totp enroll NAME', or
'wicket totp enroll-bulk' for many.`,
		Args: nArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			if e.up == nil {
				return errors.New("no upstream directory is configured: set [upstream] url in the configuration")
			}
			rep, err := e.svc.SyncUpstream(cmd.Context(), true)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, rep)
			}
			fmt.Fprintf(out, "%d upstream users read\n", rep.Listed)
			for _, l := range []struct {
				what  string
				names []string
			}{{"created", rep.Created}, {"updated", rep.Updated}, {"password changed upstream, app passwords revoked", rep.PasswordChanged},
				{"disabled upstream", rep.Disabled}, {"enabled again upstream", rep.Enabled}} {
				if len(l.names) > 0 {
					fmt.Fprintf(out, "%s: %s\n", l.what, strings.Join(l.names, " "))
				}
			}
			for _, s := range rep.Skipped {
				fmt.Fprintf(out, "skipped %s (%s): %s\n", s.DN, s.Name, s.Reason)
			}
			return nil
		},
	}
}
