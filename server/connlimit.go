package server

// The connection table. Trusted clients (the mail servers) may use every
// place of it; other clients are refused once all but the reserve is taken,
// and within that, one network and one address can each hold only their
// share. Whoever fills the table from outside, the mail servers' new
// connections still find room.

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/wicketldap/wicket/internal/addrlimit"
)

// refusalLogInterval is how often refused connections are summed up in
// the log: a flood of them writes one line per reason per interval.
const refusalLogInterval = 10 * time.Second

// place is an admitted connection's share of the table, given back by
// release when the connection ends.
type place struct {
	trusted bool
	// addr and network are what the connection is counted under; invalid
	// when it is not counted (trusted, or not an IP connection).
	addr    netip.Addr
	network netip.Prefix
}

// refusal says why a new connection was refused.
type refusal int

const (
	admitted refusal = iota
	refusedAddress
	refusedNetwork
	// refusedUntrusted: only the reserve of trusted clients is left.
	refusedUntrusted
	refusedFull
	numRefusals
)

var refusalText = [numRefusals]struct{ reason, notice string }{
	refusedAddress:   {"too many connections from one address", "too many connections from your address; try again later"},
	refusedNetwork:   {"too many connections from one network", "too many connections from your network; try again later"},
	refusedUntrusted: {"connections left are reserved for trusted clients", "too many connections; try again later"},
	refusedFull:      {"too many connections", "too many connections; try again later"},
}

// Stats is the connection table as the metrics show it.
type Stats struct {
	// Open is the connections admitted and not yet ended.
	Open int
	// Accepted counts the connections accepted since the start, refused
	// ones included; Refused those refused, by the limit that refused
	// them: "address", "network", "reserved" (only the trusted clients'
	// reserve was left) or "full".
	Accepted uint64
	Refused  map[string]uint64
}

var refusalLabels = [numRefusals]string{refusedAddress: "address", refusedNetwork: "network",
	refusedUntrusted: "reserved", refusedFull: "full"}

// Stats reads the connection table.
func (s *Server) Stats() Stats {
	st := Stats{Accepted: s.accepted.Load(), Refused: make(map[string]uint64, numRefusals-1)}
	for why := admitted + 1; why < numRefusals; why++ {
		st.Refused[refusalLabels[why]] = s.refused[why].Load()
	}
	s.mu.Lock()
	st.Open = s.open
	s.mu.Unlock()
	return st
}

// networkKey is the network a client address belongs to for its share of
// the table: the /24 of an IPv4 address, the /56 of an IPv6 one (what a
// provider commonly gives one site).
func networkKey(a netip.Addr) netip.Prefix {
	bits := 56
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.PrefixFrom(a, a.BitLen())
	}
	return p
}

// admit takes a place in the table for a new connection from a, or says
// why there is none. An address's and a network's cap come before the
// table's, so a client is told what it can change.
func (s *Server) admit(a netip.Addr) (place, refusal) {
	trusted := s.trusted(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := place{trusted: trusted}
	if !trusted && a.IsValid() {
		p.addr, p.network = addrlimit.Key(a), networkKey(a)
		if n := s.cfg.MaxConnectionsPerAddress; n > 0 && s.perAddress[p.addr] >= n {
			return place{}, refusedAddress
		}
		if n := s.cfg.MaxConnectionsPerNetwork; n > 0 && s.perNetwork[p.network] >= n {
			return place{}, refusedNetwork
		}
	}
	switch {
	case s.open >= s.cfg.MaxConnections:
		return place{}, refusedFull
	case !trusted && s.open >= s.cfg.MaxConnections-s.cfg.ReservedConnections:
		return place{}, refusedUntrusted
	}
	s.open++
	if p.addr.IsValid() {
		s.perAddress[p.addr]++
		s.perNetwork[p.network]++
	}
	return p, admitted
}

// release gives back the place of a connection that has ended.
func (s *Server) release(p place) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if !p.addr.IsValid() {
		return
	}
	if s.perAddress[p.addr]--; s.perAddress[p.addr] <= 0 {
		delete(s.perAddress, p.addr)
	}
	if s.perNetwork[p.network]--; s.perNetwork[p.network] <= 0 {
		delete(s.perNetwork, p.network)
	}
}

// refusalLimit is the limit a refusal was for, for the log.
func (s *Server) refusalLimit(why refusal) int {
	switch why {
	case refusedAddress:
		return s.cfg.MaxConnectionsPerAddress
	case refusedNetwork:
		return s.cfg.MaxConnectionsPerNetwork
	case refusedUntrusted:
		return s.cfg.MaxConnections - s.cfg.ReservedConnections
	}
	return s.cfg.MaxConnections
}

// refusalLog logs refused connections at a bounded rate: the first refusal
// at once, then, while refusals go on, one line per reason per interval
// with how many there were.
type refusalLog struct {
	log   *slog.Logger
	every time.Duration
	limit func(refusal) int

	mu sync.Mutex
	// summing: an interval is running; refusals are counted, not logged.
	summing bool
	stopped bool
	timer   *time.Timer
	counts  [numRefusals]refusalCount
}

type refusalCount struct {
	n    int
	last string // the remote address refused last
}

func newRefusalLog(log *slog.Logger, every time.Duration, limit func(refusal) int) *refusalLog {
	return &refusalLog{log: log, every: every, limit: limit}
}

func (r *refusalLog) refused(why refusal, remote string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.summing && !r.stopped {
		c := &r.counts[why]
		c.n++
		c.last = remote
		return
	}
	r.log.Warn("connection refused: "+refusalText[why].reason, "remote", remote, "max", r.limit(why))
	if !r.stopped {
		r.summing = true
		r.timer = time.AfterFunc(r.every, r.tick)
	}
}

// tick ends an interval: the refusals counted in it are logged, and if
// there were any, another interval begins.
func (r *refusalLog) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if !r.flushLocked() {
		r.summing = false
		return
	}
	r.timer = time.AfterFunc(r.every, r.tick)
}

// flushLocked logs what was counted since the last summary and reports
// whether there was anything; mu is held.
func (r *refusalLog) flushLocked() bool {
	logged := false
	for why := range numRefusals {
		c := &r.counts[why]
		if c.n == 0 {
			continue
		}
		logged = true
		r.log.Warn("connections refused: "+refusalText[why].reason, "count", c.n, "last_remote", c.last,
			"max", r.limit(why), "in", r.every)
		*c = refusalCount{}
	}
	return logged
}

// stop logs what is still counted; a refusal after it (the server is
// shutting down) is logged on its own.
func (r *refusalLog) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.flushLocked()
}
