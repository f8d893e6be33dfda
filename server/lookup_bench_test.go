package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/memstore"
)

// BenchmarkLookup is a Postfix-style lookup through the real server on a
// loopback connection: a service account bound once, then a search by mail
// address per operation, over all accounts in turn. "indexed" is the
// filter mail servers send; "scan" adds a part no index answers, so that
// every account is tested, as every lookup was before the directory had
// indexes. The cost per indexed lookup must not grow with the directory.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		addr := lookupServer(b, n)
		for _, shape := range []struct{ name, filter string }{
			{"indexed", "(mail=%s)"},
			{"scan", "(|(mail=%s)(description=%[1]s))"},
		} {
			if shape.name == "scan" && n > 1_000 && testing.Short() {
				continue
			}
			b.Run(fmt.Sprintf("accounts=%d/%s", n, shape.name), func(b *testing.B) {
				l, err := ldap.DialURL("ldap://" + addr)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				if err := l.Bind(testUserDN("postfix"), "postfix-service-password"); err != nil {
					b.Fatal(err)
				}
				lookup := func(i int) {
					mail := fmt.Sprintf("user%d@example.org", i%n)
					res, err := l.Search(ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeWholeSubtree,
						ldap.NeverDerefAliases, 0, 0, false, fmt.Sprintf(shape.filter, ldap.EscapeFilter(mail)),
						[]string{"uid", "mail"}, nil))
					if err != nil || len(res.Entries) != 1 {
						b.Fatalf("lookup of %s: %v, %d entries", mail, err, len(res.Entries))
					}
				}
				// The first lookup reads the directory whole, once per
				// server: not what each lookup costs.
				lookup(0)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					lookup(i)
				}
			})
		}
	}
}

func testUserDN(name string) string { return "uid=" + name + ",ou=people," + testBase }

// lookupServer serves n accounts user0..user<n-1> and a service account
// postfix from the in-memory store.
func lookupServer(b *testing.B, n int) string {
	b.Helper()
	ctx := context.Background()
	keys, err := backend.CreateKeys(filepath.Join(b.TempDir(), "key"))
	if err != nil {
		b.Fatal(err)
	}
	store := memstore.New()
	svc := backend.New(store, keys, backend.Options{
		Argon2:              backend.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		RequireSecondFactor: true,
		Logger:              quietLogger(),
	})
	b.Cleanup(func() {
		svc.Close()
		store.Close()
	})
	users := make([]backend.ImportUser, n)
	for i := range users {
		users[i] = backend.ImportUser{Name: fmt.Sprintf("user%d", i), Mail: fmt.Sprintf("user%d@example.org", i)}
	}
	if _, err := svc.ImportUsers(ctx, users, ""); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.AddUser(ctx, "postfix", "", "postfix-service-password", backend.RoleService); err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{BaseDN: testBase, Logger: quietLogger(), Version: "test"}, svc)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Shutdown(ctx) })
	return l.Addr().String()
}

// BenchmarkPagedSearch reads every account, as a directory dump or an
// administrator's script does, a page of 1,000 entries at a time: an
// operation is the whole search. Each page resumes after the last entry
// sent, so the dump costs what it sends, once.
func BenchmarkPagedSearch(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		addr := lookupServer(b, n)
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			l, err := ldap.DialURL("ldap://" + addr)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if err := l.Bind(testUserDN("postfix"), "postfix-service-password"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				// SearchWithPaging keeps its control in the request.
				req := ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
					0, 0, false, "(objectClass=inetOrgPerson)", []string{"uid", "mail"}, nil)
				res, err := l.SearchWithPaging(req, 1000)
				if err != nil || len(res.Entries) < n {
					b.Fatalf("paged search: %v, %d entries", err, len(res.Entries))
				}
			}
		})
	}
}
