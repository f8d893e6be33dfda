// Package config is wicket's one typed configuration: defaults, a TOML file,
// then flags, validated with errors that name the setting.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/go-ldap/ldap/v3"
)

// Config is everything wicket reads at start.
type Config struct {
	// Listen is the ldap:// address, host:port.
	Listen string `toml:"listen"`
	// Database is the SQLite file, created by the server's first start or
	// by wicket init, and by nothing else.
	Database string `toml:"database"`
	// KeyFile holds the server secret (app-password pepper, seed encryption
	// key). Empty means "wicket.key" beside the database.
	KeyFile string `toml:"key_file"`
	// BaseDN is the suffix of every entry wicket serves.
	BaseDN string `toml:"base_dn"`

	Log     Log     `toml:"log"`
	Auth    Auth    `toml:"auth"`
	Argon2  Argon2  `toml:"argon2"`
	Limits  Limits  `toml:"limits"`
	Lockout Lockout `toml:"lockout"`
	TLS     TLS     `toml:"tls"`
	Audit   Audit   `toml:"audit"`
	HTTP    HTTP    `toml:"http"`
	Web     Web     `toml:"web"`

	// Path is the file this configuration was read from; empty for the
	// built-in defaults.
	Path string `toml:"-"`
}

// HTTP is the optional listener of /metrics (Prometheus) and /healthz.
type HTTP struct {
	// Listen is its address, host:port; empty means no such listener.
	Listen string `toml:"listen"`
	// AllowRemote lets Listen be an address other than loopback. /metrics
	// shows anyone who can reach it how many binds succeed and fail, from
	// which kind of client and when, and /healthz whether the database
	// takes writes: off by default, like every way of watching the
	// server's activity from outside the host.
	AllowRemote bool `toml:"allow_remote"`
}

// Audit configures the audit trail of binds and changes.
type Audit struct {
	// Retention is how long records are kept ("90d"); the server prunes
	// older ones at start and every hour. 0 keeps them for ever.
	Retention Duration `toml:"retention"`
}

// Log configures log/slog output on stderr.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Auth is the authentication policy.
type Auth struct {
	RequireSecondFactor bool   `toml:"require_second_factor"`
	MaxAppPasswords     int    `toml:"max_app_passwords"`
	TOTPIssuer          string `toml:"totp_issuer"`
}

// Argon2 are the primary-password hashing costs.
type Argon2 struct {
	MemoryKiB uint32 `toml:"memory_kib"`
	Time      uint32 `toml:"time"`
	Threads   uint8  `toml:"threads"`
	// MaxConcurrent bounds hashes in flight; 0 means one per CPU.
	MaxConcurrent int `toml:"max_concurrent"`
}

// Limits bound what a client can make the server hold.
type Limits struct {
	// MaxMessageBytesAnonymous applies before a successful bind, like slapd's
	// sockbuf_max_incoming (256 KiB).
	MaxMessageBytesAnonymous int `toml:"max_message_bytes_anonymous"`
	// MaxMessageBytes applies after a bind, like slapd's
	// sockbuf_max_incoming_auth (4 MiB).
	MaxMessageBytes int      `toml:"max_message_bytes"`
	MaxConnections  int      `toml:"max_connections"`
	MaxOutstanding  int      `toml:"max_outstanding"`
	IdleTimeout     Duration `toml:"idle_timeout"`
	ReadTimeout     Duration `toml:"read_timeout"`
	WriteTimeout    Duration `toml:"write_timeout"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// ReservedConnections of MaxConnections are kept for
	// lockout.trusted_clients (the mail servers): other clients are refused
	// once MaxConnections minus these are open. Unset, a tenth of
	// MaxConnections.
	ReservedConnections int `toml:"reserved_connections"`
	// MaxConnectionsPerAddress caps the connections of one client address
	// (an IPv6 /64); lockout.trusted_clients are exempt. 0 means no cap.
	MaxConnectionsPerAddress int `toml:"max_connections_per_address"`
	// MaxConnectionsPerNetwork caps the connections of one client network
	// (an IPv4 /24, an IPv6 /56), so that one network can hold only its
	// share; lockout.trusted_clients are exempt and not counted. Unset, a
	// quarter of MaxConnections; 0 means no cap.
	MaxConnectionsPerNetwork int `toml:"max_connections_per_network"`
	// UnauthenticatedIdleTimeout closes a connection of a client other
	// than lockout.trusted_clients that has sent nothing for this long
	// while not authenticated (no bind yet, an anonymous one, or a failed
	// one). IdleTimeout applies once a bind with credentials succeeds.
	UnauthenticatedIdleTimeout Duration `toml:"unauthenticated_idle_timeout"`
	// BindTimeout is how long a bind waits for a password-hashing slot
	// before it is answered busy.
	BindTimeout Duration `toml:"bind_timeout"`
}

// TLS configures ldaps://, StartTLS and SASL EXTERNAL. Without cert_file
// and key_file there is neither; the files are read again on SIGHUP.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ListenLDAPS is the ldaps:// address; empty means no such listener.
	ListenLDAPS string `toml:"listen_ldaps"`
	// MinVersion is "1.2" or "1.3".
	MinVersion string `toml:"min_version"`
	// Require answers binds and searches on a connection without TLS with
	// confidentialityRequired, as slapd's "security tls=1" does.
	Require bool `toml:"require"`
	// RequireExemptLoopback counts connections from 127.0.0.0/8 and ::1
	// as confidential: a mail server on the same host gains nothing from
	// encrypting loopback traffic.
	RequireExemptLoopback bool `toml:"require_exempt_loopback"`
	// ClientCAFile signs the client certificates of service accounts that
	// bind with SASL EXTERNAL; empty turns EXTERNAL off.
	ClientCAFile string `toml:"client_ca_file"`
}

// Enabled reports whether a server certificate is configured.
func (t *TLS) Enabled() bool { return t.CertFile != "" }

// Duration reads "30s", "5m", "90d" from TOML (see ParseDuration).
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// ParseDuration is time.ParseDuration that also takes whole days, as
// retention periods are said: "90d", "1d12h". A day is 24 hours.
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration (say 30s, 5m, 1h, 90d)", s)
	days, rest, found := strings.Cut(s, "d")
	if !found {
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return v, nil
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil || days == "" || days[0] == '+' {
		return 0, bad
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || strings.HasPrefix(rest, "+") {
			return 0, bad
		}
		d += r
	}
	return d, nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// defaultMaxConnections is limits.max_connections unless set.
const defaultMaxConnections = 4096

// Default returns the configuration used when no file says otherwise.
func Default() *Config {
	return &Config{
		Listen:   "127.0.0.1:1389",
		Database: "./wicket.db",
		BaseDN:   "dc=example,dc=org",
		Log:      Log{Level: "info", Format: "text"},
		Auth: Auth{
			RequireSecondFactor: true,
			MaxAppPasswords:     25,
			TOTPIssuer:          "wicket",
		},
		// OWASP Password Storage Cheat Sheet, argon2id minimum: m=19 MiB, t=2, p=1.
		Argon2: Argon2{MemoryKiB: 19456, Time: 2, Threads: 1, MaxConcurrent: 0},
		Limits: Limits{
			MaxMessageBytesAnonymous: 256 << 10,
			MaxMessageBytes:          4 << 20,
			MaxConnections:           defaultMaxConnections,
			MaxOutstanding:           32,
			IdleTimeout:              Duration{5 * time.Minute},
			ReadTimeout:              Duration{30 * time.Second},
			WriteTimeout:             Duration{30 * time.Second},
			ShutdownTimeout:          Duration{30 * time.Second},
			MaxConnectionsPerAddress: 256,
			BindTimeout:              Duration{10 * time.Second},

			ReservedConnections:        reservedConnections(defaultMaxConnections),
			MaxConnectionsPerNetwork:   connectionsPerNetwork(defaultMaxConnections),
			UnauthenticatedIdleTimeout: Duration{10 * time.Second},
		},
		Lockout: defaultLockout(),
		TLS:     TLS{MinVersion: "1.2", RequireExemptLoopback: true},
		Audit:   Audit{Retention: Duration{90 * 24 * time.Hour}},
		Web:     defaultWeb(),
	}
}

// PathEnv names the configuration file when --config does not.
const PathEnv = "WICKET_CONFIG"

// SystemPath is the configuration file read when neither --config nor
// $WICKET_CONFIG names one, if it exists. A variable for tests.
var SystemPath = "/etc/wicket/wicket.toml"

// Find returns the configuration file to read when --config is not given:
// $WICKET_CONFIG, else SystemPath when it exists, else "" (the built-in
// defaults). So `wicket user add` run by hand reads the file the service
// reads, instead of the defaults and another database. A SystemPath that
// exists but cannot be looked at is an error, not a reason to fall back.
func Find() (string, error) {
	if p := os.Getenv(PathEnv); p != "" {
		return p, nil
	}
	_, err := os.Stat(SystemPath)
	switch {
	case err == nil:
		return SystemPath, nil
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	}
	return "", fmt.Errorf("config: %w", err)
}

// Load reads path over the defaults. An empty path returns the defaults.
// Unknown keys are errors: a misspelt setting must not be silently ignored.
func Load(path string) (*Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	c.Path = path
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("config %s: %s", path, perr.ErrorWithPosition())
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config %s: unknown setting(s): %s", path, strings.Join(keys, ", "))
	}
	// A file turns the page on only by saying where (Web.Listen).
	if !md.IsDefined("web", "listen") {
		c.Web.Listen = ""
	}
	// Shares of max_connections follow it unless set themselves.
	if !md.IsDefined("limits", "reserved_connections") {
		c.Limits.ReservedConnections = reservedConnections(c.Limits.MaxConnections)
	}
	if !md.IsDefined("limits", "max_connections_per_network") {
		c.Limits.MaxConnectionsPerNetwork = connectionsPerNetwork(c.Limits.MaxConnections)
	}
	return c, nil
}

// reservedConnections is the default of limits.reserved_connections: a
// tenth of max_connections, for the mail servers alone.
func reservedConnections(maxConnections int) int { return maxConnections / 10 }

// connectionsPerNetwork is the default of
// limits.max_connections_per_network: a quarter of max_connections, so
// that it takes four networks to fill what untrusted clients may hold.
func connectionsPerNetwork(maxConnections int) int { return max(1, maxConnections/4) }

// KeyPath is the key file in use.
func (c *Config) KeyPath() string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(filepath.Dir(c.Database), "wicket.key")
}

// HashSlots is the number of concurrent argon2id computations allowed.
func (c *Config) HashSlots() int {
	if c.Argon2.MaxConcurrent > 0 {
		return c.Argon2.MaxConcurrent
	}
	return runtime.NumCPU()
}

// Validate reports every problem at once, each naming its setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	checkAddress(bad, "listen", c.Listen)
	if c.Database == "" {
		bad("database: must be a file path")
	}
	if _, err := ldap.ParseDN(c.BaseDN); err != nil || strings.TrimSpace(c.BaseDN) == "" {
		bad("base_dn: %q is not a DN", c.BaseDN)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format: %q is not text or json", c.Log.Format)
	}
	if c.Auth.MaxAppPasswords < 1 || c.Auth.MaxAppPasswords > 1000 {
		bad("auth.max_app_passwords: %d is not between 1 and 1000", c.Auth.MaxAppPasswords)
	}
	if c.Argon2.MemoryKiB < 1024 {
		bad("argon2.memory_kib: %d is below 1024", c.Argon2.MemoryKiB)
	}
	if c.Argon2.MemoryKiB > 4<<20 {
		bad("argon2.memory_kib: %d is above 4 GiB", c.Argon2.MemoryKiB)
	}
	if c.Argon2.Time < 1 {
		bad("argon2.time: must be at least 1")
	}
	if c.Argon2.Threads < 1 {
		bad("argon2.threads: must be at least 1")
	}
	if c.Argon2.MaxConcurrent < 0 {
		bad("argon2.max_concurrent: must be 0 (one per CPU) or more")
	}
	l := c.Limits
	if l.MaxMessageBytesAnonymous < 1024 {
		bad("limits.max_message_bytes_anonymous: %d is below 1024", l.MaxMessageBytesAnonymous)
	}
	if l.MaxMessageBytes < l.MaxMessageBytesAnonymous {
		bad("limits.max_message_bytes: must be at least limits.max_message_bytes_anonymous")
	}
	if l.MaxMessageBytes > 1<<30 {
		bad("limits.max_message_bytes: %d is above 1 GiB", l.MaxMessageBytes)
	}
	if l.MaxConnections < 1 {
		bad("limits.max_connections: must be at least 1")
	}
	if l.MaxOutstanding < 1 {
		bad("limits.max_outstanding: must be at least 1")
	}
	for name, d := range map[string]Duration{"idle_timeout": l.IdleTimeout, "read_timeout": l.ReadTimeout,
		"write_timeout": l.WriteTimeout, "shutdown_timeout": l.ShutdownTimeout, "bind_timeout": l.BindTimeout,
		"unauthenticated_idle_timeout": l.UnauthenticatedIdleTimeout} {
		if d.Duration <= 0 {
			bad("limits.%s: must be a positive duration", name)
		}
	}
	if l.UnauthenticatedIdleTimeout.Duration > l.IdleTimeout.Duration {
		bad("limits.unauthenticated_idle_timeout: %v is longer than limits.idle_timeout (%v)",
			l.UnauthenticatedIdleTimeout.Duration, l.IdleTimeout.Duration)
	}
	c.TLS.validate(bad)
	if l.ReservedConnections < 0 || (l.MaxConnections >= 1 && l.ReservedConnections >= l.MaxConnections) {
		bad("limits.reserved_connections: %d is not between 0 and limits.max_connections (%d) minus one; "+
			"unset, it is a tenth of limits.max_connections", l.ReservedConnections, l.MaxConnections)
	}
	if l.MaxConnectionsPerAddress < 0 {
		bad("limits.max_connections_per_address: must be 0 (no cap) or more")
	}
	if l.MaxConnectionsPerNetwork < 0 {
		bad("limits.max_connections_per_network: must be 0 (no cap) or more")
	}
	c.Lockout.validate(bad)
	c.HTTP.validate(bad)
	c.validateWeb(bad)
	if c.Audit.Retention.Duration < 0 {
		bad("audit.retention: must be 0 (keep for ever) or a positive duration")
	}
	return errors.Join(errs...)
}

func (t *TLS) validate(bad func(string, ...any)) {
	if t.ListenLDAPS != "" {
		checkAddress(bad, "tls.listen_ldaps", t.ListenLDAPS)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls.cert_file and tls.key_file: set both or neither")
	}
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		bad("tls.min_version: %q is not 1.2 or 1.3", t.MinVersion)
	}
	if t.Enabled() {
		return
	}
	needCert := func(name string, set bool) {
		if set {
			bad("tls.%s: needs tls.cert_file and tls.key_file (wicket cert selfsigned writes a pair)", name)
		}
	}
	needCert("listen_ldaps", t.ListenLDAPS != "")
	needCert("require", t.Require)
	needCert("client_ca_file", t.ClientCAFile != "")
}

// checkAddress refuses at load what net.Listen would refuse only at start,
// so that `wicket config check` catches it.
func checkAddress(bad func(string, ...any), name, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil || port == "" {
		bad("%s: %q is not host:port (say 127.0.0.1:1389)", name, addr)
	}
}

func (h *HTTP) validate(bad func(string, ...any)) {
	if h.Listen == "" {
		return
	}
	checkAddress(bad, "http.listen", h.Listen)
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return
	}
	if !h.AllowRemote && !loopbackHost(host) {
		bad("http.listen: %q is not a loopback address; /metrics shows anyone who can reach it how many binds "+
			"succeed and fail, and when. Use 127.0.0.1 or [::1] (with a scraper on this host or a proxy), "+
			"or set http.allow_remote = true to serve it there anyway", h.Listen)
	}
}

// loopbackHost reports whether a listen address's host is loopback only:
// "localhost", or a loopback IP. An empty host is every interface.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// CheckWritableDir is used before creating the database, for an error that
// names the setting rather than SQLite's "unable to open database file".
func CheckWritableDir(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil // created on open
		}
		return fmt.Errorf("database: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("database: %s is not a directory", dir)
	}
	return nil
}
