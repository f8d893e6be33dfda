package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// kill -9 in the middle of a burst of app-password creations and
// revocations: after a restart, every operation a client saw succeed is
// there, and none it saw fail is. Operations whose answer never came are
// either; SQLite's WAL with synchronous=FULL is what makes the rest hold.
func TestKill9_AcknowledgedChangesSurviveAndRefusedOnesDoNot(t *testing.T) {
	w := startWicket(t, "[auth]\nmax_app_passwords = 1000\n")
	const workers = 4
	type outcome struct {
		created map[string]bool // id → created and acknowledged
		revoked map[string]bool // id → revocation acknowledged
		refused map[string]bool // label → create answered with an error
		// uncertain: a revocation was sent but its answer never came.
		uncertain map[string]bool
	}
	users := make([]user, workers)
	conns := make([]*ldap.Conn, workers)
	for i := range users {
		users[i] = w.newUser(fmt.Sprintf("burst%d", i), true)
		conns[i] = dialBound(t, w, users[i].dn, users[i].password+totpCode(t, users[i].secret, time.Now()))
	}

	results := make([]outcome, workers)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < workers; i++ {
		results[i] = outcome{created: map[string]bool{}, revoked: map[string]bool{}, refused: map[string]bool{},
			uncertain: map[string]bool{}}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, c := &results[i], conns[i]
			var last string
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				label := fmt.Sprintf("device %d", n)
				// Every fourth operation revokes the previous password.
				if n%4 == 3 && last != "" {
					_, err := extendedOp(c, exop.OIDAppPasswordRevoke, exop.RevokeRequest{ID: last}.Encode())
					if err != nil {
						// The server went away mid-operation: the revocation
						// may or may not have been committed.
						r.uncertain[last] = true
						return
					}
					r.revoked[last] = true
					last = ""
					continue
				}
				// An empty label is refused (constraintViolation): a failed
				// operation whose absence the restart must show.
				if n%5 == 4 {
					label = ""
				}
				v, err := extendedOp(c, exop.OIDAppPasswordCreate, exop.CreateRequest{Label: label}.Encode())
				if err != nil {
					if ldap.IsErrorWithCode(err, ldap.LDAPResultConstraintViolation) {
						r.refused[label] = true
						continue
					}
					return
				}
				res, err := exop.DecodeCreateResponse(v)
				if err != nil {
					t.Errorf("create answered %v", err)
					return
				}
				r.created[res.ID] = true
				last = res.ID
			}
		}(i)
	}
	// Let the burst run, then pull the plug in the middle of it.
	time.Sleep(1500 * time.Millisecond)
	w.kill()
	close(stop)
	wg.Wait()

	w.start()
	total := 0
	for i, u := range users {
		r := results[i]
		active := map[string]bool{}
		for _, id := range activeIDs(w, u.name) {
			active[id] = true
		}
		for id := range r.created {
			if r.uncertain[id] {
				continue
			}
			total++
			if r.revoked[id] && active[id] {
				t.Errorf("%s: %s was revoked with an acknowledgement but is active after the restart", u.name, id)
			}
			if !r.revoked[id] && !active[id] {
				t.Errorf("%s: %s was created with an acknowledgement but is gone after the restart", u.name, id)
			}
		}
		if len(r.refused) > 0 {
			var list []exop.AppPassword
			w.adminJSON(&list, "", "apppw", "list", u.name)
			for _, ap := range list {
				if ap.Label == "" {
					t.Errorf("%s: a refused create left app password %s behind", u.name, ap.ID)
				}
			}
		}
	}
	if total < 20 {
		t.Fatalf("only %d app passwords were created before the kill: the burst did not run", total)
	}
	t.Logf("%d acknowledged creations checked after kill -9", total)
}
