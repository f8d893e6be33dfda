package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/internal/slapdtest"
)

func slapdDirectory(t *testing.T, s *slapdtest.Slapd, cfg Config) *Directory {
	t.Helper()
	cfg.URL = strings.TrimSuffix(s.URL, "/")
	cfg.BindDN, cfg.BindPassword = s.ServiceDN, s.ServicePassword
	cfg.Base = s.PeopleDN
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// Many binds at once share the pool's connections, each bound as the
// user for its check and as the service account again for the next
// search.
func TestDirectory_ParallelChecksAgainstSlapd(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	const users = 8
	for i := range users {
		s.AddUser(t, fmt.Sprintf("user%d", i), fmt.Sprintf("Secret-%d", i))
	}
	d := slapdDirectory(t, s, Config{PoolSize: 3})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, users*20)
	for i := range users {
		wg.Go(func() {
			name := fmt.Sprintf("user%d", i)
			for j := range 20 {
				login := name
				if j%2 == 1 {
					login = name + "@" + slapdtest.DefaultDomain
				}
				u, err := d.VerifyPrimary(ctx, login, fmt.Sprintf("Secret-%d", i))
				if err != nil || u.Name != name {
					errs <- fmt.Errorf("%s: %v %+v", login, err, u)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := d.VerifyPrimary(ctx, "user0", "wrong"); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := d.VerifyPrimary(ctx, "nobody", "wrong"); !errors.Is(err, backend.ErrInvalidCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	all, err := d.Users(ctx)
	if err != nil || len(all) != users {
		t.Fatalf("Users: %d, %v; want %d", len(all), err, users)
	}
	st := d.UpstreamStats()
	if !st.Up || st.Success != users*20 || st.Refused != 1 || st.NotAsked != 1 {
		t.Fatalf("stats %+v", st)
	}
	if n := len(d.pool.idle); n > 3 {
		t.Fatalf("%d idle connections, more than the pool's 3", n)
	}
}

func TestDirectory_StoppedSlapdIsUnavailableThenBack(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{ServiceAccount: true})
	s.AddUser(t, "alice", "Secret-Alice")
	d := slapdDirectory(t, s, Config{})
	ctx := context.Background()
	if _, err := d.VerifyPrimary(ctx, "alice", "Secret-Alice"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	for range 3 {
		if _, err := d.VerifyPrimary(ctx, "alice", "Secret-Alice"); !errors.Is(err, backend.ErrUpstreamUnavailable) {
			t.Fatalf("slapd stopped: %v, want ErrUpstreamUnavailable", err)
		}
	}
	if st := d.UpstreamStats(); st.Up || st.Outages != 1 || st.Unavailable != 3 {
		t.Fatalf("stats %+v, want down, one outage, three unavailable", st)
	}
	s.Restart(t)
	// The breaker lets a probe through after its backoff.
	d.pool.br.mu.Lock()
	d.pool.br.until = d.cfg.Now()
	d.pool.br.mu.Unlock()
	if _, err := d.VerifyPrimary(ctx, "alice", "Secret-Alice"); err != nil {
		t.Fatalf("slapd back: %v", err)
	}
}

// Guesses sent at once all see the same count: each holds its place in it
// while its bind is out, so no more than the cut-off reach the directory.
func TestDirectory_ParallelGuessesStopAtTheCutOff(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	dn := s.AddUser(t, "alice", "Secret-Alice")
	d := slapdDirectory(t, s, Config{PoolSize: 8})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := d.VerifyPrimary(context.Background(), "alice", fmt.Sprintf("guess-%d", i)); !errors.Is(err, backend.ErrInvalidCredentials) {
				t.Errorf("guess %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if n := len(s.Attr(t, dn, "pwdFailureTime")); n > DefaultMaxFailures {
		t.Fatalf("the directory counted %d failures of 40 parallel guesses, want at most %d", n, DefaultMaxFailures)
	}
	if st := d.UpstreamStats(); st.Refused > DefaultMaxFailures {
		t.Fatalf("stats %+v: more binds reached the directory than the cut-off", st)
	}
}

// With a DN template the user's entry is read where the template puts it,
// without a search of the tree.
func TestDirectory_DNTemplateAgainstSlapd(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{PPolicy: true, ServiceAccount: true})
	s.AddUser(t, "alice", "Secret-Alice")
	d := slapdDirectory(t, s, Config{DNTemplate: "uid={login}," + s.PeopleDN})
	ctx := context.Background()
	u, err := d.VerifyPrimary(ctx, "alice", "Secret-Alice")
	if err != nil || u.DN != s.UserDN("alice") || u.Mail != "alice@"+slapdtest.DefaultDomain {
		t.Fatalf("alice by template: %+v, %v", u, err)
	}
	for _, login := range []string{"bob", "alice@" + slapdtest.DefaultDomain, "*"} {
		if _, err := d.VerifyPrimary(ctx, login, "Secret-Alice"); !errors.Is(err, backend.ErrInvalidCredentials) {
			t.Fatalf("%q by template: %v, want refused", login, err)
		}
	}
}
