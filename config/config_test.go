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
