package exop

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/wicketldap/wicket/internal/berlimit"
)

// ErrMalformed is returned for a value that is not the documented BER.
var ErrMalformed = errors.New("malformed value")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Context tags of the optional fields.
const (
	tagTarget       = 0
	tagLastUsed     = 0
	tagLastUsedFrom = 1
)

// CreateRequest asks for a new app password.
//
//	AppPasswordCreateRequest ::= SEQUENCE {
//	    label   OCTET STRING,           -- UTF-8, 1-100 characters (rules: docs/PROTOCOL.md)
//	    target  [0] OCTET STRING OPTIONAL } -- user name or DN; administrators only
//
// A value that is not such a SEQUENCE is taken whole as the UTF-8 label, so
// `ldapexop '<oid>:Thunderbird'` works.
type CreateRequest struct {
	Label  string
	Target string
	// Bare is set by the decoder when the value was the label alone.
	Bare bool
}

// CreateResponse carries the new app password, shown this once.
//
//	AppPasswordCreateResponse ::= SEQUENCE {
//	    id        OCTET STRING,
//	    password  OCTET STRING,         -- xxxx-xxxx-xxxx-xxxx
//	    created   GeneralizedTime }
type CreateResponse struct {
	ID       string
	Password string
	Created  time.Time
}

// ListRequest asks for the app passwords of the bound user or, for an
// administrator, of target. The value may also be absent.
//
//	AppPasswordListRequest ::= SEQUENCE {
//	    target  [0] OCTET STRING OPTIONAL }
type ListRequest struct {
	Target string
}

// AppPassword is one entry of a list: never a secret.
//
//	AppPassword ::= SEQUENCE {
//	    id            OCTET STRING,
//	    label         OCTET STRING,
//	    created       GeneralizedTime,
//	    lastUsed      [0] GeneralizedTime OPTIONAL,
//	    lastUsedFrom  [1] OCTET STRING OPTIONAL }
//	AppPasswordListResponse ::= SEQUENCE OF AppPassword
type AppPassword struct {
	ID           string
	Label        string
	Created      time.Time
	LastUsed     time.Time // zero when never used
	LastUsedFrom string
}

// RevokeRequest revokes one app password by id. A value that is not such a
// SEQUENCE is taken whole as the id.
//
//	AppPasswordRevokeRequest ::= SEQUENCE {
//	    id      OCTET STRING,
//	    target  [0] OCTET STRING OPTIONAL }
type RevokeRequest struct {
	ID     string
	Target string
}

// RevokeAllRequest revokes every app password; the value may be absent.
//
//	AppPasswordRevokeAllRequest ::= SEQUENCE {
//	    target  [0] OCTET STRING OPTIONAL }
//	AppPasswordRevokeAllResponse ::= SEQUENCE {
//	    revoked INTEGER }
type RevokeAllRequest struct {
	Target string
}

// RevokeAllResponse says how many app passwords were revoked.
type RevokeAllResponse struct {
	Revoked int
}

// --- encoding ---

func octets(s string) *ber.Packet {
	return ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, s, "")
}

func ctxOctets(tag ber.Tag, s string) *ber.Packet {
	return ber.NewString(ber.ClassContext, ber.TypePrimitive, tag, s, "")
}

const genTimeLayout = "20060102150405Z"

func genTime(class ber.Class, tag ber.Tag, t time.Time) *ber.Packet {
	return ber.NewString(class, ber.TypePrimitive, tag, t.UTC().Format(genTimeLayout), "")
}

func withTarget(seq *ber.Packet, target string) []byte {
	if target != "" {
		seq.AppendChild(ctxOctets(tagTarget, target))
	}
	return seq.Bytes()
}

func (r CreateRequest) Encode() []byte {
	seq := ber.NewSequence("")
	seq.AppendChild(octets(r.Label))
	return withTarget(seq, r.Target)
}

func (r CreateResponse) Encode() []byte {
	seq := ber.NewSequence("")
	seq.AppendChild(octets(r.ID))
	seq.AppendChild(octets(r.Password))
	seq.AppendChild(genTime(ber.ClassUniversal, ber.TagGeneralizedTime, r.Created))
	return seq.Bytes()
}

func (r ListRequest) Encode() []byte { return withTarget(ber.NewSequence(""), r.Target) }

// EncodeList encodes an AppPasswordListResponse.
func EncodeList(list []AppPassword) []byte {
	seq := ber.NewSequence("")
	for _, p := range list {
		e := ber.NewSequence("")
		e.AppendChild(octets(p.ID))
		e.AppendChild(octets(p.Label))
		e.AppendChild(genTime(ber.ClassUniversal, ber.TagGeneralizedTime, p.Created))
		if !p.LastUsed.IsZero() {
			e.AppendChild(genTime(ber.ClassContext, tagLastUsed, p.LastUsed))
		}
		if p.LastUsedFrom != "" {
			e.AppendChild(ctxOctets(tagLastUsedFrom, p.LastUsedFrom))
		}
		seq.AppendChild(e)
	}
	return seq.Bytes()
}

func (r RevokeRequest) Encode() []byte {
	seq := ber.NewSequence("")
	seq.AppendChild(octets(r.ID))
	return withTarget(seq, r.Target)
}

func (r RevokeAllRequest) Encode() []byte { return withTarget(ber.NewSequence(""), r.Target) }

func (r RevokeAllResponse) Encode() []byte {
	seq := ber.NewSequence("")
	seq.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(r.Revoked), ""))
	return seq.Bytes()
}

// --- decoding ---

// No value of these operations nests deeper than three; a list of the most
// app passwords any account may hold has a few thousand elements.
const (
	maxValueDepth    = 4
	maxValueElements = 20000
)

// sequence decodes v as one SEQUENCE that spans all of v.
func sequence(v []byte) (*ber.Packet, error) {
	if len(v) == 0 || v[0] != 0x30 {
		return nil, malformed("not a SEQUENCE")
	}
	// Depth first, from the headers alone: the decoder's cost grows with
	// the square of the nesting, and these values never nest deeper than
	// maxValueDepth.
	if err := berlimit.Check(v, maxValueDepth, maxValueElements); err != nil {
		return nil, malformed("%v", err)
	}
	p, err := ber.DecodePacketErr(v)
	if err != nil {
		return nil, malformed("%v", err)
	}
	if len(p.Bytes()) != len(v) {
		return nil, malformed("trailing bytes after the SEQUENCE")
	}
	return p, nil
}

func isOctets(p *ber.Packet) bool {
	return p.ClassType == ber.ClassUniversal && p.TagType == ber.TypePrimitive && p.Tag == ber.TagOctetString
}

func utf8Field(p *ber.Packet, what string) (string, error) {
	if !isOctets(p) {
		return "", malformed("%s is not an OCTET STRING", what)
	}
	s := p.Data.String()
	if !utf8.ValidString(s) {
		return "", malformed("%s is not UTF-8", what)
	}
	return s, nil
}

// target reads the optional [0] target that ends several requests.
func target(rest []*ber.Packet) (string, error) {
	switch len(rest) {
	case 0:
		return "", nil
	case 1:
		t := rest[0]
		if t.ClassType != ber.ClassContext || t.Tag != tagTarget || t.TagType != ber.TypePrimitive {
			return "", malformed("expected [0] target")
		}
		s := t.Data.String()
		if s == "" || !utf8.ValidString(s) {
			return "", malformed("target must be a non-empty UTF-8 string")
		}
		return s, nil
	}
	return "", malformed("unexpected fields after target")
}

// plainText tells a bare value typed by a person from broken BER, which
// carries tags and lengths below 0x20.
func plainText(v []byte) bool {
	if len(v) == 0 || !utf8.Valid(v) {
		return false
	}
	for _, r := range string(v) {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// DecodeCreateRequest reads the BER form or a bare UTF-8 label.
func DecodeCreateRequest(v []byte) (CreateRequest, error) {
	if p, err := sequence(v); err == nil {
		if len(p.Children) < 1 {
			return CreateRequest{}, malformed("the label is missing")
		}
		label, err := utf8Field(p.Children[0], "label")
		if err != nil {
			return CreateRequest{}, err
		}
		t, err := target(p.Children[1:])
		return CreateRequest{Label: label, Target: t}, err
	}
	if !plainText(v) {
		return CreateRequest{}, malformed("the value is neither the request SEQUENCE nor a UTF-8 label")
	}
	return CreateRequest{Label: string(v), Bare: true}, nil
}

func DecodeCreateResponse(v []byte) (CreateResponse, error) {
	p, err := sequence(v)
	if err != nil {
		return CreateResponse{}, err
	}
	if len(p.Children) != 3 {
		return CreateResponse{}, malformed("want id, password and created")
	}
	var r CreateResponse
	if r.ID, err = utf8Field(p.Children[0], "id"); err != nil {
		return r, err
	}
	if r.Password, err = utf8Field(p.Children[1], "password"); err != nil {
		return r, err
	}
	r.Created, err = timeField(p.Children[2], ber.ClassUniversal, ber.TagGeneralizedTime, "created")
	return r, err
}

func timeField(p *ber.Packet, class ber.Class, tag ber.Tag, what string) (time.Time, error) {
	if p.ClassType != class || p.Tag != tag || p.TagType != ber.TypePrimitive {
		return time.Time{}, malformed("%s is not a GeneralizedTime", what)
	}
	t, err := ber.ParseGeneralizedTime(p.Data.Bytes())
	if err != nil {
		return time.Time{}, malformed("%s: %v", what, err)
	}
	return t.UTC(), nil
}

// DecodeListRequest accepts an absent value (nil) as "my own".
func DecodeListRequest(v []byte) (ListRequest, error) {
	if v == nil {
		return ListRequest{}, nil
	}
	p, err := sequence(v)
	if err != nil {
		return ListRequest{}, err
	}
	t, err := target(p.Children)
	return ListRequest{Target: t}, err
}

func DecodeList(v []byte) ([]AppPassword, error) {
	p, err := sequence(v)
	if err != nil {
		return nil, err
	}
	out := make([]AppPassword, 0, len(p.Children))
	for _, e := range p.Children {
		if e.ClassType != ber.ClassUniversal || e.Tag != ber.TagSequence || len(e.Children) < 3 {
			return nil, malformed("an AppPassword must be a SEQUENCE of at least id, label, created")
		}
		var a AppPassword
		if a.ID, err = utf8Field(e.Children[0], "id"); err != nil {
			return nil, err
		}
		if a.Label, err = utf8Field(e.Children[1], "label"); err != nil {
			return nil, err
		}
		if a.Created, err = timeField(e.Children[2], ber.ClassUniversal, ber.TagGeneralizedTime, "created"); err != nil {
			return nil, err
		}
		for _, o := range e.Children[3:] {
			switch {
			case o.ClassType == ber.ClassContext && o.Tag == tagLastUsed:
				if a.LastUsed, err = timeField(o, ber.ClassContext, tagLastUsed, "lastUsed"); err != nil {
					return nil, err
				}
			case o.ClassType == ber.ClassContext && o.Tag == tagLastUsedFrom && o.TagType == ber.TypePrimitive &&
				utf8.Valid(o.Data.Bytes()):
				a.LastUsedFrom = o.Data.String()
			default:
				return nil, malformed("unknown field in AppPassword")
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// DecodeRevokeRequest reads the BER form or a bare id.
func DecodeRevokeRequest(v []byte) (RevokeRequest, error) {
	if p, err := sequence(v); err == nil {
		if len(p.Children) < 1 {
			return RevokeRequest{}, malformed("the id is missing")
		}
		id, err := utf8Field(p.Children[0], "id")
		if err != nil {
			return RevokeRequest{}, err
		}
		t, err := target(p.Children[1:])
		return RevokeRequest{ID: id, Target: t}, err
	}
	if !plainText(v) {
		return RevokeRequest{}, malformed("the value is neither the request SEQUENCE nor an app password id")
	}
	return RevokeRequest{ID: string(v)}, nil
}

// DecodeRevokeAllRequest accepts an absent value (nil) as "my own".
func DecodeRevokeAllRequest(v []byte) (RevokeAllRequest, error) {
	r, err := DecodeListRequest(v)
	return RevokeAllRequest(r), err
}

func DecodeRevokeAllResponse(v []byte) (RevokeAllResponse, error) {
	p, err := sequence(v)
	if err != nil {
		return RevokeAllResponse{}, err
	}
	if len(p.Children) != 1 || p.Children[0].Tag != ber.TagInteger || p.Children[0].ClassType != ber.ClassUniversal {
		return RevokeAllResponse{}, malformed("want revoked INTEGER")
	}
	n, err := ber.ParseInt64(p.Children[0].Data.Bytes())
	if err != nil || n < 0 {
		return RevokeAllResponse{}, malformed("revoked is not a count")
	}
	return RevokeAllResponse{Revoked: int(n)}, nil
}
