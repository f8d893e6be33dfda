package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/exop"
	"github.com/wicketldap/wicket/internal/testutil"
)

// Issue 13, observations 1 to 3 (DESIGN.md, "Files are never made up"):
// a wrong path, a lost database or a lost key file must be refused with
// the path in the error, and nothing made up in their place.

// cleanEnv is the environment without the variables that choose wicket's
// files, so that a test says which files it means.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WICKET_CONFIG=") || strings.HasPrefix(kv, "WICKET_KEYS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// runIn runs the binary in dir with env (cleanEnv when nil); it returns
// the exit code (0 on success) with what was printed.
func runIn(t *testing.T, dir string, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(*wicketBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	if env == nil {
		cmd.Env = cleanEnv()
	}
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("wicket %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// tree lists every file under dir with its size and mode, to compare a
// directory before and after a command that must create nothing.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		size := fi.Size()
		if d.IsDir() {
			size = 0
		}
		lines = append(lines, fmt.Sprintf("%s %v %d", rel, fi.Mode(), size))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Every command refuses a database that is not there, naming it, and
// creates nothing: no database, no key, no -wal or -shm, no directory.
// Before, `wicket user list` with a wrong path made a new ./wicket.db and
// wicket.key, and `user add` put the account in it without a word.
func TestFiles_WrongPathRefusedAndNothingCreated(t *testing.T) {
	dir := t.TempDir()
	ldif := filepath.Join(dir, "people.ldif")
	if err := os.WriteFile(ldif, []byte("dn: uid=ann,ou=people,dc=example,dc=org\nuid: ann\n"+
		"userPassword: {SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	names := filepath.Join(dir, "names.txt")
	if err := os.WriteFile(names, []byte("ann\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	commands := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"user", "list"}},
		{"", []string{"audit"}},
		{"Correct-Horse-42\n", []string{"user", "add", "ann", "--password-stdin"}},
		{"", []string{"user", "show", "ann"}},
		{"", []string{"user", "unlock", "ann"}},
		{"", []string{"totp", "enroll", "ann"}},
		{"", []string{"apppw", "create", "ann", "--label", "phone"}},
		{"", []string{"apppw", "list", "ann"}},
		{"", []string{"apppw", "revoke", "ann", "--all"}},
		{"", []string{"apppw", "create-bulk", "--label", "x", "--names", names, "--out", filepath.Join(dir, "out.tsv")}},
		{"", []string{"user", "import", ldif}},
		{"", []string{"group", "list"}},
		{"", []string{"key", "rotate"}},
	}
	paths := []struct {
		name string
		// db is the --db argument; "" leaves --db out (the built-in
		// default, ./wicket.db in the working directory).
		db   string
		want []string
	}{
		{"wrong path", filepath.Join(dir, "wrong.db"), []string{filepath.Join(dir, "wrong.db"), "does not exist", "wicket init"}},
		{"missing directory", filepath.Join(dir, "var", "lib", "wicket", "wicket.db"),
			[]string{filepath.Join(dir, "var", "lib", "wicket", "wicket.db"), "nor does its directory"}},
		{"built-in default", "", []string{"./wicket.db does not exist", "built-in defaults"}},
	}
	before := tree(t, dir)
	for _, p := range paths {
		for _, c := range commands {
			args := c.args
			if p.db != "" {
				args = append([]string{"--db", p.db}, args...)
			}
			t.Run(p.name+"/"+strings.Join(c.args[:min(2, len(c.args))], " "), func(t *testing.T) {
				stdout, stderr, code := runIn(t, dir, nil, c.stdin, args...)
				if code == 0 {
					t.Fatalf("wicket %s succeeded on a missing database:\n%s", strings.Join(args, " "), stdout)
				}
				for _, w := range p.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("wicket %s: %q, want %q in it", strings.Join(args, " "), stderr, w)
					}
				}
				if stdout != "" {
					t.Errorf("a refusal printed on stdout: %q", stdout)
				}
				if after := tree(t, dir); after != before {
					t.Fatalf("wicket %s changed the directory:\nbefore:\n%s\nafter:\n%s", strings.Join(args, " "), before, after)
				}
			})
		}
	}
	// An empty --db is a mistake ("--db $DB" with DB unset), not "the
	// default": it once meant ./wicket.db.
	for _, flag := range []string{"--db", "--config"} {
		_, stderr, code := runIn(t, dir, nil, "", flag, "", "user", "list")
		if code == 0 || !strings.Contains(stderr, flag+": empty path") {
			t.Errorf("wicket %s '' user list: exit %d, %q; want a refusal of the empty path", flag, code, stderr)
		}
	}
	if after := tree(t, dir); after != before {
		t.Fatalf("the empty paths changed the directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// serveRefused runs `wicket serve` expecting it to refuse to start: it
// fails the test at once if the server starts listening, and otherwise
// returns its log when it exits.
func serveRefused(t *testing.T, dir string, env []string, config string, serveFlags ...string) string {
	t.Helper()
	cmd := exec.Command(*wicketBin, append([]string{"--config", config, "serve"}, serveFlags...)...)
	cmd.Dir = dir
	cmd.Env = env
	if env == nil {
		cmd.Env = cleanEnv()
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
		var rec struct{ Msg string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("wicket serve started; it should have refused:\n%s", logs.String())
		}
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("wicket serve exited 0; it should have refused:\n%s", logs.String())
	}
	return logs.String()
}

// setKeyFile moves the server's key file to path and names it in the
// configuration, as an administrator keeping keys apart would.
func (w *wicket) setKeyFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Rename(filepath.Join(w.dir, "wicket.key"), path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := fmt.Sprintf("database = %q", filepath.Join(w.dir, "wicket.db"))
	if !bytes.Contains(b, []byte(db)) {
		t.Fatalf("no %s in the configuration", db)
	}
	b = bytes.Replace(b, []byte(db), []byte(db+fmt.Sprintf("\nkey_file = %q", path)), 1)
	if err := os.WriteFile(w.cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A database that holds secrets never gets a new key: a command run
// without the configuration that names key_file (observation 2), and the
// server with its key file gone, are refused, naming both paths and what
// to do, and no key file is made. With the key file back, TOTP still
// works: nothing was changed.
func TestFiles_MissingKeyRefusedForADatabaseWithSecrets(t *testing.T) {
	w := startWicket(t, "")
	alice := w.newUser("alice", true)
	codes := newStepCodes(t, alice)
	w.stop()
	keys := filepath.Join(t.TempDir(), "secret.key")
	w.setKeyFile(t, keys)
	w.start()
	requireBind(t, w, alice, codes.withCode(alice), 0)
	w.stop()

	db := filepath.Join(w.dir, "wicket.db")
	defaultKey := filepath.Join(w.dir, "wicket.key")
	cwd := t.TempDir()
	before := tree(t, w.dir)
	// What the administrator typed: the database, but not the
	// configuration that says where its key is.
	_, stderr, code := runIn(t, cwd, nil, "", "--db", db, "user", "list")
	if code == 0 {
		t.Fatal("user list --db without the key file succeeded")
	}
	for _, want := range []string{"key file " + defaultKey + " does not exist", db, "TOTP seeds and app passwords cannot be read",
		"Restore the key file"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("user list --db: %q, want %q in it", stderr, want)
		}
	}
	if after := tree(t, w.dir); after != before {
		t.Fatalf("user list --db changed the database directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Errorf("user list --db left files in the working directory: %v", entries)
	}

	// The key file lost: the server refuses to start, and makes no key.
	if err := os.Rename(keys, keys+".away"); err != nil {
		t.Fatal(err)
	}
	logs := serveRefused(t, w.dir, nil, w.cfg)
	for _, want := range []string{"key file " + keys + " does not exist", db, "Restore the key file"} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve without its key file: %q, want %q in it", logs, want)
		}
	}
	if _, err := os.Stat(keys); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("serve made a new key file %s: %v", keys, err)
	}
	if after := tree(t, w.dir); after != before {
		t.Fatalf("the refused start changed the database directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	if err := os.Rename(keys+".away", keys); err != nil {
		t.Fatal(err)
	}
	w.start()
	requireBind(t, w, alice, codes.withCode(alice), 0)
}

// The database deleted, or replaced, while the server runs: it must not
// acknowledge writes into a file nothing will read again (observation 3).
// Writes are refused as unavailable (52), binds that must record
// something fail closed, and the log says so at ERROR, naming the file.
func TestFiles_DatabaseDeletedWhileServing(t *testing.T) {
	w := startWicket(t, "")
	db := filepath.Join(w.dir, "wicket.db")
	alice := w.newUser("alice", true)
	bob := w.newUser("bob", false)
	refusesWritesAfter(t, w, alice, func() {
		if err := os.Remove(db); err != nil {
			t.Fatal(err)
		}
	}, "deleted")

	// A failed bind must be counted; it cannot be, so the account's next
	// bind fails closed rather than leave a guess uncounted.
	if _, rc := ldapwhoami(t, w.url(), bob.dn, "Wrong-Horse"); rc != 49 {
		t.Errorf("a wrong password after the deletion: result %d, want 49", rc)
	}
	if _, rc := ldapwhoami(t, w.url(), bob.dn, bob.password); rc != 52 {
		t.Errorf("bob's bind after a failure that could not be recorded: result %d, want 52 (unavailable)", rc)
	}

	// The command line is another process: it finds no database, and
	// says the key file is there without one.
	_, stderr, err := w.run("", "apppw", "list", "alice")
	if err == nil || !strings.Contains(stderr, "database "+db+" does not exist, but the key file") {
		t.Errorf("apppw list after the deletion: %v, %q; want a refusal naming the database", err, stderr)
	}

	// On restart, the lost database is not made up anew beside its key:
	// every user would be unknown.
	w.stop()
	if !strings.Contains(w.logs.String(), "the WAL of the lost database file was set aside") {
		t.Errorf("no log line of the lost file's WAL set aside:\n%s", w.logs.String())
	}
	t.Logf("the server's errors:\n%s", grepLines(w.logs.String(), `"level":"ERROR"`))
	before := tree(t, w.dir)
	logs := serveRefused(t, w.dir, nil, w.cfg)
	for _, want := range []string{"database " + db + " does not exist, but the key file " + filepath.Join(w.dir, "wicket.key"),
		"Restore the database from a backup"} {
		if !strings.Contains(logs, want) {
			t.Errorf("restart without the database: %q, want %q in it", logs, want)
		}
	}
	if after := tree(t, w.dir); after != before {
		t.Fatalf("the refused restart changed the directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	t.Logf("the restart refused:\n%s\nthe directory:\n%s", logs, before)
}

// grepLines is the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// A copy moved over the database while the server runs (a restore done
// the wrong way) is noticed by its inode: the server's writes would go to
// the old file. Restarted, the server serves the file now in place.
func TestFiles_DatabaseReplacedWhileServing(t *testing.T) {
	w := startWicket(t, "")
	db := filepath.Join(w.dir, "wicket.db")
	alice := w.newUser("alice", true)
	copyPath := filepath.Join(w.dir, "copy.db")
	w.sqlite3(t, fmt.Sprintf(".backup '%s'", copyPath))
	refusesWritesAfter(t, w, alice, func() {
		if err := os.Rename(copyPath, db); err != nil {
			t.Fatal(err)
		}
	}, "replaced by another file")
	w.stop()
	// SQLite neither checkpoints nor removes the WAL of a moved file; left
	// in place, it would be applied to the copy.
	if !strings.Contains(w.logs.String(), "the WAL of the lost database file was set aside") {
		t.Errorf("no log line of the lost file's WAL set aside:\n%s", w.logs.String())
	}
	w.start()
	if ids := activeIDs(w, "alice"); len(ids) != 0 {
		t.Errorf("after the restart on the copy: alice has app passwords %v, want none (the copy has none)", ids)
	}
	requireBind(t, w, alice, newStepCodes(t, alice).withCode(alice), 0)
}

// refusesWritesAfter binds alice, creates an app password, runs lose, and
// checks that writes are refused from then on and the log says why.
func refusesWritesAfter(t *testing.T, w *wicket, alice user, lose func(), what string) {
	t.Helper()
	db := filepath.Join(w.dir, "wicket.db")
	codes := newStepCodes(t, alice)
	// A session bound before, as a user's open connection would be.
	c := dialBound(t, w, alice.dn, codes.withCode(alice))
	created := exopCreate(t, c, "before", "")

	lose()
	_, err := extendedOp(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: "after"}.Encode())
	if rc := resultCode(t, err); rc != 52 {
		t.Errorf("app password create after the database was %s: result %d, want 52 (unavailable)", what, rc)
	}
	_, err = extendedOp(c, exop.OIDAppPasswordRevoke, exop.RevokeRequest{ID: created.ID}.Encode())
	if rc := resultCode(t, err); rc != 52 {
		t.Errorf("app password revoke after the database was %s: result %d, want 52 (unavailable)", what, rc)
	}
	// A password+code bind must record the code's step, or the code
	// could be replayed: refused, with OpenLDAP's ldapwhoami and ldapexop.
	if out, rc := ldapwhoami(t, w.url(), alice.dn, codes.withCode(alice)); rc != 52 {
		t.Errorf("password+code bind after the database was %s: result %d, want 52 (unavailable)\n%s", what, rc, out)
	}
	r := ldapexopAs(t, w, alice.dn, codes.withCode(alice), exop.OIDAppPasswordCreate+":after")
	requireCode(t, "ldapexop create after the loss", r, 52)
	if !strings.Contains(r.output(), "ldap_bind") {
		t.Errorf("ldapexop: the bind should be what fails:\n%s", r.output())
	}
	waitForLog(t, w, func(logs string) bool {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "database file was deleted or replaced") &&
				strings.Contains(line, strconv.Quote(db)) && strings.Contains(line, what) {
				return true
			}
		}
		return false
	})
}

// sqlite3Query runs a query with the sqlite3 shell and returns its output.
func sqlite3Query(t *testing.T, db, query string) string {
	t.Helper()
	out, err := exec.Command(requireTool(t, "sqlite3"), db, query).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s %q: %v\n%s", db, query, err, out)
	}
	return strings.TrimSpace(string(out))
}

// configFor writes a configuration for the database db and the key file
// key, for a server that serveRefused or runIn starts.
func configFor(t *testing.T, db, key string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "wicket.toml")
	text := fmt.Sprintf("listen = \"127.0.0.1:0\"\ndatabase = %q\nkey_file = %q\n\n[log]\nformat = \"json\"\n", db, key)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A damaged index page goes unnoticed by a start that reads no index, and
// `apppw revoke` then fails with "malformed": a compromised password that
// cannot be revoked (observation 3). PRAGMA quick_check at start finds it
// and the server refuses to start; --integrity-check runs the full check.
func TestFiles_DamagedIndexDetectedAtStart(t *testing.T) {
	w := startWicket(t, "")
	for _, name := range []string{"alice", "bob", "carol"} {
		w.newUser(name, true)
		w.appPassword(name, "phone")
		w.appPassword(name, "laptop")
	}
	w.stop()
	db := filepath.Join(w.dir, "wicket.db")
	key := filepath.Join(w.dir, "wicket.key")
	page, err := strconv.Atoi(sqlite3Query(t, db, `SELECT rootpage FROM sqlite_master WHERE type = 'index' AND name = 'app_passwords_verifier'`))
	if err != nil {
		t.Fatal(err)
	}
	pageSize, err := strconv.Atoi(sqlite3Query(t, db, "PRAGMA page_size"))
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the database, with a few bytes of that index page's header
	// overwritten.
	damaged := filepath.Join(t.TempDir(), "wicket.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[(page-1)*pageSize:], []byte{0x42, 0xff, 0xff, 0xff, 0xff})
	if err := os.WriteFile(damaged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, flags := range [][]string{nil, {"--integrity-check"}} {
		cfg := configFor(t, damaged, key)
		logs := serveRefused(t, t.TempDir(), nil, cfg, flags...)
		check := "quick_check"
		if flags != nil {
			check = "integrity_check"
		}
		for _, want := range []string{damaged, "the database is damaged", "PRAGMA " + check, "restore it from a backup"} {
			if !strings.Contains(logs, want) {
				t.Errorf("serve %v on a damaged index: %q, want %q in it", flags, logs, want)
			}
		}
	}
	// The original is sound, by both checks.
	w.serveArgs = []string{"--integrity-check"}
	w.start()
	if !strings.Contains(w.logs.String(), `"check":"integrity_check"`) {
		t.Errorf("serve --integrity-check logged no integrity_check:\n%s", w.logs.String())
	}
}

// A 0-byte file where the database should be is no new database: SQLite
// would take it for one, and the server would serve no accounts. It is
// refused, with or without a key file beside it, and left as it is.
func TestFiles_EmptyDatabaseFileRefused(t *testing.T) {
	w := startWicket(t, "")
	w.newUser("alice", true)
	w.stop()
	db := filepath.Join(w.dir, "wicket.db")
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	alone := t.TempDir()
	if err := os.WriteFile(filepath.Join(alone, "wicket.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, dir, cfg string }{
		{"with its key file", w.dir, w.cfg},
		{"alone", alone, configFor(t, filepath.Join(alone, "wicket.db"), filepath.Join(alone, "wicket.key"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := tree(t, c.dir)
			logs := serveRefused(t, c.dir, nil, c.cfg)
			for _, want := range []string{filepath.Join(c.dir, "wicket.db"), "empty (0 bytes)", "restore the database from a backup"} {
				if !strings.Contains(logs, want) {
					t.Errorf("serve on an empty file: %q, want %q in it", logs, want)
				}
			}
			_, stderr, code := runIn(t, c.dir, nil, "", "--config", c.cfg, "user", "list")
			if code == 0 || !strings.Contains(stderr, "empty (0 bytes)") {
				t.Errorf("user list on an empty file: exit %d, %q; want a refusal", code, stderr)
			}
			if after := tree(t, c.dir); after != before {
				t.Fatalf("the refusals changed the directory:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// wicket init makes both files, 0600, once: a second run, or a run where
// either file is, changes nothing. A missing directory is not made. The
// command line finds the configuration through $WICKET_CONFIG, as the
// server does, without --config.
func TestFiles_InitThenCommandsFindTheConfigurationOfTheServer(t *testing.T) {
	dir := t.TempDir()
	db, key := filepath.Join(dir, "wicket.db"), filepath.Join(dir, "wicket.key")
	cfg := configFor(t, db, key)
	env := cleanEnv("WICKET_CONFIG=" + cfg)
	cwd := t.TempDir()

	missing := configFor(t, filepath.Join(dir, "var", "wicket.db"), key)
	if _, stderr, code := runIn(t, cwd, nil, "", "--config", missing, "init"); code == 0 ||
		!strings.Contains(stderr, "the directory "+filepath.Join(dir, "var")+" does not exist") {
		t.Errorf("init in a missing directory: exit %d, %q; want a refusal naming it", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the refused init left %v", entries)
	}

	out, stderr, code := runIn(t, cwd, env, "", "init")
	if code != 0 || !strings.Contains(out, db) || !strings.Contains(out, key) {
		t.Fatalf("init: exit %d, %q %q", code, out, stderr)
	}
	for _, p := range []string{db, key} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after init: %v, %v; want mode 0600", p, fi, err)
		}
	}
	before := tree(t, dir)
	if _, stderr, code := runIn(t, cwd, env, "", "init"); code == 0 || !strings.Contains(stderr, db+" already exists") {
		t.Errorf("a second init: exit %d, %q; want a refusal", code, stderr)
	}
	if err := os.Rename(db, db+".away"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runIn(t, cwd, env, "", "init"); code == 0 || !strings.Contains(stderr, key+" already exists") {
		t.Errorf("init beside an existing key file: exit %d, %q; want a refusal", code, stderr)
	}
	if err := os.Rename(db+".away", db); err != nil {
		t.Fatal(err)
	}
	if after := tree(t, dir); after != before {
		t.Fatalf("the refused inits changed the directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// No --config: $WICKET_CONFIG names the file the server reads.
	if _, stderr, code := runIn(t, cwd, env, "Correct-Horse-42\n", "user", "add", "dora", "--password-stdin"); code != 0 {
		t.Fatalf("user add through $WICKET_CONFIG: exit %d, %s", code, stderr)
	}
	if out, _, _ := runIn(t, cwd, nil, "", "--config", cfg, "user", "list"); !strings.Contains(out, "dora") {
		t.Errorf("the account added through $WICKET_CONFIG is not in %s:\n%s", db, out)
	}
	// --config wins over $WICKET_CONFIG.
	other := configFor(t, filepath.Join(t.TempDir(), "wicket.db"), key)
	if _, stderr, code := runIn(t, cwd, env, "", "--config", other, "user", "list"); code == 0 || !strings.Contains(stderr, other) {
		t.Errorf("--config beside $WICKET_CONFIG: exit %d, %q; want the --config file's database refused", code, stderr)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Errorf("files left in the working directory: %v", entries)
	}
}

// With nothing written, the server still notices the lost file within
// its periodic check, and says so at ERROR before anyone trips on it.
func TestFiles_DeletionNoticedWithoutAWrite(t *testing.T) {
	w := startWicket(t, "")
	db := filepath.Join(w.dir, "wicket.db")
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	// The check runs every 5 s; the wait is for the line, not a guess of
	// how long it takes.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(grepLines(w.logs.String(), `"level":"ERROR"`), "database file "+db+" was deleted") {
		if time.Now().After(deadline) {
			t.Fatalf("no ERROR line about the deleted database within 60 s:\n%s", w.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A first start cut short between the two files leaves a database that
// holds no secret yet and no key: commands refuse it, the server makes the
// key and starts, as the first start would have.
func TestFiles_FirstStartCutShortGetsItsKeyFromTheServer(t *testing.T) {
	dir := t.TempDir()
	db, key := filepath.Join(dir, "wicket.db"), filepath.Join(dir, "wicket.key")
	cfg := configFor(t, db, key)
	if _, stderr, code := runIn(t, dir, nil, "", "--config", cfg, "init"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	_, stderr, code := runIn(t, dir, nil, "", "--config", cfg, "user", "list")
	if code == 0 || !strings.Contains(stderr, "key file "+key+" does not exist") || !strings.Contains(stderr, "holds no secret yet") {
		t.Errorf("user list without the key of an empty database: exit %d, %q; want a refusal", code, stderr)
	}
	if after := tree(t, dir); after != before {
		t.Fatalf("the refused command changed the directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	w := &wicket{t: t, dir: dir, cfg: cfg, logs: &testutil.SyncBuffer{}}
	w.start()
	t.Cleanup(w.stop)
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the server made no key file: %v, %v", fi, err)
	}
	if !strings.Contains(w.logs.String(), "the database holds no secret yet and had no key file: created a new one") {
		t.Errorf("no warning of the new key:\n%s", w.logs.String())
	}
	alice := w.newUser("alice", true)
	requireBind(t, w, alice, newStepCodes(t, alice).withCode(alice), 0)
}
