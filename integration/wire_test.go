package integration

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// readUntilClosed reads what the server sends until it closes the
// connection, failing if it keeps the connection open past the deadline.
func readUntilClosed(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open; read %d bytes", len(b))
	}
	return b
}

// assertNoticeOrNothing accepts a closed connection, with or without a
// Notice of Disconnection (RFC 4511 4.4.1) saying protocolError.
func assertNoticeOrNothing(t *testing.T, b []byte) {
	t.Helper()
	if len(b) == 0 {
		return
	}
	p, err := ber.DecodePacketErr(b)
	if err != nil || len(p.Children) < 2 {
		t.Fatalf("the server sent %d bytes that are not an LDAP message: %x", len(b), b)
	}
	id, _ := ber.ParseInt64(p.Children[0].Data.Bytes())
	op := p.Children[1]
	if id != 0 || op.Tag != ldap.ApplicationExtendedResponse || len(op.Children) < 4 {
		t.Fatalf("want a Notice of Disconnection, got message %d with op %d", id, op.Tag)
	}
	code, _ := ber.ParseInt64(op.Children[0].Data.Bytes())
	if code != ldap.LDAPResultProtocolError || op.Children[3].Data.String() != "1.3.6.1.4.1.1466.20036" {
		t.Fatalf("want notice 1.3.6.1.4.1.1466.20036 with protocolError, got code %d name %q", code, op.Children[3].Data.String())
	}
}

func TestGarbage_ConnectionClosedAndOthersStillServed(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("frank", true)
	_, pw := w.appPassword("frank", "mail")

	random := make([]byte, 4096)
	rand.Read(random)
	random[0] = 0x30 // a SEQUENCE tag, so the junk gets past the first byte
	// A bind request cut in the middle, then the client half-closes.
	full := simpleBindBytes(1, u.dn, pw)
	cases := []struct {
		name      string
		payload   []byte
		halfClose bool
	}{
		{"random bytes", random, false},
		{"random bytes, not a SEQUENCE", append([]byte{0x04}, random[1:]...), false},
		{"truncated message", full[:len(full)/2], true},
		{"length over the maximum", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01}, false},
		{"length over the 256 KiB limit before bind", []byte{0x30, 0x83, 0x10, 0x00, 0x00, 0x02, 0x01, 0x01}, false},
		{"indefinite length", []byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00}, false},
		{"unknown operation tag", []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x7f, 0x00}, false},
		{"messageID zero", []byte{0x30, 0x05, 0x02, 0x01, 0x00, 0x42, 0x00}, false},
	}
	// A client that stays connected and binds between every attack.
	steady, err := ldap.DialURL(w.url())
	if err != nil {
		t.Fatal(err)
	}
	defer steady.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", w.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write(tc.payload)
			if tc.halfClose {
				c.(*net.TCPConn).CloseWrite()
			}
			assertNoticeOrNothing(t, readUntilClosed(t, c))

			if err := steady.Bind(u.dn, pw); err != nil {
				t.Fatalf("a connected client's bind after the attack: %v", err)
			}
			if authz, rc := goLDAPBind(t, w.url(), u.dn, pw); rc != 0 || authz != "dn:"+u.dn {
				t.Fatalf("a new client's bind after the attack: (%q, %d)", authz, rc)
			}
		})
	}
	if strings.Contains(w.logs.String(), "panic") {
		t.Errorf("the server log mentions a panic:\n%s", w.logs.String())
	}
}

// simpleBindBytes encodes a BindRequest as a client sends it.
func simpleBindBytes(id int64, dn, password string) []byte {
	m := ber.NewSequence("LDAPMessage")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	b := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "")
	b.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	b.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	b.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, ""))
	m.AppendChild(b)
	return m.Bytes()
}

func TestRootDSE_ReadableAnonymously(t *testing.T) {
	w := startWicket(t, "")
	conn, err := ldap.DialURL(w.url())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"namingContexts", "supportedLDAPVersion", "supportedExtension"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("got %d entries, want the root DSE", len(res.Entries))
	}
	e := res.Entries[0]
	if got := e.GetAttributeValue("namingContexts"); got != "dc=example,dc=org" {
		t.Errorf("namingContexts = %q", got)
	}
	if got := e.GetAttributeValue("supportedLDAPVersion"); got != "3" {
		t.Errorf("supportedLDAPVersion = %q", got)
	}
	if !contains(e.GetAttributeValues("supportedExtension"), "1.3.6.1.4.1.4203.1.11.3") {
		t.Errorf("supportedExtension %v lacks Who am I?", e.GetAttributeValues("supportedExtension"))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
