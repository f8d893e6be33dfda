package loadgen

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The BER identifiers of what the client sends and reads (RFC 4511 4.2 to
// 4.5, 4.4.1). LDAP uses only single-byte tags in these places.
const (
	tagBoolean          = 0x01
	tagInteger          = 0x02
	tagOctetString      = 0x04
	tagEnumerated       = 0x0a
	tagSequence         = 0x30
	tagBindRequest      = 0x60 // [APPLICATION 0], constructed
	tagBindResponse     = 0x61 // [APPLICATION 1]
	tagUnbindRequest    = 0x42 // [APPLICATION 2], primitive
	tagSearchRequest    = 0x63 // [APPLICATION 3]
	tagSearchEntry      = 0x64 // [APPLICATION 4]
	tagSearchDone       = 0x65 // [APPLICATION 5]
	tagSearchReference  = 0x73 // [APPLICATION 19]
	tagExtendedResponse = 0x78 // [APPLICATION 24]
	tagSimplePassword   = 0x80 // [0], primitive
)

// maxResponse bounds one response message: a server that claims more is
// broken or hostile, and the client must not reserve what it claims.
const maxResponse = 1 << 20

// searchAttributes is the attribute list of every search, uid and mail, as
// a mail server asks for them, encoded once.
var searchAttributes = []byte{tagSequence, 11,
	tagOctetString, 3, 'u', 'i', 'd',
	tagOctetString, 4, 'm', 'a', 'i', 'l'}

// malformedError is a response the client cannot trust: the connection is
// out of step and is closed.
type malformedError struct{ msg string }

func (e *malformedError) Error() string { return "malformed response: " + e.msg }

func malformed(format string, a ...any) error {
	return &malformedError{fmt.Sprintf(format, a...)}
}

// disconnectError is a Notice of Disconnection (RFC 4511 4.4.1): the server
// says why, with a result code, and closes the connection.
type disconnectError struct {
	code int
	diag string
}

func (e *disconnectError) Error() string {
	return fmt.Sprintf("notice of disconnection: %s: %s", ResultName(e.code), e.diag)
}

// client is one LDAP connection that sends a request and reads its answer
// before the next, without go-ldap's goroutines and packet trees: requests
// are appended into out, reused, and responses read into in, reused, of
// which only the envelope and the result code are parsed.
type client struct {
	nc  net.Conn
	r   *bufio.Reader
	out []byte
	in  []byte
	id  int32
	// bound: a bind on this connection succeeded, as the service account
	// in lookup mode.
	bound bool
	// last is the protocolOp of the last response read, for a diagnostic
	// message asked for after the fact. Valid until the next read.
	last []byte
}

// dial connects, with TLS from the first byte when tlsConfig is set, and
// gives up at deadline.
func dial(addr string, tlsConfig *tls.Config, deadline time.Time) (net.Conn, error) {
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial("tcp", addr)
	if err != nil || tlsConfig == nil {
		return nc, err
	}
	tc := tls.Client(nc, tlsConfig)
	tc.SetDeadline(deadline)
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// attach makes the client speak over nc, reusing its buffers.
func (c *client) attach(nc net.Conn) {
	c.nc = nc
	if c.r == nil {
		c.r = bufio.NewReader(nc)
	} else {
		c.r.Reset(nc)
	}
	c.id = 0
	c.bound = false
	c.last = nil
}

func (c *client) connected() bool { return c.nc != nil }

func (c *client) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// nextID is the next message ID: 1, 2, ... up to 2^31-1, then 1 again,
// since 0 is for unsolicited notifications (RFC 4511 4.1.1.1).
func (c *client) nextID() int32 {
	if c.id == 1<<31-1 {
		c.id = 0
	}
	c.id++
	return c.id
}

// bind sends a simple bind and returns its result code.
func (c *client) bind(name, password string) (int, error) {
	c.out = appendBindRequest(c.out[:0], c.nextID(), name, password)
	if _, err := c.nc.Write(c.out); err != nil {
		return 0, err
	}
	tag, op, err := c.read()
	if err != nil {
		return 0, err
	}
	if tag != tagBindResponse {
		return 0, malformed("a bind was answered with %s", tagName(tag))
	}
	return resultCode(op)
}

// serviceBind binds as the service account and remembers whether that
// succeeded.
func (c *client) serviceBind(u User) (int, error) {
	code, err := c.bind(u.Name, u.Password)
	c.bound = err == nil && code == 0
	return code, err
}

// search sends a subtree search for uid and mail and counts the entries
// that come back before its result.
func (c *client) search(base string, filter []byte) (entries, code int, err error) {
	c.out = appendSearchRequest(c.out[:0], c.nextID(), base, filter)
	if _, err := c.nc.Write(c.out); err != nil {
		return 0, 0, err
	}
	for {
		tag, op, err := c.read()
		if err != nil {
			return entries, 0, err
		}
		switch tag {
		case tagSearchEntry:
			entries++
		case tagSearchReference:
		case tagSearchDone:
			code, err := resultCode(op)
			return entries, code, err
		default:
			return entries, 0, malformed("a search was answered with %s", tagName(tag))
		}
	}
}

// unbind says goodbye; there is no answer (RFC 4511 4.3).
func (c *client) unbind() error {
	c.out = appendEnvelope(c.out[:0], c.nextID(), 2)
	c.out = append(c.out, tagUnbindRequest, 0)
	_, err := c.nc.Write(c.out)
	return err
}

// read reads one message for the outstanding request and returns the tag
// and content of its protocolOp.
func (c *client) read() (byte, []byte, error) {
	msg, err := c.readMessage()
	if err != nil {
		return 0, nil, err
	}
	id, tag, op, err := parseMessage(msg)
	if err != nil {
		return 0, nil, err
	}
	c.last = op
	if id == 0 && tag == tagExtendedResponse {
		code, err := resultCode(op)
		if err != nil {
			return 0, nil, err
		}
		return 0, nil, &disconnectError{code: code, diag: diagnostic(op)}
	}
	if id != c.id {
		return 0, nil, malformed("message ID %d, want %d", id, c.id)
	}
	return tag, op, nil
}

// readMessage reads one LDAPMessage and returns its content, in c.in. Its
// length is checked before anything is allocated for it.
func (c *client) readMessage() ([]byte, error) {
	tag, err := c.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the server closed the connection")
		}
		return nil, err
	}
	if tag != tagSequence {
		return nil, malformed("a message starts with tag 0x%02x, not a SEQUENCE", tag)
	}
	n, err := c.readLength()
	if err != nil {
		return nil, err
	}
	if n > maxResponse {
		return nil, malformed("a message of %d bytes, over the limit of %d", n, maxResponse)
	}
	if cap(c.in) < n {
		c.in = make([]byte, max(n, 2*cap(c.in)))
	}
	c.in = c.in[:n]
	if _, err := io.ReadFull(c.r, c.in); err != nil {
		return nil, truncated(err)
	}
	return c.in, nil
}

func (c *client) readLength() (int, error) {
	b, err := c.r.ReadByte()
	if err != nil {
		return 0, truncated(err)
	}
	if b < 0x80 {
		return int(b), nil
	}
	w := int(b & 0x7f)
	if w == 0 {
		return 0, malformed("indefinite length, which LDAP does not allow")
	}
	if w > 4 {
		return 0, malformed("a length %d bytes wide", w)
	}
	n := 0
	for range w {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, truncated(err)
		}
		n = n<<8 | int(b)
	}
	return n, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// diagnostic is the diagnosticMessage of the last response read, "" if it
// has none, for the report's first example of an error.
func (c *client) diagnostic() string { return diagnostic(c.last) }

// parseMessage splits an LDAPMessage's content into its message ID and the
// tag and content of its protocolOp; controls after it are ignored.
func parseMessage(msg []byte) (id int32, tag byte, op []byte, err error) {
	t, v, rest, err := parseTLV(msg)
	if err != nil {
		return 0, 0, nil, err
	}
	if t != tagInteger {
		return 0, 0, nil, malformed("the message ID has tag 0x%02x", t)
	}
	n, err := parseInt(v)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("message ID: %w", err)
	}
	tag, op, _, err = parseTLV(rest)
	if err != nil {
		return 0, 0, nil, err
	}
	return int32(n), tag, op, nil
}

// resultCode is the resultCode that starts an LDAPResult (RFC 4511 4.1.9).
func resultCode(op []byte) (int, error) {
	t, v, _, err := parseTLV(op)
	if err != nil {
		return 0, err
	}
	if t != tagEnumerated {
		return 0, malformed("the result code has tag 0x%02x", t)
	}
	n, err := parseInt(v)
	if err != nil {
		return 0, fmt.Errorf("result code: %w", err)
	}
	return n, nil
}

// diagnostic reads an LDAPResult's diagnosticMessage, "" when there is
// none or it cannot be read.
func diagnostic(op []byte) string {
	rest := op
	for i := range 3 { // resultCode, matchedDN, diagnosticMessage
		t, v, r, err := parseTLV(rest)
		if err != nil {
			return ""
		}
		if i == 2 && t == tagOctetString {
			return string(v)
		}
		rest = r
	}
	return ""
}

// parseTLV reads one BER element of definite length from b.
func parseTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, malformed("an element cut short")
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, malformed("a multi-byte tag, which LDAP does not use here")
	}
	n, i := int(b[1]), 2
	if n >= 0x80 {
		w := n & 0x7f
		if w == 0 || w > 4 || len(b) < 2+w {
			return 0, nil, nil, malformed("an element's length cannot be read")
		}
		n = 0
		for _, x := range b[2 : 2+w] {
			n = n<<8 | int(x)
		}
		i += w
	}
	if n > len(b)-i {
		return 0, nil, nil, malformed("an element of %d bytes in %d", n, len(b)-i)
	}
	return tag, b[i : i+n], b[i+n:], nil
}

// parseInt reads a non-negative INTEGER or ENUMERATED of at most 4 bytes:
// message IDs and result codes are 0 to 2^31-1 (RFC 4511 4.1.1).
func parseInt(v []byte) (int, error) {
	if len(v) == 0 || len(v) > 4 || v[0]&0x80 != 0 {
		return 0, malformed("an integer of %d bytes, not one from 0 to 2^31-1", len(v))
	}
	n := 0
	for _, x := range v {
		n = n<<8 | int(x)
	}
	return n, nil
}

func tagName(tag byte) string {
	switch tag {
	case tagBindResponse:
		return "a bind response"
	case tagSearchEntry:
		return "a search entry"
	case tagSearchDone:
		return "a search result"
	case tagExtendedResponse:
		return "an extended response"
	}
	return fmt.Sprintf("tag 0x%02x", tag)
}

// The encoders below write exactly the bytes go-ldap writes for the same
// request (definite lengths in their shortest form, minimal integers), so
// that a server sees the tool as it sees any client; the tests compare them.

// lengthSize is the number of bytes of the BER length n.
func lengthSize(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffff:
		return 4
	}
	return 5
}

func appendLength(b []byte, n int) []byte {
	switch s := lengthSize(n); s {
	case 1:
		return append(b, byte(n))
	default:
		b = append(b, 0x80|byte(s-1))
		for i := s - 2; i >= 0; i-- {
			b = append(b, byte(n>>(8*i)))
		}
		return b
	}
}

// elementSize is the size of a whole element with n bytes of content.
func elementSize(n int) int { return 1 + lengthSize(n) + n }

// intSize is the number of content bytes of the INTEGER v, v >= 0.
func intSize(v int32) int {
	n := 1
	for ; v > 127; v >>= 8 {
		n++
	}
	return n
}

func appendInt(b []byte, tag byte, v int32) []byte {
	n := intSize(v)
	b = append(b, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func appendString(b []byte, tag byte, s string) []byte {
	b = append(b, tag)
	b = appendLength(b, len(s))
	return append(b, s...)
}

// appendEnvelope starts an LDAPMessage whose protocolOp, to follow, is op
// bytes long in all.
func appendEnvelope(b []byte, id int32, op int) []byte {
	b = append(b, tagSequence)
	b = appendLength(b, elementSize(intSize(id))+op)
	return appendInt(b, tagInteger, id)
}

// appendBindRequest appends a simple bind, version 3 (RFC 4511 4.2).
func appendBindRequest(b []byte, id int32, name, password string) []byte {
	content := 3 + elementSize(len(name)) + elementSize(len(password))
	b = appendEnvelope(b, id, elementSize(content))
	b = append(b, tagBindRequest)
	b = appendLength(b, content)
	b = append(b, tagInteger, 1, 3)
	b = appendString(b, tagOctetString, name)
	return appendString(b, tagSimplePassword, password)
}

// appendSearchRequest appends a subtree search with no limits, aliases
// never dereferenced, filter already encoded, for uid and mail (RFC 4511
// 4.5.1).
func appendSearchRequest(b []byte, id int32, base string, filter []byte) []byte {
	content := elementSize(len(base)) + 5*3 + len(filter) + len(searchAttributes)
	b = appendEnvelope(b, id, elementSize(content))
	b = append(b, tagSearchRequest)
	b = appendLength(b, content)
	b = appendString(b, tagOctetString, base)
	b = append(b,
		tagEnumerated, 1, 2, // scope wholeSubtree
		tagEnumerated, 1, 0, // derefAliases neverDerefAliases
		tagInteger, 1, 0, // sizeLimit
		tagInteger, 1, 0, // timeLimit
		tagBoolean, 1, 0) // typesOnly FALSE
	b = append(b, filter...)
	return append(b, searchAttributes...)
}
