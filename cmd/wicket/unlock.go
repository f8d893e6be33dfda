package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/config"
)

func lockoutPolicy(cfg *config.Config) backend.LockoutPolicy {
	l := cfg.Lockout
	// Validated with the configuration: an error here cannot happen.
	trusted, _ := l.TrustedPrefixes()
	return backend.LockoutPolicy{
		MaxFailures:        l.MaxFailures,
		AccountMaxFailures: l.AccountMaxFailures,
		TrustedClients:     trusted,
		Window:             l.FailureWindow.Duration,
		Duration:           l.LockoutDuration.Duration,
		Delay:              l.FailureDelay.Duration,
		MaxDelay:           l.MaxFailureDelay.Duration,
	}
}

func newUserUnlockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock NAME",
		Short: "Clear an account's failed binds, lifting a lock now",
		Long: `Clear the failed password binds counted on an account and lift its locks at
once: the account's own and those a running server keeps for single client
addresses. It takes effect on the next bind of a running server: the counts
and the unlock live in the database. App passwords are never locked.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				if err := e.svc.Unlock(ctx, u.Name); err != nil {
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, struct {
						Name string `json:"name"`
						// What was cleared.
						Password backend.LockState `json:"password_lockout"`
					}{u.Name, u.PasswordLockout})
				}
				if u.PasswordLockout.Failures == 0 {
					fmt.Fprintf(out, "unlocked %s: no failed binds on the account; locks of single client addresses lifted\n", u.Name)
					return nil
				}
				fmt.Fprintf(out, "unlocked %s: cleared password sign-in (%s)\n", u.Name, lockSummary(u.PasswordLockout))
				return nil
			})
		},
	}
}

// lockSummary says what one path's record holds.
func lockSummary(l backend.LockState) string {
	switch {
	case l.Locked():
		return fmt.Sprintf("locked until %s after %s", formatTime(l.LockedUntil), plural(l.Failures, "failure", "failures"))
	case l.Failures > 0:
		return fmt.Sprintf("%s in a row, the last %s", plural(l.Failures, "failure", "failures"), formatTime(l.LastFailure))
	}
	return "no failures"
}
