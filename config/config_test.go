package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wicket.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_DefaultsWithoutFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1389" || c.Database != "./wicket.db" || c.BaseDN != "dc=example,dc=org" {
		t.Errorf("defaults: %+v", c)
	}
	if c.Argon2.MemoryKiB != 19456 || c.Argon2.Time != 2 || c.Argon2.Threads != 1 {
		t.Errorf("argon2 defaults are not OWASP's minimum: %+v", c.Argon2)
	}
	if !c.Auth.RequireSecondFactor || c.Auth.MaxAppPasswords != 25 {
		t.Errorf("auth defaults: %+v", c.Auth)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if c.KeyPath() != "wicket.key" {
		t.Errorf("key file beside ./wicket.db is %q", c.KeyPath())
	}
}

func TestLoad_Argon2ParametersFromFile(t *testing.T) {
	c, err := Load(write(t, "[argon2]\nmemory_kib = 65536\ntime = 3\nthreads = 4\nmax_concurrent = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Argon2.MemoryKiB != 65536 || c.Argon2.Time != 3 || c.Argon2.Threads != 4 || c.HashSlots() != 2 {
		t.Errorf("argon2 = %+v", c.Argon2)
	}
}

func TestLoad_FileOverridesAndDurations(t *testing.T) {
	c, err := Load(write(t, `listen = "127.0.0.1:2389"
database = "/var/lib/wicket/w.db"
[limits]
idle_timeout = "90s"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:2389" || c.Limits.IdleTimeout.Duration != 90*time.Second {
		t.Errorf("got %+v", c)
	}
	if c.KeyPath() != "/var/lib/wicket/wicket.key" {
		t.Errorf("key path %q", c.KeyPath())
	}
	if c.Limits.ReadTimeout.Duration != 30*time.Second {
		t.Errorf("an unset duration lost its default: %v", c.Limits.ReadTimeout)
	}
}

func TestLoad_ErrorsNameTheSetting(t *testing.T) {
	cases := map[string]string{
		"listen = \n":                         "config",
		"lisen = \"x\"\n":                     "unknown setting(s): lisen",
		"[limits]\nidle_timeout = \"soon\"\n": "not a duration",
	}
	for body, want := range cases {
		_, err := Load(write(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", body, err, want)
		}
	}
}

func TestValidate_ReportsEveryProblem(t *testing.T) {
	c := Default()
	c.BaseDN = "not a dn"
	c.Argon2.MemoryKiB = 10
	c.Auth.MaxAppPasswords = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config validated")
	}
	for _, want := range []string{"base_dn", "argon2.memory_kib", "auth.max_app_passwords"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// The example file documents the defaults: it must load, validate and say
// exactly what Default says, or the documentation has drifted.
func TestExampleFile_IsTheDefaults(t *testing.T) {
	c, err := Load("wicket.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%+v", *c), fmt.Sprintf("%+v", *Default()); got != want {
		t.Errorf("wicket.example.toml differs from the defaults:\n file:    %s\n default: %s", got, want)
	}
}

func TestLoad_ConnectionSharesFollowMaxConnections(t *testing.T) {
	c := Default()
	if c.Limits.ReservedConnections != 409 || c.Limits.MaxConnectionsPerNetwork != 1024 ||
		c.Limits.UnauthenticatedIdleTimeout.Duration != 10*time.Second {
		t.Errorf("defaults: reserved %d, per network %d, unauthenticated idle %v", c.Limits.ReservedConnections,
			c.Limits.MaxConnectionsPerNetwork, c.Limits.UnauthenticatedIdleTimeout)
	}
	c, err := Load(write(t, "[limits]\nmax_connections = 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.ReservedConnections != 10 || c.Limits.MaxConnectionsPerNetwork != 25 {
		t.Errorf("max_connections = 100: reserved %d, per network %d; want 10 and 25",
			c.Limits.ReservedConnections, c.Limits.MaxConnectionsPerNetwork)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	// Set, they are kept, 0 included.
	c, err = Load(write(t, "[limits]\nmax_connections = 100\nreserved_connections = 0\nmax_connections_per_network = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.ReservedConnections != 0 || c.Limits.MaxConnectionsPerNetwork != 0 {
		t.Errorf("set to 0: reserved %d, per network %d", c.Limits.ReservedConnections, c.Limits.MaxConnectionsPerNetwork)
	}
}

func TestValidate_ConnectionLimitsNameTheSetting(t *testing.T) {
	cases := []struct {
		want    string
		breakIt func(l *Limits)
	}{
		{"limits.reserved_connections", func(l *Limits) { l.ReservedConnections = l.MaxConnections }},
		{"limits.reserved_connections", func(l *Limits) { l.ReservedConnections = -1 }},
		{"limits.max_connections_per_network", func(l *Limits) { l.MaxConnectionsPerNetwork = -1 }},
		{"limits.unauthenticated_idle_timeout: must be a positive", func(l *Limits) { l.UnauthenticatedIdleTimeout.Duration = 0 }},
		{"limits.unauthenticated_idle_timeout: 10m0s is longer than limits.idle_timeout", func(l *Limits) {
			l.UnauthenticatedIdleTimeout.Duration = 10 * time.Minute
		}},
	}
	for _, tc := range cases {
		c := Default()
		tc.breakIt(&c.Limits)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v", tc.want, err)
		}
	}
}

// A listener address that net.Listen would refuse is refused at load, when
// `wicket config check` can report it, rather than at start.
func TestValidate_ListenAddresses(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:1389": true, "[::1]:1389": true, ":1389": true, "127.0.0.1:0": true,
		"": false, "127.0.0.1": false, "127.0.0.1:": false, "127.0.0.1:65536": false, "::1:1389": false,
		"127.0.0.1:no-such-service": false,
	} {
		c := Default()
		c.Listen = addr
		err := c.Validate()
		if ok && err != nil {
			t.Errorf("listen = %q: %v", addr, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "listen: ")) {
			t.Errorf("listen = %q: got %v, want an error naming listen", addr, err)
		}
	}
	c := Default()
	c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ListenLDAPS = "cert.pem", "key.pem", "1636"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `tls.listen_ldaps: "1636" is not host:port`) {
		t.Errorf("tls.listen_ldaps = 1636: got %v", err)
	}
}
