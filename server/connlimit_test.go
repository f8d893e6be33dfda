package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/internal/testutil"
)

// served checks that a connection is being served: an anonymous bind is
// answered.
func (c *rawConn) served(id int64) *rawConn {
	c.t.Helper()
	c.call(message(id, simpleBind(3, "", ""))).assert(c.t, id, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	return c
}

// refusedWith wants the Notice of Disconnection busy, saying diag.
func (c *rawConn) refusedWith(diag string) {
	c.t.Helper()
	n := c.expectClosed()
	if n == nil {
		c.t.Fatalf("closed without a notice; want busy %q", diag)
	}
	n.assertNotice(c.t, ldap.LDAPResultBusy)
	if !strings.Contains(n.diag, diag) {
		c.t.Fatalf("refused with %q, want %q", n.diag, diag)
	}
}

// closedWithin waits up to wait for the server to close the connection
// and wants a Notice of Disconnection with code first.
func (c *rawConn) closedWithin(wait time.Duration, code uint16) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(wait))
	n, err := nextMessage(c)
	if err != nil {
		c.t.Fatalf("no notice before the close: %v", err)
	}
	n.assertNotice(c.t, code)
	if _, err := nextMessage(c); !errors.Is(err, io.EOF) {
		c.t.Fatalf("after the notice: %v, want the close", err)
	}
}

func nextMessage(c *rawConn) (*response, error) {
	p, err := ber.ReadPacket(c.r)
	if err != nil {
		return nil, err
	}
	return parseResponse(p)
}

func TestNetworkKey_IPv4BySlash24IPv6BySlash56(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.254", true},
		{"192.0.2.1", "192.0.3.1", false},
		{"2001:db8:0:100::1", "2001:db8:0:1ff:ffff::1", true},
		{"2001:db8:0:100::1", "2001:db8:0:200::1", false},
	} {
		ka, kb := networkKey(clientAddr(tc.a)), networkKey(clientAddr(tc.b))
		if (ka == kb) != tc.same {
			t.Errorf("%s is in %v and %s in %v; want same network %v", tc.a, ka, tc.b, kb, tc.same)
		}
	}
	if got := networkKey(clientAddr("::ffff:192.0.2.7")); got != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("an IPv4-mapped address is in %v", got)
	}
}

// Clients outside can fill the table only up to the reserve; the trusted
// clients still get the reserved places, and past those nobody does.
func TestServer_ReserveIsLeftForTrustedClients(t *testing.T) {
	t.Parallel()
	addr := startServer(t, Config{MaxConnections: 6, ReservedConnections: 2,
		TrustedClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")}}, authFunc(nil))
	// Each from its own network, so that only the table can refuse.
	for i := range 4 {
		dialRawFrom(t, addr, fmt.Sprintf("127.0.%d.2", 10+i)).served(1)
	}
	dialRawFrom(t, addr, "127.0.20.2").refusedWith("too many connections; try again later")

	trusted := []*rawConn{dialRawFrom(t, addr, "127.0.0.4").served(1), dialRawFrom(t, addr, "127.0.0.4").served(1)}
	dialRawFrom(t, addr, "127.0.0.4").refusedWith("too many connections; try again later")

	// A trusted connection's place, given back, is still not for others:
	// the reserve is what is left free, not what trusted clients hold.
	trusted[0].nc.Close()
	dialRawFrom(t, addr, "127.0.21.2").refusedWith("too many connections; try again later")
	waitServed(t, addr, "127.0.0.4")
}

// waitServed dials from until a connection is served: a place is given
// back after the close the client sees.
func waitServed(t *testing.T, addr, from string) *rawConn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialRawFrom(t, addr, from)
		c.send(message(1, simpleBind(3, "", "")))
		r, err := c.tryNext(5 * time.Second)
		if err == nil && r.id == 1 && r.code == ldap.LDAPResultSuccess {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection from %s served: %v, %v", from, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// One untrusted network holds at most its share, whichever of its
// addresses connect; the trusted client in the same /24 is not counted.
func TestServer_ConnectionsPerNetworkAreCapped(t *testing.T) {
	t.Parallel()
	addr := startServer(t, Config{MaxConnectionsPerAddress: 2, MaxConnectionsPerNetwork: 3,
		TrustedClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, authFunc(nil))
	for range 4 {
		dialRawFrom(t, addr, "127.0.0.1").served(1)
	}
	held := []*rawConn{
		dialRawFrom(t, addr, "127.0.0.66").served(1),
		dialRawFrom(t, addr, "127.0.0.66").served(1),
		dialRawFrom(t, addr, "127.0.0.67").served(1),
	}
	dialRawFrom(t, addr, "127.0.0.66").refusedWith("too many connections from your address")
	dialRawFrom(t, addr, "127.0.0.67").refusedWith("too many connections from your network")
	dialRawFrom(t, addr, "127.0.0.200").refusedWith("too many connections from your network")

	// Other networks, and the trusted client, are served.
	dialRawFrom(t, addr, "127.0.1.66").served(1)
	dialRawFrom(t, addr, "127.0.0.1").served(1)

	// A connection that ends gives its network's place back.
	held[0].nc.Close()
	waitServed(t, addr, "127.0.0.200")
	dialRawFrom(t, addr, "127.0.0.68").refusedWith("too many connections from your network")
}

// Until a bind with credentials succeeds, an untrusted client's idle
// connection is closed after the short timeout; a bound one, and a trusted
// client's, keep the long one.
func TestUnauthenticatedIdleTimeout_ClosesOnlyUnauthenticatedConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *Config) {
		c.IdleTimeout = time.Hour
		c.UnauthenticatedIdleTimeout = time.Second
		c.TrustedClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")}
	}))
	bound := dialRawFrom(t, e.addr, "127.0.0.2")
	bound.call(message(1, simpleBind(3, "alice", e.appPassword))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	trusted := dialRawFrom(t, e.addr, "127.0.0.4")

	// Opened after the two above: idle for less time than they are.
	silent := dialRawFrom(t, e.addr, "127.0.0.2")
	anonymous := dialRawFrom(t, e.addr, "127.0.0.2").served(1)
	failed := dialRawFrom(t, e.addr, "127.0.0.2")
	failed.call(message(1, simpleBind(3, "alice", "wrong"))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultInvalidCredentials)
	rebound := dialRawFrom(t, e.addr, "127.0.0.2")
	rebound.call(message(1, simpleBind(3, "alice", e.appPassword))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	rebound.call(message(2, simpleBind(3, "", ""))).
		assert(t, 2, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)

	for name, c := range map[string]*rawConn{"silent": silent, "anonymous": anonymous, "failed bind": failed,
		"anonymous after a bind": rebound} {
		t.Run(name, func(t *testing.T) { c.in(t).closedWithin(30*time.Second, ldap.LDAPResultUnavailable) })
	}
	bound.call(message(2, whoAmIReq())).assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	trusted.call(message(1, whoAmIReq())).assert(t, 1, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
}

// A client waiting for its bind is not idle, however short the timeout;
// once the bind has succeeded, the long timeout applies.
func TestUnauthenticatedIdleTimeout_SparesAClientWaitingForItsBind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGate(), withQueuedBinds(), withConfig(func(c *Config) {
		c.IdleTimeout = time.Hour
		c.UnauthenticatedIdleTimeout = time.Second
	}))
	c := dialRawFrom(t, e.addr, "127.0.0.2")
	c.send(message(1, simpleBind(3, "alice", e.appPassword)))
	e.auth.waitEntered(t)
	// A connection opened after the bind was sent is closed while the bind
	// is still held.
	dialRawFrom(t, e.addr, "127.0.0.2").closedWithin(30*time.Second, ldap.LDAPResultUnavailable)
	e.auth.open()
	c.next().assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)

	dialRawFrom(t, e.addr, "127.0.0.2").closedWithin(30*time.Second, ldap.LDAPResultUnavailable)
	c.call(message(2, whoAmIReq())).assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
}

// A flood of refusals is one log line, then one per reason per interval
// with the count.
func TestRefusalLog_SumsRefusalsUp(t *testing.T) {
	var buf testutil.SyncBuffer
	r := newRefusalLog(slog.New(slog.NewJSONHandler(&buf, nil)), time.Hour, func(refusal) int { return 7 })
	type record struct {
		Msg   string `json:"msg"`
		Count int    `json:"count"`
	}
	records := func() []record {
		var out []record
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var rec record
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			out = append(out, rec)
		}
		return out
	}
	for i := range 1000 {
		r.refused(refusedNetwork, fmt.Sprintf("192.0.2.%d:4000", i%250))
	}
	r.refused(refusedUntrusted, "198.51.100.1:4000")
	if got := records(); len(got) != 1 || got[0].Msg != "connection refused: too many connections from one network" {
		t.Fatalf("1,001 refusals logged as %+v; want the first alone", got)
	}
	r.tick() // the interval ends
	got := records()
	if len(got) != 3 || got[1].Count != 999 || got[2].Count != 1 {
		t.Fatalf("the summary: %+v; want 999 refused by network and 1 by the reserve", got)
	}
	r.tick() // an interval without refusals
	if n := len(records()); n != 3 {
		t.Fatalf("an interval without refusals logged %d lines", n-3)
	}
	r.refused(refusedAddress, "192.0.2.1:4000") // logged at once again
	r.refused(refusedAddress, "192.0.2.1:4001")
	r.stop() // what is counted is logged
	if got := records(); len(got) != 5 || got[4].Count != 1 {
		t.Fatalf("after stop: %+v", got)
	}
}
