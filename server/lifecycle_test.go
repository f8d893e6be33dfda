package server

import (
	"context"
	"errors"
	ber "github.com/go-asn1-ber/asn1-ber"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestIdleTimeout_ClosesConnection(t *testing.T) {
	t.Parallel()
	// Long enough that a loaded machine's pauses stay well under it: the
	// busy client's requests are a quarter of it apart.
	const idle = 2 * time.Second
	e := newEnv(t, withConfig(func(c *Config) { c.IdleTimeout = idle }))

	t.Run("silent client", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, e.addr)
		start := time.Now()
		c.expectNotice(ldap.LDAPResultUnavailable)
		if waited := time.Since(start); waited < idle-20*time.Millisecond {
			t.Errorf("closed after %v, before the idle timeout of %v", waited, idle)
		}
	})
	t.Run("bound client", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, e.addr)
		c.call(message(1, simpleBind(3, "alice", e.appPassword))).
			assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
		c.expectNotice(ldap.LDAPResultUnavailable)
	})
	// The timeout is idleness, not a lifetime: each request restarts it.
	// The client asks every idle/4 for one and a half idle timeouts; the
	// verdict is on what happened, not on the sleeps: the connection must
	// stay open unless the client itself fell silent for a whole idle
	// timeout (a machine stalled that long), and then the run is made
	// again on a new connection.
	t.Run("busy client stays", func(t *testing.T) {
		t.Parallel()
		for attempt := 1; ; attempt++ {
			stalled := busyFor(t, e.addr, idle)
			if stalled == 0 {
				return
			}
			if attempt == 5 {
				t.Fatalf("in 5 runs the client itself fell silent for as long as the idle timeout (last %v)", stalled)
			}
			t.Logf("run %d: the client was silent for %v, as long as the idle timeout; again", attempt, stalled)
		}
	})
}

// busyFor sends a request every idle/4 for 1.5 × idle on one connection,
// each answered. A close before the end fails the test, unless the client
// was silent for idle or longer since its previous request: then it
// returns that silence, and the close proves nothing.
func busyFor(t *testing.T, addr string, idle time.Duration) (stalled time.Duration) {
	t.Helper()
	c := dialRaw(t, addr)
	defer c.nc.Close()
	begin, last := time.Now(), time.Time{}
	for id := int64(1); time.Since(begin) < idle*3/2; id++ {
		if !last.IsZero() {
			if silent := time.Since(last); silent >= idle {
				return silent
			}
		}
		last = time.Now()
		c.send(message(id, whoAmIReq()))
		r, err := c.tryNext(30 * time.Second)
		if err != nil {
			t.Fatalf("request %d, %v after the first: %v; the connection was closed while the client was busy",
				id, time.Since(begin).Round(time.Millisecond), err)
		}
		r.assert(t, id, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
		time.Sleep(idle / 4)
	}
	return 0
}

// A client waiting for an answer is not idle: the timeout must not cut an
// operation the server is still working on (slapd counts a connection idle
// only with no operation executing).
func TestIdleTimeout_SparesAConnectionWithAnOperationInProgress(t *testing.T) {
	t.Parallel()
	const idle = 200 * time.Millisecond
	e := newEnv(t, withGate(), withConfig(func(c *Config) { c.IdleTimeout = idle }))
	c := dialRaw(t, e.addr)
	c.send(message(1, simpleBind(3, "alice", e.appPassword)))
	e.auth.waitEntered(t)
	time.Sleep(2 * idle)
	e.auth.open()
	r := c.next()
	if r.id == 0 {
		t.Fatalf("a bind still in progress after %v was answered by %v", 2*idle, r)
	}
	r.assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
}

func TestShutdown_FinishesInFlightBind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGate())
	c := dialRaw(t, e.addr)
	c.send(message(1, simpleBind(3, "alice", e.appPassword)))
	e.auth.waitEntered(t)

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown <- e.srv.Shutdown(ctx)
	}()
	// Serve returns once its listener is closed, and it cannot return before
	// Shutdown has told every connection to drain (both hold the server's
	// lock), so the bind is still held when the drain starts.
	select {
	case <-e.served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if !errors.Is(e.serveErr, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", e.serveErr)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a bind was in flight", err)
	default:
	}

	e.auth.open()
	c.next().assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	c.expectNotice(ldap.LDAPResultUnavailable)
	select {
	case err := <-shutdown:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last connection finished")
	}
	if nc, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		nc.Close()
		t.Error("the server still accepts connections after Shutdown")
	}
}

func TestShutdown_ContextEndClosesConnectionsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGate())
	c := dialRaw(t, e.addr)
	c.send(message(1, simpleBind(3, "alice", e.appPassword)))
	e.auth.waitEntered(t)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a held bind: %v, want context.DeadlineExceeded", err)
	}
	c.expectClosed()
}

func TestMaxConnections_RefusesWithBusyNotice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *Config) { c.MaxConnections = 1 }))
	first := dialRaw(t, e.addr)
	first.call(message(1, whoAmIReq())).assert(t, 1, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)

	second := dialRaw(t, e.addr)
	second.expectNotice(ldap.LDAPResultBusy)

	// The one allowed connection is unharmed.
	first.call(message(2, whoAmIReq())).assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)

	// Its slot comes back once it is gone. The server frees it after the
	// close the client sees, so poll briefly.
	first.send(message(3, unbind()))
	first.expectClosed()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialRaw(t, e.addr)
		c.send(message(1, whoAmIReq()))
		r, err := c.tryNext(5 * time.Second)
		if err == nil && r.id == 1 {
			r.assert(t, 1, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after the first one closed: %v %v", r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that sends requests but never reads its answers must not hold
// the connection's worker: once a write has waited WriteTimeout, the
// connection is closed, and other clients are served.
func TestWriteTimeout_ClosesAConnectionThatDoesNotRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *Config) { c.WriteTimeout = 200 * time.Millisecond }))
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(4096)
	// Root DSE searches with every attribute: a few hundred bytes of answer
	// each, far more in all than the socket buffers hold.
	search := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"*", "+"}, nil)
	var sent atomic.Int64
	go func() {
		for id := int64(1); id <= 20000; id++ {
			env := ber.NewSequence("")
			env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
			op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "")
			op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
			op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, ""))
			op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, ""))
			op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
			op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
			op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
			f, _ := ldap.CompileFilter(search.Filter)
			op.AppendChild(f)
			attrs := ber.NewSequence("")
			for _, a := range search.Attributes {
				attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, ""))
			}
			op.AppendChild(attrs)
			env.AppendChild(op)
			nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Write(env.Bytes()); err != nil {
				return
			}
			sent.Add(1)
		}
	}()
	// Without reading, wait for the server to give up on us: then reading
	// drains what was buffered and ends, instead of blocking. The server
	// has stopped reading once the requests stop going out; a second after
	// that, far beyond WriteTimeout, it must have closed. (A fixed sleep
	// raced the socket buffers filling on a loaded machine.)
	for last, still, start := int64(-1), 0, time.Now(); still < 4 && time.Since(start) < 30*time.Second; {
		time.Sleep(250 * time.Millisecond)
		if n := sent.Load(); n != last {
			last, still = n, 0
		} else {
			still++
		}
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		if _, err := nc.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server kept writing to a client that does not read")
			}
			break
		}
	}
	l := e.dial(t)
	if err := l.Bind("alice", e.appPassword); err != nil {
		t.Errorf("another client after the stalled one: %v", err)
	}
}
