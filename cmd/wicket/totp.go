package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
)

func newTOTPCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "totp",
		Short: "Manage the second factor (TOTP) of accounts",
	}
	cmd.AddCommand(newTOTPEnrollCmd(g), newTOTPRemoveCmd(g), newTOTPEnrollBulkCmd(g), newTOTPInviteCmd(g))
	return cmd
}

func newTOTPEnrollCmd(g *globals) *cobra.Command {
	var secret, secretFile string
	cmd := &cobra.Command{
		Use:   "enroll NAME [--secret-file FILE]",
		Short: "Give an account a TOTP seed, replacing any earlier one",
		Long: `Give an account a new TOTP seed and print it for the user's authenticator
app: as a QR code, an otpauth:// URI and the base32 secret. Any earlier seed
stops working at once.

--secret-file takes an existing seed instead of a random one, for moving a
user's authenticator entry over from another system: the base32 secret on
the first line of FILE, or of standard input with --secret-file -. It must
have at least 80 bits (16 base32 characters), as many systems issue; below
128 bits (26 characters, RFC 4226's minimum) it is taken with a warning.
(--secret BASE32 does the same from the command line, where any user of
this host can read it in the process list while the command runs.)`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if secretFile != "" {
				var err error
				if secret, err = readSecretArg(cmd, secretFile, "TOTP secret"); err != nil {
					return err
				}
			}
			var seed []byte
			if secret != "" {
				var err error
				if seed, err = backend.ParseTOTPSecret(secret); err != nil {
					return err
				}
				if len(seed) < backend.TOTPWeakSeedBytes {
					fmt.Fprintf(cmd.ErrOrStderr(), "wicket: warning: this TOTP secret has %d bits, fewer than the 128 RFC 4226 asks for "+
						"(wicket's own have 160); it is taken, but give the user a new random one when they can scan it "+
						"('wicket totp enroll %s' without --secret-file)\n", len(seed)*8, args[0])
				}
			}
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				enr, err := e.svc.EnrollTOTP(ctx, u.Name, seed)
				if err != nil {
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, struct {
						Name   string `json:"name"`
						Secret string `json:"secret"`
						URI    string `json:"uri"`
					}{u.Name, enr.Secret, enr.URI})
				}
				// The seed is already stored: a QR failure must not hide the
				// secret the user now needs, so it only costs the picture.
				qr, qrErr := qrcode.New(enr.URI, qrcode.Medium)

				fmt.Fprintf(out, "TOTP enrolled for %s.\n", u.Name)
				if u.TOTPEnrolled {
					fmt.Fprintln(out, "This replaces the previous seed: codes from the old authenticator entry no longer work.")
				}
				fmt.Fprintln(out, "Scan the QR code with the authenticator app, or type in the secret.")
				fmt.Fprintln(out, "Anyone holding the secret can make codes: hand it to the user only.")
				fmt.Fprintln(out)
				if qrErr == nil {
					fmt.Fprint(out, qr.ToSmallString(false))
					fmt.Fprintln(out)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "wicket: no QR code: %v\n", qrErr)
				}
				tw := newTable(out)
				fmt.Fprintf(tw, "secret:\t%s\n", enr.Secret)
				fmt.Fprintf(tw, "uri:\t%s\n", enr.URI)
				return tw.Flush()
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&secretFile, "secret-file", "", `use the base32 seed on the first line of FILE ("-": standard input) instead of a random one`)
	fl.StringVar(&secret, "secret", "", "use this base32 seed instead of a random one (exposes it in the process list; prefer --secret-file)")
	cmd.MarkFlagsMutuallyExclusive("secret", "secret-file")
	return cmd
}

func newTOTPRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an account's second factor, revoking its app passwords",
		Args:  nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				revoked, err := e.svc.RemoveTOTP(ctx, u.Name)
				if err != nil {
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, struct {
						Name    string `json:"name"`
						Removed bool   `json:"removed"`
						Revoked int    `json:"revoked_app_passwords"`
					}{u.Name, u.TOTPEnrolled, revoked})
				}
				if !u.TOTPEnrolled {
					fmt.Fprintf(out, "%s had no TOTP enrolled; %s revoked\n", u.Name,
						plural(revoked, "app password", "app passwords"))
					return nil
				}
				fmt.Fprintf(out, "removed TOTP from %s; %s revoked with it\n", u.Name,
					plural(revoked, "app password", "app passwords"))
				if e.cfg.Auth.RequireSecondFactor {
					fmt.Fprintf(out, "auth.require_second_factor is on: %s cannot sign in until enrolled again\n", u.Name)
				}
				return nil
			})
		},
	}
}

func newTOTPInviteCmd(g *globals) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "invite NAME [--ttl 72h]",
		Short: "Issue a one-time enrolment code for the account page",
		Long: `Issue a one-time enrolment code with which the user turns on two-factor
sign-in on the account page (/enrol), together with their password, when
web.enrolment = "invite" (the default). It is printed once; only its hash
is stored. It replaces any earlier code of the account, expires after --ttl
(72h by default, at most 30 days), and works once. Hand it over by another
channel than the user's mail: with a stolen password alone nobody else can
enrol their phone.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				code, expires, err := e.svc.IssueInvite(ctx, u.Name, ttl)
				switch {
				case errors.Is(err, backend.ErrExists):
					return &userError{err: err, msg: fmt.Sprintf("%s already has TOTP: an enrolment code is for a first enrolment "+
						"('wicket totp remove %s' first to start over)", u.Name, u.Name)}
				case err != nil:
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, struct {
						Name    string    `json:"name"`
						Code    string    `json:"code"`
						Expires time.Time `json:"expires"`
					}{u.Name, code, expires})
				}
				fmt.Fprintf(out, "enrolment code for %s (once, until %s):\n%s\n", u.Name, expires.Format(time.RFC3339), code)
				if e.cfg.Web.Enrolment != "invite" {
					fmt.Fprintf(cmd.ErrOrStderr(), "wicket: note: web.enrolment is %q, so the account page does not ask for this code\n",
						e.cfg.Web.Enrolment)
				}
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", backend.DefaultInviteTTL, "how long the code is valid")
	return cmd
}
