// Command failbinds sends failed binds at a steady rate against accounts
// that exist, as a guesser would: wrong app-password-shaped secrets and
// wrong password+code strings. It is the background load of
// bench/background.sh, which measures that a server's caches survive it
// (issue 10, "Must show" 6); it is no part of the tests.
//
//	go run ./bench/failbinds -H ldap://127.0.0.1:1389 --users users.tsv --rate 100 --duration 12s
//
// It sends for --duration, or until SIGTERM or SIGINT, then prints how
// many it sent and the answers by result code.
//
// The users file is wicket bench's (bind name, a tab, a password); only the
// bind names are used. Only loopback servers are accepted: this is a
// benchmark's background, not a tool to point at someone's server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/internal/loadgen"
)

func main() {
	var (
		uri       = flag.String("H", "ldap://127.0.0.1:1389", "the server, ldap://host:port on a loopback address")
		usersFile = flag.String("users", "", "the accounts guessed at: a users file of wicket bench (bind name, a tab, a password)")
		rate      = flag.Float64("rate", 100, "failed binds a second")
		duration  = flag.Duration("duration", 10*time.Second, "how long to send them")
		codeShare = flag.Float64("code-share", 0.1, "the share of password+code guesses, the rest app-password-shaped (0 to 1)")
		from      = flag.String("from", "", "the loopback address to connect from (default: the system's choice, 127.0.0.1)")
		workers   = flag.Int("workers", 8, "connections binds are sent on")
	)
	flag.Parse()
	if err := run(*uri, *usersFile, *rate, *duration, *codeShare, *from, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "failbinds:", err)
		os.Exit(1)
	}
}

func run(uri, usersFile string, rate float64, duration time.Duration, codeShare float64, from string, workers int) error {
	switch {
	case usersFile == "":
		return errors.New("--users is needed")
	case rate <= 0 || duration <= 0 || workers < 1:
		return errors.New("--rate, --duration and --workers must be positive")
	case codeShare < 0 || codeShare > 1:
		return errors.New("--code-share is a share between 0 and 1")
	}
	if err := requireLoopback(uri); err != nil {
		return err
	}
	users, err := loadgen.ReadUsers(usersFile)
	if err != nil {
		return err
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		ip := net.ParseIP(from)
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("--from %q: not a loopback address", from)
		}
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}

	var (
		mu     sync.Mutex
		codes  = map[string]int{}
		missed int
	)
	count := func(k string) {
		mu.Lock()
		codes[k]++
		mu.Unlock()
	}
	jobs := make(chan [2]string) // bind name, secret
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var c *ldap.Conn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for j := range jobs {
				if c == nil {
					nc, err := ldap.DialURL(uri, ldap.DialWithDialer(dialer))
					if err != nil {
						count("no connection")
						continue
					}
					nc.SetTimeout(30 * time.Second)
					c = nc
				}
				err := c.Bind(j[0], j[1])
				var le *ldap.Error
				switch {
				case err == nil:
					count("0 (success!)")
				case errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork:
					count(fmt.Sprintf("%d", le.ResultCode))
				default:
					count("network error")
					c.Close()
					c = nil
				}
			}
		})
	}

	// SIGTERM or SIGINT end the sending early; the summary is printed all
	// the same.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	sent := 0
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			continue
		case <-tick.C:
		}
		u := users[rand.IntN(len(users))]
		secret := appPasswordGuess()
		if rand.Float64() < codeShare {
			secret = fmt.Sprintf("Guess%04d!%06d", rand.IntN(10000), rand.IntN(1_000_000))
		}
		select {
		case jobs <- [2]string{u.Name, secret}:
			sent++
		default:
			missed++ // every connection is busy: the rate is not kept
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	took := time.Since(start)

	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, codes[k]))
	}
	fmt.Printf("failbinds: %d failed binds sent in %.1f s (%.1f/s) to %d accounts; answers %s; %d not sent (all connections busy)\n",
		sent, took.Seconds(), float64(sent)/took.Seconds(), len(users), strings.Join(parts, ", "), missed)
	if codes["0 (success!)"] > 0 {
		return errors.New("a guess succeeded")
	}
	return nil
}

// appPasswordGuess is 16 random lowercase letters, shown with dashes half
// of the time, as clients may type an app password.
func appPasswordGuess() string {
	var b strings.Builder
	dashes := rand.IntN(2) == 0
	for i := range 16 {
		if dashes && i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(byte('a' + rand.IntN(26)))
	}
	return b.String()
}

func requireLoopback(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") {
		return fmt.Errorf("-H %q: want ldap://host:port", uri)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-H %q: only a server on a loopback address (127.0.0.0/8, ::1) is accepted", uri)
	}
	return nil
}
