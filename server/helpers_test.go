package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/memstore"
	"github.com/wicketldap/wicket/internal/testutil"
)

const (
	testBase = "dc=example,dc=com"

	alicePassword = "correct horse battery"
	aliceMail     = "alice@example.com"
	aliceDN       = "uid=alice,ou=people," + testBase

	davePassword = "dave's own password"
)

// seed is RFC 6238's SHA-1 test seed, so a failing code can be checked
// against the RFC's tables by hand.
var seed = []byte("12345678901234567890")

// clock is the backend's time: it moves only when a test asks for a new
// TOTP code, so a code is valid exactly as long as the test needs it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// env is a running server over a real backend.Service and an in-memory
// store, holding:
//   - alice: password + TOTP, mail alice@example.com, an active app password
//     (appPassword) and a revoked one (revokedAppPassword);
//   - dave: password + TOTP and an app password, disabled.
type env struct {
	t     *testing.T
	svc   *backend.Service
	store *memstore.Store
	// logs has the backend's log lines, the audit trail's among them.
	logs  *testutil.SyncBuffer
	srv   *Server
	addr  string
	clock *clock
	auth  *gate // nil unless the test asked for one
	// bindOnly: the server gets only Authenticate, not Accounts.
	bindOnly bool

	aliceSecret        string // base32 TOTP secret
	daveSecret         string
	appPassword        string
	revokedAppPassword string
	daveAppPassword    string

	served   chan struct{} // closed when Serve returns
	serveErr error
}

type envOption func(*Config, *env)

// withConfig adjusts the wire configuration.
func withConfig(f func(*Config)) envOption {
	return func(c *Config, _ *env) { f(c) }
}

// withBindOnly hides the backend's account management from the server, as
// an Authenticator that only checks binds would.
func withBindOnly() envOption {
	return func(_ *Config, e *env) { e.bindOnly = true }
}

// withGate puts a gate in front of the backend, so a test can hold a bind
// inside Authenticate while it does something else. The gate is only an
// Authenticator, so the server runs bind-only.
func withGate() envOption {
	return func(_ *Config, e *env) { e.auth = newGate() }
}

// withQueuedBinds makes binds wait in the queue like other operations, so
// that a bind held by the gate holds the worker.
func withQueuedBinds() envOption {
	return withConfig(func(c *Config) { c.queueBinds = true })
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	keys, err := backend.CreateKeys(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	clk := &clock{now: time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)}
	logs := &testutil.SyncBuffer{}
	svc := backend.New(store, keys, backend.Options{
		Argon2:              backend.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		RequireSecondFactor: true,
		Logger:              slog.New(slog.NewJSONHandler(logs, nil)),
		Now:                 clk.Now,
		// Short, so that tests see the audit trail soon (waitAudit).
		AuditFlushInterval: 20 * time.Millisecond,
	})
	t.Cleanup(func() {
		svc.Close()
		store.Close()
	})

	e := &env{t: t, svc: svc, store: store, logs: logs, clock: clk, served: make(chan struct{})}
	e.aliceSecret, e.appPassword, e.revokedAppPassword = e.addUser(ctx, "alice", aliceMail, alicePassword)
	e.daveSecret, e.daveAppPassword, _ = e.addUser(ctx, "dave", "dave@example.com", davePassword)
	if err := svc.SetDisabled(ctx, "dave", true); err != nil {
		t.Fatal(err)
	}

	cfg := Config{BaseDN: testBase, Logger: quietLogger(), Version: "test"}
	for _, o := range opts {
		o(&cfg, e)
	}
	var auth Authenticator = svc
	switch {
	case e.auth != nil:
		e.auth.next = svc
		auth = e.auth
	case e.bindOnly:
		auth = authFunc(svc.Authenticate)
	}
	srv, err := New(cfg, auth)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.addr = srv, l.Addr().String()
	go func() {
		e.serveErr = srv.Serve(l)
		close(e.served)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if e.auth != nil {
			e.auth.open()
		}
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-e.served
		if !errors.Is(e.serveErr, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", e.serveErr)
		}
	})
	return e
}

// addUser creates an account with TOTP on the fixed seed, an active app
// password and a revoked one.
func (e *env) addUser(ctx context.Context, name, mail, password string) (secret, app, revoked string) {
	e.t.Helper()
	if _, err := e.svc.AddUser(ctx, name, mail, password, ""); err != nil {
		e.t.Fatal(err)
	}
	enr, err := e.svc.EnrollTOTP(ctx, name, seed)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.svc.CreateAppPassword(ctx, name, "Thunderbird on laptop")
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.svc.CreateAppPassword(ctx, name, "old phone")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.svc.RevokeAppPassword(ctx, name, r.ID); err != nil {
		e.t.Fatal(err)
	}
	return enr.Secret, a.Password, r.Password
}

// code moves the clock to the next TOTP step and returns the code valid
// there, so every call gives a code that has never been accepted.
func (e *env) code(secret string) string {
	return totpAt(secret, e.clock.advance(30*time.Second))
}

func totpAt(secret string, at time.Time) string {
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		// Only a secret that is not base32 fails, and EnrollTOTP made it.
		panic(err)
	}
	return c
}

// alicePasswordAndCode is alice's password followed by a fresh code.
func (e *env) alicePasswordAndCode() string { return alicePassword + e.code(e.aliceSecret) }

// dial opens a go-ldap client connection, closed at the end of the test.
func (e *env) dial(t *testing.T) *ldap.Conn {
	t.Helper()
	l, err := ldap.DialURL("ldap://" + e.addr)
	if err != nil {
		t.Fatal(err)
	}
	l.SetTimeout(5 * time.Second)
	t.Cleanup(func() { l.Close() })
	return l
}

// whoAmI returns the session's authzId.
func whoAmI(t *testing.T, l *ldap.Conn) string {
	t.Helper()
	r, err := l.WhoAmI(nil)
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	return r.AuthzID
}

// resultCode is the LDAP result code of a go-ldap error, or 0 for nil.
func resultCode(err error) uint16 {
	if err == nil {
		return ldap.LDAPResultSuccess
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode
	}
	return 0xffff
}

// assertServing checks that the server still takes a new client and binds
// it: what every broken-client test must leave intact.
func (e *env) assertServing(t *testing.T) {
	t.Helper()
	l := e.dial(t)
	if err := l.Bind("alice", e.appPassword); err != nil {
		t.Fatalf("a new client cannot bind: %v", err)
	}
	if got := whoAmI(t, l); got != "dn:"+aliceDN {
		t.Fatalf("WhoAmI after bind = %q, want %q", got, "dn:"+aliceDN)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// gate wraps an Authenticator: while closed, Authenticate signals entered
// and waits until the gate opens (or the bind's context ends).
type gate struct {
	next    Authenticator
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gate) Authenticate(ctx context.Context, login, secret, from string) (*backend.Principal, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.next.Authenticate(ctx, login, secret, from)
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// waitEntered waits until a bind is held in the gate.
func (g *gate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no bind reached the backend")
	}
}

// authFunc is an Authenticator made of a function.
type authFunc func(ctx context.Context, login, secret, from string) (*backend.Principal, error)

func (f authFunc) Authenticate(ctx context.Context, login, secret, from string) (*backend.Principal, error) {
	return f(ctx, login, secret, from)
}

// startServer serves cfg over auth with no backend behind it, for tests
// that only need the wire.
func startServer(t *testing.T, cfg Config, auth Authenticator) string {
	t.Helper()
	if cfg.BaseDN == "" {
		cfg.BaseDN = testBase
	}
	cfg.Logger = quietLogger()
	srv, err := New(cfg, auth)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// --- raw protocol client ---

// rawConn speaks LDAP by hand, for what go-ldap's client cannot send or
// does not show: unsupported operations, broken framing, pipelining.
type rawConn struct {
	t  *testing.T
	nc *net.TCPConn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc.(*net.TCPConn), r: bufio.NewReader(nc)}
}

// in is the same connection reporting to t, for subtests that share it.
func (c *rawConn) in(t *testing.T) *rawConn { return &rawConn{t: t, nc: c.nc, r: c.r} }

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes messages in one write, so the server sees them pipelined.
func (c *rawConn) send(msgs ...*ber.Packet) {
	c.t.Helper()
	var b []byte
	for _, m := range msgs {
		b = append(b, m.Bytes()...)
	}
	c.write(b)
}

// next reads one message, failing the test after a few seconds: a server
// that hangs is a failure, not a stuck test.
func (c *rawConn) next() *response {
	c.t.Helper()
	r, err := c.tryNext(5 * time.Second)
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	return r
}

func (c *rawConn) tryNext(wait time.Duration) (*response, error) {
	c.nc.SetReadDeadline(time.Now().Add(wait))
	p, err := ber.ReadPacket(c.r)
	if err != nil {
		return nil, err
	}
	return parseResponse(p)
}

// call sends one request and reads its answer.
func (c *rawConn) call(m *ber.Packet) *response {
	c.t.Helper()
	c.send(m)
	return c.next()
}

// expectClosed reads until the server closes the connection and returns
// what it sent last: a Notice of Disconnection or nil. Anything else the
// server sends first fails the test.
func (c *rawConn) expectClosed() *response {
	c.t.Helper()
	var notice *response
	for {
		r, err := c.tryNext(5 * time.Second)
		var ne net.Error
		switch {
		case err == nil && r.id == 0 && notice == nil:
			notice = r
			continue
		case err == nil:
			c.t.Fatalf("got %v while waiting for the connection to close", r)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return notice
		case errors.As(err, &ne) && ne.Timeout():
			c.t.Fatal("the server neither answered nor closed the connection")
		default:
			// A reset after the notice, or instead of it, is still a close.
			c.t.Logf("connection ended with %v", err)
			return notice
		}
	}
}

// expectNotice wants a Notice of Disconnection with code, then the close.
func (c *rawConn) expectNotice(code uint16) {
	c.t.Helper()
	n := c.expectClosed()
	if n == nil {
		c.t.Fatalf("connection closed without a Notice of Disconnection (want %s)", ldap.LDAPResultCodeMap[code])
	}
	n.assertNotice(c.t, code)
}

// response is a decoded LDAPMessage from the server.
type response struct {
	id        int64
	tag       ber.Tag
	code      uint16
	matchedDN string
	diag      string
	name      string // ExtendedResponse responseName
	value     []byte // ExtendedResponse responseValue
	hasValue  bool
	op        *ber.Packet
}

func (r *response) String() string {
	return fmt.Sprintf("message %d %s: %s (%d) %q", r.id, ldap.ApplicationMap[uint8(r.tag)],
		ldap.LDAPResultCodeMap[r.code], r.code, r.diag)
}

func parseResponse(p *ber.Packet) (*response, error) {
	if len(p.Children) < 2 {
		return nil, fmt.Errorf("LDAPMessage with %d children", len(p.Children))
	}
	id, err := ber.ParseInt64(p.Children[0].Data.Bytes())
	if err != nil {
		return nil, err
	}
	op := p.Children[1]
	r := &response{id: id, tag: op.Tag, op: op}
	if op.ClassType != ber.ClassApplication {
		return nil, fmt.Errorf("protocolOp of class %v", op.ClassType)
	}
	if op.Tag == ldap.ApplicationSearchResultEntry || op.Tag == ldap.ApplicationSearchResultReference {
		return r, nil
	}
	if len(op.Children) < 3 {
		return nil, fmt.Errorf("%s with %d children", ldap.ApplicationMap[uint8(op.Tag)], len(op.Children))
	}
	code, err := ber.ParseInt64(op.Children[0].Data.Bytes())
	if err != nil {
		return nil, err
	}
	r.code = uint16(code)
	r.matchedDN = op.Children[1].Data.String()
	r.diag = op.Children[2].Data.String()
	for _, c := range op.Children[3:] {
		switch {
		case c.ClassType == ber.ClassContext && c.Tag == 10:
			r.name = c.Data.String()
		case c.ClassType == ber.ClassContext && c.Tag == 11:
			r.value, r.hasValue = c.Data.Bytes(), true
		}
	}
	return r, nil
}

func (r *response) assert(t *testing.T, id int64, tag ber.Tag, code uint16) {
	t.Helper()
	if r.id != id || r.tag != tag || r.code != code {
		t.Fatalf("got %v; want message %d %s: %s (%d)", r, id, ldap.ApplicationMap[uint8(tag)],
			ldap.LDAPResultCodeMap[code], code)
	}
}

func (r *response) assertNotice(t *testing.T, code uint16) {
	t.Helper()
	r.assert(t, 0, ldap.ApplicationExtendedResponse, code)
	if r.name != noticeOID {
		t.Fatalf("notice has responseName %q, want %q", r.name, noticeOID)
	}
}

// noticeOID is spelt out here rather than taken from the server's constant,
// so a typo there cannot hide.
const noticeOID = "1.3.6.1.4.1.1466.20036"

const whoAmIOID = "1.3.6.1.4.1.4203.1.11.3"

// --- request builders ---

func octets(s, desc string) *ber.Packet {
	return ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, s, desc)
}

// message wraps a protocolOp in an LDAPMessage: requests and responses
// share the envelope.
func message(id int64, op *ber.Packet, controls ...*ber.Packet) *ber.Packet {
	return envelope(id, op, controls...)
}

func reqControl(oid string, critical bool) *ber.Packet {
	c := ber.NewSequence("Control")
	c.AppendChild(octets(oid, "controlType"))
	c.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, critical, "criticality"))
	return c
}

func simpleBind(version int64, name, password string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "BindRequest")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, version, "version"))
	op.AppendChild(octets(name, "name"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, "simple"))
	return op
}

func saslBind(mech string, creds []byte) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "BindRequest")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "version"))
	op.AppendChild(octets("", "name"))
	sasl := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "SaslCredentials")
	sasl.AppendChild(octets(mech, "mechanism"))
	if creds != nil {
		sasl.AppendChild(octets(string(creds), "credentials"))
	}
	op.AppendChild(sasl)
	return op
}

func search(base string, scope int64, filter *ber.Packet, attrs ...string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "SearchRequest")
	op.AppendChild(octets(base, "baseObject"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, scope, "scope"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, "derefAliases"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "sizeLimit"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "timeLimit"))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "typesOnly"))
	op.AppendChild(filter)
	list := ber.NewSequence("attributes")
	for _, a := range attrs {
		list.AppendChild(octets(a, "selector"))
	}
	op.AppendChild(list)
	return op
}

// mustFilter compiles an RFC 4515 filter.
func mustFilter(t testing.TB, s string) *ber.Packet {
	t.Helper()
	f, err := ldap.CompileFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func extended(oid string, value []byte) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "ExtendedRequest")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, oid, "requestName"))
	if value != nil {
		v := ber.Encode(ber.ClassContext, ber.TypePrimitive, 1, nil, "requestValue")
		v.Data.Write(value)
		op.AppendChild(v)
	}
	return op
}

func whoAmIReq() *ber.Packet { return extended(whoAmIOID, nil) }

func abandon(id int64) *ber.Packet {
	return ber.NewInteger(ber.ClassApplication, ber.TypePrimitive, ldap.ApplicationAbandonRequest, id, "AbandonRequest")
}

func unbind() *ber.Packet {
	return ber.Encode(ber.ClassApplication, ber.TypePrimitive, ldap.ApplicationUnbindRequest, nil, "UnbindRequest")
}
