package integration

// The mail-stack tests run Dovecot and Postfix as private instances from
// the examples in deploy/, rendered into a temporary directory and pointed
// at a wicket the test started: what an administrator copies is what is
// tested. The small harness files around them (base_dir, queue_directory,
// listeners on free loopback ports) are here.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/wicketldap/wicket/internal/testutil"
)

// mailDeploy is the examples' directory, seen from this package.
const mailDeploy = "../deploy"

// mailValues fills the placeholders of the deploy/ examples and of the
// harness files around them.
type mailValues struct {
	// Placeholders of deploy/, documented in each file.
	WicketURI               string
	ConfDir                 string
	DovecotServicePassword  string
	PostfixServicePassword  string
	MailRoot                string
	MailUser, MailGroup     string
	MailUID, MailGID        int
	PostfixAuthSocket       string
	SubmissionAddress       string
	TLSCertFile, TLSKeyFile string

	// The harness's own.
	Root              string
	IMAPPort          int
	QueueDir, DataDir string
}

// mailRequireRoot: Dovecot and Postfix switch to their own users
// (dovecot, dovenull, postfix) and to the mailbox owner, and Postfix's
// master refuses to start as anyone but root. CI runs as root, so there a
// missing privilege is a failure like a missing tool.
func mailRequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the Dovecot and Postfix tests need root")
	}
	t.Skip("the Dovecot and Postfix tests need root")
}

// mailRequireAccount finds a system account that a package creates.
func mailRequireAccount(t *testing.T, name string) *osuser.User {
	t.Helper()
	u, err := osuser.Lookup(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("system user %s is missing (run scripts/install-test-deps.sh): %v", name, err)
		}
		t.Skipf("system user %s is missing (run scripts/install-test-deps.sh): %v", name, err)
	}
	return u
}

// mailTempDir is the root of one test's mail servers. Not t.TempDir():
// that is mode 0700, and the daemons' unprivileged users must reach into
// it; and its name carries the test's name, while a Unix socket's path
// must fit in 108 bytes.
func mailTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wicket-mail-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered before any daemon is started, so it runs after they stop.
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mailFreePort asks the kernel for a free loopback port and releases it
// for a daemon to take. Dovecot and Postfix cannot report which port they
// got for port 0, so the choice is made here; another process taking it
// in between is rare enough on a test machine.
func mailFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func mailSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// mailExecute fills a template with v (mailValues, or another harness's
// values). A placeholder without a value fails the test instead of
// rendering as "<no value>".
func mailExecute(t *testing.T, name, text string, v any) string {
	t.Helper()
	tmpl, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		t.Fatalf("template %s: %v", name, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		t.Fatalf("template %s: %v", name, err)
	}
	return b.String()
}

// mailExample renders one file of deploy/.
func mailExample(t *testing.T, rel string, v mailValues) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(mailDeploy, rel))
	if err != nil {
		t.Fatal(err)
	}
	return mailExecute(t, rel, string(text), v)
}

func mailWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// mailDaemon is one server process in the foreground, its output kept
// for the report of a failed test.
type mailDaemon struct {
	name string
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	err  error
}

func mailStartDaemon(t *testing.T, name string, cmd *exec.Cmd) *mailDaemon {
	t.Helper()
	d := &mailDaemon{name: name, cmd: cmd, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	// A child that outlives its master and keeps the output pipe open must
	// not hang the test.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, d.out)
		}
	})
	return d
}

// stop asks for a clean shutdown: both masters stop their children on
// SIGTERM.
func (d *mailDaemon) stop(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Errorf("%s did not stop within 15s of SIGTERM", d.name)
	}
}

// waitListening returns once addr accepts connections, and fails the test
// if the daemon exits first.
func (d *mailDaemon) waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %s after 30s: %v\n%s", d.name, addr, err, d.out)
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited before listening on %s: %v\n%s", d.name, addr, d.err, d.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// mailStack is the mail servers of one test, pointed at one wicket.
type mailStack struct {
	t           *testing.T
	w           *wicket
	v           mailValues
	dovecot     *mailDaemon
	dovecotConf string
	imap        string // host:port of Dovecot's IMAP listener
	postfix     *mailDaemon
	smtp        string // host:port of Postfix's submission service
	roots       *x509.CertPool
}

// mailNewStack prepares what every mail server of the test shares: the
// temporary root, the mailbox directory and wicket's two service accounts,
// one for Dovecot and one for Postfix as deploy/ recommends.
func mailNewStack(t *testing.T, w *wicket) *mailStack {
	t.Helper()
	mailRequireRoot(t)
	// The owner of the mailboxes: an unprivileged account every Debian
	// system has, standing in for the vmail user of a real server.
	owner := mailRequireAccount(t, "nobody")
	group, err := osuser.LookupGroupId(owner.Gid)
	if err != nil {
		t.Fatal(err)
	}
	root := mailTempDir(t)
	s := &mailStack{t: t, w: w, v: mailValues{
		Root:                   root,
		WicketURI:              w.url(),
		DovecotServicePassword: mailServiceAccount(w, "dovecot"),
		PostfixServicePassword: mailServiceAccount(w, "postfix"),
		MailRoot:               filepath.Join(root, "vmail"),
		MailUser:               owner.Username,
		MailGroup:              group.Name,
	}}
	s.v.MailUID, _ = strconv.Atoi(owner.Uid)
	s.v.MailGID, _ = strconv.Atoi(owner.Gid)
	if err := os.Mkdir(s.v.MailRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.v.MailRoot, s.v.MailUID, s.v.MailGID); err != nil {
		t.Fatal(err)
	}
	return s
}

// mailServiceAccount adds a service account, as deploy/ tells the
// administrator to, and returns its password.
func mailServiceAccount(w *wicket, name string) string {
	w.t.Helper()
	pw := mailSecret(w.t)
	w.admin(pw+"\n", "user", "add", name, "--role", "service", "--password-stdin")
	return pw
}

// --- Dovecot ---

// mailDovecotConf makes a private Dovecot of deploy/dovecot: state, sockets
// and logs under the test's root, IMAP on one loopback port, nothing else
// listening.
const mailDovecotConf = `base_dir = {{.Root}}/run
state_dir = {{.Root}}/state
instance_name = wicket-test
log_path = /dev/stderr
protocols = imap
listen = 127.0.0.1
ssl = no

# The tests fail logins on purpose, and Dovecot slows down guessing twice:
# a failed login is answered after 2 s, and each login from an address
# with recent failures waits 2, 4, 8 and up to 15 s more. The second is
# kept in the anvil process; an auth process that cannot reach it there
# goes without.
auth_failure_delay = 0
auth_verbose = yes
auth_debug = yes

!include {{.ConfDir}}/conf.d/auth-wicket.conf.ext
{{if .PostfixAuthSocket}}!include {{.ConfDir}}/conf.d/10-master-wicket.conf{{end}}

service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{.IMAPPort}}
  }
  inet_listener imaps {
    port = 0
  }
}
`

// startDovecot runs `dovecot -F` on the rendered examples. With
// s.v.PostfixAuthSocket set, it also serves Postfix's SMTP AUTH there.
func (s *mailStack) startDovecot() {
	t := s.t
	t.Helper()
	bin := requireTool(t, "dovecot")
	mailRequireAccount(t, "dovecot")
	mailRequireAccount(t, "dovenull")
	v := s.v
	v.Root = filepath.Join(s.v.Root, "dovecot")
	v.ConfDir = v.Root
	v.IMAPPort = mailFreePort(t)
	// The example files are read as root, and two of them hold passwords.
	for _, f := range []string{"dovecot-wicket-passdb.conf.ext", "dovecot-wicket-userdb.conf.ext", "conf.d/auth-wicket.conf.ext", "conf.d/10-master-wicket.conf"} {
		mailWrite(t, filepath.Join(v.ConfDir, f), mailExample(t, "dovecot/"+f, v), 0o600)
	}
	conf := filepath.Join(v.ConfDir, "dovecot.conf")
	mailWrite(t, conf, mailExecute(t, "dovecot.conf", mailDovecotConf, v), 0o600)
	s.dovecot = mailStartDaemon(t, "dovecot", exec.Command(bin, "-F", "-c", conf))
	s.imap = net.JoinHostPort("127.0.0.1", strconv.Itoa(v.IMAPPort))
	s.dovecot.waitListening(t, s.imap)
	s.dovecotConf = conf
}

// --- IMAP, spoken as a mail client does ---

type mailIMAP struct {
	t    *testing.T
	conn net.Conn
	r    *textproto.Reader
	tag  int
}

func mailDialIMAP(t *testing.T, addr string) *mailIMAP {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("IMAP: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	m := &mailIMAP{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	greeting, err := m.r.ReadLine()
	if err != nil || !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("IMAP greeting: %q, %v", greeting, err)
	}
	return m
}

// command sends one tagged command and returns the tagged status (OK, NO
// or BAD), the text after it and the untagged lines before it.
func (m *mailIMAP) command(cmd string) (status, text string, untagged []string) {
	m.t.Helper()
	m.tag++
	tag := fmt.Sprintf("a%d", m.tag)
	if _, err := fmt.Fprintf(m.conn, "%s %s\r\n", tag, cmd); err != nil {
		m.t.Fatalf("IMAP %s: %v", strings.Fields(cmd)[0], err)
	}
	for {
		line, err := m.r.ReadLine()
		if err != nil {
			m.t.Fatalf("IMAP %s: %v (after %q)", strings.Fields(cmd)[0], err, untagged)
		}
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			status, text, _ = strings.Cut(rest, " ")
			return status, text, untagged
		}
		untagged = append(untagged, line)
	}
}

// mailQuote is an IMAP quoted string (RFC 3501 4.3).
func mailQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// imapLogin logs in on a new connection as a mail client would and, when
// that succeeds, opens INBOX: Dovecot answers OK to SELECT only once the
// userdb lookup through the service account has found the mailbox.
// It returns LOGIN's status and text.
func (s *mailStack) imapLogin(login, password string) (status, text string) {
	t := s.t
	t.Helper()
	m := mailDialIMAP(t, s.imap)
	defer m.command("LOGOUT")
	status, text, _ = m.command("LOGIN " + mailQuote(login) + " " + mailQuote(password))
	if status == "OK" {
		if st, txt, _ := m.command("SELECT INBOX"); st != "OK" {
			t.Errorf("logged in as %s, but SELECT INBOX: %s %s", login, st, txt)
		}
	}
	return status, text
}

// requireIMAPLogin checks LOGIN's outcome. A refusal must be Dovecot's
// plain authentication failure, not a sign that its LDAP configuration is
// broken ("Auth process broken", [UNAVAILABLE]).
func (s *mailStack) requireIMAPLogin(what, login, password string, wantOK bool) {
	t := s.t
	t.Helper()
	status, text := s.imapLogin(login, password)
	switch {
	case wantOK && status != "OK":
		t.Errorf("%s: LOGIN %s: %s %s, want OK", what, login, status, text)
	case !wantOK && status != "NO":
		t.Errorf("%s: LOGIN %s: %s %s, want NO", what, login, status, text)
	case !wantOK && !strings.Contains(text, "[AUTHENTICATIONFAILED]"):
		t.Errorf("%s: LOGIN %s: NO %s, want NO [AUTHENTICATIONFAILED]", what, login, text)
	}
}

// --- Postfix ---

// mailPostfixMain makes a private Postfix: its own queue and data
// directories under the test's root, loopback only, a hostname that does
// not depend on the machine's. deploy/postfix/main.cf follows it.
const mailPostfixMain = `compatibility_level = 3.6
queue_directory = {{.QueueDir}}
data_directory = {{.DataDir}}
myhostname = mail.example.org
mydomain = example.org
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# No local delivery, so none of the system's aliases.
alias_maps =
alias_database =
# Into the daemon's output, which the test keeps (master -s).
maillog_file = /dev/stdout
# smtpd waits 1 s after each error reply; the tests provoke errors.
smtpd_error_sleep_time = 0

`

// mailPostfixMaster is the internal services a Postfix instance needs,
// from Debian's master.cf without chroot. deploy/postfix/master.cf follows
// it with the submission service.
const mailPostfixMaster = `cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd

`

// renderPostfix writes a Postfix configuration directory: the harness's
// main.cf and master.cf followed by the examples', and the examples' LDAP
// tables. It is enough for postmap; startPostfix runs it.
func (s *mailStack) renderPostfix() {
	t := s.t
	t.Helper()
	postfixUser := mailRequireAccount(t, "postfix")
	postfixGID, _ := strconv.Atoi(postfixUser.Gid)
	pf := filepath.Join(s.v.Root, "postfix")
	s.v.ConfDir = filepath.Join(pf, "etc")
	s.v.QueueDir = filepath.Join(pf, "spool")
	s.v.DataDir = filepath.Join(pf, "lib")
	if s.v.TLSCertFile == "" {
		s.v.TLSCertFile, s.v.TLSKeyFile, s.roots = mailTLSCertificate(t, s.v.ConfDir)
	}
	if s.v.SubmissionAddress == "" {
		s.v.SubmissionAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(mailFreePort(t)))
	}
	v := s.v
	mailWrite(t, filepath.Join(v.ConfDir, "main.cf"),
		mailExecute(t, "main.cf", mailPostfixMain, v)+mailExample(t, "postfix/main.cf", v), 0o644)
	mailWrite(t, filepath.Join(v.ConfDir, "master.cf"),
		mailPostfixMaster+mailExample(t, "postfix/master.cf", v), 0o644)
	for _, f := range []string{"ldap-virtual-mailbox-maps.cf", "ldap-virtual-alias-maps.cf", "ldap-smtpd-sender-login-maps.cf"} {
		path := filepath.Join(v.ConfDir, f)
		mailWrite(t, path, mailExample(t, "postfix/"+f, v), 0o640)
		// As deploy/ says: root:postfix 0640, readable by Postfix's
		// daemons but not by local users.
		if err := os.Chown(path, 0, postfixGID); err != nil {
			t.Fatal(err)
		}
	}
	mailRequireLDAPTables(t, v.ConfDir)
}

// mailRequireLDAPTables checks that Postfix can open ldap: tables, which
// Debian ships in a package of its own.
func mailRequireLDAPTables(t *testing.T, confDir string) {
	t.Helper()
	out, err := exec.Command(requireTool(t, "postconf"), "-c", confDir, "-m").Output()
	if err != nil {
		t.Fatalf("postconf -m: %v", err)
	}
	for _, typ := range strings.Fields(string(out)) {
		if typ == "ldap" {
			return
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("postfix has no ldap tables (run scripts/install-test-deps.sh, which installs postfix-ldap)")
	}
	t.Skip("postfix has no ldap tables (run scripts/install-test-deps.sh, which installs postfix-ldap)")
}

// postmap looks key up in one of the example tables with the real
// postmap, and returns what it printed and its exit status (1 when the key
// is not found).
func (s *mailStack) postmap(table, key string) (string, int) {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(t, "postmap"), "-c", s.v.ConfDir, "-q", key, "ldap:"+filepath.Join(s.v.ConfDir, table))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return strings.TrimSpace(out.String()), 0
	case errors.As(err, &ee) && ee.ExitCode() == 1 && errOut.Len() == 0:
		return strings.TrimSpace(out.String()), 1
	default:
		// Other failures (a table that cannot be read, wicket refusing the
		// bind) also exit 1, but say why on stderr.
		t.Fatalf("postmap -q %s %s: %v\n%s%s", key, table, err, out.String(), errOut.String())
		return "", -1
	}
}

// startPostfix runs a private Postfix with the examples' submission
// service on a loopback port, and the Dovecot that checks its SMTP AUTH,
// listening where Postfix looks for it (private/auth in the queue).
func (s *mailStack) startPostfix() {
	t := s.t
	t.Helper()
	postfix := requireTool(t, "postfix")
	postconf := requireTool(t, "postconf")
	s.renderPostfix()
	for _, dir := range []string{s.v.QueueDir, s.v.DataDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	postfixUser := mailRequireAccount(t, "postfix")
	uid, _ := strconv.Atoi(postfixUser.Uid)
	if err := os.Chown(s.v.DataDir, uid, 0); err != nil {
		t.Fatal(err)
	}
	// `postfix check` creates the queue's subdirectories with their owners
	// and modes, as it does before every `postfix start`.
	if out, err := exec.Command(postfix, "-c", s.v.ConfDir, "check").CombinedOutput(); err != nil {
		t.Fatalf("postfix check: %v\n%s", err, out)
	}
	s.v.PostfixAuthSocket = filepath.Join(s.v.QueueDir, "private", "auth")
	s.startDovecot()

	daemonDir, err := exec.Command(postconf, "-c", s.v.ConfDir, "-h", "daemon_directory").Output()
	if err != nil {
		t.Fatalf("postconf daemon_directory: %v", err)
	}
	// master itself rather than `postfix start-fg`, which runs it under a
	// shell that would not pass SIGTERM on; -s keeps its stdout, where
	// maillog_file sends the log.
	master := filepath.Join(strings.TrimSpace(string(daemonDir)), "master")
	s.postfix = mailStartDaemon(t, "postfix", exec.Command(master, "-c", s.v.ConfDir, "-s"))
	s.smtp = s.v.SubmissionAddress
	s.postfix.waitListening(t, s.smtp)
}

// mailTLSCertificate makes a self-signed certificate for mail.example.org:
// the submission service offers AUTH only after STARTTLS.
func mailTLSCertificate(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mail.example.org"},
		DNSNames:              []string{"mail.example.org"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	mailWrite(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	mailWrite(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), 0o600)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// --- SMTP submission, spoken as a mail client does ---

type mailSMTP struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
	ehlo []string
}

// dialSubmission connects, says EHLO, upgrades with STARTTLS
// (verifying the test's certificate) and says EHLO again.
func (s *mailStack) dialSubmission() *mailSMTP {
	t := s.t
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.smtp, 10*time.Second)
	if err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &mailSMTP{t: t, conn: conn, tp: textproto.NewConn(conn)}
	c.expect(220, "greeting")
	c.hello()
	c.cmd(220, "STARTTLS")
	tc := tls.Client(conn, &tls.Config{ServerName: "mail.example.org", RootCAs: s.roots})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("STARTTLS handshake: %v", err)
	}
	c.conn, c.tp = tc, textproto.NewConn(tc)
	c.hello()
	return c
}

func (c *mailSMTP) hello() {
	c.t.Helper()
	_, msg := c.cmd(250, "EHLO client.example.org")
	c.ehlo = strings.Split(msg, "\n")
}

// cmd sends one command and fails the test unless the reply has code
// want (0: any code).
func (c *mailSMTP) cmd(want int, line string) (int, string) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("SMTP %s: %v", strings.Fields(line)[0], err)
	}
	return c.expect(want, strings.Fields(line)[0])
}

func (c *mailSMTP) expect(want int, what string) (int, string) {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		c.t.Fatalf("SMTP %s: %v", what, err)
	}
	if want != 0 && code != want {
		c.t.Fatalf("SMTP %s: %d %s, want %d", what, code, msg, want)
	}
	return code, msg
}

// authPlain is AUTH PLAIN with the initial response (RFC 4954, RFC 4616):
// no authorization identity, then the login and the password.
func (c *mailSMTP) authPlain(login, password string) (int, string) {
	c.t.Helper()
	resp := base64.StdEncoding.EncodeToString([]byte("\x00" + login + "\x00" + password))
	return c.cmd(0, "AUTH PLAIN "+resp)
}

func (c *mailSMTP) offersAuthPlain() bool {
	for _, l := range c.ehlo {
		if f := strings.Fields(strings.ToUpper(l)); len(f) > 0 && f[0] == "AUTH" && contains(f[1:], "PLAIN") {
			return true
		}
	}
	return false
}

// send submits one message on an authenticated session.
func (c *mailSMTP) send(from, to, subject string) {
	c.t.Helper()
	c.cmd(250, "MAIL FROM:<"+from+">")
	c.cmd(250, "RCPT TO:<"+to+">")
	c.cmd(354, "DATA")
	msg := "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\n\r\nSent through wicket's example configuration.\r\n."
	if err := c.tp.PrintfLine("%s", msg); err != nil {
		c.t.Fatalf("SMTP DATA: %v", err)
	}
	c.expect(250, "end of DATA")
}

// requireSMTPAuth checks AUTH PLAIN's reply code on a new session.
func (s *mailStack) requireSMTPAuth(what, login, password string, want int) {
	t := s.t
	t.Helper()
	c := s.dialSubmission()
	defer c.cmd(0, "QUIT")
	if !c.offersAuthPlain() {
		t.Fatalf("submission does not offer AUTH PLAIN after STARTTLS: %q", c.ehlo)
	}
	if code, msg := c.authPlain(login, password); code != want {
		t.Errorf("%s: AUTH PLAIN as %s: %d %s, want %d", what, login, code, msg, want)
	}
}
