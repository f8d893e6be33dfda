package backend

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// usageRecorder keeps the last use of each app password in memory and writes
// them in batches, so a bind never waits on a database write for bookkeeping.
// Memory is bounded: one entry per app password used since the last flush,
// and a full buffer triggers an early flush instead of growing.
type usageRecorder struct {
	store    Store
	log      *slog.Logger
	maxBatch int

	mu      sync.Mutex
	pending map[string]AppPasswordUse

	flusher *flusher
}

func newUsageRecorder(store Store, log *slog.Logger, interval time.Duration, maxBatch int) *usageRecorder {
	r := &usageRecorder{
		store:    store,
		log:      log,
		maxBatch: maxBatch,
		pending:  make(map[string]AppPasswordUse),
	}
	r.flusher = startFlusher(interval, func(flushReason) { r.flush() })
	return r
}

func (r *usageRecorder) record(u AppPasswordUse) {
	r.mu.Lock()
	r.pending[u.ID] = u
	full := len(r.pending) >= r.maxBatch
	r.mu.Unlock()
	if full {
		r.flusher.poke()
	}
}

// queued is how many uses wait to be written.
func (r *usageRecorder) queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// lookup returns a use not yet flushed, so listings are current.
func (r *usageRecorder) lookup(id string) (AppPasswordUse, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.pending[id]
	return u, ok
}

func (r *usageRecorder) flush() {
	r.mu.Lock()
	if len(r.pending) == 0 {
		r.mu.Unlock()
		return
	}
	batch := make([]AppPasswordUse, 0, len(r.pending))
	for _, u := range r.pending {
		batch = append(batch, u)
	}
	r.pending = make(map[string]AppPasswordUse)
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.store.RecordAppPasswordUses(ctx, batch); err != nil {
		// Last-used times are informational: losing one batch must not
		// fail binds, but an operator should hear of it.
		r.log.Error("recording app password use failed", "count", len(batch), "err", err)
	}
}

// close flushes what is pending and stops the loop.
func (r *usageRecorder) close() {
	r.flusher.close()
}
