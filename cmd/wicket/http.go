package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wicketldap/wicket/metrics"
)

// monitor is the optional HTTP listener of /metrics and /healthz ([http]).
type monitor struct {
	srv  *http.Server
	done chan struct{}
}

// serveMonitor serves /metrics from m and /healthz from health on l until
// shutdown.
func serveMonitor(l net.Listener, m *metrics.Metrics, health func(context.Context) error, log *slog.Logger) *monitor {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /healthz", metrics.NewHealth(health))
	srv := &http.Server{
		Handler: mux,
		// A scraper sends a few hundred bytes and reads a few hundred
		// kilobytes; anything slower is a client holding the port.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		// Bad requests and broken connections are the client's business:
		// at debug, so that a port scan does not fill the log.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	mon := &monitor{srv: srv, done: make(chan struct{})}
	go func() {
		defer close(mon.done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP listener failed: /metrics and /healthz are down; LDAP goes on", "err", err)
		}
	}()
	return mon
}

// shutdown stops the listener, letting a scrape in flight finish for up to
// a few seconds.
func (m *monitor) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		m.srv.Close()
	}
	<-m.done
}
