package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// healthTimeout bounds one health check. A database locked by another
// process answers only after its busy timeout (5 s); a probe that gives up
// sooner sees a timeout, which it takes as unhealthy all the same.
const healthTimeout = 10 * time.Second

// Health answers health probes: 200 "ok" when check passes, 503 with its
// error otherwise. Probes that come while a check runs share its result,
// so that a burst of them takes the database's write lock once. Nothing is
// logged per probe.
type Health struct {
	check func(context.Context) error

	mu     sync.Mutex
	flight *flight
}

type flight struct {
	done chan struct{}
	err  error
}

// NewHealth answers probes with check, which says what is wrong in a few
// words (no secret: the answer goes to whoever probes).
func NewHealth(check func(context.Context) error) *Health {
	return &Health{check: check}
}

func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := h.start()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	select {
	case <-f.done:
	case <-r.Context().Done():
		return
	}
	if f.err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(f.err.Error() + "\n"))
		return
	}
	w.Write([]byte("ok\n"))
}

// start joins the check under way, or starts one.
func (h *Health) start() *flight {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.flight != nil {
		return h.flight
	}
	f := &flight{done: make(chan struct{})}
	h.flight = f
	go func() {
		// Not the probe's context: a probe that hangs up must not cut
		// short the check the others wait for.
		ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
		defer cancel()
		f.err = h.check(ctx)
		h.mu.Lock()
		h.flight = nil
		h.mu.Unlock()
		close(f.done)
	}()
	return f
}
