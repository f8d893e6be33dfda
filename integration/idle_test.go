package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// idleConfig allows the connections the test holds, and keeps logging to
// what an operator would run with.
const idleConfig = `
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
max_connections = 12000
%s
`

// idleConns is how many bound connections the test holds open: mail
// servers keep a pool each, and IMAP IDLE keeps clients for hours.
const idleConns = 10000

// maxIdleConnKiB bounds what one bound, idle connection may cost the
// server (README, "Memory under load", gives the measured figure).
const maxIdleConnKiB = 16

// 10,000 connections, each bound with an app password and then idle: the
// server's resident memory grows by a bounded amount per connection, and
// it still answers binds on new and on held connections.
func TestIdle_TenThousandBoundConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 10,000 connections")
	}
	w := startWicketConfig(t, idleConfig, "")
	u := w.newUser("idle", true)
	_, appPW := w.appPassword("idle", "phone")
	bind := simpleBindBytes(1, u.dn, appPW)
	pid := w.cmd.Process.Pid

	// Warm up: the first binds load the database pages and code paths
	// every later connection shares.
	for i := 0; i < 50; i++ {
		c, err := bindOn(w.addr, bind)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	time.Sleep(500 * time.Millisecond)
	before := procStatusKB(t, pid, "VmRSS")

	conns := make([]net.Conn, idleConns)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := make(chan int)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := bindOn(w.addr, bind)
				if err != nil {
					select {
					case errs <- fmt.Errorf("connection %d: %w", i, err):
					default:
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	began := time.Now()
	for i := range conns {
		next <- i
	}
	close(next)
	wg.Wait()
	opened := time.Since(began)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	// Let the connections go idle and the collector return what the binds
	// left behind.
	time.Sleep(3 * time.Second)
	after := procStatusKB(t, pid, "VmRSS")
	perConn := float64(after-before) / idleConns
	t.Logf("%d bound connections opened in %v; server RSS %d MiB -> %d MiB, %.1f KiB per idle connection",
		idleConns, opened.Round(time.Millisecond), before/1024, after/1024, perConn)
	if perConn > maxIdleConnKiB {
		t.Errorf("%.1f KiB per idle connection exceeds the %d KiB bound", perConn, maxIdleConnKiB)
	}

	// Still serving: a new connection, and held ones, bind at once.
	if authz, rc := goLDAPBind(t, w.url(), u.dn, appPW); rc != 0 || authz != "dn:"+u.dn {
		t.Errorf("a new connection's bind got (%q, %d)", authz, rc)
	}
	for i := 0; i < idleConns; i += idleConns / 100 {
		c := conns[i]
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := bindOnConn(c, bufio.NewReader(c), simpleBindBytes(2, u.dn, appPW)); err != nil {
			t.Fatalf("held connection %d: bind again: %v", i, err)
		}
	}
}

// bindOn opens a connection and binds on it with a raw request: 10,000
// go-ldap clients would cost the test more than the server.
func bindOn(addr string, bind []byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := bindOnConn(c, bufio.NewReader(c), bind); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// bindOnConn sends a bind request and checks that the answer is a
// BindResponse with success. The answer to a bind is small, so it is read
// whole by its short-form length.
func bindOnConn(c net.Conn, r *bufio.Reader, bind []byte) error {
	if _, err := c.Write(bind); err != nil {
		return err
	}
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	if hdr[0] != 0x30 || hdr[1] >= 0x80 {
		return fmt.Errorf("unexpected answer header % x", hdr)
	}
	body := make([]byte, hdr[1])
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	// messageID, then [APPLICATION 1] { ENUMERATED resultCode, ... }.
	if len(body) < 3 || body[0] != 0x02 || int(body[1])+2 > len(body) {
		return fmt.Errorf("malformed answer % x", body)
	}
	op := body[2+body[1]:]
	if len(op) < 5 || op[0] != 0x61 || op[2] != 0x0a || op[3] != 1 {
		return fmt.Errorf("not a bind response: % x", body)
	}
	if op[4] != 0 {
		return fmt.Errorf("bind answered with result code %d", op[4])
	}
	return nil
}
