package server

import (
	"bufio"
	"bytes"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// BenchmarkDecodeBind is what the reader does with a simple bind before the
// account domain sees it: framing, the shape check, decoding, the envelope
// and the bind's fields.
func BenchmarkDecodeBind(b *testing.B) {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString,
		"uid=alice,ou=people,dc=example,dc=org", ""))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "abcd-efgh-ijkl-mnop", ""))
	read := messageReader(b, envelope(7, op).Bytes())
	for b.Loop() {
		req := read()
		if _, _, ok := req.bindRequest(); !ok {
			b.Fatal("bind not parsed")
		}
	}
}

// BenchmarkEncodeBindResponse is the answer to a successful bind.
func BenchmarkEncodeBindResponse(b *testing.B) {
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendResultMessage(buf[:0], 7, ldap.ApplicationBindResponse, success())
	}
}

// BenchmarkDecodeExtended is an app-password list request as the server
// reads it: the frame, the packet, and every look the reader and the
// worker take at it (inline or queued, StartTLS or not, the operation).
func BenchmarkDecodeExtended(b *testing.B) {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, exop.OIDAppPasswordList, ""))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, "", ""))
	read := messageReader(b, envelope(9, op).Bytes())
	for b.Loop() {
		req := read()
		if quick(req) || isStartTLS(req) {
			b.Fatal("a list request taken for another operation")
		}
		if x, _, ok := req.extendedRequest(); !ok || x.name != exop.OIDAppPasswordList {
			b.Fatal("extended request not parsed")
		}
	}
}

// messageReader returns a function that reads msg as the connection's
// reader does, from its bytes to a decoded request, each time it is called.
func messageReader(b *testing.B, msg []byte) func() *request {
	rd := bytes.NewReader(msg)
	r := bufio.NewReaderSize(rd, 4096)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	return func() *request {
		rd.Reset(msg)
		r.Reset(rd)
		frame, err := readFrame(r, 1<<18, func() {})
		if err != nil {
			b.Fatal(err)
		}
		req, err := decodeRequest(frame, maxElementsAnonymous)
		if err != nil {
			b.Fatal(err)
		}
		return req
	}
}

// BenchmarkDecodeSearch is a Postfix lookup as the reader decodes it, from
// its bytes to the search's fields and filter.
func BenchmarkDecodeSearch(b *testing.B) {
	req := ldap.NewSearchRequest("ou=people,dc=example,dc=org", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(mail=user000001@example.org)", []string{"mail", "uid"}, nil)
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, req.BaseDN, ""))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(req.Scope), ""))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(req.DerefAliases), ""))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
	f, err := ldap.CompileFilter(req.Filter)
	if err != nil {
		b.Fatal(err)
	}
	op.AppendChild(f)
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range req.Attributes {
		attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, ""))
	}
	op.AppendChild(attrs)
	read := messageReader(b, envelope(11, op).Bytes())
	for b.Loop() {
		if s, _, ok := read().searchRequest(); !ok || s.base != req.BaseDN {
			b.Fatal("search not parsed")
		}
	}
}
