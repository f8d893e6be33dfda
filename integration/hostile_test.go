package integration

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// peakRSS is the server's high-water resident memory in KiB.
func peakRSS(t *testing.T, pid int) int { return procStatusKB(t, pid, "VmHWM") }

// procStatusKB reads a memory figure of a process from /proc, in KiB.
func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}

// hostileMessage wraps raw protocolOp bytes (and raw controls) in an
// LDAPMessage, with lengths computed honestly.
func hostileMessage(id byte, op []byte, controls []byte) []byte {
	body := append([]byte{0x02, 0x01, id}, op...)
	if controls != nil {
		body = append(body, tlv(0xa0, controls)...)
	}
	return tlv(0x30, body)
}

// tlv encodes one element with a definite length.
func tlv(tag byte, content []byte) []byte {
	n := len(content)
	var hdr []byte
	switch {
	case n < 0x80:
		hdr = []byte{tag, byte(n)}
	case n < 1<<8:
		hdr = []byte{tag, 0x81, byte(n)}
	case n < 1<<16:
		hdr = []byte{tag, 0x82, byte(n >> 8), byte(n)}
	default:
		hdr = []byte{tag, 0x84, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(hdr, content...)
}

func whoAmIOp() []byte { return tlv(0x77, tlv(0x80, []byte("1.3.6.1.4.1.4203.1.11.3"))) }

// deepFilterSearch is a root DSE search whose filter nests depth NOTs.
func deepFilterSearch(depth int) []byte {
	f := tlv(0x87, []byte("objectClass"))
	for i := 0; i < depth; i++ {
		f = tlv(0xa2, f)
	}
	req := append(tlv(0x04, nil), 0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00)
	req = append(req, f...)
	req = append(req, tlv(0x30, nil)...)
	return tlv(0x63, req)
}

// Hostile PDUs, each on its own connection, some after a bind (where the
// limits are larger), many at once: each gets a Notice of Disconnection or
// a closed connection, the process never crashes, its memory stays bounded,
// and a well-behaved client is served throughout.
func TestHostilePDUs_AnsweredWithoutCrashMemoryBoundedOthersServed(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("target", true)
	_, pw := w.appPassword("target", "phone")

	tenMB := bytes.Repeat([]byte{'x'}, 10<<20)
	manyControls := bytes.Repeat(tlv(0x30, tlv(0x04, []byte("1"))), 100_000)
	cases := []struct {
		name      string
		afterBind bool
		payload   []byte
		halfClose bool
	}{
		{"length of 2 GiB", false, []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01}, false},
		{"10 MB password before bind", false, hostileMessage(1, tlv(0x60, append(append([]byte{0x02, 0x01, 0x03}, tlv(0x04, []byte(u.dn))...), tlv(0x80, tenMB)...)), nil), false},
		{"10 MB attribute value after bind", true, hostileMessage(2, tlv(0x66, append(tlv(0x04, []byte(u.dn)),
			tlv(0x30, tlv(0x30, append([]byte{0x0a, 0x01, 0x02}, tlv(0x30, append(tlv(0x04, []byte("description")), tlv(0x31, tlv(0x04, tenMB))...))...)))...)), nil), false},
		{"100,000 controls before bind", false, hostileMessage(1, whoAmIOp(), manyControls), false},
		{"100,000 controls after bind", true, hostileMessage(2, whoAmIOp(), manyControls), false},
		{"filter nested 10,000 deep", true, hostileMessage(2, deepFilterSearch(10_000), nil), false},
		{"filter nested 65 deep", false, hostileMessage(1, deepFilterSearch(65), nil), false},
		{"indefinite length inside", false, hostileMessage(1, []byte{0x63, 0x80, 0x00, 0x00}, nil), false},
		{"a response tag from the client", false, hostileMessage(1, tlv(0x61, nil), nil), false},
		{"wrong universal tag", false, tlv(0x31, []byte{0x02, 0x01, 0x01}), false},
		{"truncated then half-closed", false, simpleBindBytes(1, u.dn, pw)[:20], true},
	}

	// A steady client binds and asks who it is all along.
	var served, failed atomic.Int64
	stopSteady := make(chan struct{})
	steadyDone := make(chan struct{})
	go func() {
		defer close(steadyDone)
		for {
			select {
			case <-stopSteady:
				return
			default:
			}
			if authz, rc := goLDAPBind(t, w.url(), u.dn, pw); rc != 0 || authz != "dn:"+u.dn {
				failed.Add(1)
			} else {
				served.Add(1)
			}
		}
	}()

	var wg sync.WaitGroup
	const rounds = 5
	for r := 0; r < rounds; r++ {
		for _, tc := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if msg := attack(w, u.dn, pw, tc.afterBind, tc.payload, tc.halfClose); msg != "" {
					t.Errorf("%s: %s", tc.name, msg)
				}
			}()
		}
	}
	wg.Wait()
	close(stopSteady)
	<-steadyDone

	if failed.Load() > 0 || served.Load() == 0 {
		t.Errorf("the well-behaved client: %d binds served, %d failed", served.Load(), failed.Load())
	}
	peak := peakRSS(t, w.cmd.Process.Pid)
	t.Logf("peak RSS after %d hostile connections: %d MiB; well-behaved binds served meanwhile: %d",
		rounds*len(cases), peak/1024, served.Load())
	// Documented bound (README, "Memory under load"): baseline plus, per connection, one
	// message of at most limits.max_message_bytes and its decoded form.
	if peak > 256<<10 {
		t.Errorf("peak RSS %d MiB exceeds 256 MiB", peak/1024)
	}
	if strings.Contains(w.logs.String(), "panic") {
		t.Errorf("the server log mentions a panic")
	}
}

// attack sends one hostile payload and reports what went wrong, "" if the
// server answered as it should.
func attack(w *wicket, dn, pw string, afterBind bool, payload []byte, halfClose bool) string {
	c, err := net.Dial("tcp", w.addr)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if afterBind {
		c.Write(simpleBindBytes(1, dn, pw))
		p, err := ber.ReadPacket(r)
		if err != nil || len(p.Children) < 2 || len(p.Children[1].Children) < 1 {
			return fmt.Sprintf("bind before the attack: %v", err)
		}
		if code, _ := ber.ParseInt64(p.Children[1].Children[0].Data.Bytes()); code != 0 {
			return fmt.Sprintf("bind before the attack: result %d", code)
		}
	}
	// The server may close while the payload is still being written.
	c.Write(payload)
	if halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	for {
		p, err := ber.ReadPacket(r)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return "the server kept the connection open"
			}
			return "" // closed
		}
		if len(p.Children) >= 2 {
			id, _ := ber.ParseInt64(p.Children[0].Data.Bytes())
			op := p.Children[1]
			if id == 0 && op.Tag == ldap.ApplicationExtendedResponse {
				continue // the Notice of Disconnection; the close follows
			}
			return fmt.Sprintf("the server answered message %d with op %d instead of disconnecting", id, op.Tag)
		}
	}
}
