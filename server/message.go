package server

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// maxMessageID is maxInt of RFC 4511 4.1.1.
const maxMessageID = 1<<31 - 1

// request is one decoded LDAPMessage.
type request struct {
	id       int64
	op       *ber.Packet
	controls []control
	// bind is the bind request, when the reader decoded it without a
	// packet tree (fastpath.go); otherwise parseBind reads op.
	bind *bindRequest
	// search is the search request once parsed (quick parses it first).
	search *searchRequest
	// ext is the extended request once parsed, or why it is malformed
	// (extDone set either way): the reader looks at its name for StartTLS,
	// for Who am I? and under tls.require before the worker answers it.
	ext     *extendedRequest
	extBad  result
	extDone bool
	// answered is set as the final response goes out: from then on the
	// client may send StartTLS.
	answered atomic.Bool
}

// control is a request control with its criticality, which go-ldap's
// Control interface does not expose.
type control struct {
	oid      string
	critical bool
	decoded  ldap.Control
}

// parseRequest checks the LDAPMessage envelope. Its errors are framing
// errors: without a message ID and a request tag there is nothing to answer.
func parseRequest(p *ber.Packet) (*request, error) {
	if p.ClassType != ber.ClassUniversal || p.Tag != ber.TagSequence || len(p.Children) < 2 || len(p.Children) > 3 {
		return nil, frameErr("LDAPMessage must be a SEQUENCE of messageID, protocolOp and optional controls")
	}
	idp := p.Children[0]
	if idp.ClassType != ber.ClassUniversal || idp.TagType != ber.TypePrimitive || idp.Tag != ber.TagInteger {
		return nil, frameErr("messageID is not an INTEGER")
	}
	id, err := ber.ParseInt64(idp.Data.Bytes())
	if err != nil || id < 1 || id > maxMessageID {
		// 0 is reserved for unsolicited notifications.
		return nil, frameErr("messageID must be between 1 and %d", maxMessageID)
	}
	op := p.Children[1]
	if op.ClassType != ber.ClassApplication || !isRequestTag(op.Tag) {
		return nil, frameErr("protocolOp tag %d is not an LDAP request", op.Tag)
	}
	req := &request{id: id, op: op}
	if len(p.Children) == 3 {
		cs := p.Children[2]
		if cs.ClassType != ber.ClassContext || cs.Tag != 0 || cs.TagType != ber.TypeConstructed {
			return nil, frameErr("controls must be [0] Controls")
		}
		for _, c := range cs.Children {
			ctl, err := parseControl(c)
			if err != nil {
				return nil, err
			}
			req.controls = append(req.controls, ctl)
		}
	}
	return req, nil
}

func isRequestTag(t ber.Tag) bool {
	switch t {
	case ldap.ApplicationBindRequest, ldap.ApplicationUnbindRequest, ldap.ApplicationSearchRequest,
		ldap.ApplicationModifyRequest, ldap.ApplicationAddRequest, ldap.ApplicationDelRequest,
		ldap.ApplicationModifyDNRequest, ldap.ApplicationCompareRequest, ldap.ApplicationAbandonRequest,
		ldap.ApplicationExtendedRequest:
		return true
	}
	return false
}

func parseControl(c *ber.Packet) (control, error) {
	if c.Tag != ber.TagSequence || len(c.Children) < 1 || len(c.Children) > 3 {
		return control{}, frameErr("a control must be a SEQUENCE of controlType, criticality, controlValue")
	}
	t := c.Children[0]
	if t.Tag != ber.TagOctetString || t.TagType != ber.TypePrimitive {
		return control{}, frameErr("controlType must be an OCTET STRING")
	}
	ctl := control{oid: t.Data.String()}
	if len(c.Children) > 1 {
		b := c.Children[1]
		if b.ClassType == ber.ClassUniversal && b.Tag == ber.TagBoolean {
			ctl.critical = len(b.Data.Bytes()) == 1 && b.Data.Bytes()[0] != 0
		}
	}
	// go-ldap mutates descriptions and may reject values it knows; a value
	// it cannot decode is only fatal if the control is critical, which the
	// dispatcher checks against the controls it supports.
	if d, err := ldap.DecodeControl(c); err == nil {
		ctl.decoded = d
	}
	return ctl, nil
}

// --- responses ---

// envelope wraps a protocolOp in an LDAPMessage.
func envelope(id int64, op *ber.Packet, controls ...*ber.Packet) *ber.Packet {
	m := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "messageID"))
	m.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "controls")
		for _, c := range controls {
			cs.AppendChild(c)
		}
		m.AppendChild(cs)
	}
	return m
}

// result is an LDAPResult: what every response but a search entry carries.
type result struct {
	code      uint16
	matchedDN string
	diag      string
	// secret: diag repeats a secret for the client (a new app password)
	// and must not reach a log.
	secret bool
}

func (r result) String() string {
	diag := r.diag
	if r.secret {
		diag = "(withheld)"
	}
	return fmt.Sprintf("%s (%d): %s", ldap.LDAPResultCodeMap[r.code], r.code, diag)
}

// LogValue keeps a secret diagnostic out of a log line that names r.
func (r result) LogValue() slog.Value { return slog.StringValue(r.String()) }

func success() result { return result{code: ldap.LDAPResultSuccess} }

func fail(code uint16, format string, a ...any) result {
	return result{code: code, diag: fmt.Sprintf(format, a...)}
}

// resultOp encodes an LDAPResult under the given response tag, leaving room
// for the extra fields of bind and extended responses.
func resultOp(tag ber.Tag, r result) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(r.code), "resultCode"))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, r.matchedDN, "matchedDN"))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, r.diag, "diagnosticMessage"))
	return p
}

// extendedOp is an ExtendedResponse. A nil value omits responseValue.
func extendedOp(r result, name string, value []byte) *ber.Packet {
	p := resultOp(ldap.ApplicationExtendedResponse, r)
	if name != "" {
		p.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 10, name, "responseName"))
	}
	if value != nil {
		v := ber.Encode(ber.ClassContext, ber.TypePrimitive, 11, nil, "responseValue")
		v.Data.Write(value)
		p.AppendChild(v)
	}
	return p
}

// responseTag is the response that answers a request tag.
var responseTag = map[ber.Tag]ber.Tag{
	ldap.ApplicationBindRequest:     ldap.ApplicationBindResponse,
	ldap.ApplicationSearchRequest:   ldap.ApplicationSearchResultDone,
	ldap.ApplicationModifyRequest:   ldap.ApplicationModifyResponse,
	ldap.ApplicationAddRequest:      ldap.ApplicationAddResponse,
	ldap.ApplicationDelRequest:      ldap.ApplicationDelResponse,
	ldap.ApplicationModifyDNRequest: ldap.ApplicationModifyDNResponse,
	ldap.ApplicationCompareRequest:  ldap.ApplicationCompareResponse,
	ldap.ApplicationExtendedRequest: ldap.ApplicationExtendedResponse,
}

// OIDs of standard operations.
const (
	oidNoticeOfDisconnection = "1.3.6.1.4.1.1466.20036" // RFC 4511 4.4.1
)

// noticeOfDisconnection tells the client the server is closing the
// connection (RFC 4511 4.4.1): messageID 0, an ExtendedResponse.
func noticeOfDisconnection(code uint16, diag string) *ber.Packet {
	return envelope(0, extendedOp(result{code: code, diag: diag}, oidNoticeOfDisconnection, nil))
}

// octetString reads a primitive OCTET STRING (or a context-tagged primitive,
// whose Value asn1-ber leaves empty: the bytes are in Data).
func octetString(p *ber.Packet) (string, bool) {
	if p.TagType != ber.TypePrimitive {
		return "", false
	}
	if p.ClassType == ber.ClassUniversal && p.Tag != ber.TagOctetString {
		return "", false
	}
	return p.Data.String(), true
}

func integer(p *ber.Packet) (int64, bool) {
	if p.ClassType != ber.ClassUniversal || p.TagType != ber.TypePrimitive ||
		(p.Tag != ber.TagInteger && p.Tag != ber.TagEnumerated) {
		return 0, false
	}
	v, err := ber.ParseInt64(p.Data.Bytes())
	return v, err == nil && len(p.Data.Bytes()) > 0
}

func boolean(p *ber.Packet) (bool, bool) {
	if p.ClassType != ber.ClassUniversal || p.TagType != ber.TypePrimitive || p.Tag != ber.TagBoolean ||
		len(p.Data.Bytes()) != 1 {
		return false, false
	}
	return p.Data.Bytes()[0] != 0, true
}
