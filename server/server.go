// Package server is wicket's LDAP wire frontend: listeners, connection
// lifecycle and limits, decoding of requests, encoding of responses, and
// dispatch to the account domain behind small interfaces. It knows nothing
// of SQL.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/internal/addrlimit"
)

// Authenticator checks bind credentials. login is a username or a mail
// address; from is the client's address, for last-used records.
type Authenticator interface {
	Authenticate(ctx context.Context, login, secret, from string) (*backend.Principal, error)
}

// Config is the wire-level configuration.
type Config struct {
	BaseDN string
	// MaxMessageBytesAnonymous bounds a message before a successful bind,
	// MaxMessageBytes after one.
	MaxMessageBytesAnonymous int
	MaxMessageBytes          int
	// MaxConnections caps the connections open at once; beyond it a new
	// connection is told "busy" and closed.
	MaxConnections int
	// ReservedConnections of MaxConnections are for TrustedClients alone:
	// other clients are refused once MaxConnections minus these are open.
	ReservedConnections int
	// MaxConnectionsPerAddress caps the connections of one client address
	// (an IPv6 /64), and MaxConnectionsPerNetwork those of one network (an
	// IPv4 /24, an IPv6 /56). TrustedClients are neither capped nor
	// counted. 0 means no cap.
	MaxConnectionsPerAddress int
	MaxConnectionsPerNetwork int
	// TrustedClients are the mail servers: exempt from every per-address
	// limit and from the delay of failed binds (see ratelimit.go).
	TrustedClients []netip.Prefix
	// AddressFailuresPerMinute and AddressFailureBurst shape the token
	// bucket of failed binds of one client address; 0 per minute means no
	// such limit.
	AddressFailuresPerMinute float64
	AddressFailureBurst      int
	// FailedBinds, when set, is the limiter of failed binds by address
	// to use instead of one made from the two settings above: the account
	// page shares it, so that a guesser's failures count against one
	// address whichever door they come through.
	FailedBinds *addrlimit.Limiter
	// MaxOutstanding is the number of operations queued on one connection;
	// beyond it a request is answered "busy".
	MaxOutstanding int
	IdleTimeout    time.Duration
	// UnauthenticatedIdleTimeout replaces IdleTimeout for a connection
	// of a client other than TrustedClients until a bind with credentials
	// succeeds on it; 0 means IdleTimeout.
	UnauthenticatedIdleTimeout time.Duration
	ReadTimeout                time.Duration
	WriteTimeout               time.Duration
	Logger                     *slog.Logger
	// Version is shown as vendorVersion in the root DSE.
	Version string
	TLS     TLSConfig
	// Observer, when set, is told how each operation ended (observe.go).
	Observer Observer

	// queueBinds sends binds through the worker like every other
	// operation. Only tests set it: a bind held in the backend then holds
	// the worker, which is how they fill the queue.
	queueBinds bool
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server closed")

// Server serves LDAP on listeners handed to Serve.
type Server struct {
	cfg      Config
	auth     Authenticator
	accounts Accounts // nil: only binds, Who am I? and the root DSE
	audit    Auditor
	log      *slog.Logger
	baseDN   *ldap.DN
	// peopleDN and groupsDN are ou=people and ou=groups under the base.
	peopleDN, groupsDN *ldap.DN
	// peopleText is ou=people under the base as configured, for bind
	// names that spell it the same way (plainUserDN).
	peopleText string
	tlsConf    *tls.Config // nil: no ldaps://, StartTLS or EXTERNAL

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup
	// open counts the connections admitted and not yet ended; perAddress
	// and perNetwork count those of untrusted clients by addrlimit.Key and
	// networkKey (connlimit.go). Under mu.
	open       int
	perAddress map[netip.Addr]int
	perNetwork map[netip.Prefix]int
	refusals   *refusalLog
	// accepted and refused count connections for the metrics (Stats).
	accepted atomic.Uint64
	refused  [numRefusals]atomic.Uint64
	// failedBinds limits failed binds by address; nil when off.
	failedBinds *addrlimit.Limiter
	// fixed are the entries that never change, built once; searches only
	// read them. fixedOpsCache holds them with their operational
	// attributes, whose UUIDs depend on the database.
	fixed         struct{ base, people, groups *entry }
	fixedOpsCache atomic.Pointer[fixedOps]
}

var setBERLimits sync.Once

// New validates cfg and returns a Server.
func New(cfg Config, auth Authenticator) (*Server, error) {
	base, err := ldap.ParseDN(cfg.BaseDN)
	if err != nil {
		return nil, fmt.Errorf("base DN %q: %w", cfg.BaseDN, err)
	}
	people, err := ldap.ParseDN("ou=people," + cfg.BaseDN)
	if err != nil {
		return nil, err
	}
	groups, err := ldap.ParseDN("ou=groups," + cfg.BaseDN)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxMessageBytesAnonymous <= 0 {
		cfg.MaxMessageBytesAnonymous = 256 << 10
	}
	if cfg.MaxMessageBytes < cfg.MaxMessageBytesAnonymous {
		cfg.MaxMessageBytes = max(4<<20, cfg.MaxMessageBytesAnonymous)
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 4096
	}
	if cfg.MaxOutstanding <= 0 {
		cfg.MaxOutstanding = 32
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.UnauthenticatedIdleTimeout <= 0 || cfg.UnauthenticatedIdleTimeout > cfg.IdleTimeout {
		cfg.UnauthenticatedIdleTimeout = cfg.IdleTimeout
	}
	if cfg.ReservedConnections < 0 || cfg.ReservedConnections >= cfg.MaxConnections {
		return nil, fmt.Errorf("reserved connections: %d is not between 0 and the %d connections allowed minus one",
			cfg.ReservedConnections, cfg.MaxConnections)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	// Our own framing bounds each message per connection before decoding;
	// these globals are the decoder's backstop (its default allows 2 GiB and
	// a nesting of 1000). Set once: they are process-wide.
	setBERLimits.Do(func() {
		ber.MaxPacketLengthBytes = 1 << 30
		ber.MaxNestingDepth = maxNesting
	})
	accounts, _ := auth.(Accounts)
	var audit Auditor = logOnly{cfg.Logger}
	if a, ok := auth.(Auditor); ok {
		audit = a
	}
	s := &Server{
		cfg:        cfg,
		auth:       auth,
		accounts:   accounts,
		audit:      audit,
		log:        cfg.Logger,
		baseDN:     base,
		peopleDN:   people,
		peopleText: "ou=people," + cfg.BaseDN,
		groupsDN:   groups,
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[*conn]struct{}),
		perAddress: make(map[netip.Addr]int),
		perNetwork: make(map[netip.Prefix]int),
	}
	s.refusals = newRefusalLog(cfg.Logger, refusalLogInterval, s.refusalLimit)
	s.fixed.base, s.fixed.people, s.fixed.groups = s.baseEntry(), s.ouEntry("people"), s.ouEntry("groups")
	s.setupLimits()
	if err := s.setupTLS(); err != nil {
		return nil, err
	}
	return s, nil
}

// maxNesting bounds how deep a message may nest. LDAP requests are shallow
// except filters; 64 leaves room for any real filter.
const maxNesting = 64

// Serve accepts connections on l until Shutdown. It always returns an error:
// ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Running out of file descriptors and the like pass: back off
			// and keep the listener rather than end the server.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.accepted.Add(1)
		p, why := s.admit(remoteAddr(nc))
		if why != admitted {
			s.refused[why].Add(1)
			// Say why, then close; the log sums refusals up.
			s.refusals.refused(why, nc.RemoteAddr().String())
			go refuse(nc, s.cfg.WriteTimeout, refusalText[why].notice)
			continue
		}
		c := newConn(s, nc, p.trusted)
		if !s.track(c) {
			nc.Close()
			s.release(p)
			return ErrServerClosed
		}
		go func() {
			defer s.release(p)
			defer s.untrack(c)
			c.serve()
		}()
	}
}

func refuse(nc net.Conn, timeout time.Duration, why string) {
	nc.SetWriteDeadline(time.Now().Add(timeout))
	nc.Write(noticeOfDisconnection(ldap.LDAPResultBusy, why).Bytes())
	nc.Close()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops accepting, lets every connection finish the operations it
// has already received, then closes it. When ctx ends first, the remaining
// connections are closed at once and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
	s.refusals.stop()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
