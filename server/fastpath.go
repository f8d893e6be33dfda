package server

import (
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/internal/berlimit"
)

// Mail servers send little but simple binds, and asn1-ber spends some
// seventy allocations decoding each one into a packet tree that the bind
// reads five fields of. The common shape is parsed here straight from the
// bytes; anything else, including every malformed message, goes through the
// general decoder, which alone decides what is wrong with it. FuzzDecodeRequest
// checks that both agree on every message this path accepts.

// bindOp stands for the protocolOp of a request decoded here: what
// dispatch and logging read of it (class, tag) without a packet tree.
// Nothing may modify it.
var bindOp = &ber.Packet{Identifier: ber.Identifier{
	ClassType: ber.ClassApplication, TagType: ber.TypeConstructed, Tag: ldap.ApplicationBindRequest,
}}

// berReader walks definite-length BER elements of one message.
type berReader struct {
	b   []byte
	off int
}

// next reads one element's tag byte and content. It reports false for
// anything the fast path leaves to the general decoder: a multi-byte tag,
// the indefinite form, a length wider than four bytes or past the end.
func (r *berReader) next() (tag byte, content []byte, ok bool) {
	if r.off+2 > len(r.b) {
		return 0, nil, false
	}
	tag = r.b[r.off]
	if tag&0x1f == 0x1f {
		return 0, nil, false
	}
	lb := r.b[r.off+1]
	r.off += 2
	n := int(lb)
	if lb >= 0x80 {
		w := int(lb & 0x7f)
		if w == 0 || w > 4 || r.off+w > len(r.b) {
			return 0, nil, false
		}
		n = 0
		for _, c := range r.b[r.off : r.off+w] {
			n = n<<8 | int(c)
		}
		r.off += w
	}
	if n > len(r.b)-r.off {
		return 0, nil, false
	}
	content = r.b[r.off : r.off+n]
	r.off += n
	return tag, content, true
}

// smallInt reads a non-negative INTEGER of at most four content bytes.
func smallInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 4 || b[0]&0x80 != 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		v = v<<8 | int64(c)
	}
	return v, true
}

// plainMessage reads the envelope of a message without controls whose
// protocolOp has the one-byte tag opTag: its message ID and the op's
// content.
func plainMessage(frame []byte, opTag byte) (id int64, op []byte, ok bool) {
	outer := berReader{b: frame}
	tag, msg, ok := outer.next()
	if !ok || tag != 0x30 || outer.off != len(frame) {
		return 0, nil, false
	}
	m := berReader{b: msg}
	tag, idb, ok := m.next()
	if !ok || tag != 0x02 {
		return 0, nil, false
	}
	id, ok = smallInt(idb)
	if !ok || id < 1 || id > maxMessageID {
		return 0, nil, false
	}
	tag, op, ok = m.next()
	if !ok || tag != opTag || m.off != len(msg) {
		return 0, nil, false
	}
	return id, op, true
}

// fastBind decodes a message that is exactly a simple bind without
// controls. It reports false for anything else.
func fastBind(frame []byte) (*request, bool) {
	id, opb, ok := plainMessage(frame, 0x60)
	if !ok {
		return nil, false
	}
	op := berReader{b: opb}
	tag, vb, ok := op.next()
	if !ok || tag != 0x02 {
		return nil, false
	}
	version, ok := smallInt(vb)
	if !ok {
		return nil, false
	}
	tag, name, ok := op.next()
	if !ok || tag != 0x04 {
		return nil, false
	}
	tag, password, ok := op.next()
	if !ok || tag != 0x80 || op.off != len(opb) {
		return nil, false
	}
	return &request{id: id, op: bindOp, bind: &bindRequest{
		version: version, name: string(name), simple: true, password: string(password),
	}}, true
}

// appendLength appends a BER length as asn1-ber writes it: the short form
// below 128, else the long form in the fewest bytes.
func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 1<<8:
		return append(b, 0x81, byte(n))
	case n < 1<<16:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendInt appends a non-negative INTEGER's content in the fewest bytes
// of two's complement, as asn1-ber does.
func appendInt(b []byte, v int64) []byte {
	for i := intLen(v) - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func intLen(v int64) int {
	n := 1
	for x := v; x > 127; x >>= 8 {
		n++
	}
	return n
}

func lengthLen(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	case n < 1<<24:
		return 4
	}
	return 5
}

// appendResultMessage appends an LDAPMessage carrying a bare LDAPResult
// under the response tag, byte for byte what
// envelope(id, resultOp(tag, r)).Bytes() gives, in one allocation at most.
func appendResultMessage(b []byte, id int64, tag ber.Tag, r result) []byte {
	code := int64(r.code)
	body := 2 + intLen(code) +
		1 + lengthLen(len(r.matchedDN)) + len(r.matchedDN) +
		1 + lengthLen(len(r.diag)) + len(r.diag)
	op := 1 + lengthLen(body) + body
	msg := 2 + intLen(id) + op
	b = append(b, 0x30)
	b = appendLength(b, msg)
	b = append(b, 0x02, byte(intLen(id)))
	b = appendInt(b, id)
	b = append(b, 0x60|byte(tag))
	b = appendLength(b, body)
	b = append(b, 0x0a, byte(intLen(code)))
	b = appendInt(b, code)
	b = append(b, 0x04)
	b = appendLength(b, len(r.matchedDN))
	b = append(b, r.matchedDN...)
	b = append(b, 0x04)
	b = appendLength(b, len(r.diag))
	return append(b, r.diag...)
}

func tlvLen(n int) int { return 1 + lengthLen(n) + n }

// appendEntryMessage appends an LDAPMessage carrying a SearchResultEntry,
// byte for byte what asn1-ber gives (entryOp in the tests), without a
// packet tree.
func appendEntryMessage(b []byte, id int64, e *entry, attrs []attribute, typesOnly bool) []byte {
	list := 0
	for _, a := range attrs {
		list += tlvLen(attrBodyLen(a, typesOnly))
	}
	op := tlvLen(len(e.dn)) + tlvLen(list)
	b = append(b, 0x30)
	b = appendLength(b, 2+intLen(id)+tlvLen(op))
	b = append(b, 0x02, byte(intLen(id)))
	b = appendInt(b, id)
	b = append(b, 0x60|byte(ldap.ApplicationSearchResultEntry))
	b = appendLength(b, op)
	b = appendOctets(b, e.dn)
	b = append(b, 0x30)
	b = appendLength(b, list)
	for _, a := range attrs {
		b = append(b, 0x30)
		b = appendLength(b, attrBodyLen(a, typesOnly))
		b = appendOctets(b, a.name)
		b = append(b, 0x31)
		b = appendLength(b, valsLen(a, typesOnly))
		if !typesOnly {
			for _, v := range a.values {
				b = appendOctets(b, v)
			}
		}
	}
	return b
}

func valsLen(a attribute, typesOnly bool) int {
	n := 0
	if !typesOnly {
		for _, v := range a.values {
			n += tlvLen(len(v))
		}
	}
	return n
}

func attrBodyLen(a attribute, typesOnly bool) int {
	return tlvLen(len(a.name)) + tlvLen(valsLen(a, typesOnly))
}

func appendOctets(b []byte, s string) []byte {
	b = append(b, 0x04)
	b = appendLength(b, len(s))
	return append(b, s...)
}

// searchOp stands for the protocolOp of a search decoded by fastSearch, as
// bindOp does for binds.
var searchOp = &ber.Packet{Identifier: ber.Identifier{
	ClassType: ber.ClassApplication, TagType: ber.TypeConstructed, Tag: ldap.ApplicationSearchRequest,
}}

// fastSearch decodes a search request without controls, the lookup Postfix
// and Dovecot send for every message and login, with only its filter
// decoded into packets (filter.go evaluates packets). It reports false for
// any other shape, and for anything the general decoder might refuse:
// that path alone says what is wrong. elements is the limit the general
// decoder applies to the whole message.
func fastSearch(frame []byte, elements int) (*request, bool) {
	id, opb, ok := plainMessage(frame, 0x63)
	if !ok {
		return nil, false
	}
	op := berReader{b: opb}
	var s searchRequest
	tag, base, ok := op.next()
	if !ok || tag != 0x04 {
		return nil, false
	}
	s.base = string(base)
	var v [5]int64
	for i, want := range [5]byte{0x0a, 0x0a, 0x02, 0x02, 0x01} {
		tag, b, ok := op.next()
		if !ok || tag != want {
			return nil, false
		}
		if want == 0x01 {
			if len(b) != 1 {
				return nil, false
			}
			s.typesOnly = b[0] != 0
			continue
		}
		if v[i], ok = smallInt(b); !ok {
			return nil, false
		}
	}
	if v[0] > scopeSub || v[1] > 3 {
		return nil, false
	}
	s.scope, s.sizeLimit, s.timeLimit = v[0], v[2], v[3]
	start := op.off
	tag, _, ok = op.next()
	if !ok || tag&0xc0 != 0x80 {
		return nil, false
	}
	rawFilter := opb[start:op.off]
	tag, attrs, ok := op.next()
	if !ok || tag != 0x30 || op.off != len(opb) {
		return nil, false
	}
	for a := (berReader{b: attrs}); a.off < len(attrs); {
		tag, name, ok := a.next()
		if !ok || tag != 0x04 {
			return nil, false
		}
		s.attrs = append(s.attrs, string(name))
	}
	// The limits the general decoder would apply to the whole message.
	if berlimit.Check(frame, maxNesting, elements) != nil {
		return nil, false
	}
	f, err := ber.DecodePacketErr(rawFilter)
	if err != nil || !validFilter(f) {
		return nil, false
	}
	s.filter = f
	return &request{id: id, op: searchOp, search: &s}, true
}
