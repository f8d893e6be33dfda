package server

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/internal/addrlimit"
)

// dialRawFrom connects from a chosen loopback address, as a client on
// another host would: Linux routes all of 127.0.0.0/8 to lo.
func dialRawFrom(t *testing.T, addr, from string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot connect from %s: %v", from, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc.(*net.TCPConn), r: bufio.NewReader(nc)}
}

func TestLimitKey_IPv6CountsBySlash64(t *testing.T) {
	a := addrlimit.Key(clientAddr("2001:db8:1:2:aaaa::1"))
	b := addrlimit.Key(clientAddr("2001:db8:1:2:bbbb::2"))
	c := addrlimit.Key(clientAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Errorf("keys %v %v %v: want the first two equal, the third apart", a, b, c)
	}
	if got := addrlimit.Key(clientAddr("::ffff:192.0.2.1")); got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("IPv4-mapped address keyed as %v", got)
	}
	if clientAddr("pipe").IsValid() {
		t.Error("a non-IP remote parsed as an address")
	}
}

func TestServer_ConnectionsPerAddressAreCapped(t *testing.T) {
	addr := startServer(t, Config{MaxConnectionsPerAddress: 2,
		TrustedClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")}}, authFunc(nil))
	var held []*rawConn
	for range 2 {
		c := dialRawFrom(t, addr, "127.0.0.2")
		c.call(message(1, simpleBind(3, "", ""))).assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
		held = append(held, c)
	}
	dialRawFrom(t, addr, "127.0.0.2").expectNotice(ldap.LDAPResultBusy)

	// Another address, and a trusted one past the cap, are served.
	dialRawFrom(t, addr, "127.0.0.3").call(message(1, simpleBind(3, "", ""))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	for range 3 {
		dialRawFrom(t, addr, "127.0.0.4").call(message(1, simpleBind(3, "", ""))).
			assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	}

	// A closed connection frees its place.
	held[0].nc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialRawFrom(t, addr, "127.0.0.2")
		c.send(message(1, simpleBind(3, "", "")))
		r, err := c.tryNext(5 * time.Second)
		if err == nil && r.id == 1 && r.code == ldap.LDAPResultSuccess {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the place of a closed connection was not freed: %v, %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failingAuth fails every bind but one password, asking for delay.
func failingAuth(delay time.Duration) Authenticator {
	return authFunc(func(ctx context.Context, login, secret, from string) (*backend.Principal, error) {
		if secret == "right" {
			return &backend.Principal{Name: login, Role: backend.RoleUser, Method: backend.MethodPassword}, nil
		}
		return nil, &backend.AuthFailure{Reason: "wrong password", Delay: delay}
	})
}

func bindTime(t *testing.T, c *rawConn, id int64, password string) (uint16, string, time.Duration) {
	t.Helper()
	start := time.Now()
	r := c.call(message(id, simpleBind(3, "alice", password)))
	return r.code, r.diag, time.Since(start)
}

// An untrusted client's failure waits at least the delay asked for (a
// lower bound, which load cannot break). A trusted client's is answered
// although the delay asked for is an hour: that it is answered at all is
// the verdict, however slow the machine.
func TestServer_FailureDelaySkippedForTrustedClients(t *testing.T) {
	const delay = 400 * time.Millisecond
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}
	addr := startServer(t, Config{TrustedClients: trusted}, failingAuth(delay))
	code, _, took := bindTime(t, dialRawFrom(t, addr, "127.0.0.2"), 1, "wrong")
	if code != ldap.LDAPResultInvalidCredentials || took < delay {
		t.Errorf("untrusted client: %d after %v, want 49 after at least %v", code, took, delay)
	}

	addr = startServer(t, Config{TrustedClients: trusted}, failingAuth(time.Hour))
	c := dialRawFrom(t, addr, "127.0.0.3")
	c.send(message(1, simpleBind(3, "alice", "wrong")))
	r, err := c.tryNext(30 * time.Second)
	if err != nil {
		t.Fatalf("trusted client, a failure asking for an hour's delay: no answer (%v)", err)
	}
	r.assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultInvalidCredentials)
}

// One address hammering is slowed and then refused with "busy"; a client
// from another address binds at full speed all the while, and the hammering
// address's successes still pass.
func TestServer_FailedBindsPerAddressSlowThenRefuse(t *testing.T) {
	addr := startServer(t, Config{AddressFailuresPerMinute: 600, AddressFailureBurst: 2}, failingAuth(0)) // a token per 100 ms

	hammer := dialRawFrom(t, addr, "127.0.0.2")
	start := time.Now()
	for i := range 6 {
		if code, _, _ := bindTime(t, hammer, int64(i+1), "wrong"); code != ldap.LDAPResultInvalidCredentials {
			t.Fatalf("serial failure %d: code %d, want 49", i+1, code)
		}
	}
	// Two from the burst, then four paced at 100 ms.
	if took := time.Since(start); took < 350*time.Millisecond {
		t.Errorf("six failures in a row took %v, want them paced (at least 400 ms)", took)
	}

	// Parallel binds overdraw the bucket: past 5 s of debt they are refused.
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy := 0
	for range 80 {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
			nc, err := d.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			c := &rawConn{t: t, nc: nc.(*net.TCPConn), r: bufio.NewReader(nc)}
			c.send(message(1, simpleBind(3, "alice", "wrong")))
			// Up to addrlimit.MaxWait in the queue, then the answer.
			r, err := c.tryNext(addrlimit.MaxWait + 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			if r.code == ldap.LDAPResultBusy {
				mu.Lock()
				busy++
				mu.Unlock()
				if !strings.Contains(r.diag, "too many failed binds from your address") {
					t.Errorf("busy with diagnostic %q", r.diag)
				}
			}
		})
	}
	// Meanwhile a client elsewhere is not held up at all.
	other := dialRawFrom(t, addr, "127.0.0.3")
	for i := range 5 {
		code, _, took := bindTime(t, other, int64(i+1), "wrong")
		// Held up by the other address's bucket, it would wait up to 5 s
		// or be refused; 3 s leaves a loaded machine room.
		if code != ldap.LDAPResultInvalidCredentials || took > 3*time.Second {
			t.Errorf("client from another address: %d after %v", code, took)
		}
		if code, _, _ := bindTime(t, other, int64(i+100), "right"); code != ldap.LDAPResultSuccess {
			t.Errorf("client from another address, right password: %d", code)
		}
	}
	wg.Wait()
	if busy == 0 {
		t.Error("80 parallel failing binds from one address: none refused")
	}
}
