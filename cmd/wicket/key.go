package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the server keys kept outside the database",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Re-encrypt every TOTP seed under a new key",
		Long: `Add a new key to the key file's ring and re-encrypt every TOTP seed with it,
in one transaction. Older keys stay in the ring, so a running server keeps
working: it reads the ring again when it meets the new key, or on SIGHUP.

The app-password pepper is not rotated: every app password's verifier
depends on it, so changing it would revoke them all. Keys given in
$WICKET_KEYS are rotated where they are kept, not here.`,
		Args: nArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			n, id, err := e.svc.RotateSeedKey(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, struct {
					KeyID    int    `json:"key_id"`
					Resealed int    `json:"resealed_totp_seeds"`
					KeyFile  string `json:"key_file"`
				}{int(id), n, e.cfg.KeyPath()})
			}
			fmt.Fprintf(out, "key %d added to %s; %s re-encrypted with it\n", id, e.cfg.KeyPath(),
				plural(n, "TOTP seed", "TOTP seeds"))
			return nil
		},
	})
	return cmd
}
