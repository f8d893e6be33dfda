package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// pool holds at most size connections to the upstream, each used by one
// request at a time. A connection is bound as the service identity for
// searches; a user's bind leaves it bound as that user, so it is bound
// again before its next search.
type pool struct {
	cfg   *Config
	tls   *tls.Config
	log   *slog.Logger
	slots chan struct{}

	mu   sync.Mutex
	idle []*conn

	br breaker
}

type conn struct {
	*ldap.Conn
	// service: bound as the service identity (or anonymous when there is
	// none), as searches need.
	service bool
	// reused: taken from the idle ones, so possibly closed by the
	// upstream since (a restart, its idle timeout).
	reused bool
}

func newPool(cfg *Config, tc *tls.Config, log *slog.Logger) *pool {
	p := &pool{cfg: cfg, tls: tc, log: log, slots: make(chan struct{}, cfg.PoolSize)}
	p.br.log, p.br.now = log, cfg.Now
	return p
}

// get takes a connection, dialling one when none is idle. While the
// upstream is known to be down it fails at once (breaker), so that an
// outage costs a bind no wait and the upstream no storm of reconnects.
func (p *pool) get(ctx context.Context) (*conn, error) {
	probe, ok := p.br.allow()
	if !ok {
		return nil, backend.ErrUpstreamUnavailable
	}
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.cfg.Timeout)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			p.br.abandon(probe)
			return nil, ctx.Err()
		case <-t.C:
			p.br.abandon(probe)
			return nil, backend.ErrBusy
		}
	}
	if probe {
		// Connections left from before the outage are likely dead.
		p.close()
	}
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if !c.IsClosing() {
			p.br.abandon(probe)
			c.reused = true
			return c, nil
		}
		c.Close()
	} else {
		p.mu.Unlock()
	}
	c, err := p.dial()
	if err != nil {
		<-p.slots
		p.br.failed(err)
		return nil, unavailable(err)
	}
	p.br.succeeded()
	return c, nil
}

// put gives a connection back; one that failed is closed, and a network
// failure opens the breaker.
func (p *pool) put(c *conn, err error) {
	defer func() { <-p.slots }()
	if err != nil && isDown(err) {
		c.Close()
		p.br.failed(err)
		return
	}
	if c.IsClosing() {
		c.Close()
		return
	}
	if err == nil {
		p.br.succeeded()
	}
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// redial replaces a reused connection whose first request failed to
// reach the upstream with a new one, keeping its place in the pool: one
// stale connection must not pass for an outage. A new connection that
// fails is the outage.
func (p *pool) redial(c *conn) (*conn, error) {
	c.Close()
	p.close()
	nc, err := p.dial()
	if err != nil {
		<-p.slots
		p.br.failed(err)
		return nil, unavailable(err)
	}
	return nc, nil
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

func (p *pool) dial() (*conn, error) {
	d := &net.Dialer{Timeout: p.cfg.DialTimeout}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if p.tls != nil && !p.cfg.StartTLS {
		opts = append(opts, ldap.DialWithTLSDialer(p.tls, d))
	}
	lc, err := ldap.DialURL(p.cfg.URL, opts...)
	if err != nil {
		return nil, err
	}
	lc.SetTimeout(p.cfg.Timeout)
	if p.cfg.StartTLS {
		if err := lc.StartTLS(p.tls); err != nil {
			lc.Close()
			return nil, err
		}
	}
	return &conn{Conn: lc}, nil
}

// asService binds c as the service identity if a user's bind left it
// otherwise.
func (p *pool) asService(c *conn) error {
	if c.service {
		return nil
	}
	var err error
	if p.cfg.BindDN == "" {
		err = c.UnauthenticatedBind("")
	} else {
		err = c.Bind(p.cfg.BindDN, p.cfg.BindPassword)
	}
	if err != nil {
		return err
	}
	c.service = true
	return nil
}

// isDown tells an upstream that cannot be asked (no connection, a timeout,
// busy, unavailable) from an answer.
func isDown(err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return true
	}
	switch le.ResultCode {
	case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
		ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultConnectError:
		return true
	}
	return false
}

// unavailable wraps an error of an upstream that cannot be asked; the
// detail (an address, a TLS error) is for the log and the audit record and
// never holds a secret.
func unavailable(err error) error {
	return &downError{err: err}
}

type downError struct{ err error }

func (e *downError) Error() string {
	return backend.ErrUpstreamUnavailable.Error() + ": " + e.err.Error()
}
func (e *downError) Unwrap() []error {
	return []error{backend.ErrUpstreamUnavailable, e.err}
}

// breaker keeps an unreachable upstream from being asked by every bind:
// after a failure, requests fail at once until a backoff has passed (1 s,
// doubling to 1 min); then one request probes, and its outcome closes the
// breaker or opens it again for longer.
type breaker struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	down    bool
	until   time.Time
	backoff time.Duration
	probing bool

	// state counts for Stats.
	downs uint64
}

const (
	minBackoff = time.Second
	maxBackoff = time.Minute
)

// allow says whether a request may go to the upstream, and whether it is
// the probe after a backoff.
func (b *breaker) allow() (probe, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down {
		return false, true
	}
	if b.probing || b.now().Before(b.until) {
		return false, false
	}
	b.probing = true
	return true, true
}

// abandon gives back a probe that never reached the upstream.
func (b *breaker) abandon(probe bool) {
	if probe {
		b.mu.Lock()
		b.probing = false
		b.mu.Unlock()
	}
}

func (b *breaker) failed(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if !b.down {
		b.down, b.backoff = true, minBackoff
		b.downs++
		b.log.Error("upstream directory unreachable: primary sign-ins are refused as unavailable (52) until it "+
			"answers; app passwords keep working", "err", err)
	} else {
		b.backoff = min(2*b.backoff, maxBackoff)
	}
	b.until = b.now().Add(b.backoff)
}

func (b *breaker) succeeded() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if b.down {
		b.down = false
		b.log.Info("upstream directory reachable again: primary sign-ins resume")
	}
}

func (b *breaker) state() (up bool, downs uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.down, b.downs
}
