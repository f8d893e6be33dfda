// Package slapdtest runs Debian's OpenLDAP slapd as a private directory for
// tests: an enterprise directory that wicket checks primary passwords
// against. Each instance has its own cn=config and mdb database under
// t.TempDir(), listens on 127.0.0.1 only and is stopped when the test ends;
// the system's slapd, if any, is never touched.
//
// Entries are added, and passwords changed, with OpenLDAP's own clients
// (ldapadd, ldappasswd), as an administrator of that directory would.
//
//	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
//	dn := s.AddUser(t, "alice", "Correct-Horse-42") // {SSHA}
//	// point the code under test at s.URL, binding as s.ServiceDN
//	fails := s.Attr(t, dn, "pwdFailureTime") // one value per failed bind
//	s.SetPassword(t, dn, "New-Horse-43")     // pwdChangedTime moves
//	s.Stop()                                 // the directory is down...
//	s.Restart(t)                             // ...and back, same port and data
package slapdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The programs, where Debian's packages put them: slapd's own tools are in
// /usr/sbin, which is not on every user's PATH. Variables for the package's
// own tests.
var (
	slapdPath   = "/usr/sbin/slapd"
	slapaddPath = "/usr/sbin/slapadd"
	ldapTools   = []string{"ldapadd", "ldapmodify", "ldappasswd"}
)

const (
	modulePath = "/usr/lib/ldap"
	schemaDir  = "/etc/ldap/schema"
)

// relaxOID is the Relax Rules control (draft-zeilenga-ldap-relax), which
// lets an administrator write attributes the server maintains.
const relaxOID = "1.3.6.1.4.1.4203.666.5.12"

// Defaults of an instance.
const (
	DefaultBaseDN = "dc=corp,dc=example"
	// DefaultDomain is the mail and UPN domain of users added by AddUser.
	DefaultDomain = "corp.example"
)

// The default password policy with PPolicy, as its entry says it. A test
// that counts failures reads these rather than repeating the numbers.
const (
	MaxFailure           = 5
	FailureCountInterval = 300 // seconds
	LockoutDuration      = 600 // seconds
)

// Bits of Active Directory's userAccountControl that tests set.
const (
	UACAccountDisable = 0x2   // ACCOUNTDISABLE: the account cannot sign in
	UACNormalAccount  = 0x200 // NORMAL_ACCOUNT: a user's account
)

// Options choose what the directory holds besides the base entries
// (the suffix, ou=people and ou=groups).
type Options struct {
	// BaseDN is the suffix; DefaultBaseDN when empty. Its first RDN must be
	// dc=.
	BaseDN string
	// PPolicy loads the ppolicy overlay with a default policy
	// (cn=default,ou=policies,BASE) on userPassword: lockout after
	// MaxFailure failures within FailureCountInterval seconds, for
	// LockoutDuration seconds. slapd then keeps pwdFailureTime,
	// pwdAccountLockedTime and pwdChangedTime on the users' entries.
	PPolicy bool
	// ADSchema adds a test-only schema that gives entries Active
	// Directory's sAMAccountName, userPrincipalName, userAccountControl and
	// pwdLastSet (see adSchemaLDIF).
	ADSchema bool
	// ServiceAccount adds cn=wicket,ou=services,BASE with a random
	// password (ServiceDN, ServicePassword), which may read the whole tree
	// except passwords, as a proxy's search account does.
	ServiceAccount bool
	// UnlimitedService lifts slapd's size limit (500 entries by default,
	// paged searches included) for the service account, as README's
	// "An upstream directory" tells administrators to.
	UnlimitedService bool
}

// Slapd is one running private slapd.
type Slapd struct {
	// URL is ldap://127.0.0.1:PORT/.
	URL    string
	BaseDN string
	// PeopleDN is ou=people,BASE, where AddUser puts users.
	PeopleDN string
	// AdminDN and AdminPassword are the database's rootdn, which no ACL or
	// password policy restricts.
	AdminDN       string
	AdminPassword string
	// ServiceDN and ServicePassword are empty unless Options.ServiceAccount.
	ServiceDN       string
	ServicePassword string
	// PolicyDN is the default password policy's entry with Options.PPolicy.
	PolicyDN string

	opts      Options
	dir       string
	configDir string
	logPath   string
	adminPW   string // path of a file holding AdminPassword, for ldap-utils' -y

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd's exit, once done is closed
}

// Start runs a new private slapd for the test and stops it when the test
// ends. Without slapd or ldap-utils the test is skipped, or fails when the
// environment variable CI is "true", so that a green CI run never hides a
// missing install step.
func Start(t testing.TB, opts Options) *Slapd {
	t.Helper()
	Require(t)
	if opts.BaseDN == "" {
		opts.BaseDN = DefaultBaseDN
	}
	s := &Slapd{
		BaseDN:        opts.BaseDN,
		PeopleDN:      "ou=people," + opts.BaseDN,
		AdminDN:       "cn=admin," + opts.BaseDN,
		AdminPassword: randomPassword(t),
		opts:          opts,
		dir:           t.TempDir(),
	}
	if opts.PPolicy {
		s.PolicyDN = "cn=default,ou=policies," + opts.BaseDN
	}
	if opts.ServiceAccount {
		s.ServiceDN = "cn=wicket,ou=services," + opts.BaseDN
		s.ServicePassword = randomPassword(t)
	}
	s.configDir = filepath.Join(s.dir, "config")
	s.logPath = filepath.Join(s.dir, "slapd.log")
	s.adminPW = filepath.Join(s.dir, "admin.pw")
	for _, d := range []string{s.configDir, filepath.Join(s.dir, "data")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// ldap-utils' -y takes the file's whole content: no newline.
	if err := os.WriteFile(s.adminPW, []byte(s.AdminPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	entries, err := s.baseEntries()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.writeConfig(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	// A port taken between the check and slapd's bind (by another test's
	// server) makes slapd exit at once: try another.
	for range 5 {
		port, perr := freePort()
		if perr != nil {
			t.Fatal(perr)
		}
		s.URL = fmt.Sprintf("ldap://127.0.0.1:%d/", port)
		if err = s.start(); err == nil {
			if err := s.addBaseEntries(entries); err != nil {
				t.Fatalf("slapd: %v\n%s", err, s.log())
			}
			return s
		}
		if !errors.Is(err, errExited) || !strings.Contains(s.log(), "Address already in use") {
			break
		}
	}
	t.Fatalf("slapd: %v\n%s", err, s.log())
	return nil
}

// Require skips the test, or fails it when CI is "true", unless slapd and
// the ldap-utils this package runs are installed.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	for _, p := range []string{slapdPath, slapaddPath} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p+" (Debian package slapd)")
		}
	}
	for _, p := range ldapTools {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p+" (Debian package ldap-utils)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s not installed (run scripts/install-test-deps.sh)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
		return
	}
	t.Skip(msg)
}

var errExited = errors.New("slapd exited during start-up")

// startTimeout bounds one start: generous, since a loaded machine can be
// slow, and an instance that is up answers at once.
const startTimeout = 60 * time.Second

func (s *Slapd) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// -d: in the foreground, so that this process holds slapd's and can
	// stop it. Level none prints only what has no level: start, stop and
	// errors (a port in use, a bad configuration), no line per operation.
	args := []string{slapdPath, "-d", "none", "-h", s.URL, "-F", s.configDir}
	// slapd sizes its connection table by the descriptor limit: at a test
	// machine's 20,000 its start takes twice the CPU time it takes at 1,024,
	// plenty for a test's clients. prlimit (util-linux, always on Debian)
	// sets the limit and becomes slapd, same process.
	if p, err := exec.LookPath("prlimit"); err == nil {
		args = append([]string{p, "--nofile=1024", "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// A test binary that dies (a panic, a timeout) takes its slapd along
	// instead of leaving a daemon behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done, s.err = cmd, done, nil
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(done)
	}()
	return s.waitReady(done)
}

// waitReady returns once the rootdn can bind, that is once slapd has opened
// its database and listens, or as soon as slapd has exited: an attempt that
// reached something else on the port (slapd could not bind it) is not
// waited for.
func (s *Slapd) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		probe := make(chan error, 1)
		go func() { probe <- s.Bind(s.AdminDN, s.AdminPassword) }()
		var err error
		select {
		case <-done:
			return fmt.Errorf("%w (%v)", errExited, s.exitErr())
		case err = <-probe:
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("no bind within %s: %v", startTimeout, err)
		}
		select {
		case <-done:
			return fmt.Errorf("%w (%v)", errExited, s.exitErr())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *Slapd) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stop stops slapd (SIGTERM, then SIGKILL after 30 s) and waits for it to
// exit; the database stays for Restart. Stopping a stopped slapd does
// nothing.
func (s *Slapd) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	// A paused slapd handles the SIGTERM only once it runs again.
	_ = cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts slapd again on the same address with the same data, as an
// upstream directory comes back after an outage; a running slapd is
// stopped first.
func (s *Slapd) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("slapd restart on %s: %v\n%s", s.URL, err, s.log())
	}
}

// Pause freezes slapd (SIGSTOP): connections are still accepted by the
// kernel but nothing is answered, as with a directory that hangs. Resume,
// Stop or the test's end lets it go.
//
// The kernel stops a process's threads after kill returns, each when it
// next leaves the kernel, so Pause waits until /proc shows every thread
// stopped: until then a request could still be answered.
func (s *Slapd) Pause(t testing.TB) {
	t.Helper()
	pid := s.signal(t, syscall.SIGSTOP)
	deadline := time.Now().Add(10 * time.Second)
	for !allStopped(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("slapd (pid %d) not stopped 10 s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// allStopped reports whether every thread of pid is in the stopped state
// (T in /proc/PID/task/TID/stat). Where /proc cannot say, it reports true:
// a system without it has nothing better to wait on.
func allStopped(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread has ended
		}
		// The state follows the command name, in parentheses that may
		// hold anything.
		rest := b[bytes.LastIndexByte(b, ')')+1:]
		if f := bytes.Fields(rest); len(f) == 0 || string(f[0]) != "T" {
			return false
		}
	}
	return true
}

// Resume lets a paused slapd run again.
func (s *Slapd) Resume(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT)
}

// signal sends sig to slapd and returns its pid.
func (s *Slapd) signal(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		t.Fatalf("slapd: %v to a stopped slapd", sig)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("slapd: %v: %v", sig, err)
	}
	return cmd.Process.Pid
}

// Running reports whether slapd's process is up: started, not stopped, and
// not exited on its own.
func (s *Slapd) Running() bool {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// log is the end of slapd's log, for a failure's message.
func (s *Slapd) log() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return "slapd's log:\n" + string(b)
}

// opTimeout bounds every operation of this package's connections, so that
// a slapd that hangs, or something else on its port, fails a test instead
// of holding it until go test's own timeout.
const opTimeout = time.Minute

func (s *Slapd) dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: opTimeout}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(opTimeout)
	return c, nil
}

// Conn is a connection bound as the rootdn, closed when the test ends.
func (s *Slapd) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := s.adminConn()
	if err != nil {
		t.Fatalf("slapd: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *Slapd) adminConn() (*ldap.Conn, error) {
	c, err := s.dial()
	if err != nil {
		return nil, err
	}
	if err := c.Bind(s.AdminDN, s.AdminPassword); err != nil {
		c.Close()
		return nil, fmt.Errorf("bind as %s: %w", s.AdminDN, err)
	}
	return c, nil
}

// asAdmin runs f on a connection of its own bound as the rootdn, so that
// a test that reads an attribute after every bind holds no connections.
func (s *Slapd) asAdmin(f func(*ldap.Conn) error) error {
	c, err := s.adminConn()
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}

// Bind binds as dn with password on a connection of its own and returns
// slapd's answer: nil, or an *ldap.Error (49 for a wrong password or a
// locked account).
func (s *Slapd) Bind(dn, password string) error {
	c, err := s.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Bind(dn, password)
}

// Add adds the entries of an LDIF (records separated by blank lines) with
// ldapadd, bound as the rootdn.
func (s *Slapd) Add(t testing.TB, ldif string) {
	t.Helper()
	s.ldapTool(t, strings.NewReader(ldif), "ldapadd")
}

// Modify applies an LDIF of changes (changetype: modify, delete...) with
// ldapmodify, bound as the rootdn.
func (s *Slapd) Modify(t testing.TB, ldif string) {
	t.Helper()
	s.ldapTool(t, strings.NewReader(ldif), "ldapmodify")
}

// Replace sets attr of dn to values (none: removes it), as the rootdn.
func (s *Slapd) Replace(t testing.TB, dn, attr string, values ...string) {
	t.Helper()
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace(attr, values)
	if err := s.asAdmin(func(c *ldap.Conn) error { return c.Modify(m) }); err != nil {
		t.Fatalf("slapd: replace %s of %s: %v", attr, dn, err)
	}
}

// Delete removes the entry dn, as the rootdn: a user who left.
func (s *Slapd) Delete(t testing.TB, dn string) {
	t.Helper()
	err := s.asAdmin(func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(dn, nil)) })
	if err != nil {
		t.Fatalf("slapd: delete %s: %v", dn, err)
	}
}

// LockAccount locks dn as ppolicy's administrative lock does
// (pwdAccountLockedTime 000001010000Z): no bind succeeds until
// UnlockAccount, whatever the lockout duration. Needs PPolicy.
func (s *Slapd) LockAccount(t testing.TB, dn string) {
	t.Helper()
	s.Replace(t, dn, "pwdAccountLockedTime", "000001010000Z")
}

// UnlockAccount removes dn's lock, administrative or after failures, and
// the failures counted. Needs PPolicy.
func (s *Slapd) UnlockAccount(t testing.TB, dn string) {
	t.Helper()
	// pwdFailureTime is slapd's own bookkeeping: even the rootdn writes it
	// only under the Relax Rules control.
	m := ldap.NewModifyRequest(dn, []ldap.Control{ldap.NewControlString(relaxOID, true, "")})
	// Replacing with no values removes an attribute, and is no error when
	// it is absent.
	m.Replace("pwdAccountLockedTime", nil)
	m.Replace("pwdFailureTime", nil)
	if err := s.asAdmin(func(c *ldap.Conn) error { return c.Modify(m) }); err != nil {
		t.Fatalf("slapd: unlock %s: %v", dn, err)
	}
}

// SetPassword changes dn's password to password with ldappasswd (the
// Password Modify operation, RFC 3062), bound as the rootdn, as a
// directory's administrator resets a password. slapd stores it salted and
// hashed ({SSHA}); with PPolicy it sets pwdChangedTime (and lifts a lock);
// with ADSchema pwdLastSet is set to now, as AD would.
func (s *Slapd) SetPassword(t testing.TB, dn, password string) {
	t.Helper()
	// The new password goes in a file (-T), never on a command line, where
	// ps would show it.
	f := filepath.Join(t.TempDir(), "new.pw")
	if err := os.WriteFile(f, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ldapTool(t, nil, "ldappasswd", "-T", f, dn)
	s.stampPwdLastSet(t, dn)
}

// stampPwdLastSet sets pwdLastSet of an Active Directory-shaped account to
// now, as AD does at every password change (slapd knows nothing of it).
func (s *Slapd) stampPwdLastSet(t testing.TB, dn string) {
	t.Helper()
	if !s.opts.ADSchema {
		return
	}
	for _, oc := range s.Attr(t, dn, "objectClass") {
		if strings.EqualFold(oc, adAccountClass) {
			s.Replace(t, dn, "pwdLastSet", strconv.FormatInt(FileTime(time.Now()), 10))
			return
		}
	}
}

// SetSSHAPassword writes password as dn's userPassword in {SSHA}, the form
// an import from another directory brings, with a modify as the rootdn;
// pwdChangedTime and pwdLastSet follow as with SetPassword.
func (s *Slapd) SetSSHAPassword(t testing.TB, dn, password string) {
	t.Helper()
	s.Replace(t, dn, "userPassword", SSHA(password))
	s.stampPwdLastSet(t, dn)
}

func (s *Slapd) ldapTool(t testing.TB, stdin *strings.Reader, tool string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := append([]string{"-x", "-H", s.URL, "-D", s.AdminDN, "-y", s.adminPW}, args...)
	cmd := exec.CommandContext(ctx, tool, all...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("slapd: %s: %v\n%s", tool, err, out.String())
	}
}

// Attr reads attr of dn as the rootdn: nil when the entry has none.
// Operational attributes (pwdFailureTime, pwdAccountLockedTime,
// pwdChangedTime, modifyTimestamp) are returned because they are asked
// for by name.
func (s *Slapd) Attr(t testing.TB, dn, attr string) []string {
	t.Helper()
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{attr}, nil)
	var res *ldap.SearchResult
	err := s.asAdmin(func(c *ldap.Conn) (err error) {
		res, err = c.Search(req)
		return err
	})
	if err != nil {
		t.Fatalf("slapd: read %s of %s: %v", attr, dn, err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("slapd: read %s of %s: %d entries", attr, dn, len(res.Entries))
	}
	return res.Entries[0].GetAttributeValues(attr)
}

// UserDN is the DN AddUser gives uid.
func (s *Slapd) UserDN(uid string) string {
	return "uid=" + ldap.EscapeDN(uid) + "," + s.PeopleDN
}

// AddUser adds uid=UID,ou=people,BASE, an inetOrgPerson with mail
// UID@corp.example and password in {SSHA}, and returns its DN. With
// ADSchema the entry is also an Active Directory-shaped account:
// sAMAccountName UID, userPrincipalName UID@corp.example, an enabled
// userAccountControl (512) and pwdLastSet now.
func (s *Slapd) AddUser(t testing.TB, uid, password string) string {
	t.Helper()
	dn := s.UserDN(uid)
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\n", dn)
	if s.opts.ADSchema {
		b.WriteString("objectClass: " + adAccountClass + "\n")
	}
	fmt.Fprintf(&b, "uid: %s\ncn: %s\nsn: %s\nmail: %s@%s\nuserPassword: %s\n",
		uid, uid, uid, uid, DefaultDomain, SSHA(password))
	if s.opts.ADSchema {
		fmt.Fprintf(&b, "sAMAccountName: %s\nuserPrincipalName: %s@%s\nuserAccountControl: %d\npwdLastSet: %d\n",
			uid, uid, DefaultDomain, UACNormalAccount, FileTime(time.Now()))
	}
	s.Add(t, b.String())
	return dn
}

// SSHA is password as OpenLDAP's slappasswd stores it by default:
// {SSHA} and base64 of SHA-1(password + salt) + salt, with 8 random bytes
// of salt.
func SSHA(password string) string {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// fileTimeEpoch is 1601-01-01 UTC, where Active Directory's FILETIME
// counts from.
var fileTimeEpoch = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)

// FileTime is t as Active Directory writes pwdLastSet: 100-nanosecond
// intervals since 1601-01-01 UTC. (0 in pwdLastSet means "must change at
// next logon".)
func FileTime(t time.Time) int64 {
	// time.Duration overflows after 292 years: count whole seconds from
	// 1601, then the rest.
	secs := t.Unix() - fileTimeEpoch.Unix()
	return secs*10_000_000 + int64(t.Nanosecond())/100
}

func randomPassword(t testing.TB) string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// freePort is where Start takes ports from; the package's tests replace it.
var freePort = pickPort

// pickPort finds a port nothing listens on, below Linux's ephemeral range
// (32768-60999) so that no client connection's local port can take it
// while slapd is stopped for a Restart.
func pickPort() (int, error) {
	for range 200 {
		n, err := rand.Int(rand.Reader, big.NewInt(12000))
		if err != nil {
			return 0, err
		}
		port := 20000 + int(n.Int64())
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("no free port on 127.0.0.1 in 20000-31999")
}
