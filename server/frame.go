package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/wicketldap/wicket/internal/berlimit"
)

// errFrame is a framing error: the stream can no longer be trusted and the
// connection is closed after a Notice of Disconnection (RFC 4511 4.1.1).
type errFrame struct{ msg string }

func (e *errFrame) Error() string { return e.msg }

func frameErr(format string, a ...any) error { return &errFrame{fmt.Sprintf(format, a...)} }

// readFrame reads one LDAPMessage's bytes. The length is checked against max
// before anything is allocated for the body, so a client cannot make the
// server reserve more than max bytes per connection, whatever it claims.
// first is called once the first byte has arrived, to switch from the idle
// deadline to the per-message read deadline.
func readFrame(r *bufio.Reader, max int, first func()) ([]byte, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	first()
	// LDAPMessage is a universal, constructed SEQUENCE.
	if tag != 0x30 {
		return nil, frameErr("message does not start with a SEQUENCE (got tag 0x%02x)", tag)
	}
	lb, err := r.ReadByte()
	if err != nil {
		return nil, truncated(err)
	}
	var length int
	switch {
	case lb < 0x80:
		length = int(lb)
	case lb == 0x80:
		// RFC 4511 5.1: only the definite form of length is used.
		return nil, frameErr("indefinite length is not allowed in LDAP")
	default:
		n := int(lb & 0x7f)
		if n > 4 {
			return nil, frameErr("message length of %d bytes' width exceeds the maximum of %d bytes", n, max)
		}
		for i := 0; i < n; i++ {
			b, err := r.ReadByte()
			if err != nil {
				return nil, truncated(err)
			}
			length = length<<8 | int(b)
		}
	}
	if length > max {
		return nil, frameErr("message of %d bytes exceeds the maximum of %d bytes", length, max)
	}
	hdr := 2
	if lb >= 0x80 {
		hdr += int(lb & 0x7f)
	}
	// Re-encode the header in the simplest form: the decoder only needs a
	// valid definite length in front of the body.
	if length <= frameChunk {
		// Every message a mail server sends: one allocation, one copy.
		buf := make([]byte, hdr+length)
		buf[0] = tag
		copy(buf[1:hdr], encodeLengthFixed(length, hdr-1))
		if _, err := io.ReadFull(r, buf[hdr:]); err != nil {
			return nil, truncated(err)
		}
		return buf, nil
	}
	// Beyond that the buffer grows as bytes arrive, not to the length the
	// client claims: a client that announces 4 MiB and sends a trickle
	// holds a trickle of memory until its read deadline.
	var b bytes.Buffer
	b.Grow(hdr + frameChunk)
	b.WriteByte(tag)
	b.Write(encodeLengthFixed(length, hdr-1))
	if _, err := io.CopyN(&b, r, int64(length)); err != nil {
		return nil, truncated(err)
	}
	return b.Bytes(), nil
}

// frameChunk is how much of a message's claimed length is allocated before
// its bytes arrive.
const frameChunk = 64 << 10

// encodeLengthFixed writes length in exactly width bytes of BER length.
func encodeLengthFixed(length, width int) []byte {
	if width == 1 {
		return []byte{byte(length)}
	}
	out := make([]byte, width)
	out[0] = 0x80 | byte(width-1)
	for i := width - 1; i >= 1; i-- {
		out[i] = byte(length)
		length >>= 8
	}
	return out
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Elements one message may have before it is decoded: a bind has five, a
// large Postfix or Dovecot filter a few hundred. The decoder spends a few
// hundred bytes per element, so this bounds a message's memory at a few
// MiB whatever its shape (100,000 empty controls fit in 4 MiB of bytes).
const (
	maxElementsAnonymous = 1000
	maxElements          = 20000
)

// decodeFrame turns the bytes of one message into a packet, after checking
// its shape from the headers.
func decodeFrame(buf []byte, elements int) (*ber.Packet, error) {
	if err := berlimit.Check(buf, maxNesting, elements); err != nil {
		return nil, frameErr("malformed message: %v", err)
	}
	p, err := ber.DecodePacketErr(buf)
	if err != nil {
		return nil, frameErr("malformed message: %v", err)
	}
	return p, nil
}
