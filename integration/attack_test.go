package integration

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Attacks a user's sign-in as someone who can reach the LDAP port (or
// Dovecot, whose binds arrive from the trusted mail server) would try it
// (issue 10, "Must show" 1). The properties, from DESIGN.md "Locks protect
// what can be guessed, and nothing else":
//
//   - app passwords are never locked: wrong app-password-shaped guesses are
//     answered 49 (and slowed), and the user's real app password binds at
//     once, from any address, whatever was sent before;
//   - the password+code path is locked per account and client source: a
//     guesser at one address (or behind the trusted mail servers, which
//     count as one source) does not stop a correct password+code from
//     another;
//   - a replay of a code that was just accepted is refused but is no guess.

const (
	attackerAddr = "127.0.0.66" // an untrusted client
	otherAddr    = "127.0.0.77" // another untrusted client: the user's own
	trustedAddr  = "127.0.0.1"  // the mail server: lockout.trusted_clients by default
)

// fastLockout keeps the failure delay small, so that a hundred guesses take
// a second or two, and turns the per-address bucket off, so that what the
// guesses meet is the lockout itself.
const fastLockout = `
[lockout]
failure_delay               = "5ms"
max_failure_delay           = "20ms"
address_failures_per_minute = 0
`

// randomAppPassword is a guess shaped like an app password: 16 lowercase
// letters, with or without the dashes.
func randomAppPassword(dashes bool) string {
	var b strings.Builder
	for i := range 16 {
		if dashes && i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(byte('a' + rand.IntN(26)))
	}
	return b.String()
}

// bindFrom binds on a new connection from a chosen loopback address and
// returns the result code and how long the bind took.
func bindFrom(t *testing.T, w *wicket, from, dn, password string) (int, time.Duration) {
	t.Helper()
	c, err := dialFrom(t, w, from)
	if err != nil {
		t.Fatalf("connect from %s: %v", from, err)
	}
	defer c.Close()
	start := time.Now()
	err = c.Bind(dn, password)
	return resultCode(t, err), time.Since(start)
}

// requireBindFrom wants one result of a bind from an address.
func requireBindFrom(t *testing.T, w *wicket, what, from string, u user, password string, want int) {
	t.Helper()
	rc, took := bindFrom(t, w, from, u.dn, password)
	if rc != want {
		t.Errorf("%s, from %s: result %d, want %d (after %v)", what, from, rc, want, took.Round(time.Millisecond))
	}
}

// requireLoopbackSources skips unless this host can connect from the
// loopback addresses the tests use (all of 127.0.0.0/8 is local on Linux).
func requireLoopbackSources(t *testing.T, w *wicket, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		c, err := dialFrom(t, w, a)
		if err != nil {
			t.Skipf("cannot connect from %s: %v", a, err)
		}
		c.Close()
	}
}

// guesses sends n binds from one address, one after another on one
// connection, and counts their results. The bind names alternate between
// the forms a client may use for one account.
func guesses(t *testing.T, w *wicket, from string, u user, n int, guess func(i int) string) map[int]int {
	t.Helper()
	c, err := dialFrom(t, w, from)
	if err != nil {
		t.Fatalf("connect from %s: %v", from, err)
	}
	defer c.Close()
	names := []string{u.dn, u.name, u.mail}
	codes := map[int]int{}
	for i := range n {
		codes[resultCode(t, c.Bind(names[i%len(names)], guess(i)))]++
	}
	return codes
}

// parallelGuesses sends n binds over conns connections from one address.
func parallelGuesses(t *testing.T, w *wicket, from string, u user, conns, n int, guess func(i int) string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for k := range conns {
		wg.Go(func() {
			c, err := dialFrom(t, w, from)
			if err != nil {
				t.Errorf("connect from %s: %v", from, err)
				return
			}
			defer c.Close()
			for i := k; i < n; i += conns {
				err := c.Bind(u.dn, guess(i))
				var le *ldap.Error
				rc := 0
				switch {
				case err == nil:
				case errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork:
					rc = int(le.ResultCode)
				default:
					t.Errorf("guess %d from %s: %v", i, from, err)
					return
				}
				mu.Lock()
				codes[rc]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes
}

// onlyCodes reports whether every result in got is one of want.
func onlyCodes(got map[int]int, want ...int) bool {
	for rc := range got {
		ok := false
		for _, w := range want {
			ok = ok || rc == w
		}
		if !ok {
			return false
		}
	}
	return true
}

func TestAttack_GuessesNeverCutAUsersAppPasswordsNorHerSignInElsewhere(t *testing.T) {
	cases := []struct {
		name   string
		config string
		from   string
		// parallel: the attacker sends over many connections at once; the
		// per-address bucket (on by default) answers most of them busy.
		parallel bool
		// sources where the user's correct password+code must still work
		// after the attack, and where it must be refused: the attacker's
		// own source is locked by the attack.
		signInFrom []string
		lockedFrom string
	}{
		{
			name: "from an untrusted address", config: fastLockout, from: attackerAddr,
			signInFrom: []string{otherAddr, trustedAddr}, lockedFrom: attackerAddr,
		},
		{
			// Every trusted client counts as one source, the mail servers:
			// their lock stops password sign-in through them, never from
			// another address.
			name: "through the trusted mail server", config: fastLockout, from: trustedAddr,
			signInFrom: []string{otherAddr}, lockedFrom: trustedAddr,
		},
		{
			name: "from an untrusted address with the default address limits",
			config: `
[lockout]
failure_delay     = "5ms"
max_failure_delay = "20ms"
`,
			from: attackerAddr, parallel: true,
			signInFrom: []string{otherAddr, trustedAddr},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := startWicket(t, tc.config)
			requireLoopbackSources(t, w, attackerAddr, otherAddr)
			alice := w.newUser("alice", true)
			_, phone := w.appPassword("alice", "phone")
			codes := newStepCodes(t, alice)
			// Her phone is in use before the attack starts.
			requireBindFrom(t, w, "alice's app password before the attack", trustedAddr, alice, phone, 0)

			allowed := []int{49}
			if tc.parallel {
				allowed = append(allowed, 51)
			}
			attack := func(what string, n int, guess func(int) string) {
				t.Helper()
				var got map[int]int
				if tc.parallel {
					got = parallelGuesses(t, w, tc.from, alice, n, n, guess) // all at once
				} else {
					got = guesses(t, w, tc.from, alice, n, guess)
				}
				total := 0
				for _, k := range got {
					total += k
				}
				t.Logf("%d %s from %s: results %v", n, what, tc.from, got)
				if total != n || !onlyCodes(got, allowed...) {
					t.Fatalf("%d %s from %s: results %v, want only %v", n, what, tc.from, got, allowed)
				}
			}

			// 1. A hundred random app passwords: not one of her devices
			// notices, wherever it binds from, the attacker's address too.
			attack("app-password-shaped guesses", 100, func(i int) string { return randomAppPassword(i%2 == 0) })
			appFrom := []string{trustedAddr, otherAddr}
			if !tc.parallel {
				appFrom = append(appFrom, tc.from)
			}
			for _, from := range appFrom {
				rc, took := bindFrom(t, w, from, alice.dn, phone)
				if rc != 0 {
					t.Errorf("alice's app password after 100 guesses, from %s: result %d, want 0", from, rc)
				}
				// At once: not held like a failure (nor behind a lock).
				if took > 2*time.Second {
					t.Errorf("alice's app password after 100 guesses, from %s: took %v", from, took)
				}
			}

			// 2. Thirty wrong password+code binds lock the attacker's
			// source, and no other.
			wrong := wrongCode(t, alice.secret)
			attack("wrong password+code binds", 30, func(i int) string {
				if i%2 == 0 {
					return alice.password + wrong // her password, a wrong code
				}
				return fmt.Sprintf("Winter%d!%06d", 2000+i, rand.IntN(1_000_000))
			})
			if tc.lockedFrom != "" {
				requireBindFrom(t, w, "alice's correct password+code from the locked source", tc.lockedFrom, alice, codes.withCode(alice), 49)
			}
			for _, from := range tc.signInFrom {
				requireBindFrom(t, w, "alice's correct password+code after 30 wrong ones", from, alice, codes.withCode(alice), 0)
			}
			for _, from := range []string{trustedAddr, otherAddr} {
				requireBindFrom(t, w, "alice's app password after the whole attack", from, alice, phone, 0)
			}
		})
	}
}

// Nineteen replays at once of a code that was just accepted, with the
// right password, are refused, and are no guesses: they do not lock the
// user's password sign-in, and her next code works (issue 10, observation
// 8: they used to lock her out).
func TestAttack_ReplaysOfAnAcceptedCodeDoNotLockTheUsersSignIn(t *testing.T) {
	w := startWicket(t, fastLockout)
	requireLoopbackSources(t, w, attackerAddr)
	for i, from := range []string{trustedAddr, attackerAddr} {
		t.Run("from "+from, func(t *testing.T) {
			u := w.newUser(fmt.Sprintf("bob%d", i), true)
			codes := newStepCodes(t, u)
			accepted := codes.withCode(u)
			requireBindFrom(t, w, "password+code", from, u, accepted, 0)

			// 19 connections at once, one replay each.
			if got := parallelGuesses(t, w, from, u, 19, 19, func(int) string { return accepted }); got[49] != 19 {
				t.Errorf("19 replays of the accepted code: results %v, want 49 for each", got)
			}
			requireBindFrom(t, w, "password and the next code after 19 replays", from, u, codes.withCode(u), 0)
		})
	}
}
