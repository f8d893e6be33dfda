// Package loadgen measures how fast an LDAP server answers binds and
// lookups, as a mail server makes them: workers, each with its own
// connection, bind (and search) as a list of users, or bind once as a
// service account and look the users up, as fast as the server answers,
// and every operation's latency is counted in a histogram of fixed size.
//
// The tool usually runs on the machine of the server it measures, so its
// own work per operation is kept small: a hand-written client that encodes
// requests into a reused buffer and reads only the envelope and result code
// of a response (go-ldap's client starts goroutines and allocates hundreds
// of objects per message), and no allocation per operation in a steady run.
package loadgen

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// A Mode is what one operation is.
type Mode string

const (
	// ModeBind: each worker keeps its connection and binds again and
	// again, as Dovecot does on its pooled connections.
	ModeBind Mode = "bind"
	// ModeConnectBind: connect, bind, unbind and close, as Dovecot's
	// auth_bind does per login; the latency includes the connect.
	ModeConnectBind Mode = "connect-bind"
	// ModeBindSearch: bind as the user, then search for the user's own
	// entry on the same connection.
	ModeBindSearch Mode = "bind-search"
	// ModeLookup: each worker binds once as the service account, then each
	// operation is one search for a user's entry, as Postfix's ldap tables
	// and Dovecot's userdb do. It succeeds when exactly one entry is found.
	ModeLookup Mode = "lookup"
)

// ParseMode checks a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeBind, ModeConnectBind, ModeBindSearch, ModeLookup:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q: bind, connect-bind, bind-search or lookup", s)
}

// searches says whether a mode's operations search.
func (m Mode) searches() bool { return m == ModeBindSearch || m == ModeLookup }

// DefaultFilter finds the bind name's own entry; %u is the value of its
// first RDN.
const DefaultFilter = "(uid=%u)"

// DefaultSuffix is the directory's suffix when lookup's service account
// names none.
const DefaultSuffix = "dc=example,dc=org"

// LookupDefaults are the search base and filter of lookup mode when none
// is given. The base is ou=people under the trailing dc= components of the
// service account's DN (DefaultSuffix if it has none), as wicket and most
// mail directories lay users out. The filter asks for the mail address
// %u@DOMAIN, as a Postfix table does, where DOMAIN is made of the base's
// trailing dc= components (RFC 2247: dc=example,dc=org is example.org);
// with none, the domain is unknown and the filter is DefaultFilter.
func LookupDefaults(service, base string) (string, string) {
	if base == "" {
		suffix := DefaultSuffix
		if dn, err := ldap.ParseDN(service); err == nil {
			if dc := domainComponents(dn); len(dc) > 0 {
				suffix = "dc=" + strings.Join(dc, ",dc=")
			}
		}
		base = "ou=people," + suffix
	}
	dn, err := ldap.ParseDN(base)
	if err != nil {
		return base, DefaultFilter
	}
	dc := domainComponents(dn)
	if len(dc) == 0 {
		return base, DefaultFilter
	}
	return base, "(mail=%u@" + strings.Join(dc, ".") + ")"
}

// domainComponents are the values of a DN's trailing dc= RDNs, in order.
func domainComponents(dn *ldap.DN) []string {
	var dc []string
	for i := len(dn.RDNs) - 1; i >= 0; i-- {
		as := dn.RDNs[i].Attributes
		if len(as) != 1 || !strings.EqualFold(as[0].Type, "dc") || as[0].Value == "" {
			break
		}
		dc = append(dc, as[0].Value)
	}
	slices.Reverse(dc)
	return dc
}

// Config is one run.
type Config struct {
	// Addr is the server's host:port. With TLS set, TLS is spoken from the
	// first byte (ldaps://).
	Addr string
	TLS  *tls.Config
	// URL names the server in the report.
	URL  string
	Mode Mode
	// Users are who binds; in lookup mode, whose entries are looked up
	// (their passwords are not used).
	Users []User
	// Service is who binds in lookup mode, once on each connection.
	Service User
	// Concurrency is the number of workers. Worker i starts at user i and
	// steps through the list by Concurrency, so that all users are used; in
	// lookup mode it starts at user i×len(Users)/Concurrency and takes the
	// users in turn, so that the lookups spread over all of the list from
	// the start, however short the run.
	Concurrency int
	// Count, when above 0, is the number of operations, split evenly among
	// the workers (which user does how many is then known in advance);
	// otherwise the run lasts Duration.
	Count    int
	Duration time.Duration
	// Warmup runs the load this long first, unrecorded.
	Warmup time.Duration
	// Timeout bounds each operation, connect included.
	Timeout time.Duration
	// Rate, when above 0, caps the operations started a second by all the
	// workers together, warmup included; 0 is as fast as the server
	// answers. A run that falls behind the rate does not catch up later.
	Rate float64
	// Base and Filter shape the search of bind-search and lookup. An empty
	// Base is each bind name's parent DN in bind-search, and an empty Base
	// or Filter in lookup are those of LookupDefaults. In Filter
	// (DefaultFilter if empty in bind-search) %u is the value of the user
	// name's first RDN, or the whole name if it is not a DN, escaped as
	// RFC 4515 says.
	Base, Filter string
	// Progress, if set, is called once a second while the load runs, from
	// another goroutine; never after Run has returned.
	Progress func(Progress)
}

// Progress is where a run is, for a line on a terminal.
type Progress struct {
	Warmup     bool
	Elapsed    time.Duration
	Operations uint64
	Errors     uint64
	// Rate is the operations per second over the last second.
	Rate float64
}

func (p Progress) String() string {
	label := ""
	if p.Warmup {
		label = "warmup "
	}
	return fmt.Sprintf("%s%ds: %d ops, %.0f ops/s, %d errors", label,
		p.Elapsed.Round(time.Second)/time.Second, p.Operations, p.Rate, p.Errors)
}

// dialRetryPause follows a failed connect: a server that is down would
// otherwise be hammered at the full speed of the tool, which shares the
// machine with it.
const dialRetryPause = 50 * time.Millisecond

// target is a user made ready for the hot loop: for a search, the base
// and the compiled filter are computed once.
type target struct {
	name, password string
	// totpKey: the bind appends the current code to password.
	totpKey []byte
	base    string
	filter  []byte
}

func (cfg *Config) check() error {
	switch {
	case cfg.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case len(cfg.Users) == 0:
		return errors.New("no users")
	case cfg.Count < 0:
		return errors.New("the count of operations must be positive")
	case cfg.Count == 0 && cfg.Duration <= 0:
		return errors.New("the duration must be positive")
	case cfg.Warmup < 0:
		return errors.New("the warmup cannot be negative")
	case cfg.Timeout <= 0:
		return errors.New("the timeout must be positive")
	case !(cfg.Rate >= 0) || math.IsInf(cfg.Rate, 0):
		return errors.New("the rate must be a number of operations a second, 0 for no limit")
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return err
	}
	if cfg.Mode == ModeLookup && (cfg.Service.Name == "" || cfg.Service.Password == "") {
		return errors.New("lookup binds as a service account: its name and password are needed")
	}
	return nil
}

// search is the search base and filter the run uses, defaults applied;
// an empty base is each bind name's parent (bind-search only).
func (cfg *Config) search() (base, filter string) {
	switch cfg.Mode {
	case ModeLookup:
		base, filter = LookupDefaults(cfg.Service.Name, cfg.Base)
		if cfg.Filter != "" {
			filter = cfg.Filter
		}
		return base, filter
	case ModeBindSearch:
		return cfg.Base, cmp.Or(cfg.Filter, DefaultFilter)
	}
	return "", ""
}

// targets prepares the users; for a search it checks that every one has a
// search base and a filter that compiles.
func (cfg *Config) targets() ([]target, error) {
	base, filter := cfg.search()
	ts := make([]target, len(cfg.Users))
	for i, u := range cfg.Users {
		ts[i] = target{name: u.Name, password: u.Password}
		if u.TOTPKey != "" {
			ts[i].totpKey = []byte(u.TOTPKey)
		}
		if !cfg.Mode.searches() {
			continue
		}
		under, value := base, u.Name
		dn, err := ldap.ParseDN(u.Name)
		if err == nil && len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) > 0 {
			value = dn.RDNs[0].Attributes[0].Value
		}
		if under == "" {
			if err != nil || len(dn.RDNs) < 2 {
				return nil, fmt.Errorf("%q is not a DN with a parent to search under: give the search base (--base)", u.Name)
			}
			under = (&ldap.DN{RDNs: dn.RDNs[1:]}).String()
		}
		f := strings.ReplaceAll(filter, "%u", ldap.EscapeFilter(value))
		p, err := ldap.CompileFilter(f)
		if err != nil {
			return nil, fmt.Errorf("filter %s (for %s): %w", f, u.Name, err)
		}
		ts[i].base, ts[i].filter = under, p.Bytes()
	}
	return ts, nil
}

// worker runs operations one after another, on its own connection.
type worker struct {
	cfg     *Config
	targets []target
	// next is the index of the next target, step how far the one after
	// it is.
	next, step int
	c          client
	// dialFailed: the last operation could not connect.
	dialFailed bool
	// timer waits for the pacer's slot; made at the first wait.
	timer *time.Timer

	hist   Histogram
	errors map[int]*ErrorCount
	// ops and failed are read by the progress line while the worker runs.
	ops, failed atomic.Uint64
}

// Run connects, runs the warmup and then the measured load, and reports.
// It stops early, with a report of what was done, when ctx is done.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ts, err := cfg.targets()
	if err != nil {
		return nil, err
	}
	ws := make([]*worker, cfg.Concurrency)
	for i := range ws {
		w := &worker{cfg: &cfg, targets: ts, next: i % len(ts), step: cfg.Concurrency, errors: map[int]*ErrorCount{}}
		if cfg.Mode == ModeLookup {
			w.next, w.step = i*len(ts)/cfg.Concurrency, 1
		}
		ws[i] = w
	}
	defer func() {
		for _, w := range ws {
			w.hangUp()
		}
	}()
	if err := connect(&cfg, ws); err != nil {
		return nil, err
	}
	if cfg.Warmup > 0 {
		runPhase(ctx, &cfg, ws, cfg.Warmup, nil, true)
		if ctx.Err() != nil {
			return nil, errors.New("interrupted during the warmup")
		}
		for _, w := range ws {
			w.reset()
		}
	}
	var quota []int
	if cfg.Count > 0 {
		quota = make([]int, len(ws))
		for i := range quota {
			quota[i] = cfg.Count / len(ws)
			if i < cfg.Count%len(ws) {
				quota[i]++
			}
		}
	}
	start := time.Now()
	runPhase(ctx, &cfg, ws, cfg.Duration, quota, false)
	return report(&cfg, ws, time.Since(start), ctx.Err() != nil), nil
}

// connect opens the workers' connections before the clock starts, so that
// no operation pays for it and a server that cannot be reached is said so
// at once; in lookup mode it binds them as the service account too, so
// that a service account refused is said so at once as well. connect-bind
// connects once, to see that it can.
func connect(cfg *Config, ws []*worker) error {
	if cfg.Mode == ModeConnectBind {
		nc, err := dial(cfg.Addr, cfg.TLS, time.Now().Add(cfg.Timeout))
		if err != nil {
			return fmt.Errorf("cannot connect to %s: %w", cfg.URL, err)
		}
		return nc.Close()
	}
	for _, w := range ws {
		deadline := time.Now().Add(cfg.Timeout)
		nc, err := dial(cfg.Addr, cfg.TLS, deadline)
		if err != nil {
			return fmt.Errorf("cannot connect to %s: %w", cfg.URL, err)
		}
		w.c.attach(nc)
		if cfg.Mode != ModeLookup {
			continue
		}
		if err := nc.SetDeadline(deadline); err != nil {
			return fmt.Errorf("cannot connect to %s: %w", cfg.URL, err)
		}
		code, err := w.c.serviceBind(cfg.Service)
		switch {
		case err != nil:
			return fmt.Errorf("the service account %s cannot bind to %s: %w", cfg.Service.Name, cfg.URL, err)
		case code != 0:
			why := fmt.Sprintf("%s (%d)", ResultName(code), code)
			if d := w.c.diagnostic(); d != "" {
				why += ": " + d
			}
			return fmt.Errorf("the service account %s cannot bind to %s: %s", cfg.Service.Name, cfg.URL, why)
		}
	}
	return nil
}

// runPhase runs the workers until each has done its quota (nil: until d
// has passed) or ctx is done, with a progress line once a second.
func runPhase(ctx context.Context, cfg *Config, ws []*worker, d time.Duration, quota []int, warmup bool) {
	// stop is read before every operation; halt ends a wait for the pacer.
	var stop atomic.Bool
	halt := make(chan struct{})
	end := sync.OnceFunc(func() {
		stop.Store(true)
		close(halt)
	})
	if quota == nil {
		t := time.AfterFunc(d, end)
		defer t.Stop()
	}
	defer context.AfterFunc(ctx, end)()
	pace := newPacer(cfg.Rate, time.Now)
	done := make(chan struct{})
	var progress sync.WaitGroup
	if cfg.Progress != nil {
		progress.Go(func() { reportProgress(ws, warmup, done, cfg.Progress) })
	}
	var wg sync.WaitGroup
	for i, w := range ws {
		n := -1
		if quota != nil {
			n = quota[i]
		}
		wg.Go(func() { w.run(&stop, halt, pace, n) })
	}
	wg.Wait()
	close(done)
	progress.Wait()
}

func reportProgress(ws []*worker, warmup bool, done <-chan struct{}, report func(Progress)) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start := time.Now()
	last, lastOps := start, uint64(0)
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			p := Progress{Warmup: warmup, Elapsed: now.Sub(start)}
			for _, w := range ws {
				p.Operations += w.ops.Load()
				p.Errors += w.failed.Load()
			}
			p.Rate = float64(p.Operations-lastOps) / now.Sub(last).Seconds()
			last, lastOps = now, p.Operations
			report(p)
		}
	}
}

// run does n operations (n < 0: until stopped), one after another, each
// in its slot of pace when there is one.
func (w *worker) run(stop *atomic.Bool, halt <-chan struct{}, pace *pacer, n int) {
	for ; n != 0 && !stop.Load(); n-- {
		if pace != nil && !w.wait(pace.reserve(), halt) {
			return
		}
		t := &w.targets[w.next]
		w.next = (w.next + w.step) % len(w.targets)
		start := time.Now()
		code, err := w.op(t, start.Add(w.cfg.Timeout))
		w.record(t, code, err, time.Since(start))
		if w.dialFailed {
			time.Sleep(dialRetryPause)
		}
	}
}

// wait waits d, or less if halt closes first: then it returns false.
func (w *worker) wait(d time.Duration, halt <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	select {
	case <-w.timer.C:
		return true
	case <-halt:
		w.timer.Stop()
		return false
	}
}

// op does one operation and returns its result code: 0, an LDAP result
// code, CodeNoEntry, or an error.
func (w *worker) op(t *target, deadline time.Time) (int, error) {
	c := &w.c
	w.dialFailed = false
	if !c.connected() {
		nc, err := dial(w.cfg.Addr, w.cfg.TLS, deadline)
		if err != nil {
			w.dialFailed = true
			return 0, err
		}
		c.attach(nc)
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return 0, err
	}
	if w.cfg.Mode == ModeLookup {
		// The service account binds again only on a new connection.
		if !c.bound {
			if code, err := c.serviceBind(w.cfg.Service); err != nil || code != 0 {
				return code, err
			}
		}
		return searchResult(c.search(t.base, t.filter))
	}
	password := t.password
	if t.totpKey != nil {
		password += totpCode(t.totpKey, time.Now())
	}
	code, err := c.bind(t.name, password)
	switch {
	case w.cfg.Mode == ModeConnectBind:
		if err == nil {
			// Nothing comes back; a failure to say goodbye fails nothing.
			c.unbind()
		}
		c.close()
		return code, err
	case err != nil || code != 0 || w.cfg.Mode == ModeBind:
		return code, err
	}
	entries, code, err := c.search(t.base, t.filter)
	if err == nil && code == 0 && entries == 0 {
		return CodeNoEntry, nil
	}
	return code, err
}

// searchResult is a lookup's result: success is exactly one entry.
func searchResult(entries, code int, err error) (int, error) {
	switch {
	case err != nil || code != 0:
		return code, err
	case entries == 0:
		return CodeNoEntry, nil
	case entries > 1:
		return CodeTooMany, nil
	}
	return 0, nil
}

// record counts one operation, for target t. A failed connection is
// closed, to be opened again by the next operation: its stream cannot be
// trusted.
func (w *worker) record(t *target, code int, err error, d time.Duration) {
	if err != nil {
		code = classify(err)
		w.c.close()
	}
	w.hist.Record(d)
	w.ops.Add(1)
	if code == 0 {
		return
	}
	w.failed.Add(1)
	e := w.errors[code]
	if e == nil {
		e = &ErrorCount{Code: code}
		switch {
		case err != nil:
			e.Example = err.Error()
		case code == CodeNoEntry:
			e.Example = fmt.Sprintf("nothing found for %s under %s", t.name, t.base)
		case code == CodeTooMany:
			e.Example = fmt.Sprintf("more than one entry found for %s under %s", t.name, t.base)
		default:
			e.Example = w.c.diagnostic()
		}
		w.errors[code] = e
	}
	e.Count++
}

// classify gives a failed operation's error its code.
func classify(err error) int {
	var de *disconnectError
	var me *malformedError
	var ne net.Error
	switch {
	case errors.As(err, &de) && de.code != 0:
		return de.code
	case errors.As(err, &me):
		return CodeMalformed
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return CodeTimeout
	}
	return CodeNetwork
}

func (w *worker) reset() {
	w.hist.Reset()
	clear(w.errors)
	w.ops.Store(0)
	w.failed.Store(0)
}

// hangUp unbinds and closes the worker's connection, if open.
func (w *worker) hangUp() {
	if w.c.connected() {
		w.c.nc.SetDeadline(time.Now().Add(time.Second))
		w.c.unbind()
		w.c.close()
	}
}

// report merges the workers' counts.
func report(cfg *Config, ws []*worker, d time.Duration, interrupted bool) *Report {
	r := &Report{
		Mode:        cfg.Mode,
		URL:         cfg.URL,
		Concurrency: cfg.Concurrency,
		Rate:        cfg.Rate,
		Users:       len(cfg.Users),
		Duration:    d,
		Interrupted: interrupted,
	}
	r.Base, r.Filter = cfg.search()
	if cfg.Mode == ModeLookup {
		r.Service = cfg.Service.Name
	}
	var h Histogram
	byCode := map[int]*ErrorCount{}
	for _, w := range ws {
		h.Merge(&w.hist)
		for code, e := range w.errors {
			if all := byCode[code]; all != nil {
				all.Count += e.Count
			} else {
				byCode[code] = &ErrorCount{Code: code, Count: e.Count, Example: e.Example}
			}
			r.Failed += e.Count
		}
	}
	r.Operations = h.Count()
	r.Succeeded = r.Operations - r.Failed
	r.Latency = Latency{Mean: h.Mean(), P50: h.Percentile(0.50), P95: h.Percentile(0.95),
		P99: h.Percentile(0.99), Max: h.Max()}
	for _, e := range byCode {
		r.Errors = append(r.Errors, *e)
	}
	sortErrors(r.Errors)
	return r
}
