package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
)

func newAppPWCreateBulkCmd(g *globals) *cobra.Command {
	var f bulkFlags
	cmd := &cobra.Command{
		Use:   "create-bulk --label LABEL --out FILE [--names FILE|-] [--enroll-totp] [--totp-out FILE]",
		Short: "Give many accounts one app password each, written to a new file",
		Long: `Give many accounts one app password each, a thousand accounts per
transaction, for benchmarks and migrations. The accounts are those named in
--names FILE, one a line ('-' reads standard input; blank lines and lines
starting with # are skipped), or else every enabled account of role user that
has TOTP (with --enroll-totp, every one, with TOTP or not).

The rules are those of 'wicket apppw create': service accounts are refused, an
account holds at most auth.max_app_passwords, and app passwords need TOTP. With
--enroll-totp an account without TOTP is first enrolled with a random seed, in
the same transaction; an account that has TOTP keeps it. Every change and every
refusal is in the audit trail, the passwords never.

The passwords are written to --out, a new file (mode 0600; an existing file is
refused, never overwritten), one line per account:

  uid=NAME,ou=people,BASE<TAB>app-password

which is what 'wicket bench --users' reads. --totp-out, a new file too, gets
NAME<TAB>otpauth-URI for every account enrolled, for the users' authenticator
apps. A summary goes to standard error (with --json, to standard output); the
exit status is non-zero when a named account was refused.`,
		Args: nArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, g) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.label, "label", "", `what the passwords are for, e.g. "migration" (required)`)
	fl.StringVar(&f.out, "out", "", "new file to write the app passwords to (required)")
	fl.StringVar(&f.names, "names", "", `file of account names, one a line ("-": standard input); default: every account of role user`)
	fl.BoolVar(&f.enroll, "enroll-totp", false, "enrol TOTP first where an account has none")
	fl.StringVar(&f.totpOut, "totp-out", "", "new file to write the otpauth:// URIs of the TOTP enrolled to")
	cmd.MarkFlagRequired("label")
	cmd.MarkFlagRequired("out")
	return cmd
}

type bulkFlags struct {
	label, out, names, totpOut string
	enroll                     bool
}

// bulkSummary is what create-bulk did, for the terminal or a script.
type bulkSummary struct {
	Created  int              `json:"created"`
	Enrolled int              `json:"totp_enrolled"`
	Out      string           `json:"out"`
	TOTPOut  string           `json:"totp_out,omitempty"`
	LeftOut  *backend.LeftOut `json:"left_out,omitempty"`
	Refused  []bulkRefusal    `json:"refused"`
}

type bulkRefusal struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

func (f *bulkFlags) run(cmd *cobra.Command, g *globals) (err error) {
	if err := backend.ValidateLabel(f.label); err != nil {
		return err
	}
	if f.totpOut != "" && f.totpOut == f.out {
		return errors.New("--out and --totp-out must be two files")
	}
	var names []string
	if f.names != "" {
		if names, err = readNames(cmd, f.names); err != nil {
			return err
		}
	}

	// Created before the database is opened, so that a file in the way
	// stops the command before any change.
	out, err := createSecretFile(f.out, "--out")
	if err != nil {
		return err
	}
	files := []*secretFile{out}
	var totpOut *secretFile
	if f.totpOut != "" {
		if totpOut, err = createSecretFile(f.totpOut, "--totp-out"); err != nil {
			out.discard()
			return err
		}
		files = append(files, totpOut)
	}
	defer func() {
		for _, sf := range files {
			if cerr := sf.finish(err != nil); err == nil {
				err = cerr
			}
		}
	}()

	e, err := g.open(nil)
	if err != nil {
		return err
	}
	defer e.Close()
	ctx := cmd.Context()
	sum := bulkSummary{Out: f.out, TOTPOut: f.totpOut, Refused: []bulkRefusal{}}
	if names == nil {
		var left backend.LeftOut
		if names, left, err = e.svc.AppPasswordCandidates(ctx, f.enroll); err != nil {
			return err
		}
		sum.LeftOut = &left
	}

	people := ",ou=people," + e.cfg.BaseDN
	err = e.svc.CreateAppPasswords(ctx, names, f.label, f.enroll, func(batch []backend.BulkAppPassword) error {
		// These passwords exist nowhere else: each batch is on disk before
		// the next is made.
		for _, r := range batch {
			if r.Err != nil {
				sum.Refused = append(sum.Refused, bulkRefusal{Name: r.Name, Error: bulkReason(r.Err, e.cfg.Auth.MaxAppPasswords)})
				continue
			}
			sum.Created++
			fmt.Fprintf(out.w, "uid=%s%s\t%s\n", r.Name, people, r.AppPassword.Password)
			if r.TOTP != nil {
				sum.Enrolled++
				if totpOut != nil {
					fmt.Fprintf(totpOut.w, "%s\t%s\n", r.Name, r.TOTP.URI)
				}
			}
		}
		for _, sf := range files {
			if err := sf.flush(); err != nil {
				return fmt.Errorf("%s: %w; the app passwords of its last %s were created but not written",
					sf.path, err, plural(len(batch), "account", "accounts"))
			}
		}
		return nil
	})
	if err != nil {
		if sum.Created > 0 {
			printBulkSummary(cmd.ErrOrStderr(), f, sum)
		}
		return err
	}

	if g.json {
		err = printJSON(cmd.OutOrStdout(), sum)
	} else {
		printBulkSummary(cmd.ErrOrStderr(), f, sum)
	}
	if err == nil && len(sum.Refused) > 0 {
		err = &userError{msg: fmt.Sprintf("%s of %d refused", plural(len(sum.Refused), "account", "accounts"), len(names))}
	}
	return err
}

// bulkReason says why an account got no app password, shortly: the
// summary groups accounts by it.
func bulkReason(err error, limit int) string {
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return "no such account"
	case errors.Is(err, backend.ErrServiceAccount):
		return "service account (service accounts hold no app passwords)"
	case errors.Is(err, backend.ErrSecondFactorRequired):
		return "no TOTP enrolled (give --enroll-totp)"
	case errors.Is(err, backend.ErrLimitReached):
		return fmt.Sprintf("already %d active app passwords, the maximum", limit)
	}
	return userMessage(err)
}

func printBulkSummary(w io.Writer, f *bulkFlags, sum bulkSummary) {
	fmt.Fprintf(w, "created %s labelled %q, written to %s\n",
		plural(sum.Created, "app password", "app passwords"), f.label, f.out)
	switch {
	case sum.Enrolled > 0 && f.totpOut != "":
		fmt.Fprintf(w, "enrolled TOTP for %s, written to %s\n", plural(sum.Enrolled, "account", "accounts"), f.totpOut)
	case sum.Enrolled > 0:
		fmt.Fprintf(w, "enrolled TOTP for %s; without --totp-out their seeds were shown nowhere, so they sign in\n"+
			"with their app password only, until 'wicket totp enroll NAME' gives them one to scan\n",
			plural(sum.Enrolled, "account", "accounts"))
	}
	if l := sum.LeftOut; l != nil {
		printLeftOut(w, []leftOutCount{
			{l.Service, "service account", "service accounts"},
			{l.Admin, "administrator", "administrators"},
			{l.Disabled, "disabled account", "disabled accounts"},
			{l.WithoutTOTP, "account without TOTP (give --enroll-totp)", "accounts without TOTP (give --enroll-totp)"},
		})
	}
	if len(sum.Refused) == 0 {
		return
	}
	fmt.Fprintf(w, "refused %s:\n", plural(len(sum.Refused), "account", "accounts"))
	byReason := map[string][]string{}
	var reasons []string
	for _, r := range sum.Refused {
		if byReason[r.Error] == nil {
			reasons = append(reasons, r.Error)
		}
		byReason[r.Error] = append(byReason[r.Error], r.Name)
	}
	const shown = 10
	for _, reason := range reasons {
		who := byReason[reason]
		more := ""
		if len(who) > shown {
			more = fmt.Sprintf(" and %d more", len(who)-shown)
			who = who[:shown]
		}
		fmt.Fprintf(w, "  %d %s: %s%s\n", len(byReason[reason]), reason, strings.Join(who, ", "), more)
	}
}

// readNames reads account names, one a line, from path ("-": standard
// input), skipping blank lines and comments. A bad name or a name given
// twice refuses the whole list, every problem named at once.
func readNames(cmd *cobra.Command, path string) ([]string, error) {
	in := cmd.InOrStdin()
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		in = fh
	}
	sc := bufio.NewScanner(in)
	var names, problems []string
	first := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		name := strings.ToLower(strings.TrimSpace(sc.Text()))
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		if err := backend.ValidateName(name); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s", n, userMessage(err)))
			continue
		}
		if at, dup := first[name]; dup {
			problems = append(problems, fmt.Sprintf("line %d: %s appears again (first on line %d)", n, name, at))
			continue
		}
		first[name] = n
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(problems) > 0 {
		return nil, &userError{msg: fmt.Sprintf("%s: nothing created, %s:\n  %s", path,
			plural(len(problems), "line needs fixing", "lines need fixing"), strings.Join(problems, "\n  "))}
	}
	if len(names) == 0 {
		return nil, &userError{msg: path + ": no account names"}
	}
	return slices.Clip(names), nil
}

// secretFile is a new file of secrets, buffered.
type secretFile struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	written bool
}

// createSecretFile creates path for secrets: readable by its owner only,
// and new, never an existing file (nor a link to one) overwritten.
func createSecretFile(path, flag string) (*secretFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, &userError{err: err, msg: fmt.Sprintf(
			"%s: %s exists; secrets are written to a new file only: move it away or name another", flag, path)}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return &secretFile{path: path, f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// flush writes what is buffered and syncs it to disk.
func (s *secretFile) flush() error {
	if s.w.Buffered() > 0 {
		s.written = true
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	return s.f.Sync()
}

// finish flushes and closes the file; after a failure that left it empty
// it is removed, so that a second try can use the same name.
func (s *secretFile) finish(failed bool) error {
	err := s.flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if failed && !s.written {
		os.Remove(s.path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}

// discard closes and removes the file, unwritten.
func (s *secretFile) discard() {
	s.f.Close()
	os.Remove(s.path)
}

// leftOutCount is one kind of account a bulk command left alone.
type leftOutCount struct {
	n         int
	one, many string
}

// printLeftOut says which accounts a bulk command left alone, if any.
func printLeftOut(w io.Writer, counts []leftOutCount) {
	var parts []string
	for _, p := range counts {
		if p.n > 0 {
			parts = append(parts, plural(p.n, p.one, p.many))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "left out: %s\n", strings.Join(parts, ", "))
	}
}
