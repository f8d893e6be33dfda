package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
)

// checkRun runs `wicket config check` with args and no other flag.
func checkRun(t *testing.T, args ...string) outcome {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"config", "check"}, args...), strings.NewReader(""), &out, &errOut)
	return outcome{out.String(), errOut.String(), code}
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "wicket.toml")
	if err := os.WriteFile(path, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// snapshot is every file under dir with its size, mode and time of change.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		files[path] = fmt.Sprint(st.Mode(), " ", st.ModTime().Format(time.RFC3339Nano), " ", st.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameFiles(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for path, a := range after {
		if b, ok := before[path]; !ok {
			t.Errorf("%s created %s", what, path)
		} else if a != b {
			t.Errorf("%s changed %s: %s, then %s", what, path, b, a)
		}
	}
	for path := range before {
		if _, ok := after[path]; !ok {
			t.Errorf("%s removed %s", what, path)
		}
	}
}

func wantLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Errorf("output lacks a line matching %s:\n%s", p, out)
		}
	}
}

func TestConfigCheck_PrintsTheSettingsInEffect(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `listen = "127.0.0.1:2389"
database = "`+filepath.Join(dir, "state", "wicket.db")+`"
base_dn = "dc=corp,dc=test"
[lockout]
max_failures = 5
[limits]
max_connections = 100
[audit]
retention = "30d"
`)
	before := snapshot(t, dir)
	o := checkRun(t, "--config", cfg)
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	wantLines(t, o.stdout,
		`^config_file\s+`+regexp.QuoteMeta(cfg)+`$`,
		`^listen\s+ldap://127\.0\.0\.1:2389$`,
		`^listen_ldaps\s+off$`,
		`^http\s+off$`,
		`^base_dn\s+dc=corp,dc=test$`,
		`^database\s+`+regexp.QuoteMeta(filepath.Join(dir, "state", "wicket.db"))+` \(not there yet: the server's first start creates it\)$`,
		`^key_file\s+`+regexp.QuoteMeta(filepath.Join(dir, "state", "wicket.key"))+` \(not there yet`,
		`^tls\s+off `,
		`^lockout\s+5 failed password binds in a row from one source, or 100 from all, lock password sign-in for 10m;`,
		`^connections\s+100 \(10 reserved for trusted clients, 25 per network, 256 per address\)`,
		`^audit\s+records kept 30d$`,
		`^configuration OK$`)
	// Not even the database's directory: a check creates nothing.
	sameFiles(t, "config check", before, snapshot(t, dir))

	// --db applies as it does for every command.
	o = checkRun(t, "--config", cfg, "--db", filepath.Join(dir, "other.db"))
	wantLines(t, o.stdout, `^database\s+`+regexp.QuoteMeta(filepath.Join(dir, "other.db"))+` \(not there yet`)

	var r configReport
	o = checkRun(t, "--config", cfg, "--json")
	decode(t, o.stdout, &r)
	if r.ConfigFile != cfg || r.Settings["listen"] != "ldap://127.0.0.1:2389" || r.Settings["base_dn"] != "dc=corp,dc=test" ||
		r.Warnings == nil {
		t.Errorf("--json: %+v", r)
	}
}

// A real database and key file are looked at, not opened for writing:
// no journal, no WAL index, no new key, nothing changed.
func TestConfigCheck_LeavesTheDatabaseAndKeyAlone(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wicket.db")
	store, err := sqlite.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	if _, err := backend.CreateKeys(filepath.Join(dir, "wicket.key")); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, `database = "`+db+`"`)
	before := snapshot(t, dir)
	o := checkRun(t, "--config", cfg)
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	wantLines(t, o.stdout, `^database\s+\S+ \(exists, .*, mode 0600\)$`, `^key_file\s+\S+ \(exists, .*, mode 0600\)$`)
	sameFiles(t, "config check", before, snapshot(t, dir))

	// A key file the server would refuse is an error here too.
	if err := os.Chmod(filepath.Join(dir, "wicket.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	o = checkRun(t, "--config", cfg)
	if o.code == 0 || o.stdout != "" || !strings.Contains(o.stderr, "mode 0644: the server refuses a key file readable by group or others") {
		t.Errorf("key file 0644: exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
	}

	// A database without its key: the secrets in it cannot be verified.
	if err := os.Remove(filepath.Join(dir, "wicket.key")); err != nil {
		t.Fatal(err)
	}
	o = checkRun(t, "--config", cfg)
	wantLines(t, o.stdout, `^key_file\s+\S+ \(missing\)$`, `^warning: key_file \S+ is missing but the database exists`)
	if _, err := os.Stat(filepath.Join(dir, "wicket.key")); err == nil {
		t.Error("config check created a key file")
	}
}

func TestConfigCheck_ReportsEachError(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `listen = "127.0.0.1"
[log]
level = "loud"
[argon2]
memory_kib = 10
`)
	o := checkRun(t, "--config", cfg)
	if o.code == 0 || o.stdout != "" {
		t.Fatalf("exit %d, stdout %q", o.code, o.stdout)
	}
	want := `error: listen: "127.0.0.1" is not host:port (say 127.0.0.1:1389)
error: log.level: "loud" is not one of debug, info, warn, error
error: argon2.memory_kib: 10 is below 1024
wicket: the configuration has 3 errors
`
	if o.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", o.stderr, want)
	}

	cases := map[string]string{
		// A misspelt setting is not silently ignored.
		"lisen = \"127.0.0.1:1389\"\n":               "error: config " + cfg + ": unknown setting(s): lisen\n",
		"listen = 1389\n":                            "error: config " + cfg + ": toml: line 1 (last key \"listen\"): incompatible types",
		"[tls]\nlisten_ldaps = \"127.0.0.1:1636\"\n": "error: tls.listen_ldaps: needs tls.cert_file and tls.key_file",
	}
	for body, want := range cases {
		writeConfig(t, dir, body)
		o := checkRun(t, "--config", cfg)
		if o.code == 0 || o.stdout != "" || !strings.HasPrefix(o.stderr, want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want it to begin with %q", body, o.code, o.stdout, o.stderr, want)
		}
	}

	missing := filepath.Join(dir, "nowhere", "wicket.toml")
	o = checkRun(t, "--config", missing)
	if o.code == 0 || !strings.Contains(o.stderr, "error: config "+missing+": open "+missing+": no such file or directory") {
		t.Errorf("missing file: exit %d, stderr %q", o.code, o.stderr)
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Error("config check of a missing file created its directory")
	}
}

// The TLS files are loaded as the server loads them, so that a pair that
// does not match is found before a restart or a reload.
func TestConfigCheck_LoadsTheTLSFiles(t *testing.T) {
	c := newCLI(t, "")
	a, b := t.TempDir(), t.TempDir()
	c.ok("", "cert", "selfsigned", "--out-dir", a, "--host", "ldap.example.org")
	c.ok("", "cert", "selfsigned", "--out-dir", b, "--host", "other.example.org")
	dir := t.TempDir()
	tlsConfig := func(cert, key string) string {
		return writeConfig(t, dir, `listen = "127.0.0.1:389"
database = "`+filepath.Join(dir, "wicket.db")+`"
[tls]
cert_file = "`+cert+`"
key_file = "`+key+`"
listen_ldaps = "127.0.0.1:1636"
require = true
`)
	}
	cert := filepath.Join(a, selfSignedCertFile)
	o := checkRun(t, "--config", tlsConfig(cert, filepath.Join(a, selfSignedKeyFile)))
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	wantLines(t, o.stdout,
		`^listen\s+ldap://127\.0\.0\.1:389 \(StartTLS offered\)$`,
		`^listen_ldaps\s+ldaps://127\.0\.0\.1:1636$`,
		`^tls\s+certificate `+regexp.QuoteMeta(cert)+` \(CN=ldap\.example\.org,O=wicket, until \d{4}-\d\d-\d\d\), key \S+, TLS 1\.2 or later, required except on loopback$`,
		// The shipped unit has no capability to bind it.
		`^warning: listen: port 389 is below 1024: an unprivileged service user needs CAP_NET_BIND_SERVICE`)

	o = checkRun(t, "--config", tlsConfig(cert, filepath.Join(b, selfSignedKeyFile)))
	if o.code == 0 || !strings.Contains(o.stderr, "error: tls.cert_file "+cert) ||
		!strings.Contains(o.stderr, "private key does not match public key") {
		t.Errorf("mismatched pair: exit %d, stderr %q", o.code, o.stderr)
	}
}

// The configuration deploy/systemd installs as /etc/wicket/wicket.toml
// loads, and puts the database in the unit's state directory.
func TestConfigCheck_TheServiceConfiguration(t *testing.T) {
	o := checkRun(t, "--config", filepath.Join("..", "..", "deploy", "systemd", "wicket.toml"))
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	wantLines(t, o.stdout, `^listen\s+ldap://127\.0\.0\.1:1389$`, `^database\s+/var/lib/wicket/wicket\.db \(`,
		`^key_file\s+/var/lib/wicket/wicket\.key \(`)
}
