package exop

import (
	"errors"
	"reflect"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

var (
	created  = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	lastUsed = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
)

func TestRoundTrip_Requests(t *testing.T) {
	for _, r := range []CreateRequest{
		{Label: "Thunderbird on laptop"},
		{Label: "Kalender – Küche", Target: "uid=bert,ou=people,dc=example,dc=org"},
		{Label: "x", Target: "bert@example.org"},
	} {
		got, err := DecodeCreateRequest(r.Encode())
		if err != nil || got != r {
			t.Errorf("CreateRequest %+v came back as %+v, %v", r, got, err)
		}
	}
	for _, r := range []ListRequest{{}, {Target: "bert"}} {
		got, err := DecodeListRequest(r.Encode())
		if err != nil || got != r {
			t.Errorf("ListRequest %+v came back as %+v, %v", r, got, err)
		}
	}
	for _, r := range []RevokeRequest{{ID: "0a1b2c3d4e"}, {ID: "ffffffffff", Target: "bert"}} {
		got, err := DecodeRevokeRequest(r.Encode())
		if err != nil || got != r {
			t.Errorf("RevokeRequest %+v came back as %+v, %v", r, got, err)
		}
	}
	for _, r := range []RevokeAllRequest{{}, {Target: "uid=bert,ou=people,dc=example,dc=org"}} {
		got, err := DecodeRevokeAllRequest(r.Encode())
		if err != nil || got != r {
			t.Errorf("RevokeAllRequest %+v came back as %+v, %v", r, got, err)
		}
	}
}

func TestRoundTrip_Responses(t *testing.T) {
	// Times travel as GeneralizedTime in UTC to the second, whatever
	// the zone and precision they were given in.
	paris := time.FixedZone("CET", 3600)
	cr := CreateResponse{ID: "0a1b2c3d4e", Password: "abcd-efgh-ijkl-mnop", Created: created.In(paris).Add(123 * time.Millisecond)}
	got, err := DecodeCreateResponse(cr.Encode())
	want := CreateResponse{ID: cr.ID, Password: cr.Password, Created: created}
	if err != nil || got != want {
		t.Errorf("CreateResponse %+v came back as %+v, %v; want %+v", cr, got, err, want)
	}

	lists := [][]AppPassword{
		{},
		{{ID: "0a1b2c3d4e", Label: "phone", Created: created}},
		{
			{ID: "0a1b2c3d4e", Label: "phone", Created: created, LastUsed: lastUsed, LastUsedFrom: "192.0.2.7"},
			{ID: "1111111111", Label: "only a time", Created: created, LastUsed: lastUsed},
			{ID: "2222222222", Label: "only an address", Created: created, LastUsedFrom: "2001:db8::1"},
			{ID: "3333333333", Label: "Kalender – Küche", Created: created},
		},
	}
	for _, l := range lists {
		got, err := DecodeList(EncodeList(l))
		if err != nil || !reflect.DeepEqual(got, l) {
			t.Errorf("list %+v came back as %+v, %v", l, got, err)
		}
	}

	for _, n := range []int{0, 1, 25, 127, 128, 1 << 20} {
		got, err := DecodeRevokeAllResponse(RevokeAllResponse{Revoked: n}.Encode())
		if err != nil || got.Revoked != n {
			t.Errorf("RevokeAllResponse %d came back as %+v, %v", n, got, err)
		}
	}
}

// What a person types after the OID in ldapexop: the text itself. The
// server shows the new password as text only for this form, so the decoder
// says which form it read, whatever the first byte of the label ('0' is
// also the tag of a SEQUENCE).
func TestBareForms(t *testing.T) {
	for _, label := range []string{"Thunderbird", "Thunderbird on laptop", "Kalender – Küche", "📱", "0ffice laptop", "0", "00"} {
		got, err := DecodeCreateRequest([]byte(label))
		if err != nil || got != (CreateRequest{Label: label, Bare: true}) {
			t.Errorf("bare label %q: %+v, %v", label, got, err)
		}
	}
	for _, id := range []string{"0a1b2c3d4e", "ffffffffff", "ABCDEF0123"} {
		got, err := DecodeRevokeRequest([]byte(id))
		if err != nil || got != (RevokeRequest{ID: id}) {
			t.Errorf("bare id %q: %+v, %v", id, got, err)
		}
	}
	// List and revoke-all take no bare form: an absent value means one's own.
	if got, err := DecodeListRequest(nil); err != nil || got != (ListRequest{}) {
		t.Errorf("absent list value: %+v, %v", got, err)
	}
	if got, err := DecodeRevokeAllRequest(nil); err != nil || got != (RevokeAllRequest{}) {
		t.Errorf("absent revoke-all value: %+v, %v", got, err)
	}
}

func seq(children ...*ber.Packet) []byte {
	p := ber.NewSequence("")
	for _, c := range children {
		p.AppendChild(c)
	}
	return p.Bytes()
}

func integer(n int64) *ber.Packet {
	return ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, n, "")
}

func nested(depth int) []byte {
	p := ber.NewSequence("")
	for range depth - 1 {
		outer := ber.NewSequence("")
		outer.AppendChild(p)
		p = outer
	}
	return p.Bytes()
}

func TestMalformedValuesAreRejected(t *testing.T) {
	withTrailing := func(v []byte) []byte { return append(v, 0x04, 0x00) }
	timeField := genTime(ber.ClassUniversal, ber.TagGeneralizedTime, created)
	entry := func(children ...*ber.Packet) *ber.Packet {
		e := ber.NewSequence("")
		for _, c := range children {
			e.AppendChild(c)
		}
		return e
	}
	type decoder struct {
		name   string
		decode func([]byte) error
		bad    map[string][]byte
	}
	decoders := []decoder{
		{"CreateRequest", func(v []byte) error { _, err := DecodeCreateRequest(v); return err }, map[string][]byte{
			"absent":                     nil,
			"empty":                      {},
			"empty SEQUENCE":             seq(),
			"INTEGER label":              seq(integer(1)),
			"context-tagged label":       seq(ctxOctets(0, "x")),
			"non-UTF-8 label":            seq(octets("caf\xe9")),
			"target tagged [1]":          seq(octets("x"), ctxOctets(1, "bert")),
			"empty target":               seq(octets("x"), ctxOctets(0, "")),
			"non-UTF-8 target":           seq(octets("x"), ctxOctets(0, "\xff")),
			"constructed target":         seq(octets("x"), ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")),
			"field after the target":     seq(octets("x"), ctxOctets(0, "bert"), octets("y")),
			"trailing bytes":             withTrailing(CreateRequest{Label: "x"}.Encode()),
			"truncated":                  CreateRequest{Label: "Thunderbird"}.Encode()[:6],
			"nested too deeply":          nested(maxValueDepth + 1),
			"non-UTF-8 bare bytes":       []byte("caf\xe9"),
			"bare text with a newline":   []byte("phone\nlaptop"),
			"bare text with a NUL":       []byte("phone\x00"),
			"indefinite length":          {0x30, 0x80, 0x04, 0x01, 'x', 0x00, 0x00},
			"length beyond the value":    {0x30, 0x7f, 0x04, 0x01, 'x'},
			"a SET instead of SEQUENCE":  {0x31, 0x03, 0x04, 0x01, 'x'},
			"bare text with an ESC byte": []byte("\x1b[31mred"),
		}},
		{"RevokeRequest", func(v []byte) error { _, err := DecodeRevokeRequest(v); return err }, map[string][]byte{
			"absent":               nil,
			"empty":                {},
			"empty SEQUENCE":       seq(),
			"INTEGER id":           seq(integer(1)),
			"non-UTF-8 id":         seq(octets("\xff\xfe")),
			"target tagged [2]":    seq(octets("0a1b2c3d4e"), ctxOctets(2, "bert")),
			"two targets":          seq(octets("0a1b2c3d4e"), ctxOctets(0, "a"), ctxOctets(0, "b")),
			"trailing bytes":       withTrailing(RevokeRequest{ID: "0a1b2c3d4e"}.Encode()),
			"non-UTF-8 bare bytes": {0xff, 0xfe},
			"bare text with a tab": []byte("0a1b2c\t3d4e"),
		}},
		{"ListRequest", func(v []byte) error { _, err := DecodeListRequest(v); return err }, map[string][]byte{
			"empty":            {},
			"bare text":        []byte("bert"),
			"universal target": seq(octets("bert")),
			"empty target":     seq(ctxOctets(0, "")),
			"two targets":      seq(ctxOctets(0, "a"), ctxOctets(0, "b")),
			"trailing bytes":   withTrailing(ListRequest{}.Encode()),
		}},
		{"RevokeAllRequest", func(v []byte) error { _, err := DecodeRevokeAllRequest(v); return err }, map[string][]byte{
			"empty":            {},
			"bare text":        []byte("all"),
			"non-UTF-8 target": seq(ctxOctets(0, "\xff")),
			"trailing bytes":   withTrailing(RevokeAllRequest{Target: "bert"}.Encode()),
		}},
		{"CreateResponse", func(v []byte) error { _, err := DecodeCreateResponse(v); return err }, map[string][]byte{
			"absent":            nil,
			"bare text":         []byte("abcd-efgh-ijkl-mnop"),
			"no time":           seq(octets("id"), octets("abcd-efgh-ijkl-mnop")),
			"a fourth field":    seq(octets("id"), octets("pw"), timeField, octets("more")),
			"time as a string":  seq(octets("id"), octets("pw"), octets("20250314150926Z")),
			"not a time":        seq(octets("id"), octets("pw"), ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagGeneralizedTime, "yesterday", "")),
			"non-UTF-8 id":      seq(octets("\xff"), octets("pw"), timeField),
			"INTEGER password":  seq(octets("id"), integer(5), timeField),
			"trailing bytes":    withTrailing(CreateResponse{ID: "id", Password: "pw", Created: created}.Encode()),
			"nested too deeply": nested(maxValueDepth + 1),
		}},
		{"List", func(v []byte) error { _, err := DecodeList(v); return err }, map[string][]byte{
			"absent":               nil,
			"bare text":            []byte("phone"),
			"an entry too short":   seq(entry(octets("id"), octets("label"))),
			"an entry not a SEQ":   seq(octets("id")),
			"unknown field":        seq(entry(octets("id"), octets("label"), timeField, ctxOctets(5, "?"))),
			"lastUsed not a time":  seq(entry(octets("id"), octets("label"), timeField, ctxOctets(0, "soon"))),
			"created not a time":   seq(entry(octets("id"), octets("label"), octets("then"))),
			"non-UTF-8 label":      seq(entry(octets("id"), octets("\xc3"), timeField)),
			"trailing bytes":       withTrailing(EncodeList(nil)),
			"nested too deeply":    nested(maxValueDepth + 1),
			"constructed lastUsed": seq(entry(octets("id"), octets("label"), timeField, ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, ""))),
		}},
		{"RevokeAllResponse", func(v []byte) error { _, err := DecodeRevokeAllResponse(v); return err }, map[string][]byte{
			"absent":          nil,
			"empty SEQUENCE":  seq(),
			"negative":        seq(integer(-1)),
			"a string":        seq(octets("3")),
			"two counts":      seq(integer(1), integer(2)),
			"too big":         seq(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, "\x01\x00\x00\x00\x00\x00\x00\x00\x00", "")),
			"trailing bytes":  withTrailing(RevokeAllResponse{Revoked: 3}.Encode()),
			"context INTEGER": seq(ber.NewInteger(ber.ClassContext, ber.TypePrimitive, ber.TagInteger, 3, "")),
		}},
	}
	for _, d := range decoders {
		for name, v := range d.bad {
			err := d.decode(v)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s, %s (% x): %v, want ErrMalformed", d.name, name, v, err)
			}
		}
	}
}

// The encoders never leave a value the decoders cannot read, so the
// server's responses are always what a client expects.
func TestEncodersProduceASingleSequence(t *testing.T) {
	values := [][]byte{
		CreateRequest{Label: "x", Target: "y"}.Encode(),
		CreateResponse{ID: "i", Password: "p", Created: created}.Encode(),
		ListRequest{}.Encode(),
		EncodeList([]AppPassword{{ID: "i", Label: "l", Created: created, LastUsed: lastUsed, LastUsedFrom: "f"}}),
		RevokeRequest{ID: "i"}.Encode(),
		RevokeAllRequest{}.Encode(),
		RevokeAllResponse{Revoked: 2}.Encode(),
	}
	for _, v := range values {
		if _, err := sequence(v); err != nil {
			t.Errorf("% x: %v", v, err)
		}
	}
}

// FuzzDecode feeds every decoder the same bytes: none may panic, and a
// request that decodes re-encodes to one that decodes the same, so the
// server and its clients cannot disagree on what was asked.
func FuzzDecode(f *testing.F) {
	for _, v := range [][]byte{
		nil,
		{},
		[]byte("Thunderbird on laptop"),
		[]byte("0a1b2c3d4e"),
		CreateRequest{Label: "phone", Target: "bert"}.Encode(),
		CreateResponse{ID: "0a1b2c3d4e", Password: "abcd-efgh-ijkl-mnop", Created: created}.Encode(),
		ListRequest{Target: "bert"}.Encode(),
		EncodeList([]AppPassword{
			{ID: "0a1b2c3d4e", Label: "phone", Created: created, LastUsed: lastUsed, LastUsedFrom: "192.0.2.7"},
			{ID: "1111111111", Label: "laptop", Created: created},
		}),
		RevokeRequest{ID: "0a1b2c3d4e", Target: "bert"}.Encode(),
		RevokeAllRequest{Target: "bert"}.Encode(),
		RevokeAllResponse{Revoked: 25}.Encode(),
		nested(maxValueDepth + 1),
		{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff},
		{0x30, 0x80, 0x04, 0x01, 'x', 0x00, 0x00},
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		// The largest real value, a list of 25, is under 3 KiB; asn1-ber
		// copies a child's bytes into each parent, so much larger inputs
		// only slow the search down.
		if len(v) > 8<<10 {
			return
		}
		if r, err := DecodeCreateRequest(v); err == nil {
			// Encode always writes the BER form, never the bare one.
			want := CreateRequest{Label: r.Label, Target: r.Target}
			if again, err := DecodeCreateRequest(r.Encode()); err != nil || again != want {
				t.Errorf("CreateRequest %+v re-encoded decodes as %+v, %v", r, again, err)
			}
		}
		if r, err := DecodeRevokeRequest(v); err == nil {
			if again, err := DecodeRevokeRequest(r.Encode()); err != nil || again != r {
				t.Errorf("RevokeRequest %+v re-encoded decodes as %+v, %v", r, again, err)
			}
		}
		if r, err := DecodeListRequest(v); err == nil {
			if again, err := DecodeListRequest(r.Encode()); err != nil || again != r {
				t.Errorf("ListRequest %+v re-encoded decodes as %+v, %v", r, again, err)
			}
		}
		if r, err := DecodeRevokeAllRequest(v); err == nil {
			if again, err := DecodeRevokeAllRequest(r.Encode()); err != nil || again != r {
				t.Errorf("RevokeAllRequest %+v re-encoded decodes as %+v, %v", r, again, err)
			}
		}
		if r, err := DecodeRevokeAllResponse(v); err == nil {
			if again, err := DecodeRevokeAllResponse(r.Encode()); err != nil || again != r {
				t.Errorf("RevokeAllResponse %+v re-encoded decodes as %+v, %v", r, again, err)
			}
		}
		// Responses carry times, which re-encode at second precision in
		// UTC, so for them not panicking is the property.
		DecodeCreateResponse(v)
		DecodeList(v)
	})
}
