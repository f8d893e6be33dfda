package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// connTableConfig leaves every connection limit at its default
// (max_connections 4,096, of which 409 reserved for the trusted 127.0.0.1;
// 1,024 per untrusted /24; 256 per address) and only shortens the idle
// timeout of unauthenticated connections, so that the test sees it end.
const connTableConfig = `
listen   = "127.0.0.1:0"
database = %q
base_dn  = "dc=example,dc=org"

[log]
level  = "info"
format = "json"

[argon2]
memory_kib = 8192
time       = 1
threads    = 1

[limits]
unauthenticated_idle_timeout = "5s"
%s
`

// The defaults connTableConfig relies on.
const (
	tableUntrusted    = 4096 - 409
	tablePerNetwork   = 1024
	tablePerAddress   = 256
	tableUnauthIdle   = 5 * time.Second
	tableRefusalEvery = 10 * time.Second
)

// A group of connections opened together: count from each of addrs.
type connGroup struct {
	addrs []string
	count int
}

// closeEvent is the server's close of a held connection.
type closeEvent struct {
	at  time.Time
	err error
}

// hostileConn is one of the attacker's connections.
type hostileConn struct {
	nc net.Conn
	r  *bufio.Reader
}

// Must-show 4 of issue 10: 4,000 idle connections from untrusted
// addresses cannot keep the mail server out. They take what the caps let
// them, the trusted client's new connections still bind, and those that
// never authenticated are closed after the short idle timeout.
func TestConnectionTable_TrustedClientBindsWhileOutsidersFillIt(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 4,000 connections")
	}
	needFiles(t, 12000)
	w := startWicketConfig(t, connTableConfig, "")
	u := w.newUser("mailuser", true)
	_, appPW := w.appPassword("mailuser", "imap")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.10.1.1")}}
	if c, err := d.Dial("tcp", w.addr); err != nil {
		t.Skipf("cannot connect from 127.10.1.1: %v", err)
	} else {
		c.Close()
	}

	// One address beyond its cap, then four more of its /24 beyond the
	// network's, then seven other /24s beyond what untrusted clients may
	// hold: 4,000 connections, each group after the one before, so that
	// each cap is met by the group meant to meet it.
	var groups []connGroup
	addresses := 0
	groups = append(groups, connGroup{[]string{"127.10.1.1"}, 300})
	groups = append(groups, connGroup{[]string{"127.10.1.2", "127.10.1.3", "127.10.1.4", "127.10.1.5"}, 200})
	var rest []string
	for n := 2; n <= 8; n++ {
		for h := 1; h <= 4; h++ {
			rest = append(rest, fmt.Sprintf("127.10.%d.%d", n, h))
		}
	}
	groups = append(groups, connGroup{rest, 0}) // 2,900 spread over them

	var (
		mu      sync.Mutex
		held    []hostileConn
		refused = map[string]int{}
		closed  = make(chan closeEvent, 4096)
		// closedEarly counts held connections closed before the last was
		// opened; with none, the counts below are exact.
		closedEarly atomic.Int32
		filling     atomic.Bool
	)
	filling.Store(true)
	began := time.Now()
	opened := 0
	for gi, g := range groups {
		addresses += len(g.addrs)
		n := g.count * len(g.addrs)
		if g.count == 0 {
			n = 4000 - opened
		}
		jobs := make(chan string)
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for from := range jobs {
					hc, why, err := openHostile(w.addr, from)
					mu.Lock()
					switch {
					case err != nil:
						refused["error: "+err.Error()]++
					case hc == nil:
						refused[why]++
					default:
						held = append(held, *hc)
					}
					mu.Unlock()
					if hc != nil {
						go func() {
							at, err := awaitIdleClose(hc)
							if filling.Load() {
								closedEarly.Add(1)
							}
							if err != nil {
								err = fmt.Errorf("held connection from %s: %w", from, err)
							}
							closed <- closeEvent{at, err}
						}()
					}
				}
			})
		}
		for i := range n {
			jobs <- g.addrs[i%len(g.addrs)]
		}
		close(jobs)
		wg.Wait()
		opened += n
		t.Logf("group %d: %d connections from %d addresses; %d held so far", gi+1, n, len(g.addrs), len(held))
	}
	filling.Store(false)
	fillTook := time.Since(began)
	filled := time.Now()
	defer func() {
		for _, hc := range held {
			hc.nc.Close()
		}
	}()
	t.Logf("4,000 connections from %d untrusted addresses in 8 /24s opened in %v: %d held, refused %v",
		addresses, fillTook.Round(time.Millisecond), len(held), refused)
	for why := range refused {
		if strings.HasPrefix(why, "error: ") {
			t.Errorf("%d connections failed otherwise than refused: %s", refused[why], why)
		}
	}
	if len(held) > tableUntrusted {
		t.Errorf("untrusted clients hold %d connections, more than the %d outside the reserve", len(held), tableUntrusted)
	}
	total := 0
	for _, n := range refused {
		total += n
	}
	exact := closedEarly.Load() == 0
	if exact {
		want := map[string]int{
			"too many connections from your address; try again later": 300 - tablePerAddress,
			"too many connections from your network; try again later": 300 + 800 - tablePerNetwork - (300 - tablePerAddress),
			"too many connections; try again later":                   4000 - 1100 - (tableUntrusted - tablePerNetwork),
		}
		if len(held) != tableUntrusted || fmt.Sprint(refused) != fmt.Sprint(want) {
			t.Errorf("held %d, refused %v; want %d held, refused %v", len(held), refused, tableUntrusted, want)
		}
		// Full for outsiders, from any network.
		if _, why, err := openHostile(w.addr, "127.10.9.1"); why != "too many connections; try again later" {
			t.Errorf("a newcomer from another network while the table is full: %q, %v; want refused", why, err)
		}
		total++
	} else {
		t.Logf("%d held connections timed out before the last was opened: counts checked as bounds only", closedEarly.Load())
	}

	// The trusted client's new connections bind: anonymously, and as the
	// user with an app password, as a mail server does for a login.
	trustedBegan := time.Now()
	const trustedConns = 40
	var tc []*ldap.Conn
	for i := range trustedConns {
		c, err := ldap.DialURL(w.url())
		if err != nil {
			t.Fatalf("trusted connection %d: %v", i, err)
		}
		defer c.Close()
		c.SetTimeout(30 * time.Second)
		if err := c.UnauthenticatedBind(""); err != nil {
			t.Fatalf("trusted connection %d: anonymous bind: %v", i, err)
		}
		if err := c.Bind(u.dn, appPW); err != nil {
			t.Fatalf("trusted connection %d: bind with the app password: %v", i, err)
		}
		tc = append(tc, c)
	}
	res, err := tc[0].WhoAmI(nil)
	if err != nil || res.AuthzID != "dn:"+u.dn {
		t.Fatalf("whoami on a trusted connection: %+v, %v", res, err)
	}
	t.Logf("%d new trusted connections bound (anonymous, then app password) in %v", trustedConns,
		time.Since(trustedBegan).Round(time.Millisecond))

	// The outsiders' connections never authenticated: each is closed with
	// a notice after the short timeout.
	var last time.Time
	for range held {
		select {
		case ev := <-closed:
			if ev.err != nil {
				t.Fatal(ev.err)
			}
			if ev.at.After(last) {
				last = ev.at
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("held connections still open 2 min after the table was filled")
		}
	}
	t.Logf("all %d held connections closed by the server, the last %v after the last was opened (timeout %v)",
		len(held), last.Sub(filled).Round(time.Millisecond), tableUnauthIdle)

	// Their places are free again; the trusted connections, bound, stay.
	if hc, why, err := openHostile(w.addr, "127.10.9.1"); hc == nil {
		t.Errorf("a newcomer once the idle connections are gone: refused %q, %v", why, err)
	} else {
		hc.nc.Close()
	}
	for i, c := range tc {
		if _, err := c.WhoAmI(nil); err != nil {
			t.Fatalf("trusted connection %d after the outsiders' timeout: %v", i, err)
		}
	}

	// Some 300 refusals were logged as a handful of lines: the first, and
	// at the latest at shutdown, one per reason with its count.
	w.stop()
	lines, logged := 0, 0
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Count int    `json:"count"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch {
		case strings.HasPrefix(rec.Msg, "connection refused: "):
			lines++
			logged++
		case strings.HasPrefix(rec.Msg, "connections refused: "):
			lines++
			logged += rec.Count
		}
	}
	intervals := int(time.Since(began)/tableRefusalEvery) + 2
	t.Logf("%d refusals logged in %d lines", total, lines)
	if logged != total || lines > 4*intervals {
		t.Errorf("%d refusals logged in %d lines counting %d; want them all counted in at most %d lines",
			total, lines, logged, 4*intervals)
	}
}

// openHostile connects from a loopback address and binds anonymously.
// Held, it returns the connection; refused, the Notice's diagnostic.
func openHostile(addr, from string) (*hostileConn, string, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(nc)
	// The server may have refused and closed already: a failed write
	// still leaves its notice to read.
	nc.Write(simpleBindBytes(1, "", ""))
	id, code, diag, err := readResult(r)
	switch {
	case err != nil:
		nc.Close()
		if errors.Is(err, syscall.ECONNRESET) {
			return nil, "reset", nil
		}
		return nil, "", err
	case id == 0:
		nc.Close()
		if code != ldap.LDAPResultBusy {
			return nil, "", fmt.Errorf("notice %d %q, want busy", code, diag)
		}
		return nil, diag, nil
	case code != ldap.LDAPResultSuccess:
		nc.Close()
		return nil, "", fmt.Errorf("anonymous bind: %d %q", code, diag)
	}
	nc.SetDeadline(time.Time{})
	return &hostileConn{nc: nc, r: r}, "", nil
}

// awaitIdleClose waits for the server to close an idle connection: a
// Notice of Disconnection unavailable, then the end of the stream.
func awaitIdleClose(hc *hostileConn) (time.Time, error) {
	hc.nc.SetReadDeadline(time.Now().Add(2 * time.Minute))
	id, code, diag, err := readResult(hc.r)
	at := time.Now()
	if err != nil {
		return at, fmt.Errorf("no notice: %w", err)
	}
	if id != 0 || code != ldap.LDAPResultUnavailable {
		return at, fmt.Errorf("got message %d, %d %q; want a notice unavailable", id, code, diag)
	}
	if _, err := hc.r.ReadByte(); !errors.Is(err, io.EOF) {
		return at, fmt.Errorf("after the notice: %v, want the close", err)
	}
	return at, nil
}

// readResult reads one LDAPMessage whose protocolOp is an LDAPResult.
func readResult(r *bufio.Reader) (id int64, code uint16, diag string, err error) {
	p, err := ber.ReadPacket(r)
	if err != nil {
		return 0, 0, "", err
	}
	if len(p.Children) < 2 || len(p.Children[1].Children) < 3 {
		return 0, 0, "", fmt.Errorf("not an LDAPResult: %v", p)
	}
	id, err = ber.ParseInt64(p.Children[0].Data.Bytes())
	if err != nil {
		return 0, 0, "", err
	}
	op := p.Children[1]
	c, err := ber.ParseInt64(op.Children[0].Data.Bytes())
	if err != nil {
		return 0, 0, "", err
	}
	return id, uint16(c), op.Children[2].Data.String(), nil
}

// needFiles raises the soft limit of open files to n, which the server
// started afterwards inherits; it skips the test when the hard limit is
// lower.
func needFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("needs %d open files; the hard limit is %d", n, lim.Max)
	}
	old := lim
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}
