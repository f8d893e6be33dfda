package integration

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// lockState is a path's record as `wicket user show --json` prints it.
type lockState struct {
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until"`
}

func (w *wicket) lockStates(name string) (password, appPassword lockState) {
	w.t.Helper()
	var u struct {
		Password    lockState `json:"password_lockout"`
		AppPassword lockState `json:"app_password_lockout"`
	}
	w.adminJSON(&u, "", "user", "show", name)
	return u.Password, u.AppPassword
}

// whoami binds with ldapwhoami and wants the given result code.
func whoamiWants(t *testing.T, w *wicket, what string, u user, password string, want int) {
	t.Helper()
	out, rc := ldapwhoami(t, w.url(), u.dn, password)
	if rc != want {
		t.Fatalf("%s: ldapwhoami exited %d, want %d\n%s", what, rc, want, out)
	}
}

// With real clients against the real binary: after account_max_failures
// wrong codes, alice's password sign-in is refused even with the right code,
// for the lock's duration; bob, alice's app passwords, and alice after
// `wicket user unlock` from another process keep working.
func TestLockout_WrongCodesLockOneAccountsPasswordSignIn(t *testing.T) {
	w := startWicket(t, `
[lockout]
max_failures         = 3
account_max_failures = 3
lockout_duration     = "3s"
`)
	alice := w.newUser("alice", true)
	bob := w.newUser("bob", true)
	_, aliceApp := w.appPassword("alice", "Thunderbird")

	lock := func() {
		t.Helper()
		for i := range 3 {
			whoamiWants(t, w, fmt.Sprintf("wrong code %d", i+1), alice, alice.password+wrongCode(t, alice.secret), 49)
		}
		// The server writes a failure just after answering it, so another
		// process may look a moment too early.
		deadline := time.Now().Add(5 * time.Second)
		for {
			pw, app := w.lockStates("alice")
			if pw.Failures == 3 && !pw.LockedUntil.IsZero() && app.Failures == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 3 wrong codes: password path %+v, app-password path %+v", pw, app)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	lock()
	right := alice.password + totpCode(t, alice.secret, time.Now())
	whoamiWants(t, w, "alice, right password and code, locked", alice, right, 49)
	if _, rc := goLDAPBind(t, w.url(), alice.dn, right); rc != 49 {
		t.Fatalf("alice, right password and code, locked, go-ldap: result %d, want 49", rc)
	}
	whoamiWants(t, w, "bob during alice's lock", bob, bob.password+totpCode(t, bob.secret, time.Now()), 0)
	whoamiWants(t, w, "alice's app password during her lock", alice, aliceApp, 0)

	// An administrator lifts the lock from another process while the
	// server runs; the next bind sees it.
	if out := w.admin("", "user", "unlock", "alice"); !strings.Contains(out, "unlocked alice") {
		t.Fatalf("user unlock: %q", out)
	}
	whoamiWants(t, w, "alice after unlock", alice, right, 0)

	// Locked again, the lock holds for its duration and then lets go.
	lock()
	pw, _ := w.lockStates("alice")
	later := alice.password + totpCode(t, alice.secret, time.Now().Add(30*time.Second))
	whoamiWants(t, w, "alice during the second lock", alice, later, 49)
	time.Sleep(time.Until(pw.LockedUntil) + 200*time.Millisecond)
	whoamiWants(t, w, "alice once the lock ran out", alice, later, 0)
}

// dialFrom opens a go-ldap connection from a chosen loopback address, as a
// client on another host would be seen.
func dialFrom(t *testing.T, w *wicket, from string) (*ldap.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := ldap.DialURL(w.url(), ldap.DialWithDialer(d))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(30 * time.Second)
	return c, nil
}

func bindCode(err error) uint16 {
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode
	}
	if err == nil {
		return 0
	}
	return 0xffff
}

// One client hammering from 127.0.0.2 is slowed, then refused with busy,
// while a well-behaved client from 127.0.0.3 binds at full speed throughout.
// Neither address is a trusted client here.
func TestLockout_AddressLimitSlowsAHammeringClientOnly(t *testing.T) {
	w := startWicket(t, `
[lockout]
address_failures_per_minute = 120
address_failure_burst       = 3
trusted_clients             = ["192.0.2.25/32"]
`)
	carol := w.newUser("carol", true)
	_, carolApp := w.appPassword("carol", "phone")
	if c, err := dialFrom(t, w, "127.0.0.2"); err != nil {
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	} else {
		c.Close()
	}

	stop := make(chan struct{})
	hammerDone := make(chan []time.Duration)
	go func() {
		// Serial wrong binds, each with a new unknown name, so that only
		// the address limit can slow them.
		var took []time.Duration
		defer func() { hammerDone <- took }()
		c, err := dialFrom(t, w, "127.0.0.2")
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			err := c.Bind(fmt.Sprintf("uid=guess%d,ou=people,dc=example,dc=org", i), "Winter2025!")
			took = append(took, time.Since(start))
			if code := bindCode(err); code != 49 {
				t.Errorf("hammering bind %d: result %d, want 49", i, code)
				return
			}
		}
	}()

	// The well-behaved client, meanwhile, from another address.
	good, err := dialFrom(t, w, "127.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	deadline := time.Now().Add(4 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		start := time.Now()
		if err := good.Bind(carol.dn, carolApp); err != nil {
			t.Fatalf("well-behaved bind %d from 127.0.0.3: %v", n, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("well-behaved bind %d from 127.0.0.3 took %v", n, took)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	took := <-hammerDone
	if len(took) < 5 {
		t.Fatalf("the hammering client got only %d answers", len(took))
	}
	// Three at once from the burst, then one every 500 ms: about 11 in 4 s.
	t.Logf("the hammering client got %d answers in 4 s: %v", len(took), took)
	if len(took) > 14 {
		t.Errorf("the hammering client got %d answers in 4 s; want about 11", len(took))
	}
	// A token bucket guarantees the (i+1)th answer no sooner than the
	// tokens for it have come in, however the answers jitter.
	var elapsed time.Duration
	for i, d := range took {
		elapsed += d
		if earliest := time.Duration(i+1-3)*500*time.Millisecond - 100*time.Millisecond; elapsed < earliest {
			t.Errorf("hammering bind %d answered %v after the first, want at least %v: not slowed to the rate", i+1, elapsed, earliest)
		}
	}

	// Many at once from the hammering address overdraw its bucket: past
	// 5 s of waiting they are refused with busy, before any verifying.
	var mu sync.Mutex
	codes := map[uint16]int{}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			c, err := dialFrom(t, w, "127.0.0.2")
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			code := bindCode(c.Bind(fmt.Sprintf("uid=burst%d,ou=people,dc=example,dc=org", i), "Summer2025!"))
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	if err := good.Bind(carol.dn, carolApp); err != nil {
		t.Errorf("well-behaved bind during the burst: %v", err)
	}
	wg.Wait()
	if codes[ldap.LDAPResultBusy] == 0 || codes[ldap.LDAPResultBusy]+codes[49] != 30 {
		t.Errorf("30 parallel binds from the hammering address: results %v, want some busy (51), the rest 49", codes)
	}
	if !strings.Contains(w.logs.String(), "too many failed binds from this address") {
		t.Error("the server did not log the refusals")
	}
}
