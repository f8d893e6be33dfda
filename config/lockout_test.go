package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLockout_DefaultsFollowDesign(t *testing.T) {
	c := Default()
	l := c.Lockout
	if l.MaxFailures != 10 || l.FailureWindow.Duration != 10*time.Minute || l.LockoutDuration.Duration != 10*time.Minute {
		t.Errorf("lockout defaults: %+v", l)
	}
	if c.Limits.MaxConnectionsPerAddress != 256 || c.Limits.BindTimeout.Duration != 10*time.Second {
		t.Errorf("limits defaults: %+v", c.Limits)
	}
	p, err := l.TrustedPrefixes()
	if err != nil || len(p) != 2 || !p[0].Contains(netip.MustParseAddr("127.0.0.1")) || p[0].Contains(netip.MustParseAddr("127.0.0.2")) {
		t.Errorf("trusted clients by default: %v, %v; want loopback's own address only", p, err)
	}
}

// The example file documents the defaults: loading it changes nothing.
func TestLockout_ExampleFileShowsTheDefaults(t *testing.T) {
	c, err := Load("wicket.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if !reflect.DeepEqual(c.Lockout, d.Lockout) || !reflect.DeepEqual(c.Limits, d.Limits) {
		t.Errorf("example file:\n %+v\n %+v\ndefaults:\n %+v\n %+v", c.Lockout, c.Limits, d.Lockout, d.Limits)
	}
}

func TestLockout_FromFile(t *testing.T) {
	c, err := Load(write(t, `[limits]
max_connections_per_address = 0
bind_timeout = "3s"
[lockout]
max_failures = 3
failure_window = "1m"
lockout_duration = "2s"
failure_delay = "0s"
address_failures_per_minute = 0
trusted_clients = ["192.0.2.10", "2001:db8::/48", "10.0.0.1/8"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	l := c.Lockout
	if l.MaxFailures != 3 || l.FailureWindow.Duration != time.Minute || l.LockoutDuration.Duration != 2*time.Second ||
		l.FailureDelay.Duration != 0 || l.MaxFailureDelay.Duration != 5*time.Second || l.AddressFailuresPerMinute != 0 {
		t.Errorf("lockout = %+v", l)
	}
	if c.Limits.MaxConnectionsPerAddress != 0 || c.Limits.BindTimeout.Duration != 3*time.Second {
		t.Errorf("limits = %+v", c.Limits)
	}
	p, _ := l.TrustedPrefixes()
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::/48"),
		netip.MustParsePrefix("10.0.0.0/8")}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("trusted = %v, want %v", p, want)
	}

	// An empty list trusts nobody, rather than falling back to loopback.
	c, err = Load(write(t, "[lockout]\ntrusted_clients = []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Lockout.TrustedPrefixes(); len(p) != 0 {
		t.Errorf("trusted_clients = [] gave %v", p)
	}
}

func TestLockout_ValidateNamesTheSetting(t *testing.T) {
	cases := map[string]func(c *Config){
		"lockout.max_failures":                func(c *Config) { c.Lockout.MaxFailures = 101 },
		"lockout.failure_window":              func(c *Config) { c.Lockout.FailureWindow.Duration = 0 },
		"lockout.lockout_duration":            func(c *Config) { c.Lockout.LockoutDuration.Duration = -time.Second },
		"lockout.max_failure_delay":           func(c *Config) { c.Lockout.MaxFailureDelay.Duration = time.Millisecond },
		"lockout.address_failure_burst":       func(c *Config) { c.Lockout.AddressFailureBurst = 0 },
		"lockout.address_failures_per_minute": func(c *Config) { c.Lockout.AddressFailuresPerMinute = -1 },
		"lockout.trusted_clients":             func(c *Config) { c.Lockout.TrustedClients = []string{"mail.example.org"} },
		"limits.max_connections_per_address":  func(c *Config) { c.Limits.MaxConnectionsPerAddress = -1 },
		"limits.bind_timeout":                 func(c *Config) { c.Limits.BindTimeout.Duration = 0 },
	}
	for want, breakIt := range cases {
		c := Default()
		breakIt(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}
