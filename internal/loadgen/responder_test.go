package loadgen

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// responder is a tiny LDAP server on loopback that answers binds and
// searches from fixed bytes, allocating nothing per request, so that a
// benchmark's allocations are the client's. A bind with the password
// "wrong" gets invalidCredentials; a search on a connection that has not
// bound gets insufficientAccessRights; a search under ou=empty, or whose
// filter holds "nobody", finds nothing, one under ou=many finds two
// entries, any other one.
type responder struct {
	addr  string
	conns atomic.Int64

	// mute reads requests and never answers.
	mute bool
	// hangUpAfter closes a connection after answering that many requests.
	hangUpAfter int
	// notice answers each new connection with a Notice of Disconnection
	// busy (51), and closes it.
	notice bool

	mu sync.Mutex
	// binds counts the binds of each name, when not nil.
	binds map[string]int
	// searches counts the searches of each filter, as its bytes, when not
	// nil.
	searches map[string]int
	open     map[net.Conn]bool
}

const responderEntryDN = "uid=alice,ou=people,dc=example,dc=org"

func startResponder(tb testing.TB, r *responder) *responder {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.open = map[net.Conn]bool{}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			r.conns.Add(1)
			r.mu.Lock()
			r.open[nc] = true
			r.mu.Unlock()
			go r.serve(nc)
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for nc := range r.open {
			nc.Close()
		}
	})
	return r
}

func (r *responder) serve(nc net.Conn) {
	defer func() {
		nc.Close()
		r.mu.Lock()
		delete(r.open, nc)
		r.mu.Unlock()
	}()
	if r.notice {
		nc.Write(appendNotice(nil, ldapBusy, "too many connections"))
		return
	}
	var in client
	in.attach(nc)
	var out []byte
	bound := false
	for n := 1; ; n++ {
		msg, err := in.readMessage()
		if err != nil {
			return
		}
		id, tag, op, err := parseMessage(msg)
		if err != nil || tag == tagUnbindRequest {
			return
		}
		if r.mute {
			continue
		}
		out = out[:0]
		switch tag {
		case tagBindRequest:
			name, password := bindCredentials(op)
			code := 0
			if string(password) == "wrong" {
				code = ldapInvalidCredentials
			}
			if r.binds != nil {
				r.mu.Lock()
				r.binds[string(name)]++
				r.mu.Unlock()
			}
			bound = code == 0
			out = appendResult(out, id, tagBindResponse, code)
		case tagSearchRequest:
			if !bound {
				out = appendResult(out, id, tagSearchDone, ldapInsufficientAccess)
				break
			}
			base, filter := searchBaseAndFilter(op)
			if r.searches != nil {
				r.mu.Lock()
				r.searches[string(filter)]++
				r.mu.Unlock()
			}
			switch {
			case string(base) == "ou=empty" || bytes.Contains(filter, []byte("nobody")):
			case string(base) == "ou=many":
				out = appendEntry(out, id, responderEntryDN)
				out = appendEntry(out, id, responderEntryDN)
			default:
				out = appendEntry(out, id, responderEntryDN)
			}
			out = appendResult(out, id, tagSearchDone, 0)
		default:
			out = appendResult(out, id, tag+1, ldapProtocolError)
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
		if r.hangUpAfter > 0 && n >= r.hangUpAfter {
			return
		}
	}
}

func (r *responder) bindsOf(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.binds[name]
}

func (r *responder) searchesOf(filter []byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.searches[string(filter)]
}

const (
	ldapProtocolError      = 2
	ldapInvalidCredentials = 49
	ldapInsufficientAccess = 50
	ldapBusy               = 51
)

// searchBaseAndFilter reads the base and the encoded filter of a
// SearchRequest's content.
func searchBaseAndFilter(op []byte) (base, filter []byte) {
	_, base, rest, _ := parseTLV(op)
	for range 5 { // scope, derefAliases, sizeLimit, timeLimit, typesOnly
		_, _, rest, _ = parseTLV(rest)
	}
	_, _, after, _ := parseTLV(rest)
	return base, rest[:len(rest)-len(after)]
}

// bindCredentials reads the name and password of a BindRequest's content.
func bindCredentials(op []byte) (name, password []byte) {
	_, _, rest, _ := parseTLV(op) // version
	_, name, rest, _ = parseTLV(rest)
	_, password, _, _ = parseTLV(rest)
	return name, password
}

// appendResult appends a message whose protocolOp tag is an LDAPResult
// with code, an empty matchedDN and an empty diagnosticMessage.
func appendResult(b []byte, id int32, tag byte, code int) []byte {
	b = appendEnvelope(b, id, 9)
	return append(b, tag, 7, tagEnumerated, 1, byte(code), tagOctetString, 0, tagOctetString, 0)
}

// appendEntry appends a SearchResultEntry for dn with no attributes.
func appendEntry(b []byte, id int32, dn string) []byte {
	content := elementSize(len(dn)) + 2
	b = appendEnvelope(b, id, elementSize(content))
	b = append(b, tagSearchEntry)
	b = appendLength(b, content)
	b = appendString(b, tagOctetString, dn)
	return append(b, tagSequence, 0)
}

// appendNotice appends a Notice of Disconnection (RFC 4511 4.4.1).
func appendNotice(b []byte, code int, diag string) []byte {
	const oid = "1.3.6.1.4.1.1466.20036"
	content := 3 + 2 + elementSize(len(diag)) + 2 + len(oid)
	b = appendEnvelope(b, 0, elementSize(content))
	b = append(b, tagExtendedResponse)
	b = appendLength(b, content)
	b = append(b, tagEnumerated, 1, byte(code), tagOctetString, 0)
	b = appendString(b, tagOctetString, diag)
	return appendString(b, 0x8a, oid) // responseName [10]
}
