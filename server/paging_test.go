package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// addPlainUsers adds n accounts named prefix0000… without TOTP.
func (e *env) addPlainUsers(t *testing.T, prefix string, n int) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("%s%04d", prefix, i)
		if _, err := e.svc.AddUser(context.Background(), name, name+"@example.com", "Plain-Password-1", ""); err != nil {
			t.Fatal(err)
		}
	}
}

// dump is every entry a subtree search of the base answers, as DN and
// appPasswordId values, in the order sent; paged with size when size > 0.
func dump(t *testing.T, l *ldap.Conn, size uint32) []string {
	t.Helper()
	req := ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"appPasswordId", "hasSubordinates", "label"}, nil)
	var res *ldap.SearchResult
	var err error
	if size > 0 {
		res, err = l.SearchWithPaging(req, size)
	} else {
		res, err = l.Search(req)
	}
	if err != nil {
		t.Fatalf("search (page size %d): %v", size, err)
	}
	out := make([]string, len(res.Entries))
	for i, e := range res.Entries {
		out[i] = e.DN + " " + strings.Join(e.GetAttributeValues("appPasswordId"), ",") + " " +
			e.GetAttributeValue("hasSubordinates") + " " + e.GetAttributeValue("label")
	}
	return out
}

// An administrator's paged search of everything answers what the same
// search unpaged does, in the same order, whatever the page size: a page
// resumes after the last entry sent, app passwords below an account
// included.
func TestSearch_PagesResumeAfterTheLastEntrySent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addPlainUsers(t, "p", 20)
	e.addUser(ctx, "p0007x", "p0007x@example.com", "Another-Password-7")
	for range 3 {
		if _, err := e.svc.CreateAppPassword(ctx, "alice", "one more"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.CreateGroup(ctx, "staff"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CreateGroup(ctx, "aaa-first"); err != nil {
		t.Fatal(err)
	}
	l := e.bindAdmin(t)
	whole := dump(t, l, 0)
	if len(whole) < 30 {
		t.Fatalf("only %d entries: %q", len(whole), whole)
	}
	for _, size := range []uint32{1, 2, 3, 7, uint32(len(whole) - 1), uint32(len(whole)), 1000} {
		if got := dump(t, l, size); !slices.Equal(got, whole) {
			t.Errorf("paged by %d:\n%s\nunpaged:\n%s", size, strings.Join(got, "\n"), strings.Join(whole, "\n"))
		}
	}
}

// What changes between two pages behind the last entry sent neither
// repeats an entry nor skips one; what changes ahead of it shows.
func TestSearch_PagedSearchSurvivesChangesBetweenPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addPlainUsers(t, "m", 10)
	svc := e.bindService(t)
	ctl := ldap.NewControlPaging(4)
	req := ldap.NewSearchRequest(peopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=m*)", []string{"uid"}, []ldap.Control{ctl})
	page := func() []string {
		t.Helper()
		res, err := svc.Search(req)
		if err != nil {
			t.Fatal(err)
		}
		var uids []string
		for _, en := range res.Entries {
			uids = append(uids, en.GetAttributeValue("uid"))
		}
		resp, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if resp == nil {
			t.Fatal("no paged results control in the answer")
		}
		ctl.SetCookie(resp.Cookie)
		return uids
	}
	first := page()
	if want := []string{"m0000", "m0001", "m0002", "m0003"}; !slices.Equal(first, want) {
		t.Fatalf("first page %q, want %q", first, want)
	}
	// Behind: m0001 goes. Ahead: m0005 goes, m0004a comes.
	for _, name := range []string{"m0001", "m0005"} {
		if err := e.svc.DeleteUser(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.AddUser(ctx, "m0004a", "m0004a@example.com", "Plain-Password-1", ""); err != nil {
		t.Fatal(err)
	}
	if got, want := page(), []string{"m0004", "m0004a", "m0006", "m0007"}; !slices.Equal(got, want) {
		t.Errorf("second page %q, want %q", got, want)
	}
	if got, want := page(), []string{"m0008", "m0009"}; !slices.Equal(got, want) {
		t.Errorf("last page %q, want %q", got, want)
	}
	if len(ctl.Cookie) != 0 {
		t.Errorf("the last page left a cookie")
	}
}

// Over many accounts an administrator's search reads their app passwords
// in one query; what it answers is what reading them account by account
// (a small page) answers.
func TestSearch_ManyAccountsAppPasswordsReadAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addPlainUsers(t, "b", bulkAppPasswords+10)
	e.addUser(ctx, "b0100z", "b0100z@example.com", "Another-Password-7")
	l := e.bindAdmin(t)
	whole := dump(t, l, 0)
	if got := dump(t, l, 50); !slices.Equal(got, whole) {
		t.Errorf("paged by 50 (account by account) differs from unpaged (at once):\n%s\n---\n%s",
			strings.Join(got, "\n"), strings.Join(whole, "\n"))
	}
	var withChildren int
	for _, line := range whole {
		if strings.HasPrefix(line, "uid=") && strings.HasSuffix(line, " TRUE ") {
			withChildren++
		}
	}
	// alice, dave, b0100z and root each have an active app password.
	if withChildren != 4 {
		t.Errorf("%d accounts with hasSubordinates TRUE, want 4:\n%s", withChildren, strings.Join(whole, "\n"))
	}
}
