package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
)

func newTOTPEnrollBulkCmd(g *globals) *cobra.Command {
	var f totpBulkFlags
	cmd := &cobra.Command{
		Use:   "enroll-bulk (--users FILE|- | --all-without-totp) --out DIR",
		Short: "Give many accounts without TOTP a seed each, written to one file per user",
		Long: `Give every account of --users FILE (one name a line; '-' reads standard input;
blank lines and lines starting with # are skipped), or with --all-without-totp
every enabled account of role user, a random TOTP seed, a thousand accounts per
transaction: the first enrolment of a user base imported from another
directory, whose users cannot sign in before they have a second factor.

An account that has TOTP already keeps it, never replaced, and is only counted.
Unknown names and service accounts (which bind with their password alone) are
refused. Each enrolment, and each refusal, has its record in the audit trail.

For each account enrolled, DIR/NAME.txt (mode 0600) holds what its user needs:
a QR code, the otpauth:// URI and the secret, with what to do with them, to be
handed over however the site hands over secrets. DIR is created (mode 0700) or
must be empty: no file is ever overwritten. The secrets are written nowhere
else; a summary, without them, goes to standard error (--json: to standard
output). The exit status is non-zero when an account was refused.`,
		Args: nArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd, g) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.users, "users", "", `file of account names, one a line ("-": standard input)`)
	fl.BoolVar(&f.all, "all-without-totp", false, "every enabled account of role user that has no TOTP")
	fl.StringVar(&f.out, "out", "", "directory to write one file per user into, new or empty (required)")
	cmd.MarkFlagsMutuallyExclusive("users", "all-without-totp")
	cmd.MarkFlagRequired("out")
	return cmd
}

type totpBulkFlags struct {
	users, out string
	all        bool
}

// totpBulkSummary is what enroll-bulk did, without a secret.
type totpBulkSummary struct {
	Enrolled []string         `json:"enrolled"`
	Out      string           `json:"out"`
	Had      int              `json:"already_enrolled"`
	LeftOut  *backend.LeftOut `json:"left_out,omitempty"`
	Refused  []bulkRefusal    `json:"refused"`
}

func (f *totpBulkFlags) run(cmd *cobra.Command, g *globals) (err error) {
	if (f.users == "") == !f.all {
		return errors.New("name the accounts: --users FILE (or - for standard input), or --all-without-totp")
	}
	var names []string
	if f.users != "" {
		if names, err = readNames(cmd, f.users); err != nil {
			return err
		}
	}
	// Made ready before the database is opened, so that a directory in
	// the way stops the command before any change.
	created, err := prepareOutDir(f.out)
	if err != nil {
		return err
	}
	sum := totpBulkSummary{Out: f.out, Enrolled: []string{}, Refused: []bulkRefusal{}}
	defer func() {
		// A run that enrolled no one leaves no directory it made behind.
		if created && len(sum.Enrolled) == 0 {
			os.Remove(f.out)
		}
	}()

	e, err := g.open(nil)
	if err != nil {
		return err
	}
	defer e.Close()
	ctx := cmd.Context()
	if f.all {
		var left backend.LeftOut
		if names, left, err = e.svc.TOTPCandidates(ctx); err != nil {
			return err
		}
		sum.LeftOut = &left
	}

	err = e.svc.EnrollTOTPs(ctx, names, func(batch []backend.BulkTOTP) error {
		// The seeds were just committed and exist nowhere else in the
		// clear: each batch is on disk before the next is made.
		var unwritten []string
		var werr error
		for _, r := range batch {
			switch {
			case r.Err != nil:
				sum.Refused = append(sum.Refused, bulkRefusal{Name: r.Name, Error: totpBulkReason(r.Err)})
			case r.Had:
				sum.Had++
			case werr != nil:
				unwritten = append(unwritten, r.Name)
			default:
				if werr = writeHandover(f.out, r.Name, *r.TOTP); werr != nil {
					unwritten = append(unwritten, r.Name)
					continue
				}
				sum.Enrolled = append(sum.Enrolled, r.Name)
			}
		}
		if werr == nil {
			werr = syncDir(f.out)
		}
		if werr != nil {
			return fmt.Errorf("%w; %s enrolled without a file to hand over, give them a new seed with "+
				"'wicket totp enroll NAME': %s", werr, plural(len(unwritten), "account was", "accounts were"),
				strings.Join(unwritten, " "))
		}
		return nil
	})
	if err != nil {
		if len(sum.Enrolled) > 0 {
			printTOTPBulkSummary(cmd.ErrOrStderr(), sum)
		}
		return err
	}
	if g.json {
		err = printJSON(cmd.OutOrStdout(), sum)
	} else {
		printTOTPBulkSummary(cmd.ErrOrStderr(), sum)
	}
	if err == nil && len(sum.Refused) > 0 {
		err = &userError{msg: fmt.Sprintf("%s of %d refused", plural(len(sum.Refused), "account", "accounts"), len(names))}
	}
	return err
}

// prepareOutDir makes dir ready for one new file per user: created with
// mode 0700, or an existing empty directory. It reports whether it made it.
func prepareOutDir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return false, fmt.Errorf("--out: %w", err)
	}
	st, serr := os.Stat(dir)
	if serr != nil || !st.IsDir() {
		return false, fmt.Errorf("--out: %s exists and is not a directory", dir)
	}
	d, err := os.Open(dir)
	if err != nil {
		return false, fmt.Errorf("--out: %w", err)
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return false, &userError{msg: fmt.Sprintf("--out: %s is not empty; the files of secrets go to a new or empty "+
			"directory only, never over others: name another", dir)}
	}
	return false, nil
}

// writeHandover writes dir/NAME.txt, new, mode 0600, synced: the user's
// enrolment, with what to do with it. O_EXCL refuses any file there, a
// symbolic link included.
func writeHandover(dir, name string, enr backend.TOTPEnrollment) error {
	path := filepath.Join(dir, name+".txt")
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(fh, handoverText(name, enr))
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func handoverText(name string, enr backend.TOTPEnrollment) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Two-factor sign-in for %s\n\n", name)
	b.WriteString("Scan this QR code with an authenticator app (Aegis, FreeOTP, Google\n" +
		"Authenticator, 1Password, ...), or type the secret into it by hand:\n\n")
	if qr, err := qrcode.New(enr.URI, qrcode.Medium); err == nil {
		b.WriteString(qr.ToSmallString(false))
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "secret:  %s\nuri:     %s\n\n", enr.Secret, enr.URI)
	b.WriteString("Then sign in with your password immediately followed by the 6-digit code\n" +
		"the app shows: password Correct-Horse and code 123456 are typed\n" +
		"Correct-Horse123456. A code works once. Mail and calendar apps that\n" +
		"cannot ask for a code each get an app password, which you create once\n" +
		"signed in this way, or which your administrator gives you.\n\n" +
		"Anyone who has the secret can make codes: keep this file to yourself and\n" +
		"delete it once the app shows codes.\n")
	return b.String()
}

// syncDir makes the new files' names durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// totpBulkReason says why an account was refused, shortly: the summary
// groups accounts by it.
func totpBulkReason(err error) string {
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return "no such account"
	case errors.Is(err, backend.ErrServiceAccount):
		return "service account (it binds with its password alone)"
	}
	return userMessage(err)
}

func printTOTPBulkSummary(w io.Writer, sum totpBulkSummary) {
	fmt.Fprintf(w, "enrolled TOTP for %s, one file each in %s (mode 0600)\n",
		plural(len(sum.Enrolled), "account", "accounts"), sum.Out)
	if sum.Had > 0 {
		fmt.Fprintf(w, "left as %s: %s TOTP already\n", yesNo(sum.Had == 1, "it was", "they were"),
			plural(sum.Had, "account had", "accounts had"))
	}
	if l := sum.LeftOut; l != nil {
		printLeftOut(w, []leftOutCount{
			{l.WithTOTP, "account with TOTP", "accounts with TOTP"},
			{l.Service, "service account", "service accounts"},
			{l.Admin, "administrator (name them with --users)", "administrators (name them with --users)"},
			{l.Disabled, "disabled account", "disabled accounts"},
		})
	}
	if len(sum.Refused) == 0 {
		return
	}
	fmt.Fprintf(w, "refused %s:\n", plural(len(sum.Refused), "account", "accounts"))
	for _, r := range sum.Refused {
		fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Error)
	}
}
