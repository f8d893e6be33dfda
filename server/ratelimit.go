package server

// Limits per client address. They come second to the backend's lockout per
// account, never instead of it (DESIGN.md, "Lockout is per account first"):
// behind Dovecot and Postfix every bind arrives from the mail server's
// address, so a limit keyed by address alone would lock out everyone or no
// one, as glauth's does. Hence:
//
//   - trusted clients (the mail servers) are exempt from everything here,
//     and get failures answered without the backend's delay: they serve
//     many users over few connections, on which answers go out in order,
//     and apply their own delay (Dovecot's auth_failure_delay) to the one
//     user who failed;
//   - what is counted here belongs to one address (an IPv6 /64), so a client
//     hammering from one address is slowed and then refused while a
//     well-behaved client from any other address never notices;
//   - the backend never locks app passwords, and locks password sign-in
//     per client source (all trusted clients being one source) and, at a
//     higher count, per account; so someone else's guessing never stops a
//     user's devices, nor their own sign-in from another address.

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wicketldap/wicket/backend"
)

const (
	// maxAddressWait is the longest a bind from an address over its rate
	// is held before it is verified; past it the bind is refused at once.
	maxAddressWait = 5 * time.Second
	// maxTrackedAddresses bounds the buckets kept (about 100 bytes each);
	// past it the least recently used address is forgotten.
	maxTrackedAddresses = 32768
)

// setupLimits applies the defaults of the limits in cfg. It runs in New.
func (s *Server) setupLimits() {
	if s.cfg.AddressFailuresPerMinute > 0 {
		s.failedBinds = newAddressLimiter(s.cfg.AddressFailuresPerMinute/60, max(1, s.cfg.AddressFailureBurst), time.Now)
	}
}

// clientAddr parses the host part of a remote address; the zero Addr when
// it is no IP address (a pipe, a Unix socket), which no limit applies to.
func clientAddr(host string) netip.Addr {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func remoteAddr(nc net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// limitKey is what limits count by: an IPv4 address, or the /64 of an IPv6
// one, since one IPv6 host commonly holds a whole /64 to pick from.
func limitKey(a netip.Addr) netip.Addr {
	if a.Is4() {
		return a
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}

func (s *Server) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range s.cfg.TrustedClients {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addressLimitError refuses a bind from an address that failed too often.
type addressLimitError struct{ retry time.Duration }

func (e *addressLimitError) Error() string {
	return fmt.Sprintf("too many failed binds from this address; retry in %v", e.retry)
}

// reserveBind takes the address's token for one bind before anything is
// verified. While the address is over its rate the bind waits for its token
// (holding no slot and no lock); when the wait would be too long it is
// refused, so a flood from one address cannot keep the hashing slots busy.
// refund gives the token back for a bind that did not fail.
func (s *Server) reserveBind(ctx context.Context, a netip.Addr) (refund func(), err error) {
	if s.failedBinds == nil || !a.IsValid() || s.trusted(a) {
		return func() {}, nil
	}
	k := limitKey(a)
	wait, ok := s.failedBinds.reserve(k)
	if !ok {
		return nil, &addressLimitError{retry: wait}
	}
	refund = func() { s.failedBinds.refund(k) }
	if !sleep(ctx, wait) {
		refund()
		return nil, backend.ErrBusy
	}
	return refund, nil
}

// delayFailure holds a failed bind's answer for the delay the backend asked,
// after Authenticate has returned and so released every slot and lock.
func (s *Server) delayFailure(ctx context.Context, a netip.Addr, err error) {
	if err == nil {
		return
	}
	var af *backend.AuthFailure
	if errors.As(err, &af) && af.Delay > 0 && !s.trusted(a) {
		sleep(ctx, af.Delay)
	}
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// addressLimiter is a token bucket of failed binds per address: burst
// failures at once, then perSecond. Every bind reserves a token before it is
// verified (so parallel binds cannot overdraw) and gets it back unless it
// failed, so successes cost an address nothing.
type addressLimiter struct {
	perSecond float64
	burst     float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*list.Element // of *bucket
	lru     list.List                    // least recently used first
}

type bucket struct {
	key    netip.Addr
	tokens float64 // below zero: owed by binds reserved ahead
	at     time.Time
}

func newAddressLimiter(perSecond float64, burst int, now func() time.Time) *addressLimiter {
	return &addressLimiter{perSecond: perSecond, burst: float64(burst), now: now,
		buckets: make(map[netip.Addr]*list.Element)}
}

// reserve takes a token for k and says how long the bind must wait for it;
// false when that would be longer than maxAddressWait, and then the wait
// returned is how much sooner it would have had to come.
func (l *addressLimiter) reserve(k netip.Addr) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(k)
	left := b.tokens - 1
	var wait time.Duration
	if left < 0 {
		wait = time.Duration(math.Ceil(-left / l.perSecond * float64(time.Second)))
		if wait > maxAddressWait {
			return wait - maxAddressWait, false
		}
	}
	b.tokens = left
	return wait, true
}

func (l *addressLimiter) refund(k netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.buckets[k]
	if !ok {
		return
	}
	b := e.Value.(*bucket)
	l.refill(b)
	if b.tokens = min(l.burst, b.tokens+1); b.tokens >= l.burst {
		// A full bucket is the same as none.
		l.lru.Remove(e)
		delete(l.buckets, k)
	}
}

// bucket returns k's bucket, refilled to now and made the most recently used.
func (l *addressLimiter) bucket(k netip.Addr) *bucket {
	l.sweep()
	if e, ok := l.buckets[k]; ok {
		l.lru.MoveToBack(e)
		b := e.Value.(*bucket)
		l.refill(b)
		return b
	}
	if len(l.buckets) >= maxTrackedAddresses {
		oldest := l.lru.Front()
		l.lru.Remove(oldest)
		delete(l.buckets, oldest.Value.(*bucket).key)
	}
	b := &bucket{key: k, tokens: l.burst, at: l.now()}
	l.buckets[k] = l.lru.PushBack(b)
	return b
}

func (l *addressLimiter) refill(b *bucket) {
	now := l.now()
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.perSecond)
	}
	b.at = now
}

// sweep drops a few of the least recently used buckets that have filled up
// again, so that addresses which stopped failing do not wait for eviction.
func (l *addressLimiter) sweep() {
	for range 2 {
		e := l.lru.Front()
		if e == nil {
			return
		}
		b := e.Value.(*bucket)
		if b.tokens+l.now().Sub(b.at).Seconds()*l.perSecond < l.burst {
			return
		}
		l.lru.Remove(e)
		delete(l.buckets, b.key)
	}
}

// tracked is the number of addresses with a bucket, for tests.
func (l *addressLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
