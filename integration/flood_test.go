package integration

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// floodConfig keeps the default argon2id parameters (m=19456 KiB, t=2,
// p=1) and two hashing slots, so the flood meets the real cost and the
// documented bound: slots × m plus the baseline and the connections.
const floodConfig = `
listen   = "127.0.0.1:0"
database = %q
base_dn  = "dc=example,dc=org"

[log]
level  = "info"
format = "json"

[argon2]
max_concurrent = 2

[limits]
bind_timeout = "3s"
%s
`

// 1,000 concurrent password+code binds: the argon2id slots bound memory,
// queued binds complete or get busy (51) after bind_timeout, none fails
// otherwise, and the server answers normally afterwards.
func TestFlood_ThousandPasswordBindsStayWithinMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the server for several seconds")
	}
	w := startWicketConfig(t, floodConfig, "[lockout]\ntrusted_clients = [\"127.0.0.0/8\"]\n")
	u := w.newUser("flood", true)
	_, appPW := w.appPassword("flood", "phone")

	const n = 1000
	conns := make([]*ldap.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := ldap.DialURL(w.url())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetTimeout(60 * time.Second)
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Accounts that do not exist cost the same argon2id work as
			// real ones (a dummy hash with the same parameters) and keep
			// the per-account lockout out of the measurement.
			err := c.Bind(fmt.Sprintf("uid=nobody%d,ou=people,dc=example,dc=org", i), "Some-Password123456")
			var le *ldap.Error
			outcome := "other"
			switch {
			case errors.As(err, &le) && le.ResultCode == ldap.LDAPResultInvalidCredentials:
				outcome = "invalidCredentials"
			case errors.As(err, &le) && le.ResultCode == ldap.LDAPResultBusy:
				outcome = "busy"
			case err != nil:
				outcome = err.Error()
			}
			mu.Lock()
			counts[outcome]++
			mu.Unlock()
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)

	peak := peakRSS(t, w.cmd.Process.Pid)
	t.Logf("1,000 concurrent password+code binds in %v: %v; peak RSS %d MiB", took.Round(time.Millisecond), counts, peak/1024)
	if counts["invalidCredentials"]+counts["busy"] != n {
		t.Errorf("every bind must complete (49 here) or get busy (51): %v", counts)
	}
	if counts["invalidCredentials"] == 0 {
		t.Errorf("no bind completed during the flood: %v", counts)
	}
	// README, "Memory under load": about 2 × 19 MiB of hashing plus the baseline and
	// 1,000 connections.
	if peak > 256<<10 {
		t.Errorf("peak RSS %d MiB exceeds the 256 MiB bound", peak/1024)
	}
	if authz, rc := goLDAPBind(t, w.url(), u.dn, appPW); rc != 0 || authz != "dn:"+u.dn {
		t.Errorf("after the flood an app-password bind got (%q, %d)", authz, rc)
	}
}
