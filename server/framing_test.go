package server

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// nestedNots wraps (objectClass=*) in n NOT filters.
func nestedNots(t testing.TB, n int) *ber.Packet {
	f := mustFilter(t, "(objectClass=*)")
	for range n {
		not := ber.Encode(ber.ClassContext, ber.TypeConstructed, filterNot, nil, "")
		not.AppendChild(f)
		f = not
	}
	return f
}

// A client whose stream cannot be trusted any more gets a Notice of
// Disconnection (RFC 4511 4.4.1) or, when it has already gone, a closed
// connection; never a hang, and never harm to other clients.
func TestFraming_BrokenStreamsEndTheConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bind := message(1, simpleBind(3, "alice", e.appPassword)).Bytes()
	random := make([]byte, 512)
	rng := rand.New(rand.NewPCG(4511, 4513))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	tooBig := []byte{0x30, 0x83, 0x04, 0x00, 0x01} // 256 KiB + 1
	tooBig = append(tooBig, bind[2:]...)

	for _, tc := range []struct {
		name  string
		bytes []byte
		// answered is how many responses come before the stream breaks.
		answered  int
		halfClose bool
		// notice: the server must send a protocolError notice; otherwise
		// a plain close is acceptable too.
		notice bool
	}{
		{"random bytes", random, 0, true, false},
		{"random bytes after a good message", append(append([]byte{}, bind...), random...), 1, true, false},
		{"truncated message then half-close", bind[:len(bind)-3], 0, true, false},
		{"header only then half-close", bind[:2], 0, true, false},
		{"length over MaxMessageBytesAnonymous", tooBig, 0, false, true},
		{"length in five bytes", []byte{0x30, 0x85, 0x00, 0x00, 0x00, 0x00, 0x05, 0x02, 0x01, 0x01, 0x42, 0x00}, 0, false, true},
		{"indefinite length", append([]byte{0x30, 0x80}, append(bind[2:], 0x00, 0x00)...), 0, false, true},
		{"wrong outer tag", append([]byte{0x31}, bind[1:]...), 0, false, true},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03}, 0, false, true},
		{"messageID 0", message(0, whoAmIReq()).Bytes(), 0, false, true},
		{"messageID negative", message(-1, whoAmIReq()).Bytes(), 0, false, true},
		{"messageID over maxInt", message(1<<31, whoAmIReq()).Bytes(), 0, false, true},
		{"messageID not an INTEGER", func() []byte {
			m := ber.NewSequence("")
			m.AppendChild(octets("1", ""))
			m.AppendChild(whoAmIReq())
			return m.Bytes()
		}(), 0, false, true},
		{"protocolOp is a response", message(1, constructed(ldap.ApplicationBindResponse,
			ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, ""), octets("", ""), octets("", ""))).Bytes(),
			0, false, true},
		{"controls not [0]", func() []byte {
			m := message(1, whoAmIReq())
			m.AppendChild(sequence(reqControl("1.2.3", false)))
			return m.Bytes()
		}(), 0, false, true},
		{"four fields", func() []byte {
			m := message(1, whoAmIReq(), reqControl("1.2.3", false))
			m.AppendChild(octets("extra", ""))
			return m.Bytes()
		}(), 0, false, true},
		{"child overruns its message", []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x42, 0x05}, 0, false, true},
		{"nesting deeper than 64", message(1, search("", 0, nestedNots(t, 70))).Bytes(), 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, e.addr)
			c.write(tc.bytes)
			for range tc.answered {
				c.next()
			}
			if tc.halfClose {
				c.nc.CloseWrite()
			}
			n := c.expectClosed()
			switch {
			case n != nil:
				n.assertNotice(t, ldap.LDAPResultProtocolError)
			case tc.notice:
				t.Error("connection closed without a Notice of Disconnection")
			}
			e.assertServing(t)
		})
	}
}

// Real filters nest a few levels; the limit must leave room for them.
func TestFraming_NestingWithinLimitIsAnswered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	// LDAPMessage, SearchRequest, 60 NOTs and the present filter: 63 levels.
	c.send(message(1, search("", 0, nestedNots(t, 60), "vendorName")))
	r := c.next()
	if r.tag == ldap.ApplicationSearchResultEntry {
		r = c.next()
	}
	r.assert(t, 1, ldap.ApplicationSearchResultDone, ldap.LDAPResultSuccess)
}

// bigSearch is a root DSE search of about size bytes, all in one filter
// value.
func bigSearch(id int64, size int) []byte {
	f := ber.Encode(ber.ClassContext, ber.TypeConstructed, filterEqualityMatch, nil, "")
	f.AppendChild(octets("description", ""))
	f.AppendChild(octets(strings.Repeat("x", size), ""))
	return message(id, search("", 0, f)).Bytes()
}

// Before a bind a client may send at most MaxMessageBytesAnonymous (256 KiB
// by default); after a successful bind, MaxMessageBytes (4 MiB), as slapd
// does with sockbuf_max_incoming and sockbuf_max_incoming_auth.
func TestFraming_LargerLimitAfterBind(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const size = 300 << 10

	t.Run("refused before bind", func(t *testing.T) {
		c := dialRaw(t, e.addr)
		// The header alone is enough for the server to decide; sending all
		// of it would only race the close.
		c.write(bigSearch(1, size)[:1024])
		c.expectNotice(ldap.LDAPResultProtocolError)
	})

	big := func(t *testing.T, c *rawConn, id int64) {
		t.Helper()
		msg := bigSearch(id, size)
		go c.nc.Write(msg) // the server reads as it goes; a refusal closes mid-write
		r, err := c.tryNext(5 * time.Second)
		if err != nil {
			t.Fatalf("%d-byte message after a successful bind: connection ended (%v)", len(msg), err)
		}
		if r.id == 0 {
			t.Fatalf("%d-byte message after a successful bind was refused: %v", len(msg), r)
		}
		r.assert(t, id, ldap.ApplicationSearchResultDone, ldap.LDAPResultSuccess)
	}

	t.Run("accepted as the first message after the bind", func(t *testing.T) {
		c := dialRaw(t, e.addr)
		c.call(message(1, simpleBind(3, "alice", e.appPassword))).
			assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
		big(t, c, 2)
	})
	t.Run("accepted after the bind and another request", func(t *testing.T) {
		c := dialRaw(t, e.addr)
		c.call(message(1, simpleBind(3, "alice", e.appPassword))).
			assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
		c.call(message(2, whoAmIReq())).assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
		big(t, c, 3)
	})
	t.Run("refused again after a failed bind", func(t *testing.T) {
		c := dialRaw(t, e.addr)
		c.call(message(1, simpleBind(3, "alice", e.appPassword))).
			assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
		c.call(message(2, simpleBind(3, "alice", "wrong"))).
			assert(t, 2, ldap.ApplicationBindResponse, ldap.LDAPResultInvalidCredentials)
		c.call(message(3, whoAmIReq())).assert(t, 3, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
		c.write(bigSearch(4, size)[:1024])
		c.expectNotice(ldap.LDAPResultProtocolError)
	})
}
