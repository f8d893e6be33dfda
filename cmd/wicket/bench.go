package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wicketldap/wicket/internal/loadgen"
)

// benchFlags are the flags of 'wicket bench'. bench/compare.sh relies on
// their names.
type benchFlags struct {
	uri, usersFile, bindName, password string
	passwordFile                       string
	mode, base, filter                 string
	concurrency, count                 int
	rate                               float64
	duration, warmup, timeout          time.Duration
	insecure, quiet, totp              bool
}

func newBenchCmd(g *globals) *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench (--users FILE | -D NAME -y FILE | --mode lookup -D NAME -y FILE --users FILE)",
		Short: "Measure how fast an LDAP server answers binds and lookups: wicket, slapd or any other",
		Long: `Measure how many binds or lookups a second an LDAP server answers, and how
fast: wicket or any other server, on this host or another.

Workers (--concurrency), each with its own connection, bind as the users of
--users (or the one of -D, with the password of -y) one after another, as
fast as the server answers, for --duration or for --count operations in all:

  bind          bind again and again on one connection, as Dovecot does on
                its pooled connections; an operation is one bind
  connect-bind  connect, bind, unbind and close, as Dovecot's auth_bind does
                per login; the latency includes the connect
  bind-search   bind, then search under --base for --filter (uid and mail)
                on the same connection; a search that finds nothing fails
  lookup        bind once as the service account of -D and -y, then an
                operation is one search under --base for --filter (uid and
                mail), scope sub, with %u the next name of --users, as
                Postfix's ldap tables and Dovecot's userdb look users up;
                a search that finds no entry (noEntry) or more than one
                (tooMany) fails

A users file has one user per line: the bind name, a tab (or spaces), then
the password, which may contain spaces. Lines starting with # are skipped.

  uid=alice,ou=people,dc=example,dc=org	abcd-efgh-ijkl-mnop

In lookup mode only the first column is read, and the password is not
needed: a users file serves as it is, and so does a list of names or DNs.
%u is the value of a DN's first RDN (alice of uid=alice,ou=people,...) or
the name as it is, escaped for a filter. The workers start at names spread
over the whole file and take the names that follow in turn. --base defaults
to ou=people under the dc= components that end -D's DN (dc=example,dc=org
when it has none); --filter to (mail=%u@DOMAIN), DOMAIN made of the base's
dc= components (dc=example,dc=org is example.org), or (uid=%u) when the
base has none. The report says which base and filter were used.

-y FILE (or --password-file FILE) reads the password of -D from the first
line of FILE, or of standard input with -y -; a file written for ldap-utils'
-y, without a newline, works as it is. -w PASSWORD puts the password on the
command line instead, where any user of this host can read it in the
process list while the run lasts.

--rate N caps the operations started a second by all the workers together
(0, the default, is as fast as the server answers): a steady background
load, such as 100 failed binds a second, beside a measured run. A run that
falls behind the rate does not catch up in a burst.

The report, on stdout (--json for scripts), gives the operations a second,
the latency percentiles and the failures by result code. The exit status is
0 when any operation succeeded.

Against wicket, bind with app passwords: a password followed by a one-time
code works once only. To measure password+code sign-ins, give --totp and
end each line of the users file with a tab and the user's TOTP secret
(base32, as in the otpauth:// URI); each bind sends the password followed
by the current code. A code works once a 30 s step: give each user at most
one bind a step (--rate, and more users than rate × 30).

  uid=alice,ou=people,dc=example,dc=org	Primary-Password	JBSWY3DPEHPK3PXP`,
		Args: nArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			return runBench(cmd, cfg, g.json, f.quiet)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.uri, "uri", "H", defaultRemoteURI, "the server, ldap://host:port or ldaps://host:port")
	fl.StringVar(&f.usersFile, "users", "", "who binds: a file of one user a line, the bind name, a tab, then the password (lookup: whose entries are looked up, the first column)")
	fl.StringVarP(&f.bindName, "bind-name", "D", "", "bind as this one user instead, with -y (lookup: the service account)")
	fl.StringVarP(&f.passwordFile, "password-file", "y", "", `read the password of -D from the first line of FILE ("-": standard input)`)
	fl.StringVarP(&f.password, "password", "w", "", "the password of -D (exposes it in the process list; prefer -y)")
	fl.StringVar(&f.mode, "mode", string(loadgen.ModeBind), "bind, connect-bind, bind-search or lookup")
	fl.IntVar(&f.concurrency, "concurrency", 16, "workers, each with its own connection")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "how long to measure")
	fl.IntVar(&f.count, "count", 0, "measure this many operations in all instead of a duration")
	fl.DurationVar(&f.warmup, "warmup", 0, "run the load this long first, unmeasured")
	fl.Float64Var(&f.rate, "rate", 0, "at most this many operations a second, all workers together (0: no limit)")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "time limit of one operation, connect included")
	fl.StringVar(&f.base, "base", "", "bind-search, lookup: the search base (default: the bind name's parent DN; lookup: ou=people under -D's dc= components)")
	fl.StringVar(&f.filter, "filter", "", "bind-search, lookup: the filter, %u the value of the user's first RDN (default "+loadgen.DefaultFilter+"; lookup: (mail=%u@DOMAIN), DOMAIN from the base)")
	fl.BoolVar(&f.insecure, "insecure", false, "ldaps://: do not check the server's certificate")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress line on stderr")
	fl.BoolVar(&f.totp, "totp", false, "each line of --users ends with a tab and a TOTP secret: bind with the password followed by the current code")
	return cmd
}

// config checks the flags, cheapest first, and reads the users.
func (f *benchFlags) config(cmd *cobra.Command) (loadgen.Config, error) {
	fl := cmd.Flags()
	one := fl.Changed("bind-name") || fl.Changed("password") || fl.Changed("password-file")
	lookup := f.mode == string(loadgen.ModeLookup)
	switch {
	case f.usersFile != "" && one && !lookup:
		return loadgen.Config{}, errors.New("--users and -D/-y/-w are exclusive: bind as the users of a file or as one user")
	case fl.Changed("password") && fl.Changed("password-file"):
		return loadgen.Config{}, errors.New("-w and -y are exclusive: give the password of -D once (-y FILE keeps it out of the process list)")
	case fl.Changed("duration") && fl.Changed("count"):
		return loadgen.Config{}, errors.New("--duration and --count are exclusive: measure for a time or for a number of operations")
	}
	mode, err := loadgen.ParseMode(f.mode)
	if err != nil {
		return loadgen.Config{}, fmt.Errorf("--mode %q: the modes are bind, connect-bind, bind-search and lookup", f.mode)
	}
	switch {
	case f.concurrency < 1:
		return loadgen.Config{}, fmt.Errorf("--concurrency %d: at least 1 worker is needed", f.concurrency)
	case fl.Changed("count") && f.count < 1:
		return loadgen.Config{}, fmt.Errorf("--count %d: at least 1 operation is needed", f.count)
	case f.duration <= 0:
		return loadgen.Config{}, fmt.Errorf("--duration %v: must be positive", f.duration)
	case f.warmup < 0:
		return loadgen.Config{}, fmt.Errorf("--warmup %v: cannot be negative", f.warmup)
	case f.timeout <= 0:
		return loadgen.Config{}, fmt.Errorf("--timeout %v: must be positive", f.timeout)
	case !(f.rate >= 0) || math.IsInf(f.rate, 0):
		return loadgen.Config{}, fmt.Errorf("--rate %v: give operations a second, or 0 for no limit", f.rate)
	case mode != loadgen.ModeBindSearch && mode != loadgen.ModeLookup && (fl.Changed("base") || fl.Changed("filter")):
		return loadgen.Config{}, fmt.Errorf("--base and --filter shape the search of --mode bind-search and lookup; --mode %s does not search", mode)
	case lookup && f.usersFile == "":
		return loadgen.Config{}, errors.New("--mode lookup looks up the names of a file: give --users FILE, a name or DN a line, and the service account with -D NAME -y FILE")
	case lookup && !fl.Changed("bind-name"):
		return loadgen.Config{}, errors.New("--mode lookup binds once as a service account: give it with -D NAME -y FILE")
	case f.totp && (lookup || f.usersFile == ""):
		return loadgen.Config{}, errors.New("--totp reads each user's TOTP secret from --users FILE, and lookup mode binds only its service account")
	}
	a, err := parseRemoteURI(f.uri)
	if err != nil {
		return loadgen.Config{}, err
	}
	if f.insecure && !a.tls {
		return loadgen.Config{}, errors.New("--insecure is for ldaps://, which checks a certificate; ldap:// has none")
	}
	var users []loadgen.User
	var service loadgen.User
	if lookup {
		// The service account first: its mistakes are the cheaper to find.
		one, err := f.oneUser(cmd)
		if err != nil {
			return loadgen.Config{}, err
		}
		service = one[0]
		if users, err = loadgen.ReadNames(f.usersFile); err != nil {
			return loadgen.Config{}, err
		}
	} else if users, err = f.users(cmd); err != nil {
		return loadgen.Config{}, err
	}
	if a.cleartext() {
		fmt.Fprintf(cmd.ErrOrStderr(), "wicket: warning: %s is not encrypted; the passwords cross the network readable\n", f.uri)
	}
	cfg := loadgen.Config{
		Addr: a.hostPort, URL: f.uri, Mode: mode, Users: users, Service: service,
		Concurrency: f.concurrency, Count: f.count, Duration: f.duration, Warmup: f.warmup, Timeout: f.timeout,
		Rate: f.rate,
		Base: f.base, Filter: f.filter,
	}
	if a.tls {
		cfg.TLS = &tls.Config{ServerName: a.host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.insecure}
	}
	return cfg, nil
}

func (f *benchFlags) users(cmd *cobra.Command) ([]loadgen.User, error) {
	if f.totp {
		return loadgen.ReadUsersTOTP(f.usersFile)
	}
	if f.usersFile != "" {
		return loadgen.ReadUsers(f.usersFile)
	}
	return f.oneUser(cmd)
}

// oneUser is the user of -D, with the password of -y or -w.
func (f *benchFlags) oneUser(cmd *cobra.Command) ([]loadgen.User, error) {
	switch {
	case f.bindName != "" && f.passwordFile != "":
		pw, err := readSecretArg(cmd, f.passwordFile, "password of -D")
		if err != nil {
			return nil, err
		}
		return []loadgen.User{{Name: f.bindName, Password: pw}}, nil
	case f.bindName != "" && f.password != "":
		return []loadgen.User{{Name: f.bindName, Password: f.password}}, nil
	case f.bindName != "":
		return nil, errors.New("-D needs -y FILE, the password's file: without a password a bind is unauthenticated, which measures nothing")
	case f.password != "" || f.passwordFile != "":
		return nil, errors.New("-y and -w need -D NAME: whose password is it?")
	}
	return nil, errors.New("who binds? give --users FILE, or -D NAME -y FILE")
}

func runBench(cmd *cobra.Command, cfg loadgen.Config, asJSON, quiet bool) error {
	// Interrupted, the run stops and reports what it measured.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var p *progressLine
	if !quiet {
		p = newProgressLine(cmd.ErrOrStderr())
		cfg.Progress = p.show
	}
	rep, err := loadgen.Run(ctx, cfg)
	p.clear()
	if err != nil {
		return err
	}
	if rep.Succeeded == 0 {
		return noSuccess(rep)
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), rep)
	}
	return rep.WriteText(cmd.OutOrStdout())
}

// noSuccess says why a run measured nothing: a misconfigured run must not
// pass for a measurement.
func noSuccess(rep *loadgen.Report) error {
	if rep.Operations == 0 {
		return errors.New("no operation was done")
	}
	var why []string
	for _, e := range rep.Errors {
		why = append(why, e.String())
	}
	return fmt.Errorf("not one of %d operations succeeded: %s", rep.Operations, strings.Join(why, "; "))
}

// progressLine shows the run's progress on stderr: rewritten in place on a
// terminal, a line a second otherwise (a log keeps them all).
type progressLine struct {
	w     io.Writer
	tty   bool
	width int
}

func newProgressLine(w io.Writer) *progressLine {
	f, ok := w.(*os.File)
	return &progressLine{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progressLine) show(pr loadgen.Progress) {
	s := pr.String()
	if !p.tty {
		fmt.Fprintln(p.w, s)
		return
	}
	fmt.Fprintf(p.w, "\r%-*s", p.width, s)
	p.width = max(p.width, len(s))
}

// clear rubs the line out on a terminal, where the report follows.
func (p *progressLine) clear() {
	if p != nil && p.tty && p.width > 0 {
		fmt.Fprintf(p.w, "\r%*s\r", p.width, "")
	}
}
