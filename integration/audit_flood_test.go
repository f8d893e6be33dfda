package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// floodAddress and otherAddress are untrusted loopback sources (the
// default trusted_clients are 127.0.0.1 and ::1).
const (
	floodAddress = "127.0.0.66"
	otherAddress = "127.0.0.77"
)

// flood sends binds from one address as fast as the server answers them,
// on conns connections, each with 16 requests in flight, until stop closes
// them: most
// connections wrong passwords for unknown names (refused by the address's
// limit once its burst is spent), the others names without a password.
// It returns the count of answers by result code.
func flood(t *testing.T, w *wicket, conns int, stop <-chan struct{}) func() map[int64]int {
	const pipeline = 16
	var mu sync.Mutex
	codes := map[int64]int{}
	var wg sync.WaitGroup
	for i := range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(floodAddress)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", w.addr)
		if err != nil {
			t.Skipf("cannot connect from %s: %v", floodAddress, err)
		}
		var batch []byte
		for j := range pipeline {
			name, password := fmt.Sprintf("uid=guess%d-%d,ou=people,dc=example,dc=org", i, j), "Winter2025!123456"
			if i%4 == 3 {
				password = "" // an unauthenticated bind: refused without a token
			}
			batch = append(batch, simpleBindBytes(int64(j+1), name, password)...)
		}
		wg.Go(func() {
			// A bind held for its address's token would keep the loop
			// from seeing stop.
			go func() {
				<-stop
				c.Close()
			}()
			r := bufio.NewReaderSize(c, 64<<10)
			local := map[int64]int{}
			defer func() {
				mu.Lock()
				for k, v := range local {
					codes[k] += v
				}
				mu.Unlock()
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(batch); err != nil {
					return
				}
				for range pipeline {
					p, err := ber.ReadPacket(r)
					if err != nil || len(p.Children) < 2 || len(p.Children[1].Children) < 1 {
						return // the server was killed
					}
					code, _ := ber.ParseInt64(p.Children[1].Children[0].Data.Bytes())
					local[code]++
				}
			}
		})
	}
	return func() map[int64]int {
		wg.Wait()
		return codes
	}
}

// dbSize is the size of the database with its write-ahead log.
func dbSize(w *wicket) int64 {
	var n int64
	for _, f := range []string{"wicket.db", "wicket.db-wal"} {
		if fi, err := os.Stat(filepath.Join(w.dir, f)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Must-show 5. Binds from one untrusted address as fast as the server
// answers, for 5 s, then kill -9. Meanwhile a real user fails 5 binds from
// another address, and app passwords are created and revoked over LDAP and
// with the command line. After the restart, `wicket audit` shows every
// one of those failures and every acknowledged change, and the flood added
// at most the stated bound of rows (README, "Audit trail"): the binds its
// address's limit let through to be verified, one a row, and one row per
// kind of refusal and write.
func TestFlood_AuditBoundedAndNothingAcknowledgedLostAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the server for 5 s")
	}
	w := startWicket(t, "[auth]\nmax_app_passwords = 1000\n")
	victim := w.newUser("victim", true)
	changer := w.newUser("changer", true)
	w.newUser("clichanger", true)
	changes := dialBound(t, w, changer.dn, changer.password+totpCode(t, changer.secret, time.Now()))
	if c, err := dialFrom(t, w, otherAddress); err != nil {
		t.Skipf("cannot connect from %s: %v", otherAddress, err)
	} else {
		c.Close()
	}
	before := len(w.audit())
	sizeBefore := dbSize(w)
	logBefore := w.logs.String()

	const floodFor = 5 * time.Second
	stop := make(chan struct{})
	began := time.Now()
	floodDone := flood(t, w, 8, stop)

	var wg sync.WaitGroup
	// The genuine failures: five wrong passwords for a real account from
	// another address, answered well before the kill.
	var failedAt []time.Time
	wg.Go(func() {
		c, err := dialFrom(t, w, otherAddress)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for i := range 5 {
			time.Sleep(500 * time.Millisecond)
			if code := bindCode(c.Bind(victim.dn, fmt.Sprintf("Wrong-Horse-%d%06d", i, i))); code != ldap.LDAPResultInvalidCredentials {
				t.Errorf("genuine failed bind %d from %s: result %d, want 49", i, otherAddress, code)
				continue
			}
			failedAt = append(failedAt, time.Now())
		}
	})
	// Changes over LDAP, up to the kill: every acknowledged one counts.
	var ldapCreated, ldapRevoked []string
	wg.Go(func() {
		var last string
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if n%3 == 2 && last != "" {
				if _, err := extendedOp(changes, exop.OIDAppPasswordRevoke, exop.RevokeRequest{ID: last}.Encode()); err != nil {
					return
				}
				ldapRevoked, last = append(ldapRevoked, last), ""
				continue
			}
			v, err := extendedOp(changes, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: fmt.Sprint("flood ", n)}.Encode())
			if err != nil {
				return
			}
			res, err := exop.DecodeCreateResponse(v)
			if err != nil {
				t.Errorf("create answered %v", err)
				return
			}
			ldapCreated, last = append(ldapCreated, res.ID), res.ID
		}
	})
	// Changes with the command line, next to the running server.
	var cliCreated []string
	wg.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			out, _, err := w.run("", "apppw", "create", "clichanger", "--label", fmt.Sprint("cli ", n), "--json")
			var ap struct {
				ID string `json:"id"`
			}
			if err != nil || json.Unmarshal([]byte(out), &ap) != nil || ap.ID == "" {
				continue // not acknowledged
			}
			cliCreated = append(cliCreated, ap.ID)
		}
	})

	time.Sleep(time.Until(began.Add(floodFor)))
	w.kill()
	killedAt := time.Now()
	killedAfter := killedAt.Sub(began)
	close(stop)
	codes := floodDone()
	wg.Wait()
	sizeAfter := dbSize(w)
	floodLog := strings.TrimPrefix(w.logs.String(), logBefore)

	answers := 0
	for _, n := range codes {
		answers += n
	}
	if answers < 1000 {
		t.Fatalf("the flood got only %d answers in %v: %v", answers, killedAfter, codes)
	}

	w.start()
	recs := w.audit()

	// The bound (README, "Audit trail"): a burst of 10 and 0.5 a second,
	// reserved up to 5 s ahead, let 10 + 0.5 × (5 + 5) = 15 binds through
	// to be verified, a row each; the refusals are at most one row per
	// kind (rate-limited, busy, unauthenticated-bind) and write, and the
	// writes every 2 s in 5 s are at most 4.
	const bound = 15 + 3*4
	var fromFlood []auditRecord
	refusals := 0
	for _, r := range recs {
		if r.Remote == floodAddress {
			fromFlood = append(fromFlood, r)
			if r.Count > 1 {
				refusals += r.Count
			}
		}
	}
	if len(fromFlood) > bound {
		b, _ := json.MarshalIndent(fromFlood[:min(len(fromFlood), 2*bound)], "", "  ")
		t.Errorf("the flood added %d audit rows, more than the bound of %d:\n%s", len(fromFlood), bound, b)
	}
	if refusals == 0 {
		t.Errorf("no summary of the refusals was written in %v of flood", killedAfter)
	}
	floodLines := 0
	for line := range strings.Lines(floodLog) {
		if strings.Contains(line, floodAddress) {
			floodLines++
		}
	}
	if floodLines > bound {
		t.Errorf("the flood left %d log lines, more than the bound of %d", floodLines, bound)
	}

	// Every genuine failure, from the other address, is there. A failed
	// bind's record is written within 0.1 s of its answer (README), so
	// those answered a second or more before the kill must all be.
	genuine, due := 0, 0
	for _, r := range recs {
		if r.Action == "bind" && r.Actor == victim.dn && r.Remote == otherAddress && r.Subject == "victim" &&
			r.Result == "wrong-password" {
			genuine++
		}
	}
	for _, at := range failedAt {
		if at.Before(killedAt.Add(-time.Second)) {
			due++
		}
	}
	if due < 3 {
		t.Errorf("only %d of the genuine failed binds were answered a second before the kill: the test proves little", due)
	}
	if genuine < due || genuine > len(failedAt) {
		t.Errorf("%d records of genuine failed binds from %s; %d were answered, %d of them a second or more before the kill",
			genuine, otherAddress, len(failedAt), due)
	}

	// Every acknowledged change is there.
	has := func(action, subject, id string) bool {
		for _, r := range recs {
			if r.Action == action && r.Subject == subject && r.Result == "success" &&
				strings.Contains(" "+r.Detail+" ", " id="+id+" ") {
				return true
			}
		}
		return false
	}
	missing := 0
	for _, id := range ldapCreated {
		if !has("apppw-create", "changer", id) {
			t.Errorf("the acknowledged creation of %s over LDAP has no record", id)
			missing++
		}
	}
	for _, id := range ldapRevoked {
		if !has("apppw-revoke", "changer", id) {
			t.Errorf("the acknowledged revocation of %s over LDAP has no record", id)
			missing++
		}
	}
	for _, id := range cliCreated {
		if !has("apppw-create", "clichanger", id) {
			t.Errorf("the acknowledged creation of %s with the command line has no record", id)
			missing++
		}
	}
	if len(ldapCreated) < 10 || len(cliCreated) < 3 {
		t.Errorf("only %d creations over LDAP and %d with the command line during the flood", len(ldapCreated), len(cliCreated))
	}

	t.Logf("flood from %s for %v: %d answers %v; %d rows from it (bound %d) summarising %d refusals; "+
		"%d log lines from it, %d log bytes in all; audit rows %d → %d; database and WAL %d → %d bytes (+%d); "+
		"%d genuine failures and %d+%d+%d acknowledged changes (LDAP creations, revocations, CLI creations), %d missing",
		floodAddress, killedAfter.Round(time.Millisecond), answers, codes, len(fromFlood), bound, refusals,
		floodLines, len(floodLog), before, len(recs), sizeBefore, sizeAfter, sizeAfter-sizeBefore,
		genuine, len(ldapCreated), len(ldapRevoked), len(cliCreated), missing)
}
