package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
	"github.com/wicketldap/wicket/internal/testutil"
)

// freshWicket is a server directory with its configuration and nothing
// else: no database, no key, no process until start.
func freshWicket(t *testing.T) *wicket {
	t.Helper()
	dir := t.TempDir()
	w := &wicket{t: t, dir: dir, cfg: filepath.Join(dir, "wicket.toml"), logs: &testutil.SyncBuffer{}, stopped: true}
	if err := os.WriteFile(w.cfg, fmt.Appendf(nil, testConfig, filepath.Join(dir, "wicket.db"), ""), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.stop() })
	return w
}

// backupUnderUmask runs `wicket backup` with umask 000, so that only the
// command itself can keep its files from being readable by others.
func (w *wicket) backupUnderUmask(args ...string) (string, error) {
	script := `umask 000; exec "$@"`
	cmd := exec.Command("sh", append([]string{"-c", script, "sh", *wicketBin, "--config", w.cfg, "backup"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %04o, want %04o", filepath.Base(path), st.Mode().Perm(), want)
	}
}

// ledger records what clients were told, in the order they were told.
type ledger struct {
	mu sync.Mutex
	// revoked: revocations acknowledged, in order.
	revoked []credential
	// created: app passwords whose creation was acknowledged, in order.
	created []credential
	// revokeSent: every id a revocation was sent for, answered or not.
	revokeSent map[string]bool
	grew       chan struct{} // signalled after each acknowledged revocation
}

type credential struct {
	user     user
	id, pass string
}

func (l *ledger) counts() (created, revoked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.created), len(l.revoked)
}

// waitRevoked blocks until n revocations have been acknowledged.
func (l *ledger) waitRevoked(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		if _, r := l.counts(); r >= n {
			return
		}
		select {
		case <-l.grew:
		case <-deadline:
			t.Fatalf("only %d of %d revocations were acknowledged", len(l.revoked), n)
		}
	}
}

// createAppPasswords creates n app passwords of u over c.
func createAppPasswords(t *testing.T, c *ldap.Conn, u user, n int) []credential {
	t.Helper()
	var out []credential
	for i := range n {
		res := exopCreate(t, c, fmt.Sprintf("old device %d", i), "")
		out = append(out, credential{user: u, id: res.ID, pass: res.Password})
	}
	return out
}

// churn revokes the app passwords of live, oldest first, and creates new
// ones, over c until stop: every creation and revocation is one
// transaction of the server, acknowledged only once committed.
func churn(t *testing.T, c *ldap.Conn, u user, live []credential, l *ledger, stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		// Two creations for each revocation, so that some stay active.
		if n%3 == 2 && len(live) > 0 {
			victim := live[0]
			live = live[1:]
			l.mu.Lock()
			l.revokeSent[victim.id] = true
			l.mu.Unlock()
			if _, err := extendedOp(c, exop.OIDAppPasswordRevoke, exop.RevokeRequest{ID: victim.id}.Encode()); err != nil {
				t.Errorf("revoke %s of %s: %v", victim.id, u.name, err)
				return
			}
			l.mu.Lock()
			l.revoked = append(l.revoked, victim)
			l.mu.Unlock()
			select {
			case l.grew <- struct{}{}:
			default:
			}
			continue
		}
		v, err := extendedOp(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: fmt.Sprintf("device %d", n)}.Encode())
		if err != nil {
			t.Errorf("create for %s: %v", u.name, err)
			return
		}
		res, err := exop.DecodeCreateResponse(v)
		if err != nil {
			t.Errorf("create response: %v", err)
			return
		}
		cr := credential{user: u, id: res.ID, pass: res.Password}
		live = append(live, cr)
		l.mu.Lock()
		l.created = append(l.created, cr)
		l.mu.Unlock()
	}
}

// Issue 13, observation 4 and "Must show" 1: a copy of the live database
// file brought 20 revoked app passwords back to life. A backup taken while
// clients keep creating and revoking app passwords, restored into a fresh
// directory after the server is stopped, must hold every revocation that
// was acknowledged before the backup started: each of those passwords
// fails to bind on the restored server, and every password created before
// it and never revoked binds. The files are 0600 even under umask 000,
// and the key travels with the database.
func TestBackup_UnderWriteLoadRestoresEveryAcknowledgedRevocation(t *testing.T) {
	w := startWicket(t, "[auth]\nmax_app_passwords = 1000\n")
	const workers = 4
	l := &ledger{revokeSent: map[string]bool{}, grew: make(chan struct{}, 1)}
	users := make([]user, workers)
	codes := make([]*stepCodes, workers)
	old := make([][]credential, workers)
	for i := range users {
		users[i] = w.newUser(fmt.Sprintf("churn%d", i), true)
		codes[i] = newStepCodes(t, users[i])
		c := dialBound(t, w, users[i].dn, codes[i].withCode(users[i]))
		old[i] = createAppPasswords(t, c, users[i], 50)
		l.created = append(l.created, old[i]...)
		c.Close()
	}
	// A clean stop folds the WAL into the database file: the passwords
	// the load revokes are active there, as long-lived app passwords are,
	// and their revocations live only in the WAL when the backup starts.
	// A copy of the database file alone would bring them back to life.
	w.stop()
	w.start()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, u := range users {
		c := dialBound(t, w, u.dn, codes[i].withCode(u))
		wg.Add(1)
		go func() {
			defer wg.Done()
			churn(t, c, u, old[i], l, stop)
		}()
	}
	stopped := false
	stopChurn := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopChurn()
	l.waitRevoked(t, 100)

	out := filepath.Join(t.TempDir(), "wicket-backup.db")
	l.mu.Lock()
	revokedBefore := append([]credential(nil), l.revoked...)
	createdBefore := append([]credential(nil), l.created...)
	l.mu.Unlock()
	report, err := w.backupUnderUmask(out)
	_, revokedAfter := l.counts()
	if err != nil {
		t.Fatalf("wicket backup: %v\n%s", err, report)
	}
	t.Logf("backup of a server under load: %d revocations acknowledged before it started, %d while it ran\n%s",
		len(revokedBefore), revokedAfter-len(revokedBefore), report)
	// The load goes on after the backup: what follows is not in it.
	l.waitRevoked(t, revokedAfter+10)
	stopChurn()
	if t.Failed() {
		return
	}
	for _, want := range []string{out + " (", "mode 0600", "schema version", "accounts", "revoked app passwords",
		out + ".key (mode 0600)", filepath.Join(w.dir, "wicket.key")} {
		if !strings.Contains(report, want) {
			t.Errorf("backup report lacks %q:\n%s", want, report)
		}
	}
	for _, c := range createdBefore {
		requireNoSecret(t, "the backup report", report, c.pass)
	}
	requireMode(t, out, 0o600)
	requireMode(t, out+".key", 0o600)
	w.stop()

	liveKey, err := os.ReadFile(filepath.Join(w.dir, "wicket.key"))
	if err != nil {
		t.Fatal(err)
	}
	// Two ways back: the restore command, and the manual procedure of the
	// README (install the two files with their mode).
	for _, how := range []string{"wicket restore", "install"} {
		t.Run(how, func(t *testing.T) {
			r := freshWicket(t)
			switch how {
			case "wicket restore":
				r.admin("", "restore", out)
			case "install":
				for from, to := range map[string]string{out: "wicket.db", out + ".key": "wicket.key"} {
					if b, err := exec.Command("install", "-m", "0600", from, filepath.Join(r.dir, to)).CombinedOutput(); err != nil {
						t.Fatalf("install %s: %v\n%s", from, err, b)
					}
				}
			}
			requireMode(t, filepath.Join(r.dir, "wicket.db"), 0o600)
			requireMode(t, filepath.Join(r.dir, "wicket.key"), 0o600)
			if key, err := os.ReadFile(filepath.Join(r.dir, "wicket.key")); err != nil || !bytes.Equal(key, liveKey) {
				t.Errorf("restored key file differs from the server's (%v)", err)
			}
			r.start()

			revoked := map[string]bool{}
			c := dialLDAP(t, r)
			for _, cr := range revokedBefore {
				revoked[cr.id] = true
				if rc := resultCode(t, c.Bind(cr.user.dn, cr.pass)); rc != 49 {
					t.Errorf("%s of %s, revoked with an acknowledgement before the backup started: bind result %d, want 49",
						cr.id, cr.user.name, rc)
				}
			}
			active := 0
			for _, cr := range createdBefore {
				if l.revokeSent[cr.id] {
					continue // revoked before, during or after the backup: either
				}
				active++
				if rc := resultCode(t, c.Bind(cr.user.dn, cr.pass)); rc != 0 {
					t.Errorf("%s of %s, created before the backup and never revoked: bind result %d, want 0",
						cr.id, cr.user.name, rc)
				}
			}
			if active == 0 {
				t.Fatal("no app password created before the backup was left active: nothing showed the restore kept them")
			}
			t.Logf("restored: %d revoked app passwords refused, %d active ones accepted", len(revokedBefore), active)
		})
	}
}

func TestBackup_RefusesToOverwrite(t *testing.T) {
	w := startWicket(t, "")
	w.newUser("alice", true)
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	if report, err := w.backupUnderUmask(out); err != nil {
		t.Fatalf("first backup: %v\n%s", err, report)
	}
	before, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	w.newUser("bob", true)

	report, err := w.backupUnderUmask(out)
	if err == nil || !strings.Contains(report, out+" exists") || !strings.Contains(report, "--force") {
		t.Errorf("second backup to the same file: %v, want a refusal naming it and --force\n%s", err, report)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(after, before) {
		t.Error("the refused backup changed the existing file")
	}
	// The key file alone in the way refuses too, before the database is written.
	other := filepath.Join(dir, "c.db")
	if err := os.WriteFile(other+".key", []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if report, err := w.backupUnderUmask(other); err == nil || !strings.Contains(report, other+".key exists") {
		t.Errorf("backup onto an existing key file: %v\n%s", err, report)
	}
	if _, err := os.Stat(other); err == nil {
		t.Error("a refused backup wrote the database anyway")
	}
	if got := dirNames(t, dir); strings.Join(got, " ") != "b.db b.db.key c.db.key" {
		t.Errorf("backup directory holds %v after the refusals", got)
	}

	report, err = w.backupUnderUmask("--force", out)
	if err != nil || !strings.Contains(report, "2 accounts") {
		t.Errorf("backup --force: %v, want the two accounts written\n%s", err, report)
	}
	requireMode(t, out, 0o600)
	requireMode(t, out+".key", 0o600)
}

func TestBackup_MissingDatabaseRefusesAndCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "wicket.toml")
	missing := filepath.Join(dir, "var", "wicket.db")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, testConfig, missing, ""), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--config", cfg},
		{"--db", filepath.Join(dir, "wicket.db")},
	} {
		cmd := exec.Command(*wicketBin, append(args, "backup", filepath.Join(out, "b.db"))...)
		report, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(report), "does not exist") {
			t.Errorf("backup with %v: %v, want a refusal\n%s", args, err, report)
		}
		if !strings.Contains(string(report), filepath.Join(dir)) {
			t.Errorf("the refusal does not name the database's path:\n%s", report)
		}
	}
	if got := dirNames(t, dir); strings.Join(got, " ") != "out wicket.toml" {
		t.Errorf("after the refusals the directory holds %v", got)
	}
	if got := dirNames(t, out); len(got) != 0 {
		t.Errorf("after the refusals the backup directory holds %v", got)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// A restore while the server runs would leave the server writing to the
// file moved aside: it is refused, naming the process, and changes
// nothing.
func TestRestore_RefusedWhileTheServerRuns(t *testing.T) {
	w := startWicket(t, "")
	alice := w.newUser("alice", true)
	id, pass := w.appPassword("alice", "laptop")
	out := filepath.Join(t.TempDir(), "b.db")
	w.admin("", "backup", out)
	w.admin("", "apppw", "revoke", "alice", id)

	stdout, stderr, err := w.run("", "restore", out)
	if err == nil || !strings.Contains(stderr, "is in use by process") || !strings.Contains(stderr, "stop the server") {
		t.Fatalf("restore under a running server: %v, want a refusal\n%s%s", err, stdout, stderr)
	}
	if pid := fmt.Sprint(w.cmd.Process.Pid); !strings.Contains(stderr, pid) {
		t.Errorf("the refusal does not name the server's process %s: %s", pid, stderr)
	}
	requireActive(t, w, "alice")
	requireBind(t, w, alice, pass, 49)
	if got := dirNames(t, w.dir); strings.Join(got, " ") != "wicket.db wicket.db-shm wicket.db-wal wicket.key wicket.toml" {
		t.Errorf("after the refusal the server's directory holds %v", got)
	}
}

// A restore in place brings back the backup's state, revocations made
// since included: it keeps the replaced database aside and names the app
// passwords to revoke again, and the command it prints does it.
func TestRestore_InPlaceKeepsTheReplacedDatabaseAndNamesRevivedPasswords(t *testing.T) {
	w := startWicket(t, "")
	alice := w.newUser("alice", true)
	keepID, keep := w.appPassword("alice", "laptop")
	lostID, lost := w.appPassword("alice", "stolen phone")
	out := filepath.Join(t.TempDir(), "b.db")
	w.admin("", "backup", out)
	w.admin("", "apppw", "revoke", "alice", lostID)
	w.stop()

	report := w.admin("", "restore", out)
	again := fmt.Sprintf("wicket apppw revoke alice %s", lostID)
	for _, want := range []string{"restored " + out + " to " + filepath.Join(w.dir, "wicket.db"), "mode 0600",
		"kept aside: " + filepath.Join(w.dir, "wicket.db.before-restore-"),
		"1 app password revoked in the replaced database is active again", again, "stolen phone"} {
		if !strings.Contains(report, want) {
			t.Errorf("restore report lacks %q:\n%s", want, report)
		}
	}
	requireNoSecret(t, "the restore report", report, keep, lost)
	var aside string
	for _, n := range dirNames(t, w.dir) {
		if strings.HasPrefix(n, "wicket.db.before-restore-") {
			if aside != "" || strings.HasSuffix(n, "-wal") || strings.HasSuffix(n, "-shm") {
				t.Errorf("kept aside: %v", dirNames(t, w.dir))
			}
			aside = n
		}
	}
	requireMode(t, filepath.Join(w.dir, aside), 0o600)
	requireMode(t, filepath.Join(w.dir, "wicket.db"), 0o600)

	w.start()
	requireActive(t, w, "alice", keepID, lostID)
	w.admin("", "apppw", "revoke", "alice", lostID)
	requireBind(t, w, alice, lost, 49)
	requireBind(t, w, alice, keep, 0)
}
