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
	return backend.LockoutPolicy{
		MaxFailures: l.MaxFailures,
		Window:      l.FailureWindow.Duration,
		Duration:    l.LockoutDuration.Duration,
		Delay:       l.FailureDelay.Duration,
		MaxDelay:    l.MaxFailureDelay.Duration,
	}
}

func newUserUnlockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock NAME",
		Short: "Clear an account's failed binds, lifting a lock now",
		Long: `Clear the failed binds counted on both ways into an account, the password
(with or without a code) and the app passwords, and lift any lock at once.
It takes effect on the next bind of a running server: the counts live in
the database.`,
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
						Password    backend.LockState `json:"password_lockout"`
						AppPassword backend.LockState `json:"app_password_lockout"`
					}{u.Name, u.PasswordLockout, u.AppPasswordLockout})
				}
				if u.PasswordLockout.Failures == 0 && u.AppPasswordLockout.Failures == 0 {
					fmt.Fprintf(out, "%s had no failed binds to clear\n", u.Name)
					return nil
				}
				fmt.Fprintf(out, "unlocked %s: cleared password sign-in (%s) and app passwords (%s)\n", u.Name,
					lockSummary(u.PasswordLockout), lockSummary(u.AppPasswordLockout))
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
