package server

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

func constructed(tag ber.Tag, children ...*ber.Packet) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "")
	for _, c := range children {
		p.AppendChild(c)
	}
	return p
}

func sequence(children ...*ber.Packet) *ber.Packet {
	p := ber.NewSequence("")
	for _, c := range children {
		p.AppendChild(c)
	}
	return p
}

func set(children ...*ber.Packet) *ber.Packet {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
	for _, c := range children {
		p.AppendChild(c)
	}
	return p
}

// Each write operation is answered with the response that belongs to it,
// so a client waiting for a ModifyResponse is not handed something it
// cannot match. Add and modify DN are never served; modify and
// delete revoke app passwords only where the server manages accounts, and
// never for an anonymous or app-password session.
func TestUnsupportedOperations_GetTheirOwnResponseType(t *testing.T) {
	t.Parallel()
	full, bindOnly := newEnv(t), newEnv(t, withBindOnly())
	appDN := "appPasswordId=0123456789," + aliceDN
	const (
		refused     = ldap.LDAPResultInsufficientAccessRights
		unsupported = ldap.LDAPResultUnwillingToPerform
	)
	for _, tc := range []struct {
		name     string
		op       *ber.Packet
		tag      ber.Tag
		fullCode uint16 // anonymous or app-password session on a full server
	}{
		{"modify", constructed(ldap.ApplicationModifyRequest,
			octets(aliceDN, "object"),
			sequence(sequence(
				ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 1, "delete"),
				sequence(octets("appPasswordId", ""), set())))),
			ldap.ApplicationModifyResponse, refused},
		{"add", constructed(ldap.ApplicationAddRequest,
			octets("uid=mallory,ou=people,"+testBase, "entry"),
			sequence(sequence(octets("objectClass", ""), set(octets("inetOrgPerson", ""))))),
			ldap.ApplicationAddResponse, unsupported},
		{"delete", ber.NewString(ber.ClassApplication, ber.TypePrimitive, ldap.ApplicationDelRequest, appDN, "DelRequest"),
			ldap.ApplicationDelResponse, refused},
		{"modify DN", constructed(ldap.ApplicationModifyDNRequest,
			octets(aliceDN, "entry"), octets("uid=bob", "newrdn"),
			ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "deleteoldrdn")),
			ldap.ApplicationModifyDNResponse, unsupported},
	} {
		for _, srv := range []struct {
			name string
			e    *env
			code uint16
		}{
			{"full server", full, tc.fullCode},
			{"bind-only server", bindOnly, unsupported},
		} {
			for _, bound := range []bool{false, true} {
				name := tc.name + "/" + srv.name + "/anonymous"
				if bound {
					name = tc.name + "/" + srv.name + "/app-password session"
				}
				t.Run(name, func(t *testing.T) {
					c := dialRaw(t, srv.e.addr)
					if bound {
						c.call(message(1, simpleBind(3, "alice", srv.e.appPassword))).
							assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
					}
					c.call(message(2, tc.op)).assert(t, 2, tc.tag, srv.code)
					c.call(message(3, whoAmIReq())).assert(t, 3, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
				})
			}
		}
	}
	// Nothing above may have revoked anything.
	l := full.dial(t)
	if err := l.Bind("alice", full.appPassword); err != nil {
		t.Errorf("alice's app password after the refused operations: %v", err)
	}
}

// RFC 4511 4.12: an extended operation the server does not recognise is a
// protocolError, answered on the request's own message.
func TestExtended_UnknownOIDIsProtocolError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	for i, tc := range []struct {
		name string
		op   *ber.Packet
	}{
		{"unknown OID", extended("1.3.6.1.4.1.99999.1", nil)},
		{"unknown OID with a value", extended("1.3.6.1.4.1.99999.1", []byte{0x30, 0x00})},
		{"Who am I? with a value", extended(whoAmIOID, []byte("x"))},
		{"no requestName", constructed(ldap.ApplicationExtendedRequest)},
		{"requestName of the wrong tag", constructed(ldap.ApplicationExtendedRequest, octets(whoAmIOID, ""))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := int64(i + 1)
			c.in(t).call(message(id, tc.op)).assert(t, id, ldap.ApplicationExtendedResponse, ldap.LDAPResultProtocolError)
		})
	}
	r := c.call(message(99, whoAmIReq()))
	r.assert(t, 99, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	if !r.hasValue || len(r.value) != 0 {
		t.Errorf("anonymous Who am I? value %q (present %v), want present and empty", r.value, r.hasValue)
	}
}

// RFC 4511 4.1.11: a critical control the server does not support fails
// the operation; a non-critical one is ignored.
func TestControls_UnknownCriticalIsUnavailableCriticalExtension(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := dialRaw(t, e.addr)
	rootDSE := func() *ber.Packet { return search("", 0, mustFilter(t, "(objectClass=*)"), "namingContexts") }
	for i, tc := range []struct {
		name string
		op   *ber.Packet
		tag  ber.Tag
	}{
		{"search", rootDSE(), ldap.ApplicationSearchResultDone},
		{"bind", simpleBind(3, "alice", e.appPassword), ldap.ApplicationBindResponse},
		{"extended", whoAmIReq(), ldap.ApplicationExtendedResponse},
		{"delete", ber.NewString(ber.ClassApplication, ber.TypePrimitive, ldap.ApplicationDelRequest, aliceDN, ""),
			ldap.ApplicationDelResponse},
		{"compare", constructed(ldap.ApplicationCompareRequest,
			octets(aliceDN, "entry"), sequence(octets("mail", ""), octets(aliceMail, ""))),
			ldap.ApplicationCompareResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := int64(i + 1)
			c.in(t).call(message(id, tc.op, reqControl("1.3.6.1.4.1.99999.2", true))).
				assert(t, id, tc.tag, ldap.LDAPResultUnavailableCriticalExtension)
		})
	}
	// The refused bind above must not have bound the session.
	if r := c.call(message(50, whoAmIReq())); len(r.value) != 0 {
		t.Errorf("WhoAmI after a bind refused for its control = %q", r.value)
	}

	t.Run("non-critical is ignored", func(t *testing.T) {
		c := c.in(t)
		c.send(message(60, rootDSE(), reqControl("1.3.6.1.4.1.99999.2", false)))
		if r := c.next(); r.id != 60 || r.tag != ldap.ApplicationSearchResultEntry {
			t.Fatalf("got %v, want the root DSE", r)
		}
		c.next().assert(t, 60, ldap.ApplicationSearchResultDone, ldap.LDAPResultSuccess)
	})
	t.Run("criticality omitted is non-critical", func(t *testing.T) {
		c := c.in(t)
		ctl := ber.NewSequence("Control")
		ctl.AppendChild(octets("1.3.6.1.4.1.99999.2", "controlType"))
		c.call(message(61, whoAmIReq(), ctl)).assert(t, 61, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	})
	t.Run("through go-ldap", func(t *testing.T) {
		l := e.dial(t)
		req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"namingContexts"},
			[]ldap.Control{ldap.NewControlString("1.3.6.1.4.1.99999.2", true, "")})
		if _, err := l.Search(req); resultCode(err) != ldap.LDAPResultUnavailableCriticalExtension {
			t.Fatalf("Search: %v, want unavailableCriticalExtension", err)
		}
	})
}

func TestAbandon_GetsNoResponse(t *testing.T) {
	t.Parallel()

	t.Run("unknown message", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		c := dialRaw(t, e.addr)
		c.send(message(2, abandon(99)), message(3, abandon(3)), message(4, whoAmIReq()))
		c.next().assert(t, 4, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	})

	t.Run("queued search is dropped", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withGate(), withQueuedBinds())
		c := dialRaw(t, e.addr)
		c.send(message(1, simpleBind(3, "alice", e.appPassword)))
		e.auth.waitEntered(t)
		// The bind holds the worker, so the search waits in the queue when
		// the abandon arrives. A request reusing the bind's message ID is
		// answered by the reader itself: its answer proves the abandon,
		// sent before it, has been read.
		c.send(message(2, search("", 0, mustFilter(t, "(objectClass=*)"))), message(3, abandon(2)),
			message(1, whoAmIReq()))
		c.next().assert(t, 1, ldap.ApplicationExtendedResponse, ldap.LDAPResultProtocolError)
		e.auth.open()
		c.next().assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
		r := c.call(message(4, whoAmIReq()))
		r.assert(t, 4, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
		if string(r.value) != "dn:"+aliceDN {
			t.Errorf("WhoAmI = %q", r.value)
		}
	})

	t.Run("a bind cannot be abandoned", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withGate(), withQueuedBinds())
		c := dialRaw(t, e.addr)
		c.send(message(1, simpleBind(3, "alice", e.appPassword)))
		e.auth.waitEntered(t)
		c.send(message(2, abandon(1)), message(1, whoAmIReq()))
		c.next().assert(t, 1, ldap.ApplicationExtendedResponse, ldap.LDAPResultProtocolError)
		e.auth.open()
		c.next().assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	})
}

// A bind with nothing queued is answered by the reader, which reads nothing
// until the bind is done. A client that pipelines anyway (RFC 4511 4.2.1
// forbids it) gets every answer, in order, the later ones under the new
// identity.
func TestBind_RequestsPipelinedBehindItAreAnsweredInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGate())
	c := dialRaw(t, e.addr)
	c.send(message(1, simpleBind(3, "alice", e.appPassword)), message(2, whoAmIReq()),
		message(3, simpleBind(3, "", "")), message(4, whoAmIReq()))
	e.auth.waitEntered(t)
	e.auth.open()
	c.next().assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	r := c.next()
	r.assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	if string(r.value) != "dn:"+aliceDN {
		t.Errorf("WhoAmI after the bind = %q, want dn:%s", r.value, aliceDN)
	}
	c.next().assert(t, 3, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	r = c.next()
	r.assert(t, 4, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	if len(r.value) != 0 {
		t.Errorf("WhoAmI after the anonymous bind = %q, want empty", r.value)
	}
}

func TestUnbind_ClosesConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	c := dialRaw(t, e.addr)
	c.call(message(1, simpleBind(3, "alice", e.appPassword))).
		assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	// RFC 4511 4.3: the server closes without a response, and what follows
	// the unbind is never read.
	c.send(message(2, unbind()), message(3, whoAmIReq()))
	if n := c.expectClosed(); n != nil {
		t.Errorf("unbind answered with %v", n)
	}

	l := e.dial(t)
	if err := l.Unbind(); err != nil {
		t.Fatalf("go-ldap Unbind: %v", err)
	}
	e.assertServing(t)
}

// MaxOutstanding bounds what one connection may queue: beyond it each
// request is answered busy at once, and every request gets exactly one
// answer.
func TestOutstanding_OverLimitIsBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGate(), withQueuedBinds(), withConfig(func(c *Config) { c.MaxOutstanding = 1 }))
	c := dialRaw(t, e.addr)
	c.send(message(1, simpleBind(3, "alice", e.appPassword)))
	e.auth.waitEntered(t)
	// The worker is held inside the bind: message 2 takes the one queue
	// slot, and 3 to 6 find it full.
	var pipelined []*ber.Packet
	for id := int64(2); id <= 6; id++ {
		pipelined = append(pipelined, message(id, whoAmIReq()))
	}
	c.send(pipelined...)

	answered := map[int64]*response{}
	for range 4 {
		r := c.next()
		r.assert(t, r.id, ldap.ApplicationExtendedResponse, ldap.LDAPResultBusy)
		if r.id < 3 {
			t.Errorf("message %d answered busy while the queue had room", r.id)
		}
		answered[r.id] = r
	}
	e.auth.open()
	for len(answered) < 6 {
		r := c.next()
		if answered[r.id] != nil {
			t.Fatalf("message %d answered twice: %v and %v", r.id, answered[r.id], r)
		}
		answered[r.id] = r
	}
	answered[1].assert(t, 1, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess)
	answered[2].assert(t, 2, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	// Nothing more is pending for the old IDs: the next answer is the next
	// request's.
	c.call(message(7, whoAmIReq())).assert(t, 7, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
}

// Requests pipelined past what one read takes from the socket are all
// answered: between messages the reader waits for the socket only when
// nothing is left in it.
func TestPipelined_BeyondOneReadBufferAllAnswered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *Config) { c.MaxOutstanding = 1000 }))
	c := dialRaw(t, e.addr)
	const n = 600 // some 20 bytes each: three buffers' worth
	var reqs []*ber.Packet
	for id := int64(1); id <= n; id++ {
		reqs = append(reqs, message(id, whoAmIReq()))
	}
	c.send(reqs...)
	for id := int64(1); id <= n; id++ {
		c.next().assert(t, id, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess)
	}
}
