package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// goldapRequests runs do with go-ldap's client and returns the bytes of
// each request it wrote, answering binds and searches with success.
func goldapRequests(t *testing.T, do func(*ldap.Conn)) [][]byte {
	t.Helper()
	cl, sv := net.Pipe()
	conn := ldap.NewConn(cl, false)
	conn.Start()
	conn.SetTimeout(10 * time.Second)
	got := make(chan [][]byte, 1)
	go func() {
		var reqs [][]byte
		defer func() { got <- reqs }()
		for {
			var raw bytes.Buffer
			p, err := ber.ReadPacket(io.TeeReader(sv, &raw))
			if err != nil {
				return
			}
			reqs = append(reqs, raw.Bytes())
			id := int32(p.Children[0].Value.(int64))
			var answer []byte
			switch p.Children[1].Tag {
			case ldap.ApplicationBindRequest:
				answer = appendResult(nil, id, tagBindResponse, 0)
			case ldap.ApplicationSearchRequest:
				answer = appendResult(nil, id, tagSearchDone, 0)
			default:
				return
			}
			if _, err := sv.Write(answer); err != nil {
				return
			}
		}
	}()
	do(conn)
	conn.Close()
	return <-got
}

// The bind request is byte for byte what go-ldap sends, short and long
// lengths alike.
func TestAppendBindRequest_SameBytesAsGoLDAP(t *testing.T) {
	t.Parallel()
	binds := []User{
		{Name: "uid=alice,ou=people,dc=example,dc=org", Password: "abcd-efgh-ijkl-mnop"},
		{Name: "alice", Password: "Correct Horse Battery Staple ✓"},
		{Name: "uid=" + strings.Repeat("b", 120) + ",ou=people,dc=example,dc=org", Password: "x"},
		{Name: "uid=" + strings.Repeat("c", 300) + ",ou=people,dc=example,dc=org", Password: strings.Repeat("p", 70000)},
	}
	reqs := goldapRequests(t, func(c *ldap.Conn) {
		for _, u := range binds {
			if err := c.Bind(u.Name, u.Password); err != nil {
				t.Errorf("go-ldap bind: %v", err)
			}
		}
	})
	if len(reqs) != len(binds) {
		t.Fatalf("go-ldap sent %d requests, want %d", len(reqs), len(binds))
	}
	for i, u := range binds {
		if got := appendBindRequest(nil, int32(i+1), u.Name, u.Password); !bytes.Equal(got, reqs[i]) {
			t.Errorf("bind %d:\n got %x\nwant %x", i+1, head(got), head(reqs[i]))
		}
	}
}

// The search request is byte for byte what go-ldap sends for a subtree
// search for uid and mail with no limits.
func TestAppendSearchRequest_SameBytesAsGoLDAP(t *testing.T) {
	t.Parallel()
	searches := []struct{ base, filter string }{
		{"ou=people,dc=example,dc=org", "(uid=alice)"},
		// lookup's default, as Postfix asks
		{"ou=people,dc=example,dc=org", "(mail=user100000@example.org)"},
		{"ou=people,dc=example,dc=org", "(uid=" + ldap.EscapeFilter("a*(b)\\") + ")"},
		{"dc=example,dc=org", "(&(objectClass=inetOrgPerson)(|(uid=alice)(mail=alice@example.org))(!(accountStatus=disabled)))"},
		{"ou=" + strings.Repeat("d", 200) + ",dc=example,dc=org", "(uid=" + strings.Repeat("e", 300) + ")"},
	}
	reqs := goldapRequests(t, func(c *ldap.Conn) {
		for _, s := range searches {
			req := ldap.NewSearchRequest(s.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				s.filter, []string{"uid", "mail"}, nil)
			if _, err := c.Search(req); err != nil {
				t.Errorf("go-ldap search: %v", err)
			}
		}
	})
	if len(reqs) != len(searches) {
		t.Fatalf("go-ldap sent %d requests, want %d", len(reqs), len(searches))
	}
	for i, s := range searches {
		f, err := ldap.CompileFilter(s.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSearchRequest(nil, int32(i+1), s.base, f.Bytes()); !bytes.Equal(got, reqs[i]) {
			t.Errorf("search %d:\n got %x\nwant %x", i+1, head(got), head(reqs[i]))
		}
	}
}

// Message IDs of every width are encoded as go-ldap (asn1-ber) encodes
// them; go-ldap's envelope is built here as go-ldap's doRequest builds it.
func TestAppendEnvelope_MessageIDsAsASN1BER(t *testing.T) {
	t.Parallel()
	for _, id := range []int32{1, 127, 128, 255, 256, 32767, 32768, 65535, 65536, 1<<23 - 1, 1 << 23, 1<<31 - 1} {
		p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
		p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(id), "MessageID"))
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "Bind Request")
		op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "alice", "User Name"))
		op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "secret", "Password"))
		p.AppendChild(op)
		if got := appendBindRequest(nil, id, "alice", "secret"); !bytes.Equal(got, p.Bytes()) {
			t.Errorf("message ID %d:\n got %x\nwant %x", id, got, p.Bytes())
		}
	}
}

func TestNextID_WrapsPastZero(t *testing.T) {
	t.Parallel()
	c := client{id: 1<<31 - 2}
	if a, b := c.nextID(), c.nextID(); a != 1<<31-1 || b != 1 {
		t.Errorf("after 2^31-2: %d then %d, want 2^31-1 then 1", a, b)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 64)] }

// reading is a client that reads data as the server's answers, with the
// outstanding request's ID set to id.
func reading(data []byte, id int32) *client {
	return &client{r: bufio.NewReader(bytes.NewReader(data)), id: id}
}

// concat joins messages into one stream.
func concat(ms ...[]byte) []byte { return bytes.Join(ms, nil) }

func TestRead_ResultsEntriesAndControls(t *testing.T) {
	t.Parallel()
	// A bind response, invalidCredentials, with a control after it.
	withControl := []byte{tagSequence, 3 + 9 + 4,
		tagInteger, 1, 7,
		tagBindResponse, 7, tagEnumerated, 1, ldapInvalidCredentials, tagOctetString, 0, tagOctetString, 0,
		0xa0, 2, tagSequence, 0}
	tag, op, err := reading(withControl, 7).read()
	if err != nil || tag != tagBindResponse {
		t.Fatalf("bind response with a control: tag 0x%02x, %v", tag, err)
	}
	if code, err := resultCode(op); code != ldapInvalidCredentials || err != nil {
		t.Errorf("result code %d, %v; want 49", code, err)
	}

	// A search: two entries, a reference, then done.
	ref := appendString(appendEnvelope(nil, 3, elementSize(9)), tagSearchReference, "ldap://x/")
	stream := concat(appendEntry(nil, 3, "uid=a,dc=x"), appendEntry(nil, 3, "uid=b,dc=x"), ref, appendResult(nil, 3, tagSearchDone, 0))
	c := reading(stream, 2)
	c.nc = discard{}
	entries, code, err := c.search("dc=x", []byte{0x87, 3, 'u', 'i', 'd'})
	if entries != 2 || code != 0 || err != nil {
		t.Errorf("search: %d entries, code %d, %v; want 2, 0, nil", entries, code, err)
	}
}

// A server that answers with something other than LDAP, too much, or for
// another request is refused with an error, never a result.
func TestRead_MalformedAndOversizedRefused(t *testing.T) {
	t.Parallel()
	good := appendResult(nil, 1, tagBindResponse, 0)
	for _, tc := range []struct {
		name string
		data []byte
		want int // the code the failure is counted under
		says string
	}{
		{"not a SEQUENCE", []byte{0x31, 3, 2, 1, 1}, CodeMalformed, "not a SEQUENCE"},
		{"indefinite length", []byte{0x30, 0x80, 2, 1, 1, 0, 0}, CodeMalformed, "indefinite"},
		{"length 5 bytes wide", []byte{0x30, 0x85, 0, 0, 0, 0, 9}, CodeMalformed, "5 bytes wide"},
		{"over 1 MiB", []byte{0x30, 0x84, 0x00, 0x10, 0x00, 0x01}, CodeMalformed, "over the limit"},
		{"claims 2 GiB", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}, CodeMalformed, "over the limit"},
		{"cut short", good[:len(good)-2], CodeNetwork, "unexpected EOF"},
		{"nothing", nil, CodeNetwork, "closed the connection"},
		{"another message ID", appendResult(nil, 2, tagBindResponse, 0), CodeMalformed, "message ID 2, want 1"},
		{"message ID not an INTEGER", []byte{0x30, 12, 4, 1, 1, 0x61, 7, 10, 1, 0, 4, 0, 4, 0}, CodeMalformed, "message ID has tag 0x04"},
		{"negative message ID", []byte{0x30, 12, 2, 1, 0xff, 0x61, 7, 10, 1, 0, 4, 0, 4, 0}, CodeMalformed, "integer"},
		{"message ID of 5 bytes", []byte{0x30, 16, 2, 5, 0, 0, 0, 0, 1, 0x61, 7, 10, 1, 0, 4, 0, 4, 0}, CodeMalformed, "integer of 5 bytes"},
		{"result code not ENUMERATED", []byte{0x30, 12, 2, 1, 1, 0x61, 7, 2, 1, 0, 4, 0, 4, 0}, CodeMalformed, "result code has tag 0x02"},
		{"protocolOp longer than the message", []byte{0x30, 12, 2, 1, 1, 0x61, 70, 10, 1, 0, 4, 0, 4, 0}, CodeMalformed, "70 bytes in 7"},
		{"no protocolOp", []byte{0x30, 3, 2, 1, 1}, CodeMalformed, "cut short"},
		{"a search result for a bind", appendResult(nil, 1, tagSearchDone, 0), CodeMalformed, "a bind was answered with a search result"},
		{"multi-byte tag", []byte{0x30, 6, 2, 1, 1, 0x7f, 0x81, 0}, CodeMalformed, "multi-byte tag"},
		{"notice of disconnection", appendNotice(nil, ldapBusy, "too many connections"), ldapBusy, "busy: too many connections"},
		{"notice of success", appendNotice(nil, 0, "bye"), CodeNetwork, "notice of disconnection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := reading(tc.data, 0)
			c.nc = discard{}
			code, err := c.bind("alice", "secret")
			if err == nil {
				t.Fatalf("accepted, result %d", code)
			}
			if got := classify(err); got != tc.want {
				t.Errorf("counted as %s (%d), want %s; error: %v", ResultName(got), got, ResultName(tc.want), err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if cap(c.in) > maxResponse {
				t.Errorf("reserved %d bytes for the claim", cap(c.in))
			}
		})
	}
}

// A search answered with anything but entries, references and its result
// is refused.
func TestSearch_UnexpectedResponseRefused(t *testing.T) {
	t.Parallel()
	c := reading(appendResult(nil, 1, tagBindResponse, 0), 0)
	c.nc = discard{}
	if _, _, err := c.search("dc=x", []byte{0x87, 3, 'u', 'i', 'd'}); classify(err) != CodeMalformed {
		t.Errorf("a bind response to a search: %v, want malformed", err)
	}
}

func TestClassify_Timeouts(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nc, err := dial(l.Addr().String(), nil, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var c client
	c.attach(nc)
	nc.SetDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = c.bind("alice", "secret")
	if got := classify(err); got != CodeTimeout {
		t.Errorf("no answer: %v counted as %s, want timeout", err, ResultName(got))
	}
	if got := classify(errors.New("connection reset by peer")); got != CodeNetwork {
		t.Errorf("a reset counted as %s, want network", ResultName(got))
	}
}

func TestDiagnostic(t *testing.T) {
	t.Parallel()
	op := []byte{tagEnumerated, 1, 51, tagOctetString, 0, tagOctetString, 4, 'b', 'u', 's', 'y'}
	if d := diagnostic(op); d != "busy" {
		t.Errorf("diagnostic %q, want busy", d)
	}
	if d := diagnostic(op[:5]); d != "" {
		t.Errorf("diagnostic of a result without one: %q", d)
	}
}

// discard is a net.Conn whose writes succeed and go nowhere, for a client
// whose reads come from elsewhere.
type discard struct{ net.Conn }

func (discard) Write(b []byte) (int, error) { return len(b), nil }
