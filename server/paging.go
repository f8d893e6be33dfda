package server

import (
	"crypto/rand"
	"encoding/hex"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Simple Paged Results (RFC 2696). The server keeps, per connection, where
// each unfinished paged search stopped (the last entry it sent, see
// position), under a random cookie; the client must repeat the same search
// with it. Each page is read from a fresh snapshot, resuming after that
// entry: an entry added or removed meanwhile behind it does not shift the
// window, and one ahead of it is sent or not as it then is.

// maxPagedSearches bounds the cookies one connection may hold open.
const maxPagedSearches = 8

type pagedState struct {
	search string // the request the cookie belongs to
	offset int    // entries sent before, for the size limit
	after  position
}

// page is a search's paging: none when active is false.
type page struct {
	active bool
	size   int
	offset int
	after  position
	search string
}

// want is how many entries the page asks for, -1 for all.
func (p page) want() int {
	if !p.active {
		return -1
	}
	return p.size
}

// searchKey identifies a search for the cookie check: everything but the
// message ID and the controls.
func searchKey(req *request) string { return string(req.op.Bytes()) }

// pageRequest reads the paged-results control, if any, and resumes the
// search its cookie names.
func (c *conn) pageRequest(req *request, s *searchRequest) (page, result, bool) {
	var ctl *control
	for i := range req.controls {
		if req.controls[i].oid == ldap.ControlTypePaging {
			ctl = &req.controls[i]
		}
	}
	if ctl == nil {
		return page{}, result{}, true
	}
	pc, ok := ctl.decoded.(*ldap.ControlPaging)
	if !ok {
		return page{}, fail(ldap.LDAPResultProtocolError, "the paged results control value is malformed"), false
	}
	p := page{active: true, size: int(pc.PagingSize), after: start, search: searchKey(req)}
	if len(pc.Cookie) > 0 {
		st, ok := c.paged[string(pc.Cookie)]
		delete(c.paged, string(pc.Cookie))
		if !ok || st.search != p.search {
			return page{}, fail(ldap.LDAPResultUnwillingToPerform,
				"unknown paged results cookie, or one from another search"), false
		}
		p.offset, p.after = st.offset, st.after
	}
	// RFC 2696 3: a size of zero abandons the paged search; the page sends
	// nothing and its cookie is empty.
	return p, result{}, true
}

// pageDone stores where the search stopped, when more entries match, and
// returns the response control. sent counts the entries of every page so
// far; reached is the number of accounts and groups the search can reach;
// last is the last entry's position.
func (c *conn) pageDone(p page, more bool, sent, reached int, last position) []*ber.Packet {
	if !p.active {
		return nil
	}
	resp := ldap.NewControlPaging(0)
	if more && p.size > 0 {
		if c.paged == nil {
			c.paged = make(map[string]pagedState)
		}
		if len(c.paged) >= maxPagedSearches {
			for k := range c.paged { // drop one: the client lost track of it
				delete(c.paged, k)
				break
			}
		}
		var b [16]byte
		rand.Read(b[:])
		cookie := hex.EncodeToString(b[:])
		c.paged[cookie] = pagedState{search: p.search, offset: sent, after: last}
		resp.SetCookie([]byte(cookie))
	}
	// size is the server's estimate of the total (RFC 2696 2): exact on
	// the last page; before it, as slapd's, the number of candidates, which
	// the filter may narrow further.
	estimate := sent
	if more {
		estimate = max(reached, sent+1)
	}
	resp.PagingSize = uint32(min(estimate, 1<<31-1))
	return []*ber.Packet{resp.Encode()}
}
