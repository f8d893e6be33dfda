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
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/internal/addrlimit"
)

// setupLimits applies the defaults of the limits in cfg. It runs in New.
func (s *Server) setupLimits() {
	if s.cfg.FailedBinds != nil {
		s.failedBinds = s.cfg.FailedBinds
		return
	}
	if s.cfg.AddressFailuresPerMinute > 0 {
		s.failedBinds = addrlimit.New(s.cfg.AddressFailuresPerMinute/60, max(1, s.cfg.AddressFailureBurst), time.Now)
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
	k := addrlimit.Key(a)
	wait, ok := s.failedBinds.Reserve(k)
	if !ok {
		return nil, &addressLimitError{retry: wait}
	}
	refund = func() { s.failedBinds.Refund(k) }
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
