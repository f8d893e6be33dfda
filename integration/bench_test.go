package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
	"github.com/wicketldap/wicket/server"
)

// benchServer is the production wiring (SQLite store, default argon2id
// parameters, the LDAP server) in-process on a loopback port, with a clock
// the benchmark moves so that every password+code bind has a fresh step.
type benchServer struct {
	url  string
	svc  *backend.Service
	step atomic.Int64
}

func newBenchServer(b *testing.B) *benchServer {
	b.Helper()
	dir := b.TempDir()
	keys, err := backend.CreateKeys(filepath.Join(dir, "wicket.key"))
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlite.Create(filepath.Join(dir, "wicket.db"))
	if err != nil {
		b.Fatal(err)
	}
	bs := &benchServer{}
	bs.step.Store(time.Now().Unix() / 30)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bs.svc = backend.New(store, keys, backend.Options{
		Argon2:              backend.DefaultArgon2Params,
		RequireSecondFactor: true,
		Logger:              log,
		Now:                 func() time.Time { return time.Unix(bs.step.Load()*30, 0) },
	})
	srv, err := server.New(server.Config{BaseDN: "dc=example,dc=org", Logger: log}, bs.svc)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() {
		srv.Shutdown(context.Background())
		bs.svc.Close()
		store.Close()
	})
	bs.url = "ldap://" + l.Addr().String()
	return bs
}

const benchPassword = "Correct-Horse-Battery"

// user adds an account with TOTP and n app passwords; it returns the TOTP
// secret and the last app password.
func (bs *benchServer) user(b *testing.B, name string, n int) (secret, appPassword string) {
	b.Helper()
	ctx := context.Background()
	if _, err := bs.svc.AddUser(ctx, name, "", benchPassword, ""); err != nil {
		b.Fatal(err)
	}
	e, err := bs.svc.EnrollTOTP(ctx, name, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		ap, err := bs.svc.CreateAppPassword(ctx, name, "device")
		if err != nil {
			b.Fatal(err)
		}
		appPassword = ap.Password
	}
	return e.Secret, appPassword
}

func (bs *benchServer) dial(b *testing.B) *ldap.Conn {
	b.Helper()
	c, err := ldap.DialURL(bs.url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func (bs *benchServer) code(b *testing.B, secret string, step int64) string {
	c, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkBind_AppPassword: repeated binds on one connection, as Dovecot
// re-binds. With 1 and 25 app passwords on the account, to show the cost does
// not grow with their number.
func BenchmarkBind_AppPassword(b *testing.B) {
	for _, n := range []int{1, 25} {
		b.Run(map[int]string{1: "1-app-password", 25: "25-app-passwords"}[n], func(b *testing.B) {
			bs := newBenchServer(b)
			_, pw := bs.user(b, "alice", n)
			c := bs.dial(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.Bind("uid=alice,ou=people,dc=example,dc=org", pw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBind_AppPasswordParallel: one connection per goroutine.
func BenchmarkBind_AppPasswordParallel(b *testing.B) {
	bs := newBenchServer(b)
	_, pw := bs.user(b, "alice", 1)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := ldap.DialURL(bs.url)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if err := c.Bind("uid=alice,ou=people,dc=example,dc=org", pw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBind_PasswordTOTP: password + a fresh code per bind, with the
// default argon2id parameters (m=19456 KiB, t=2, p=1).
func BenchmarkBind_PasswordTOTP(b *testing.B) {
	bs := newBenchServer(b)
	secret, _ := bs.user(b, "alice", 0)
	c := bs.dial(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step := bs.step.Add(1)
		if err := c.Bind("uid=alice,ou=people,dc=example,dc=org", benchPassword+bs.code(b, secret, step)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBind_Failure: the failures a guesser can tell apart only by
// timing. Compare ns/op across the sub-benchmarks of each shape.
func BenchmarkBind_Failure(b *testing.B) {
	bs := newBenchServer(b)
	secret, pw := bs.user(b, "alice", 1)
	ctx := context.Background()
	revoked, _ := bs.svc.CreateAppPassword(ctx, "alice", "old phone")
	bs.svc.RevokeAppPassword(ctx, "alice", revoked.ID)
	wrongApp := "zzzz-zzzz-zzzz-zzzz"
	if wrongApp == pw {
		wrongApp = "yyyy-yyyy-yyyy-yyyy"
	}
	cases := []struct{ name, dn, pw string }{
		{"password+code/unknown-user", "uid=nobody,ou=people,dc=example,dc=org", benchPassword + "123456"},
		{"password+code/wrong-password", "uid=alice,ou=people,dc=example,dc=org", "Wrong-Horse-Battery123456"},
		{"password+code/wrong-code", "uid=alice,ou=people,dc=example,dc=org", ""},
		{"app-password/unknown-user", "uid=nobody,ou=people,dc=example,dc=org", wrongApp},
		{"app-password/wrong", "uid=alice,ou=people,dc=example,dc=org", wrongApp},
		{"app-password/revoked", "uid=alice,ou=people,dc=example,dc=org", revoked.Password},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := bs.dial(b)
			for i := 0; i < b.N; i++ {
				pw := tc.pw
				if pw == "" {
					// A code that is wrong at the current step.
					pw = benchPassword + wrongCodeAt(b, bs, secret)
				}
				if err := c.Bind(tc.dn, pw); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
					b.Fatalf("want invalid credentials, got %v", err)
				}
			}
		})
	}
}

func wrongCodeAt(b *testing.B, bs *benchServer, secret string) string {
	step := bs.step.Load()
	valid := map[string]bool{}
	for s := step - 1; s <= step+1; s++ {
		valid[bs.code(b, secret, s)] = true
	}
	for _, c := range []string{"000000", "111111", "222222"} {
		if !valid[c] {
			return c
		}
	}
	b.Fatal("no wrong code")
	return ""
}

// BenchmarkBind_PasswordTOTPParallel: password+code binds from 4 clients
// per core, each a different account and a fresh code, as when many users
// log in at once. The argon2id slots (one per core) are the bottleneck:
// compare binds/s with cores ÷ BenchmarkVerifyPassword_Argon2idDefault.
func BenchmarkBind_PasswordTOTPParallel(b *testing.B) {
	bs := newBenchServer(b)
	// The clock stands still: each account takes the codes of the steps
	// T-1, T and T+1, in that order, which the ±1 step window accepts.
	step := bs.step.Load()
	var secrets []string
	for i := 0; i < b.N/3+32; i++ {
		secret, _ := bs.user(b, fmt.Sprintf("user%d", i), 0)
		secrets = append(secrets, secret)
	}
	var next atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := ldap.DialURL(bs.url)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for {
			i := int(next.Add(1) - 1)
			dn := fmt.Sprintf("uid=user%d,ou=people,dc=example,dc=org", i)
			for s := step - 1; s <= step+1; s++ {
				if !pb.Next() {
					return
				}
				if err := c.Bind(dn, benchPassword+bs.code(b, secrets[i], s)); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "binds/s")
}
