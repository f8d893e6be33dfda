package addrlimit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wicketldap/wicket/internal/testutil"
)

func TestAddressLimiter_BurstThenSlowThenRefused(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	l := New(1, 3, clk.Now) // one failure a second, three at once
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		if wait, ok := l.Reserve(a); !ok || wait != 0 {
			t.Fatalf("failure %d within the burst: wait %v, ok %v", i+1, wait, ok)
		}
	}
	// Beyond the burst each bind waits for its token: 1 s, 2 s, ... 5 s.
	for i := 1; i <= 5; i++ {
		wait, ok := l.Reserve(a)
		if !ok || wait != time.Duration(i)*time.Second {
			t.Fatalf("bind %d over the burst: wait %v, ok %v; want %v", i, wait, ok, time.Duration(i)*time.Second)
		}
	}
	if retry, ok := l.Reserve(a); ok || retry != time.Second {
		t.Fatalf("a sixth bind over the burst: ok %v, retry %v; want refused, 1s", ok, retry)
	}
	// Other addresses are untouched.
	if wait, ok := l.Reserve(netip.MustParseAddr("192.0.2.2")); !ok || wait != 0 {
		t.Errorf("another address: wait %v, ok %v", wait, ok)
	}
	// Time pays the debt back.
	clk.Add(6 * time.Second)
	if wait, ok := l.Reserve(a); !ok || wait != 0 {
		t.Errorf("after the debt is paid: wait %v, ok %v", wait, ok)
	}
}

func TestAddressLimiter_SuccessesCostNothing(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	l := New(1, 2, clk.Now)
	a := netip.MustParseAddr("192.0.2.1")
	for range 100 {
		if wait, ok := l.Reserve(a); !ok || wait != 0 {
			t.Fatalf("a successful bind waited %v (ok %v)", wait, ok)
		}
		l.Refund(a)
	}
	if n := l.Tracked(); n != 0 {
		t.Errorf("%d addresses tracked after successes only, want 0", n)
	}
}

func TestAddressLimiter_MemoryIsBounded(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	l := New(1, 1, clk.Now)
	first := netip.MustParseAddr("10.0.0.0")
	a := first
	for range MaxTracked + 100 {
		l.Reserve(a)
		a = a.Next()
	}
	if n := l.Tracked(); n != MaxTracked {
		t.Errorf("%d addresses tracked, want the cap %d", n, MaxTracked)
	}
	// The oldest was forgotten, so it starts again with a full bucket.
	if wait, ok := l.Reserve(first); !ok || wait != 0 {
		t.Errorf("the evicted address: wait %v, ok %v", wait, ok)
	}
	// Buckets that have filled up again go without waiting for eviction.
	clk.Add(time.Hour)
	for range MaxTracked {
		l.Reserve(a)
	}
	if n := l.Tracked(); n > MaxTracked/2+2 {
		t.Errorf("%d addresses tracked an hour later, want the idle ones swept", n)
	}
}
