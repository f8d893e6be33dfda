package server

import (
	"bytes"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// bindMessage encodes a simple bind with asn1-ber, as clients built on it
// (go-ldap among them) send one.
func bindMessage(id int64, name, password string, controls ...*ber.Packet) []byte {
	return envelope(id, simpleBind(3, name, password), controls...).Bytes()
}

func TestFastBind_ReadsWhatTheDecoderReads(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := map[string][]byte{
		"dn and app password": bindMessage(1, "uid=alice,ou=people,dc=example,dc=org", "abcd-efgh-ijkl-mnop"),
		"anonymous":           bindMessage(2, "", ""),
		"long name":           bindMessage(127, long, "pw"),
		"long password":       bindMessage(128, "alice", long+long),
		"largest message ID":  bindMessage(maxMessageID, "alice", "pw"),
		// A long-form length where the short one would do: legal BER.
		"wide lengths": {0x30, 0x81, 0x10, 0x02, 0x01, 0x05, 0x60, 0x82, 0x00, 0x09,
			0x02, 0x01, 0x03, 0x04, 0x01, 'a', 0x80, 0x01, 'p'},
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			fast, ok := fastBind(msg)
			if !ok {
				t.Fatal("the fast path declined a plain simple bind")
			}
			p, err := decodeFrame(msg, maxElementsAnonymous)
			if err != nil {
				t.Fatal(err)
			}
			slow, err := parseRequest(p)
			if err != nil {
				t.Fatal(err)
			}
			sameBind(t, fast, slow)
		})
	}
}

// Whatever is not exactly a simple bind is left to the decoder, which
// alone words the error.
func TestFastBind_DeclinesEverythingElse(t *testing.T) {
	ctl := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	ctl.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "1.2.3", ""))
	controls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
	controls.AppendChild(ctl)
	good := bindMessage(1, "alice", "pw")
	cases := map[string][]byte{
		"with controls":    envelope(1, simpleBind(3, "alice", "pw"), controls).Bytes(),
		"SASL":             envelope(1, saslBind("PLAIN", []byte("\x00alice\x00pw"))).Bytes(),
		"search":           envelope(1, search("", 0, mustFilter(t, "(objectClass=*)"))).Bytes(),
		"message ID 0":     bindMessage(0, "alice", "pw"),
		"negative version": envelope(1, simpleBind(-3, "alice", "pw")).Bytes(),
		"truncated":        good[:len(good)-1],
		"trailing byte":    append(append([]byte{}, good...), 0),
		"indefinite":       append([]byte{0x30, 0x80}, good[2:]...),
	}
	for name, msg := range cases {
		if _, ok := fastBind(msg); ok {
			t.Errorf("%s: the fast path took it", name)
		}
	}
}

func TestAppendResultMessage_SameBytesAsTheEncoder(t *testing.T) {
	ids := []int64{1, 127, 128, 255, 256, 32767, 32768, 1 << 23, maxMessageID}
	codes := []uint16{0, 32, 49, 53, 127, 128, 255, 256, 4096}
	texts := []string{"", "x", strings.Repeat("d", 127), strings.Repeat("d", 128), strings.Repeat("d", 300),
		strings.Repeat("d", 70000)}
	tags := []ber.Tag{ldap.ApplicationBindResponse, ldap.ApplicationSearchResultDone, ldap.ApplicationModifyResponse,
		ldap.ApplicationDelResponse, ldap.ApplicationExtendedResponse}
	for _, id := range ids {
		for _, code := range codes {
			for _, text := range texts {
				for _, tag := range tags {
					r := result{code: code, matchedDN: text, diag: text}
					want := envelope(id, resultOp(tag, r)).Bytes()
					if got := appendResultMessage(nil, id, tag, r); !bytes.Equal(got, want) {
						t.Fatalf("id %d code %d tag %d text of %d: got\n% x\nwant\n% x", id, code, tag, len(text), got, want)
					}
				}
			}
		}
	}
}

func TestAppendEntryMessage_SameBytesAsTheEncoder(t *testing.T) {
	long := strings.Repeat("v", 300)
	entries := []*entry{
		{dn: "uid=alice,ou=people,dc=example,dc=org", attrs: []attribute{
			{"objectClass", []string{"top", "person", "inetOrgPerson"}}, {"uid", []string{"alice"}},
			{"mail", []string{"alice@example.org"}}, {"mailAlternateAddress", []string{"a@example.org", long}}}},
		{dn: "", attrs: nil},
		{dn: strings.Repeat("d", 70000), attrs: []attribute{{"description", []string{strings.Repeat("x", 70000)}}}},
		{dn: "cn=empty,dc=example,dc=org", attrs: []attribute{{"member", nil}}},
	}
	for _, e := range entries {
		for _, typesOnly := range []bool{false, true} {
			for _, id := range []int64{1, 200, maxMessageID} {
				want := envelope(id, entryOp(e, e.attrs, typesOnly)).Bytes()
				if got := appendEntryMessage(nil, id, e, e.attrs, typesOnly); !bytes.Equal(got, want) {
					t.Fatalf("entry %.20q typesOnly %v id %d: got\n% x\nwant\n% x", e.dn, typesOnly, id, got[:min(len(got), 64)], want[:min(len(want), 64)])
				}
			}
		}
	}
}

// entryOp encodes a SearchResultEntry through asn1-ber: the reference
// appendEntryMessage must match byte for byte.
func entryOp(e *entry, attrs []attribute, typesOnly bool) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, e.dn, "objectName"))
	list := ber.NewSequence("attributes")
	for _, a := range attrs {
		pa := ber.NewSequence("")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.name, "type"))
		vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
		if !typesOnly {
			for _, v := range a.values {
				vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
			}
		}
		pa.AppendChild(vals)
		list.AppendChild(pa)
	}
	p.AppendChild(list)
	return p
}
