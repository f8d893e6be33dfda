package server

import (
	"bufio"
	"crypto/tls"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// oidStartTLS is the StartTLS extended operation (RFC 4511 4.14.1).
const oidStartTLS = "1.3.6.1.4.1.1466.20037"

// isStartTLS reports whether req is a StartTLS request, which the reader
// runs itself instead of queueing it for the worker.
func isStartTLS(req *request) bool {
	if req.op.Tag != ldap.ApplicationExtendedRequest {
		return false
	}
	x, _, ok := req.extendedRequest()
	return ok && x.name == oidStartTLS
}

// startTLS runs StartTLS (RFC 4511 4.14, RFC 4513 3). It runs on the
// reader because the reader is what must move to the TLS stream, and it
// must read nothing more in the clear: the next bytes are the client's
// ClientHello. It reports false when the connection cannot go on.
//
// StartTLS never enters inflight, so Abandon cannot reach it and its
// message ID does not count as outstanding.
func (c *conn) startTLS(req *request) bool {
	o := &op{req: req, ctx: c.ctx, start: time.Now()}
	if r, ok := c.startTLSAllowed(req); !ok {
		c.log.Info("StartTLS refused", "reason", r.diag)
		req.answered.Store(true)
		c.write(envelope(req.id, extendedOp(r, oidStartTLS, nil)))
		c.observe(o, r.code)
		return true
	}
	// Every earlier operation has been answered (startTLSAllowed), but its
	// worker may still be finishing; after the response below, nothing may
	// be written in the clear.
	if !c.waitIdle() {
		return false
	}
	req.answered.Store(true)
	c.write(envelope(req.id, extendedOp(success(), oidStartTLS, nil)))
	c.observe(o, ldap.LDAPResultSuccess)
	tc := tls.Server(c.nc, c.srv.tlsConf)
	if err := c.tlsHandshake(tc); err != nil {
		// Half a handshake leaves no stream to speak LDAP on, clear or not.
		c.log.Info("StartTLS handshake failed; connection closed", "err", err)
		return false
	}
	c.wmu.Lock()
	c.nc = tc
	c.wmu.Unlock()
	// The TLS stream reads ahead of the socket, so readability of the
	// socket no longer says whether a message is waiting.
	c.releaseReader()
	c.rawc = nil
	c.r = bufio.NewReaderSize(tc, 4096)
	return true
}

// startTLSAllowed applies RFC 4513 3.1.1: StartTLS is refused when TLS is
// already on, or while responses are outstanding, with operationsError. A
// request pipelined behind StartTLS is refused the same way: its bytes are
// already read in the clear, where the handshake cannot find them.
func (c *conn) startTLSAllowed(req *request) (result, bool) {
	x, r, ok := req.extendedRequest()
	switch {
	case !ok:
		return r, false
	case x.hasValue:
		return fail(ldap.LDAPResultProtocolError, "StartTLS takes no request value"), false
	case c.srv.tlsConf == nil:
		// RFC 4511 4.14.2: "the TLS subsystem is not presently available".
		return fail(ldap.LDAPResultUnavailable, "TLS is not configured on this server (tls.cert_file, tls.key_file)"), false
	case c.isTLS():
		return fail(ldap.LDAPResultOperationsError, "TLS is already established on this connection"), false
	case c.awaitingAnswers():
		return fail(ldap.LDAPResultOperationsError, "StartTLS must wait until every outstanding operation has been answered"), false
	case c.r.Buffered() > 0:
		return fail(ldap.LDAPResultOperationsError, "nothing may be sent after StartTLS until its response has arrived"), false
	}
	return c.checkControls(req)
}

// awaitingAnswers reports whether an operation the client has not
// abandoned is still waiting for its final response.
func (c *conn) awaitingAnswers() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.inflight {
		if !o.req.answered.Load() && o.ctx.Err() == nil {
			return true
		}
	}
	return false
}

// waitIdle waits until the worker has finished every queued operation. It
// reports false if the connection is ending.
func (c *conn) waitIdle() bool {
	for {
		c.mu.Lock()
		if len(c.inflight) == 0 {
			c.mu.Unlock()
			return true
		}
		if c.idle == nil {
			c.idle = make(chan struct{})
		}
		idle := c.idle
		c.mu.Unlock()
		select {
		case <-idle:
		case <-c.ctx.Done():
			return false
		}
	}
}
