package loadgen

import (
	"sync"
	"time"
)

// pacer spaces the operations of all the workers so that together they
// start at most rate a second: each takes the next slot, one interval
// after the one before, and waits for it. A run that falls behind (the
// server answers slower than the rate) does not catch up in a burst
// afterwards: slots left unused in the past are dropped. So no window of
// any length W sees more than W×rate+1 operations start: the rate is a cap.
type pacer struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	next time.Time // the next free slot
}

// newPacer paces at rate operations a second from now on; nil (no limit)
// for a rate of 0, or one too high to tell from no limit.
func newPacer(rate float64, now func() time.Time) *pacer {
	if !(rate > 0) {
		return nil
	}
	interval := time.Duration(float64(time.Second) / rate)
	if interval <= 0 {
		return nil
	}
	return &pacer{interval: interval, now: now, next: now()}
}

// reserve takes the next slot and returns how long the caller must wait
// until it; 0 when it has come.
func (p *pacer) reserve() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.next.Before(now) {
		p.next = now
	}
	wait := p.next.Sub(now)
	p.next = p.next.Add(p.interval)
	return wait
}
