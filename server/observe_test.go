package server

import (
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

// outcomes records what the server reports, for a test to wait on.
type outcomes struct {
	mu  sync.Mutex
	got []Outcome
	ch  chan struct{}
}

func newOutcomes() *outcomes { return &outcomes{ch: make(chan struct{}, 1024)} }

func (o *outcomes) Observe(out Outcome) {
	o.mu.Lock()
	o.got = append(o.got, out)
	o.mu.Unlock()
	o.ch <- struct{}{}
}

// next waits for the next outcome: the server reports an operation just
// after its answer is written, so the client may see the answer first.
func (o *outcomes) next(t *testing.T) Outcome {
	t.Helper()
	select {
	case <-o.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome reported within 10 s of the answer")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.got[0]
	o.got = o.got[1:]
	return out
}

// Each operation is reported once, by its kind, the credentials a bind
// tried, the reason a bind failed, whether a search was a lookup, and the
// extended operation by a fixed name: an OID wicket does not know is
// "unknown", never the OID a client made up.
func TestObserver_ReportsEachOperationOnce(t *testing.T) {
	t.Parallel()
	rec := newOutcomes()
	e := newEnv(t, withConfig(func(c *Config) { c.Observer = rec }))
	c := dialRaw(t, e.addr)
	compare := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationCompareRequest, nil, "")
	compare.AppendChild(octets(aliceDN, ""))
	ava := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	ava.AppendChild(octets("mail", ""))
	ava.AppendChild(octets(aliceMail, ""))
	compare.AppendChild(ava)

	steps := []struct {
		what string
		req  *ber.Packet
		tag  ber.Tag
		want Outcome
	}{
		{"wrong code", simpleBind(3, aliceDN, alicePassword+wrongCode(e)), ldap.ApplicationBindResponse,
			Outcome{Op: OpBind, Method: MethodPasswordTOTP, Reason: backend.FailWrongCode, Code: ldap.LDAPResultInvalidCredentials}},
		{"anonymous", simpleBind(3, "", ""), ldap.ApplicationBindResponse,
			Outcome{Op: OpBind, Method: MethodAnonymous}},
		{"name without password", simpleBind(3, aliceDN, ""), ldap.ApplicationBindResponse,
			Outcome{Op: OpBind, Method: MethodUnknown, Reason: backend.FailUnauthenticatedBind, Code: ldap.LDAPResultUnwillingToPerform}},
		{"app password", simpleBind(3, "alice", e.appPassword), ldap.ApplicationBindResponse,
			Outcome{Op: OpBind, Method: MethodAppPassword}},
		{"SASL PLAIN", saslBind("PLAIN", []byte("\x00alice\x00"+e.appPassword)), ldap.ApplicationBindResponse,
			Outcome{Op: OpBind, Method: MethodAppPassword}},
		{"lookup", search("ou=people,"+testBase, scopeSub, mustFilter(t, "(mail="+aliceMail+")")), ldap.ApplicationSearchResultDone,
			Outcome{Op: OpSearch, Lookup: true}},
		{"root DSE", search("", scopeBase, mustFilter(t, "(objectClass=*)")), ldap.ApplicationSearchResultDone,
			Outcome{Op: OpSearch, Lookup: true}},
		{"scan", search(testBase, scopeSub, mustFilter(t, "(cn=*)")), ldap.ApplicationSearchResultDone,
			Outcome{Op: OpSearch}},
		{"no such base", search("ou=nowhere,"+testBase, scopeSub, mustFilter(t, "(cn=*)")), ldap.ApplicationSearchResultDone,
			Outcome{Op: OpSearch, Code: ldap.LDAPResultNoSuchObject}},
		{"compare", compare, ldap.ApplicationCompareResponse, Outcome{Op: OpCompare, Code: ldap.LDAPResultCompareTrue}},
		{"who am I", whoAmIReq(), ldap.ApplicationExtendedResponse, Outcome{Op: OpExtended, Extended: ExtWhoAmI}},
		{"unknown extended", extended("1.2.3.4.5.6.7.8.9", nil), ldap.ApplicationExtendedResponse,
			Outcome{Op: OpExtended, Extended: ExtUnknown, Code: ldap.LDAPResultProtocolError}},
		{"StartTLS without TLS", extended(oidStartTLS, nil), ldap.ApplicationExtendedResponse,
			Outcome{Op: OpExtended, Extended: ExtStartTLS, Code: ldap.LDAPResultUnavailable}},
		{"app password list", extended(exop.OIDAppPasswordList, nil), ldap.ApplicationExtendedResponse,
			Outcome{Op: OpExtended, Extended: ExtAppPasswordList}},
		{"add", ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationAddRequest, nil, ""),
			ldap.ApplicationAddResponse, Outcome{Op: OpOther, Code: ldap.LDAPResultUnwillingToPerform}},
	}
	for i, s := range steps {
		id := int64(i + 1)
		c.send(message(id, s.req))
		var r *response
		for r = c.next(); r.tag == ldap.ApplicationSearchResultEntry; r = c.next() {
		}
		r.assert(t, id, s.tag, s.want.Code)
		got := rec.next(t)
		if got.Took <= 0 {
			t.Errorf("%s: took %v", s.what, got.Took)
		}
		got.Took = 0
		if got != s.want {
			t.Errorf("%s: reported %+v; want %+v", s.what, got, s.want)
		}
	}
	select {
	case <-rec.ch:
		t.Errorf("more outcomes than operations: %+v", rec.got)
	default:
	}
}

// Binds refused busy on a full queue are reported, by the reader, while
// the worker is inside another bind: as busy binds whose credentials were
// never looked at. The bind the worker ran and the one queued behind it
// are reported with their own method and reason.
func TestObserver_BusyBindsWhileTheWorkerBinds(t *testing.T) {
	t.Parallel()
	rec := newOutcomes()
	e := newEnv(t, withGate(), withQueuedBinds(), withConfig(func(c *Config) {
		c.MaxOutstanding = 1
		c.Observer = rec
	}))
	c := dialRaw(t, e.addr)
	c.send(message(1, simpleBind(3, "alice", e.appPassword)))
	e.auth.waitEntered(t)
	var pipelined []*ber.Packet
	for id := int64(2); id <= 4; id++ {
		pipelined = append(pipelined, message(id, simpleBind(3, "alice", "abcd-efgh-ijkl-mnop")))
	}
	c.send(pipelined...)
	for range 2 {
		r := c.next()
		r.assert(t, r.id, ldap.ApplicationBindResponse, ldap.LDAPResultBusy)
	}
	for range 2 {
		got := rec.next(t)
		got.Took = 0
		if want := (Outcome{Op: OpBind, Method: MethodUnknown, Code: ldap.LDAPResultBusy}); got != want {
			t.Errorf("refused bind reported as %+v; want %+v", got, want)
		}
	}
	e.auth.open()
	for range 2 {
		c.next()
	}
	byCode := map[uint16]Outcome{}
	for range 2 {
		o := rec.next(t)
		byCode[o.Code] = o
	}
	if o := byCode[ldap.LDAPResultSuccess]; o.Method != MethodAppPassword {
		t.Errorf("the held bind reported as %+v", o)
	}
	if o := byCode[ldap.LDAPResultInvalidCredentials]; o.Method != MethodAppPassword || o.Reason != backend.FailWrongAppPassword {
		t.Errorf("the queued wrong bind reported as %+v", o)
	}
}
