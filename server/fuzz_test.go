package server

import (
	"bufio"
	"bytes"
	"slices"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// fuzzLimit is the default message limit before a bind: what an
// unauthenticated client can make the server decode.
const fuzzLimit = 256 << 10

// FuzzDecodeRequest runs what a connection does with the bytes a client
// sends, up to the point where a backend would be asked: framing, BER
// decoding, the envelope, each operation's parser (extended request values
// and DNs included), filter and compare evaluation against the root DSE and
// the encoding of the answer. None of it may panic, whatever the input; the
// seed corpus is in testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	// New sets asn1-ber's process-wide limits (nesting, packet length)
	// exactly as a serving process has them.
	srv, err := New(Config{BaseDN: testBase, Logger: quietLogger(), Version: "fuzz"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		// A connection reads message after message until the stream breaks.
		for {
			buf, err := readFrame(r, fuzzLimit, func() {})
			if err != nil {
				return
			}
			// Tag, at most five length bytes, at most the limit of content.
			if len(buf) > fuzzLimit+6 {
				t.Fatalf("readFrame returned %d bytes with a limit of %d", len(buf), fuzzLimit)
			}
			fast, fastOK := fastBind(buf)
			fastS, fastSOK := fastSearch(buf, maxElements)
			pkt, err := decodeFrame(buf, maxElements)
			if err != nil {
				if fastOK || fastSOK {
					t.Fatalf("the fast path took a message the decoder refuses (%v)", err)
				}
				return
			}
			req, err := parseRequest(pkt)
			if err != nil {
				if fastOK || fastSOK {
					t.Fatalf("the fast path took a message the envelope check refuses (%v)", err)
				}
				return
			}
			if fastOK {
				sameBind(t, fast, req)
			}
			if fastSOK {
				sameSearch(t, fastS, req)
			}
			if req.id < 1 || req.id > maxMessageID {
				t.Fatalf("parseRequest accepted messageID %d", req.id)
			}
			fuzzOperation(t, srv, req)
		}
	})
}

func fuzzOperation(t *testing.T, srv *Server, req *request) {
	var res result
	switch req.op.Tag {
	case ldap.ApplicationBindRequest:
		b, r, ok := parseBind(req.op)
		if ok && b.name != "" {
			srv.loginFromName(b.name)
		}
		res = r
	case ldap.ApplicationSearchRequest:
		// The filter is checked on its own too, so filters reach match
		// even when another field of the request is wrong.
		if ch := req.op.Children; len(ch) == 8 && validFilter(ch[6]) {
			match(ch[6], srv.rootDSE())
		}
		s, r, ok := parseSearch(req.op)
		if ok {
			e := srv.rootDSE()
			match(s.filter, e)
			attrs := selectAttrs(e, s.attrs, rootDSEOperational)
			want := envelope(req.id, entryOp(e, attrs, s.typesOnly)).Bytes()
			if got := appendEntryMessage(nil, req.id, e, attrs, s.typesOnly); !bytes.Equal(got, want) {
				t.Fatalf("the direct encoding of an entry differs:\n% x\nwant\n% x", got, want)
			}
			srv.classify(s.base)
			if dn, err := ldap.ParseDN(s.base); err == nil {
				srv.baseDN.AncestorOfFold(dn)
				srv.baseDN.EqualFold(dn)
			}
		}
		res = r
	case ldap.ApplicationExtendedRequest:
		x, r, ok := parseExtended(req.op)
		if ok {
			fuzzExtendedValue(x)
		}
		res = r
	case ldap.ApplicationModifyRequest:
		object, _, r, ok := parseModify(req.op)
		if ok {
			srv.classify(object)
		}
		res = r
	case ldap.ApplicationCompareRequest:
		// Everything a compare does short of the backend: the assertion
		// (the value through its rule), the entry's DN, and the match
		// against the root DSE, which compares like any entry.
		cr, r, ok := parseCompare(req.op)
		if ok {
			x := schema()
			var a *assertion
			if a, r, ok = x.newAssertion(cr.desc, cr.value, false); ok {
				x.evaluate(srv.rootDSE(), a)
				x.evaluate(subschemaEntry(), a)
			}
			equalityFilter(srv.rootDSE(), cr.desc, cr.value)
			srv.classify(cr.entry)
		}
		res = r
	case ldap.ApplicationDelRequest:
		srv.classify(req.op.Data.String())
	case ldap.ApplicationAbandonRequest:
		if req.op.TagType == ber.TypePrimitive {
			ber.ParseInt64(req.op.Data.Bytes())
		}
		return
	}
	if tag, ok := responseTag[req.op.Tag]; ok {
		// Whatever was asked, the answer must be well-formed BER that a
		// client can read back, diagnostic text and all.
		out := envelope(req.id, resultOp(tag, res)).Bytes()
		if direct := appendResultMessage(nil, req.id, tag, res); !bytes.Equal(direct, out) {
			t.Fatalf("the direct encoding of %v differs:\n% x\nwant\n% x", res, direct, out)
		}
		back, err := ber.DecodePacketErr(out)
		if err != nil {
			t.Fatalf("the answer to message %d does not decode: %v", req.id, err)
		}
		if got, _ := ber.ParseInt64(back.Children[0].Data.Bytes()); got != req.id {
			t.Fatalf("the answer carries messageID %d, want %d", got, req.id)
		}
	}
}

// fuzzExtendedValue decodes a request value the way the operation it names
// would, and also as every other operation's value: a client picks the OID
// and the bytes independently.
func fuzzExtendedValue(x *extendedRequest) {
	v := x.value
	parsePasswdModify(v, x.hasValue)
	exop.DecodeCreateRequest(v)
	exop.DecodeListRequest(v)
	exop.DecodeRevokeRequest(v)
	exop.DecodeRevokeAllRequest(v)
}

// sameBind checks that the fast path read a bind exactly as the general
// decoder does.
func sameSearch(t *testing.T, fast, slow *request) {
	t.Helper()
	want, _, ok := parseSearch(slow.op)
	switch {
	case !ok:
		t.Fatalf("the fast path took a search parseSearch refuses")
	case fast.id != slow.id || len(slow.controls) != 0 || slow.op.Tag != ldap.ApplicationSearchRequest:
		t.Fatalf("fast path: message %d, general: message %d with %d controls, tag %d",
			fast.id, slow.id, len(slow.controls), slow.op.Tag)
	}
	got := *fast.search
	if got.base != want.base || got.scope != want.scope || got.sizeLimit != want.sizeLimit ||
		got.timeLimit != want.timeLimit || got.typesOnly != want.typesOnly || !slices.Equal(got.attrs, want.attrs) ||
		!bytes.Equal(got.filter.Bytes(), want.filter.Bytes()) {
		t.Fatalf("fast path read %+v, general decoder %+v", got, *want)
	}
}

func sameBind(t *testing.T, fast, slow *request) {
	t.Helper()
	want, _, ok := parseBind(slow.op)
	switch {
	case !ok:
		t.Fatalf("the fast path took a bind parseBind refuses")
	case fast.id != slow.id || len(slow.controls) != 0 || slow.op.Tag != ldap.ApplicationBindRequest:
		t.Fatalf("fast path: message %d, general: message %d with %d controls, tag %d",
			fast.id, slow.id, len(slow.controls), slow.op.Tag)
	case fast.bind.version != want.version || fast.bind.name != want.name || !want.simple ||
		fast.bind.password != want.password || !fast.bind.simple:
		t.Fatalf("fast path read %+v, general decoder %+v", *fast.bind, *want)
	}
}
