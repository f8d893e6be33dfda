package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/config"
)

// cliActor names who runs a command, for the audit trail: the operating
// system user, and the login behind sudo when there is one, since under
// sudo the user is always root.
func cliActor() backend.Actor {
	name := "uid " + strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if sudo := os.Getenv("SUDO_USER"); sudo != "" && sudo != name {
		name = sudo + " (sudo " + name + ")"
	}
	return backend.Actor{Name: name, Method: "cli"}
}

func newAuditCmd(g *globals) *cobra.Command {
	var name, since string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [--user NAME] [--since DURATION] [--limit N]",
		Short: "Show the audit trail of binds and changes, newest first",
		Long: `Show the audit trail, newest first: every bind (the name given, the account,
the method, the client address, success or why it failed) and every change to
an account, its password, TOTP or app passwords, made over LDAP or with this
command. No record holds a password, code, app password, hash or seed.

--user keeps the records about one account: its binds and the changes made to
it. --since takes a duration back from now (30m, 24h, 7d). The server writes
its records within a few seconds, and deletes those older than
audit.retention (default 90d).`,
		Args: nArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return errors.New("--limit: must be 0 (all) or more")
			}
			f := backend.AuditFilter{Subject: name, Limit: limit}
			if since != "" {
				d, err := config.ParseDuration(since)
				if err != nil || d <= 0 {
					return fmt.Errorf("--since: %q is not a positive duration (say 30m, 24h, 7d)", since)
				}
				f.Since = time.Now().Add(-d)
			}
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			recs, err := e.svc.AuditRecords(cmd.Context(), f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				if recs == nil {
					recs = []backend.AuditRecord{}
				}
				return printJSON(out, recs)
			}
			if len(recs) == 0 {
				fmt.Fprintln(out, "no audit records")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "TIME\tACTION\tRESULT\tSUBJECT\tACTOR\tMETHOD\tFROM\tDETAIL")
			for _, r := range recs {
				action := r.Action
				if r.Count > 1 {
					// Repeated binds of one device, from this time on.
					action = fmt.Sprintf("%s ×%d", r.Action, r.Count)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(r.At), action, r.Result,
					orDash(r.Subject), orDash(r.Actor), orDash(r.Method), orDash(r.Remote), r.Detail)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "user", "", "only the records about this account")
	f.StringVar(&since, "since", "", "only the records of this long back from now (30m, 24h, 7d)")
	f.IntVar(&limit, "limit", 100, "at most this many records, the newest; 0 for all")
	return cmd
}
