// Package addrlimit is the token bucket of failed sign-ins per client
// address, shared by the LDAP server and the account page so that a client
// is counted the same way whichever door it knocks at.
package addrlimit

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"
)

const (
	// MaxWait is the longest a bind from an address over its rate
	// is held before it is verified; past it the bind is refused at once.
	MaxWait = 5 * time.Second
	// MaxTracked bounds the buckets kept (about 100 bytes each);
	// past it the least recently used address is forgotten.
	MaxTracked = 32768
)

// Key is what limits count by: an IPv4 address, or the /64 of an IPv6
// one, since one IPv6 host commonly holds a whole /64 to pick from.
func Key(a netip.Addr) netip.Addr {
	if a.Is4() {
		return a
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}

// Limiter is a token bucket of failed binds per address: burst
// failures at once, then perSecond. Every bind reserves a token before it is
// verified (so parallel binds cannot overdraw) and gets it back unless it
// failed, so successes cost an address nothing.
type Limiter struct {
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

func New(perSecond float64, burst int, now func() time.Time) *Limiter {
	return &Limiter{perSecond: perSecond, burst: float64(burst), now: now,
		buckets: make(map[netip.Addr]*list.Element)}
}

// Reserve takes a token for k and says how long the bind must wait for it;
// false when that would be longer than MaxWait, and then the wait
// returned is how much sooner it would have had to come.
func (l *Limiter) Reserve(k netip.Addr) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(k)
	left := b.tokens - 1
	var wait time.Duration
	if left < 0 {
		wait = time.Duration(math.Ceil(-left / l.perSecond * float64(time.Second)))
		if wait > MaxWait {
			return wait - MaxWait, false
		}
	}
	b.tokens = left
	return wait, true
}

func (l *Limiter) Refund(k netip.Addr) {
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
func (l *Limiter) bucket(k netip.Addr) *bucket {
	l.sweep()
	if e, ok := l.buckets[k]; ok {
		l.lru.MoveToBack(e)
		b := e.Value.(*bucket)
		l.refill(b)
		return b
	}
	if len(l.buckets) >= MaxTracked {
		oldest := l.lru.Front()
		l.lru.Remove(oldest)
		delete(l.buckets, oldest.Value.(*bucket).key)
	}
	b := &bucket{key: k, tokens: l.burst, at: l.now()}
	l.buckets[k] = l.lru.PushBack(b)
	return b
}

func (l *Limiter) refill(b *bucket) {
	now := l.now()
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.perSecond)
	}
	b.at = now
}

// sweep drops a few of the least recently used buckets that have filled up
// again, so that addresses which stopped failing do not wait for eviction.
func (l *Limiter) sweep() {
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

// Tracked is the number of addresses with a bucket.
func (l *Limiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
