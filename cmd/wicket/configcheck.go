package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/config"
	"github.com/wicketldap/wicket/server"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Load and validate the configuration, and print the settings in effect",
		Long: `Load the configuration (--config, with --db applied), validate it, load
the TLS certificate and key it names, and print the settings in effect:
listeners, database, key file, base DN, TLS, authentication, lockout and
limits. Each problem is printed on its own line, and the exit status is
then 1. Nothing is created or written: the database and key file are only
looked at, as a reload or a restart would find them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return configErrors(cmd.ErrOrStderr(), err)
			}
			check := checkConfig(cfg, cfg.Path)
			if len(check.errors) > 0 {
				return configErrors(cmd.ErrOrStderr(), errors.Join(check.errors...))
			}
			w := cmd.OutOrStdout()
			if g.json {
				return printJSON(w, check.report())
			}
			check.print(w)
			return nil
		},
	})
	return cmd
}

// configErrors prints each joined error on a line of its own and returns
// the one-line verdict the command exits with.
func configErrors(w io.Writer, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	if len(errs) == 1 {
		return errors.New("the configuration has 1 error")
	}
	return fmt.Errorf("the configuration has %d errors", len(errs))
}

// configCheck is the verdict on one configuration: the settings in effect,
// in the order they are printed, what would stop the server, and what
// deserves a look without stopping it.
type configCheck struct {
	file     string
	settings [][2]string
	errors   []error
	warnings []string
}

type configReport struct {
	ConfigFile string            `json:"config_file"`
	Settings   map[string]string `json:"settings"`
	Warnings   []string          `json:"warnings"`
}

func (c *configCheck) report() configReport {
	r := configReport{ConfigFile: c.file, Settings: map[string]string{}, Warnings: c.warnings}
	for _, s := range c.settings {
		r.Settings[s[0]] = s[1]
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	return r
}

func (c *configCheck) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	file := c.file
	if file == "" {
		file = "(none: the built-in defaults)"
	}
	fmt.Fprintf(tw, "config_file\t%s\n", file)
	for _, s := range c.settings {
		fmt.Fprintf(tw, "%s\t%s\n", s[0], s[1])
	}
	tw.Flush()
	for _, warn := range c.warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintln(w, "configuration OK")
}

// checkConfig looks at what a validated configuration names on disk, with
// stat and read-only opens: the check must leave no file behind.
func checkConfig(cfg *config.Config, file string) *configCheck {
	c := &configCheck{file: file}
	set := func(name, format string, a ...any) {
		c.settings = append(c.settings, [2]string{name, fmt.Sprintf(format, a...)})
	}
	warn := func(format string, a ...any) { c.warnings = append(c.warnings, fmt.Sprintf(format, a...)) }

	set("listen", "ldap://%s%s", cfg.Listen, startTLSNote(cfg.TLS))
	c.privilegedPort("listen", cfg.Listen, warn)
	if cfg.TLS.ListenLDAPS != "" {
		set("listen_ldaps", "ldaps://%s", cfg.TLS.ListenLDAPS)
		c.privilegedPort("tls.listen_ldaps", cfg.TLS.ListenLDAPS, warn)
	} else {
		set("listen_ldaps", "off")
	}
	if cfg.HTTP.Listen != "" {
		set("http", "http://%s (/metrics, /healthz)", cfg.HTTP.Listen)
	} else {
		set("http", "off")
	}
	if cfg.Web.Listen != "" {
		scheme := "http"
		if cfg.TLS.Enabled() {
			scheme = "https"
		}
		set("web", "%s://%s (account page; enrolment %s)", scheme, cfg.Web.Listen, cfg.Web.Enrolment)
	} else {
		set("web", "off")
	}
	set("base_dn", "%s", cfg.BaseDN)

	dbState := fileState(cfg.Database)
	dbMissing := dbState == ""
	if dbMissing {
		dbState = "not there yet: the server's first start creates it"
	}
	set("database", "%s (%s)", absolute(cfg.Database), dbState)
	if _, ok := os.LookupEnv(backend.KeyEnv); ok {
		set("key_file", "$%s (from the environment: no file is read)", backend.KeyEnv)
	} else {
		key := cfg.KeyPath()
		keyState := fileState(key)
		switch {
		case keyState == "" && dbMissing:
			keyState = "not there yet: created with the database"
		case keyState == "":
			keyState = "missing"
			warn("key_file %s is missing but the database exists: the TOTP enrolments and app passwords "+
				"in it cannot be verified without the key it was used with; restore it from the backup", key)
		}
		if st, err := os.Stat(key); err == nil && st.Mode().Perm()&0o077 != 0 {
			c.errors = append(c.errors, fmt.Errorf("key_file %s has mode %04o: the server refuses a key file "+
				"readable by group or others (chmod 600 %s)", key, st.Mode().Perm(), key))
		}
		set("key_file", "%s (%s)", absolute(key), keyState)
	}

	set("tls", "%s", c.tls(cfg.TLS, warn))
	set("auth", "%s, at most %d app passwords per account, TOTP issuer %q",
		map[bool]string{true: "password + code required", false: "password alone allowed without TOTP"}[cfg.Auth.RequireSecondFactor],
		cfg.Auth.MaxAppPasswords, cfg.Auth.TOTPIssuer)
	a := cfg.Argon2
	set("argon2", "m=%d KiB t=%d p=%d, %d hashes at once (up to %d MiB)", a.MemoryKiB, a.Time, a.Threads,
		cfg.HashSlots(), uint64(cfg.HashSlots())*uint64(a.MemoryKiB)/1024)
	l := cfg.Lockout
	set("lockout", "%d failed password binds in a row from one source, or %d from all, lock password sign-in "+
		"for %s; counts are forgotten after %s without a failure", l.MaxFailures, l.AccountMaxFailures,
		days(l.LockoutDuration.Duration), days(l.FailureWindow.Duration))
	if l.FailureDelay.Duration == 0 {
		set("failure_delay", "none")
	} else {
		set("failure_delay", "%s from the 4th failure in a row, doubling up to %s", days(l.FailureDelay.Duration),
			days(l.MaxFailureDelay.Duration))
	}
	if l.AddressFailuresPerMinute == 0 {
		set("address_limit", "none")
	} else {
		set("address_limit", "%d failed binds a minute per address, burst %d", l.AddressFailuresPerMinute,
			l.AddressFailureBurst)
	}
	set("trusted_clients", "%s", orNone(strings.Join(l.TrustedClients, ", ")))
	m := cfg.Limits
	set("connections", "%d (%d reserved for trusted clients, %s per network, %s per address), "+
		"%d requests queued on each", m.MaxConnections, m.ReservedConnections, capOrNone(m.MaxConnectionsPerNetwork),
		capOrNone(m.MaxConnectionsPerAddress), m.MaxOutstanding)
	set("message_size", "up to %s before a bind, %s after", size(m.MaxMessageBytesAnonymous), size(m.MaxMessageBytes))
	set("timeouts", "idle %s (%s before a bind), read %s, write %s, hash wait %s, shutdown %s",
		days(m.IdleTimeout.Duration), days(m.UnauthenticatedIdleTimeout.Duration), days(m.ReadTimeout.Duration),
		days(m.WriteTimeout.Duration), days(m.BindTimeout.Duration), days(m.ShutdownTimeout.Duration))
	set("log", "%s, %s, on standard error", strings.ToLower(cfg.Log.Level), cfg.Log.Format)
	if cfg.Audit.Retention.Duration == 0 {
		set("audit", "records kept for ever")
	} else {
		set("audit", "records kept %s", days(cfg.Audit.Retention.Duration))
	}
	return c
}

func startTLSNote(t config.TLS) string {
	if t.Enabled() {
		return " (StartTLS offered)"
	}
	return ""
}

// tls loads the certificate, key and client CA as the server would, so
// that a path or a pair that does not match is found before a restart.
func (c *configCheck) tls(t config.TLS, warn func(string, ...any)) string {
	if !t.Enabled() {
		return "off (no tls.cert_file): no StartTLS, no ldaps://"
	}
	certs, err := server.LoadCertificates(server.CertFiles{Cert: t.CertFile, Key: t.KeyFile, ClientCA: t.ClientCAFile},
		slog.New(slog.DiscardHandler))
	if err != nil {
		c.errors = append(c.errors, err)
		return "not loaded"
	}
	leaf := certs.Leaf()
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		warn("tls.cert_file %s is valid from %s to %s, not now: clients will refuse it", t.CertFile,
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	s := fmt.Sprintf("certificate %s (%s, until %s), key %s, TLS %s or later", t.CertFile, leaf.Subject,
		leaf.NotAfter.UTC().Format(time.DateOnly), t.KeyFile, t.MinVersion)
	switch {
	case t.Require && t.RequireExemptLoopback:
		s += ", required except on loopback"
	case t.Require:
		s += ", required"
	default:
		s += ", not required"
	}
	if t.ClientCAFile != "" {
		s += ", SASL EXTERNAL with client certificates of " + t.ClientCAFile
	}
	return s
}

// privilegedPort warns of a port below 1024, which a service user may
// bind only with CAP_NET_BIND_SERVICE.
func (c *configCheck) privilegedPort(name, addr string, warn func(string, ...any)) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	port, err := net.LookupPort("tcp", p)
	if err == nil && port > 0 && port < 1024 {
		warn("%s: port %d is below 1024: an unprivileged service user needs CAP_NET_BIND_SERVICE "+
			"(see deploy/systemd/wicket.service)", name, port)
	}
}

// fileState describes a file from its metadata alone; "" if it is absent.
func fileState(path string) string {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ""
	case err != nil:
		return err.Error()
	case !st.Mode().IsRegular():
		return "not a regular file"
	}
	return fmt.Sprintf("exists, %s, mode %04o", size(int(st.Size())), st.Mode().Perm())
}

func absolute(path string) string {
	if abs, err := filepath.Abs(path); err == nil && abs != path {
		return path + " = " + abs
	}
	return path
}

// days writes a duration as the configuration says it: "90d", "10m",
// "1h30m" rather than Go's "2160h0m0s", "10m0s", "1h30m0s".
func days(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func capOrNone(n int) string {
	if n == 0 {
		return "no cap"
	}
	return strconv.Itoa(n)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
