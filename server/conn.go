package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

// conn is one client connection: one goroutine reads and decodes, and a
// worker answers operations in the order they arrived. The worker starts
// with the first operation that is not a bind, and a bind that finds
// nothing queued or running is answered by the reader itself: a connection
// a mail server keeps for binds never hands a request from one goroutine to
// another, and holds one goroutine, not two.
type conn struct {
	srv *Server
	// raw is the socket, for deadlines and closing from any goroutine. nc
	// is the stream requests and responses go through: raw, or TLS over
	// it after StartTLS. Only the reader changes nc and r, with wmu held.
	raw net.Conn
	nc  net.Conn
	r   *bufio.Reader
	// On plain TCP (rawc set), r is lent by readers while a message is
	// being read, and given back while the connection waits.
	rawc syscall.RawConn
	// readable and waited: the wait for the next message (awaitMessage).
	readable func(fd uintptr) bool
	waited   bool
	remote   string
	log      *slog.Logger
	// trusted: the client is one of the server's TrustedClients.
	trusted bool

	ctx    context.Context
	cancel context.CancelFunc

	wmu  sync.Mutex // one response at a time on the wire
	wbuf []byte     // encodes small responses; under wmu

	// tlsState is set once TLS is established (ldaps:// or StartTLS).
	tlsState atomic.Pointer[tls.ConnectionState]

	// authed selects the message size limit and the idle timeout;
	// principal is the bound identity, touched by whichever goroutine runs
	// the operation: the reader runs one only when nothing is queued or
	// running (inline).
	authed    atomic.Bool
	principal *backend.Principal
	// bindMethod and bindReason are what the last bind's audit record
	// said, for the metrics (observe); touched as principal is.
	bindMethod BindMethod
	bindReason string

	mu       sync.Mutex
	inflight map[int64]*op
	pending  []*op         // queued for the worker, oldest first
	wake     chan struct{} // set when the worker starts; wakes it
	// readerDone: nothing more will be queued; the worker ends once the
	// queue is empty.
	readerDone bool
	workers    sync.WaitGroup
	idle       chan struct{} // closed when inflight empties; see waitIdle
	draining   atomic.Bool
	// lastDone is when the worker last finished an operation: the client
	// has been idle since then at most.
	lastDone time.Time

	// paged holds the state of paged searches (RFC 2696) by cookie; only
	// the worker touches it.
	paged map[string]pagedState
}

// op is one queued operation and its cancellation (Abandon, disconnect).
type op struct {
	req    *request
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
	// out gathers search entries not yet written (reply).
	out []byte
	// code is the result code answered, for the metrics.
	code uint16
}

// replyBatch is how much of a search's entries is gathered before a write:
// a lookup's one entry goes out with its SearchResultDone, in one write.
const replyBatch = 32 << 10

func newConn(s *Server, nc net.Conn, trusted bool) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	remote := nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	raw := nc
	var r *bufio.Reader
	var rawc syscall.RawConn
	if tc, ok := nc.(*tls.Conn); ok {
		raw = tc.NetConn()
		r = bufio.NewReaderSize(nc, 4096)
	} else if sc, ok := nc.(syscall.Conn); ok {
		rawc, _ = sc.SyscallConn()
	}
	if r == nil && rawc == nil {
		r = bufio.NewReaderSize(nc, 4096)
	}
	c := &conn{
		r:        r,
		rawc:     rawc,
		srv:      s,
		raw:      raw,
		nc:       nc,
		remote:   remote,
		log:      s.log.With("remote", remote),
		trusted:  trusted,
		ctx:      ctx,
		cancel:   cancel,
		inflight: make(map[int64]*op),
	}
	c.readable = c.peekReadable
	return c
}

// drain makes the reader stop taking new requests; queued ones still run.
func (c *conn) drain() {
	c.draining.Store(true)
	c.raw.SetReadDeadline(time.Now())
}

// abort ends the connection now, abandoning whatever is queued.
func (c *conn) abort() {
	c.cancel()
	c.raw.Close()
}

// readers lends read buffers to connections between the first byte of a
// message and the end of what the client has sent: 10,000 idle connections
// hold none.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// awaitMessage waits until the client sends something. On plain TCP it
// waits for the socket to become readable without a buffer, then borrows
// one; over TLS the stream keeps its own buffer.
func (c *conn) awaitMessage() error {
	if c.r != nil && c.r.Buffered() > 0 {
		return nil
	}
	if c.rawc != nil {
		c.releaseReader()
		c.waited = false
		err := c.rawc.Read(c.readable)
		if err != nil {
			return err
		}
		c.r = readers.Get().(*bufio.Reader)
		c.r.Reset(c.nc)
	}
	_, err := c.r.Peek(1)
	return err
}

// peekReadable is the callback of awaitMessage's wait, bound once per
// connection (readable). The poller forgets readiness it saw before the wait, so the
// socket is asked first (without taking anything); only when it has
// nothing does the poller wait, and its wake-up means there is something to
// read.
func (c *conn) peekReadable(fd uintptr) bool {
	if c.waited {
		return true
	}
	c.waited = true
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN
}

func (c *conn) releaseReader() {
	if c.rawc != nil && c.r != nil {
		c.r.Reset(nil)
		readers.Put(c.r)
		c.r = nil
	}
}

func (c *conn) serve() {
	// nc may have become a TLS stream: close that, to send close_notify.
	defer func() { c.nc.Close() }()
	defer c.releaseReader()
	defer c.cancel()
	if !c.handshake() {
		return
	}
	notice := c.read()
	if !c.draining.Load() {
		// Unbind, a closed socket or a broken stream: nothing queued is
		// wanted any more (RFC 4511 4.3).
		c.cancel()
	}
	c.mu.Lock()
	c.readerDone = true
	c.wakeLocked()
	c.mu.Unlock()
	c.workers.Wait()
	if notice != nil {
		c.write(notice)
	}
}

// read reads requests until the client unbinds or disconnects, the stream
// breaks, or the server drains. It returns a Notice of Disconnection to send
// last, if any.
func (c *conn) read() (notice *ber.Packet) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic reading a request; connection closed", "panic", v, "stack", string(debug.Stack()))
			notice = noticeOfDisconnection(ldap.LDAPResultOther, "internal error")
		}
	}()
	cfg := &c.srv.cfg
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.idleTimeout()))
		if c.draining.Load() {
			return noticeOfDisconnection(ldap.LDAPResultUnavailable, "server is shutting down")
		}
		// Wait for the message to begin before choosing its limit: a bind
		// answered meanwhile raises it.
		if err := c.awaitMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !c.draining.Load() && c.busyWithin(c.idleTimeout()) {
				// Not idle: the client is waiting for an answer, or had
				// one lately (a bind that succeeded meanwhile lengthens
				// the timeout too).
				continue
			}
			return c.readError(err)
		}
		limit, elements := cfg.MaxMessageBytesAnonymous, maxElementsAnonymous
		if c.authed.Load() {
			limit, elements = cfg.MaxMessageBytes, maxElements
		}
		buf, err := readFrame(c.r, limit, func() {
			if !c.draining.Load() {
				c.nc.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
			}
		})
		if err != nil {
			return c.readError(err)
		}
		req, err := decodeRequest(buf, elements)
		if err != nil {
			return c.readError(err)
		}
		if quick(req) {
			if handled, ok := c.inline(req); handled {
				if !ok {
					return nil
				}
				continue
			}
		}
		switch req.op.Tag {
		case ldap.ApplicationUnbindRequest:
			return nil
		case ldap.ApplicationAbandonRequest:
			c.abandon(req)
			continue
		}
		if isStartTLS(req) {
			if !c.startTLS(req) {
				return nil
			}
			continue
		}
		c.enqueue(req)
	}
}

// idleTimeout is how long the reader waits for a client's next message:
// IdleTimeout once a bind with credentials has succeeded, or for a trusted
// client; until then, UnauthenticatedIdleTimeout, so that a client outside
// cannot hold connections it never authenticates for minutes.
func (c *conn) idleTimeout() time.Duration {
	if c.trusted || c.authed.Load() {
		return c.srv.cfg.IdleTimeout
	}
	return c.srv.cfg.UnauthenticatedIdleTimeout
}

// busyWithin reports whether an operation is outstanding or the worker
// finished one less than d ago.
func (c *conn) busyWithin(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.inflight) > 0 || time.Since(c.lastDone) < d
}

func (c *conn) readError(err error) *ber.Packet {
	var fe *errFrame
	var ne net.Error
	switch {
	case errors.As(err, &fe):
		c.log.Warn("protocol error; connection closed", "err", err)
		return noticeOfDisconnection(ldap.LDAPResultProtocolError, fe.msg)
	case c.draining.Load():
		return noticeOfDisconnection(ldap.LDAPResultUnavailable, "server is shutting down")
	case errors.As(err, &ne) && ne.Timeout():
		c.log.Debug("connection timed out", "err", err)
		return noticeOfDisconnection(ldap.LDAPResultUnavailable, "connection idle or too slow; closed")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
		return nil
	default:
		c.log.Debug("read failed", "err", err)
		return nil
	}
}

// decodeRequest decodes one message: a simple bind or a plain search by
// the fast path, the rest (and anything the fast path declines) through
// asn1-ber.
func decodeRequest(buf []byte, elements int) (*request, error) {
	if req, ok := fastBind(buf); ok {
		return req, nil
	}
	if req, ok := fastSearch(buf, elements); ok {
		return req, nil
	}
	pkt, err := decodeFrame(buf, elements)
	if err != nil {
		return nil, err
	}
	return parseRequest(pkt)
}

// noCancel is the cancel of an operation that has only the connection's
// context: nothing but the connection's end can stop it.
func noCancel() {}

// quick reports whether an operation is answered on the reader when
// nothing is queued or running: a bind, which RFC 4511 4.2.1 forbids the
// client to send anything behind and which cannot be abandoned; a search
// that can reach a few entries only (of one entry, or by an equality on
// uid, mail or an alias: a mail server's lookup); a compare, which reads
// one entry as a base-scope search does; WhoAmI. Each is bounded
// and short, so the reader has nothing to read meanwhile, and handing it to
// the worker would cost more than answering it.
func quick(req *request) bool {
	switch req.op.Tag {
	case ldap.ApplicationBindRequest:
		return true
	case ldap.ApplicationSearchRequest:
		s, _, ok := req.searchRequest()
		return ok && (s.scope == scopeBase || indexable(s.filter))
	case ldap.ApplicationCompareRequest:
		return true
	case ldap.ApplicationExtendedRequest:
		x, _, ok := req.extendedRequest()
		return ok && x.name == exop.OIDWhoAmI
	}
	return false
}

// inline answers a quick operation on the reader when nothing is queued or
// running. It reports whether it took the operation, and whether the
// connection goes on. A client that hangs up meanwhile is noticed after
// it, which for a bind is bounded by the bind timeout.
func (c *conn) inline(req *request) (handled, ok bool) {
	c.mu.Lock()
	// An operation stays in inflight until the worker has finished it.
	busy := len(c.inflight) > 0 || c.srv.cfg.queueBinds
	c.mu.Unlock()
	if busy {
		return false, true
	}
	o := &op{req: req, ctx: c.ctx, cancel: noCancel, start: time.Now()}
	if !c.handleSafely(o) {
		c.abort()
		return true, false
	}
	return true, true
}

func (c *conn) enqueue(req *request) {
	ctx, cancel := context.WithCancel(c.ctx)
	o := &op{req: req, ctx: ctx, cancel: cancel, start: time.Now()}
	c.mu.Lock()
	if _, dup := c.inflight[req.id]; dup {
		c.mu.Unlock()
		c.answer(req, fail(ldap.LDAPResultProtocolError, "messageID %d is already used by an outstanding request", req.id))
		c.observeRefused(o, ldap.LDAPResultProtocolError)
		cancel()
		return
	}
	if len(c.pending) >= c.srv.cfg.MaxOutstanding {
		c.mu.Unlock()
		c.answer(req, fail(ldap.LDAPResultBusy, "too many outstanding operations on this connection (limit %d)",
			c.srv.cfg.MaxOutstanding))
		c.observeRefused(o, ldap.LDAPResultBusy)
		cancel()
		return
	}
	c.inflight[req.id] = o
	c.pending = append(c.pending, o)
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
		c.workers.Add(1)
		go c.work()
	}
	c.wakeLocked()
	c.mu.Unlock()
}

// wakeLocked wakes the worker, if there is one, to look at the queue
// again; mu is held.
func (c *conn) wakeLocked() {
	if c.wake != nil {
		select {
		case c.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

func (c *conn) done(o *op) {
	now := time.Now()
	c.mu.Lock()
	c.lastDone = now
	delete(c.inflight, o.req.id)
	if len(c.inflight) == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
	c.mu.Unlock()
	o.cancel()
}

// abandon cancels an outstanding operation. RFC 4511 4.11: Bind, Unbind and
// StartTLS cannot be abandoned, and Abandon itself is never answered.
func (c *conn) abandon(req *request) {
	if req.op.TagType != ber.TypePrimitive {
		return
	}
	id, err := ber.ParseInt64(req.op.Data.Bytes())
	if err != nil {
		return
	}
	c.mu.Lock()
	o := c.inflight[id]
	c.mu.Unlock()
	if o != nil && o.req.op.Tag != ldap.ApplicationBindRequest {
		o.cancel()
	}
}

// next waits for the oldest queued operation; nil once the reader has
// stopped and the queue is empty.
func (c *conn) next() *op {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.pending) == 0 {
		if c.readerDone {
			return nil
		}
		c.mu.Unlock()
		<-c.wake
		c.mu.Lock()
	}
	o := c.pending[0]
	n := copy(c.pending, c.pending[1:])
	c.pending[n] = nil
	c.pending = c.pending[:n]
	return o
}

func (c *conn) work() {
	defer c.workers.Done()
	for o := c.next(); o != nil; o = c.next() {
		if o.ctx.Err() == nil && !c.handleSafely(o) {
			c.done(o)
			c.abort()
			continue
		}
		c.done(o)
	}
}

// handleSafely answers one operation. A panic is logged with its stack, the
// client gets "other", and the connection is closed; the process goes on.
func (c *conn) handleSafely(o *op) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic handling a request; connection closed", "panic", v, "op", o.req.op.Tag,
				"stack", string(debug.Stack()))
			// Not counted: the panic may have come from the Observer
			// itself, and the error log says it all.
			c.answer(o.req, fail(ldap.LDAPResultOther, "internal error"))
			ok = false
		}
	}()
	// A way out that forgets to set the code shows as "other", not as
	// a success.
	o.code = ldap.LDAPResultOther
	c.handle(o)
	c.observe(o, o.code)
	return true
}

func (c *conn) handle(o *op) {
	req := o.req
	if req.op.Tag == ldap.ApplicationBindRequest {
		// RFC 4511 4.2.1: a bind that fails for any reason, a refused
		// control included, leaves the session anonymous.
		c.principal = nil
		c.authed.Store(false)
		c.bindMethod, c.bindReason = MethodUnknown, ""
	}
	if r, ok := c.checkConfidential(req); !ok {
		o.code = r.code
		c.answer(req, r)
		return
	}
	if r, ok := c.checkControls(req); !ok {
		o.code = r.code
		c.answer(req, r)
		return
	}
	switch req.op.Tag {
	case ldap.ApplicationBindRequest:
		c.bind(o)
	case ldap.ApplicationSearchRequest:
		c.search(o)
	case ldap.ApplicationCompareRequest:
		c.compare(o)
	case ldap.ApplicationExtendedRequest:
		c.extended(o)
	case ldap.ApplicationModifyRequest:
		if c.srv.accounts != nil {
			c.modify(o)
			return
		}
		o.code = ldap.LDAPResultUnwillingToPerform
		c.answer(req, fail(ldap.LDAPResultUnwillingToPerform, "modify is not supported by this server"))
	case ldap.ApplicationDelRequest:
		if c.srv.accounts != nil {
			c.del(o)
			return
		}
		o.code = ldap.LDAPResultUnwillingToPerform
		c.answer(req, fail(ldap.LDAPResultUnwillingToPerform, "delete is not supported by this server"))
	default:
		o.code = ldap.LDAPResultUnwillingToPerform
		c.answer(req, fail(ldap.LDAPResultUnwillingToPerform, "%s is not supported by this server",
			ldap.ApplicationMap[uint8(req.op.Tag)]))
	}
}

// supportedControls lists request controls the server acts on; any other
// critical control is refused as RFC 4511 4.1.11 requires.
var supportedControls = map[string]bool{ldap.ControlTypePaging: true}

func (c *conn) checkControls(req *request) (result, bool) {
	for _, ctl := range req.controls {
		if ctl.critical && !supportedControls[ctl.oid] {
			return fail(ldap.LDAPResultUnavailableCriticalExtension,
				"critical control %s is not supported", ctl.oid), false
		}
	}
	return result{}, true
}

// answer sends the response that matches req's operation with result r.
func (c *conn) answer(req *request, r result) {
	tag, ok := responseTag[req.op.Tag]
	if !ok {
		return
	}
	req.answered.Store(true)
	c.writeResult(req.id, tag, r)
}

// replyResult is reply for a response that is a bare LDAPResult.
func (c *conn) replyResult(o *op, tag ber.Tag, r result) {
	o.code = r.code
	if o.ctx.Err() != nil {
		o.out = nil
		return
	}
	o.req.answered.Store(true)
	if len(o.out) > 0 {
		out := appendResultMessage(o.out, o.req.id, tag, r)
		o.out = nil
		c.sendLocked(out)
		return
	}
	c.writeResult(o.req.id, tag, r)
}

func (c *conn) sendLocked(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.send(b)
}

// writeResult encodes a bare LDAPResult response straight into the
// connection's buffer.
func (c *conn) writeResult(id int64, tag ber.Tag, r result) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendResultMessage(c.wbuf[:0], id, tag, r)
	c.send(c.wbuf)
	if cap(c.wbuf) > 1024 {
		// A long diagnostic once must not stay with the connection.
		c.wbuf = nil
	}
}

// replyEntry gathers a search entry, encoded directly, for the final
// response (reply).
func (c *conn) replyEntry(o *op, e *entry, attrs []attribute, typesOnly bool) {
	if o.ctx.Err() != nil {
		o.out = nil
		return
	}
	o.out = appendEntryMessage(o.out, o.req.id, e, attrs, typesOnly)
	if len(o.out) >= replyBatch {
		c.sendLocked(o.out)
		o.out = o.out[:0]
	}
}

// reply sends an operation's final response unless the operation was
// abandoned meanwhile, with the search entries gathered before it
// (replyEntry).
func (c *conn) reply(o *op, resp *ber.Packet, controls ...*ber.Packet) {
	if o.ctx.Err() != nil {
		o.out = nil
		return
	}
	msg := envelope(o.req.id, resp, controls...).Bytes()
	// Before the write: once the client has read this, it may send
	// StartTLS, which must not find the operation outstanding.
	o.req.answered.Store(true)
	if len(o.out) > 0 {
		msg = append(o.out, msg...)
		o.out = nil
	}
	c.sendLocked(msg)
}

func (c *conn) write(p *ber.Packet) {
	b := p.Bytes()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.send(b)
}

// send writes one encoded message; wmu is held.
func (c *conn) send(b []byte) {
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		// A client that stops reading must not hold a worker: close, and
		// the reader ends too.
		c.log.Debug("write failed; connection closed", "err", err)
		c.abort()
	}
}
