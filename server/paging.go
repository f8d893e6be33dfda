package server

import (
	"crypto/rand"
	"encoding/hex"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Simple Paged Results (RFC 2696). The server keeps, per connection, where
// each unfinished paged search stopped, under a random cookie; the client
// must repeat the same search with it. Results are recomputed from a fresh
// snapshot for each page, so an entry added or removed meanwhile may shift
// the window by one, as with any server that does not hold a snapshot open.

// maxPagedSearches bounds the cookies one connection may hold open.
const maxPagedSearches = 8

type pagedState struct {
	search string // the request the cookie belongs to
	offset int
}

// page is a search's paging: none when size is 0 and active is false.
type page struct {
	active bool
	size   int
	offset int
	search string
}

// window is the slice of n matches this page sends.
func (p page) window(n int) (int, int) {
	if !p.active {
		return 0, n
	}
	from := min(p.offset, n)
	return from, min(from+p.size, n)
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
	p := page{active: true, size: int(pc.PagingSize), search: searchKey(req)}
	if len(pc.Cookie) > 0 {
		st, ok := c.paged[string(pc.Cookie)]
		delete(c.paged, string(pc.Cookie))
		if !ok || st.search != p.search {
			return page{}, fail(ldap.LDAPResultUnwillingToPerform,
				"unknown paged results cookie, or one from another search"), false
		}
		p.offset = st.offset
	}
	if p.size == 0 {
		// RFC 2696 3: a size of zero abandons the paged search.
		p.offset = 1 << 62
	}
	return p, result{}, true
}

// pageDone stores where the search stopped and returns the response control.
func (c *conn) pageDone(p page, sent, total int) []*ber.Packet {
	if !p.active {
		return nil
	}
	resp := ldap.NewControlPaging(0)
	if sent < total && p.size > 0 {
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
		c.paged[cookie] = pagedState{search: p.search, offset: sent}
		resp.SetCookie([]byte(cookie))
	}
	// size carries the server's estimate of the total (RFC 2696 2).
	resp.PagingSize = uint32(min(total, 1<<31-1))
	return []*ber.Packet{resp.Encode()}
}
