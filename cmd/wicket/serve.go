package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/config"
	"github.com/wicketldap/wicket/internal/addrlimit"
	"github.com/wicketldap/wicket/metrics"
	"github.com/wicketldap/wicket/server"
)

// auditPruneInterval is how often the server deletes audit records past
// audit.retention, besides once at start.
const auditPruneInterval = time.Hour

func newServeCmd(g *globals) *cobra.Command {
	var listen, webListen string
	var fullCheck bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve LDAP binds from the local database",
		Long: `Serve LDAP on --listen (default 127.0.0.1:1389), and ldaps:// on
tls.listen_ldaps when set, /metrics and /healthz on http.listen when
set, and the account page on web.listen (127.0.0.1:8080 without a
configuration file; HTTPS when a TLS certificate is configured). On the first start, where neither the database nor the key file
exists, both are created (their directories must exist).
A key file without its database, a database that holds secrets without its
key file, an empty (0-byte) database and one that PRAGMA quick_check (or
integrity_check, with --integrity-check) finds damaged are refused. If the
database file is deleted or replaced while serving, writes are refused
(binds that must record something answer unavailable) until a restart.
SIGINT or SIGTERM stops accepting, lets operations in flight finish, and
closes the database cleanly. SIGHUP reads the TLS certificate, key and
client CA files and the key file again; connections already open keep theirs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if cmd.Flags().Changed("web-listen") {
				cfg.Web.Listen = webListen
				if err := cfg.CheckWebListen(); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			serverProcs()
			return serve(ctx, cfg, newLogger(cfg, cmd.ErrOrStderr()), serveOptions{fullCheck: fullCheck})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "ldap:// address, host:port (overrides the config file)")
	cmd.Flags().StringVar(&webListen, "web-listen", "", `account page address, host:port, "" for none (overrides web.listen)`)
	cmd.Flags().BoolVar(&fullCheck, "integrity-check", false,
		"check the database with PRAGMA integrity_check (every index against its table) before serving, "+
			"instead of quick_check")
	return cmd
}

// minServerProcs is the fewest Go processors the server runs with. Every
// bind reads and writes a socket; on a machine of two CPUs, both
// processors are often inside those system calls at once, and a bind that
// is ready to run waits until the runtime takes one back. More processors
// than CPUs leave that to the kernel's scheduler, which is fairer: measured
// with `wicket bench` at 16 connections on 2 CPUs, the slowest 1% of binds
// took 2.5 ms instead of 4.5 ms, for the same throughput. Hashing is not
// affected: its slots are counted in CPUs (argon2.max_concurrent).
const minServerProcs = 8

// serverProcs raises GOMAXPROCS to minServerProcs unless the operator set
// GOMAXPROCS in the environment.
func serverProcs() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < minServerProcs {
		runtime.GOMAXPROCS(minServerProcs)
	}
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serveOptions are the flags of serve that are no configuration.
type serveOptions struct {
	// fullCheck: PRAGMA integrity_check at start rather than quick_check.
	fullCheck bool
}

// fileCheckInterval is how often the server looks whether its database
// file was deleted or replaced, besides before every write.
const fileCheckInterval = 5 * time.Second

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, opts serveOptions) error {
	// From the start: a SIGHUP that arrives before the loop below must wait
	// for it, not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Before the database: a wrong certificate path should not leave a new
	// empty database behind.
	tlsCfg, err := serverTLS(cfg.TLS, log)
	if err != nil {
		return err
	}
	e, err := openEnvFor(cfg, log, firstStart)
	if err != nil {
		return err
	}
	defer func() {
		e.Close()
		log.Info("database closed")
		if moved, err := e.store.SetAsideLostWAL(); err != nil {
			log.Error("the WAL of the lost database file is still in place: move it away before putting a database there",
				"wal", e.cfg.Database+"-wal", "err", err)
		} else if moved != "" {
			log.Error("the WAL of the lost database file was set aside, so that SQLite does not apply it to the next "+
				"file put in its place", "database", e.cfg.Database, "moved_to", moved)
		}
	}()
	if err := checkDatabase(e, log, opts.fullCheck); err != nil {
		return err
	}
	pruneCtx, stopPruning := context.WithCancel(context.Background())
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		var wg sync.WaitGroup
		wg.Go(func() { e.svc.KeepAudit(pruneCtx, cfg.Audit.Retention.Duration, auditPruneInterval) })
		wg.Go(func() { e.svc.KeepDirectoryLog(pruneCtx, auditPruneInterval) })
		wg.Go(func() { watchFile(pruneCtx, e) })
		wg.Wait()
	}()
	// Deferred after the close above, so it runs before it.
	defer func() {
		stopPruning()
		<-pruned
	}()

	// The directory is read before the first client comes, so that no
	// lookup waits for it; later changes are applied as they come.
	loadStart := time.Now()
	dir, err := e.svc.Directory(context.Background())
	if err != nil {
		return fmt.Errorf("reading the directory: %w", err)
	}
	log.Info("directory read", "accounts", dir.Len(), "took", time.Since(loadStart).Round(time.Millisecond))
	// Paced once the directory is in, so the limit starts from its size.
	runtime.GC()
	paceGC(pruneCtx, log)

	trusted, err := cfg.Lockout.TrustedPrefixes()
	if err != nil {
		return fmt.Errorf("lockout.trusted_clients: %w", err)
	}
	// Counted only when someone can read them.
	var met *metrics.Metrics
	var observer server.Observer
	if cfg.HTTP.Listen != "" {
		met = metrics.New(buildVersion())
		observer = met
	}
	// One count of failures per address for LDAP binds and the page's
	// sign-ins alike.
	var failedBinds *addrlimit.Limiter
	if n := cfg.Lockout.AddressFailuresPerMinute; n > 0 {
		failedBinds = addrlimit.New(float64(n)/60, max(1, cfg.Lockout.AddressFailureBurst), time.Now)
	}
	srv, err := server.New(server.Config{
		BaseDN:                   cfg.BaseDN,
		MaxMessageBytesAnonymous: cfg.Limits.MaxMessageBytesAnonymous,
		MaxMessageBytes:          cfg.Limits.MaxMessageBytes,
		MaxConnections:           cfg.Limits.MaxConnections,
		MaxOutstanding:           cfg.Limits.MaxOutstanding,
		IdleTimeout:              cfg.Limits.IdleTimeout.Duration,
		ReadTimeout:              cfg.Limits.ReadTimeout.Duration,
		WriteTimeout:             cfg.Limits.WriteTimeout.Duration,
		MaxConnectionsPerAddress: cfg.Limits.MaxConnectionsPerAddress,
		TrustedClients:           trusted,
		AddressFailuresPerMinute: float64(cfg.Lockout.AddressFailuresPerMinute),
		AddressFailureBurst:      cfg.Lockout.AddressFailureBurst,
		FailedBinds:              failedBinds,
		Logger:                   log,
		Version:                  buildVersion(),
		TLS:                      tlsCfg,
		Observer:                 observer,

		// What clients other than the trusted ones may hold.
		ReservedConnections:        cfg.Limits.ReservedConnections,
		MaxConnectionsPerNetwork:   cfg.Limits.MaxConnectionsPerNetwork,
		UnauthenticatedIdleTimeout: cfg.Limits.UnauthenticatedIdleTimeout.Duration,
	}, e.svc)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	listening := []any{"addr", "ldap://" + l.Addr().String()}
	var ls net.Listener
	if cfg.TLS.ListenLDAPS != "" {
		if ls, err = net.Listen("tcp", cfg.TLS.ListenLDAPS); err != nil {
			l.Close()
			return fmt.Errorf("tls.listen_ldaps: %w", err)
		}
		listening = append(listening, "ldaps_addr", "ldaps://"+ls.Addr().String())
	}
	// up counts the LDAP listeners serving; stopping is set once the server
	// starts shutting down. Both are for /healthz.
	var up atomic.Int32
	var stopping atomic.Bool
	want := int32(1)
	if ls != nil {
		want++
	}
	if met != nil {
		lh, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			l.Close()
			if ls != nil {
				ls.Close()
			}
			return fmt.Errorf("http.listen: %w", err)
		}
		met.Watch(srv.Stats, e.svc.Stats)
		health := func(ctx context.Context) error {
			if stopping.Load() {
				return errors.New("shutting down")
			}
			if n := up.Load(); n < want {
				return fmt.Errorf("%d of %d LDAP listeners are up", n, want)
			}
			if err := e.svc.CheckWritable(ctx); err != nil {
				if ctx.Err() != nil {
					// Writes queued before the check, each waiting out
					// the lock, took its whole time.
					return errors.New("the database takes no writes: no write lock within the check's time")
				}
				return fmt.Errorf("the database takes no writes: %w", err)
			}
			return nil
		}
		mon := serveMonitor(lh, met, health, log)
		defer mon.shutdown()
		listening = append(listening, "http_addr", "http://"+lh.Addr().String())
	}
	var page *webPage
	if cfg.Web.Listen != "" {
		page, err = startWeb(cfg, e, tlsCfg, failedBinds, log)
		if err != nil {
			l.Close()
			if ls != nil {
				ls.Close()
			}
			return err
		}
		defer page.shutdown()
		listening = append(listening, "web_addr", page.url)
	}
	// One line for both listeners: scripts and tests wait for it.
	log.Info("listening", append(listening, "base_dn", cfg.BaseDN, "database", cfg.Database,
		"tls", cfg.TLS.Enabled(), "version", buildVersion())...)

	errc := make(chan error, 2)
	serving := 1
	up.Store(want)
	go func() {
		err := srv.Serve(l)
		up.Add(-1)
		errc <- err
	}()
	if ls != nil {
		serving++
		go func() {
			err := srv.ServeTLS(ls)
			up.Add(-1)
			errc <- err
		}()
	}
	var serveErr error
wait:
	for {
		select {
		case serveErr = <-errc:
			// One listener failed: stop the other too, then report.
			serving--
			break wait
		case <-hup:
			reloadTLS(tlsCfg, log)
			// A rotation elsewhere may have added a seed key.
			if err := e.keys.Reload(); err != nil {
				log.Error("SIGHUP: reading the key file again failed; the keys in use stay", "err", err)
			}
		case <-ctx.Done():
			break wait
		}
	}
	stopping.Store(true)
	log.Info("shutting down: finishing operations in flight", "timeout", cfg.Limits.ShutdownTimeout.Duration)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownTimeout.Duration)
	defer cancel()
	// The page stops taking requests with LDAP, finishing its own.
	var pageDone sync.WaitGroup
	if page != nil {
		pageDone.Go(page.shutdown)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown timed out; remaining connections closed", "err", err)
	}
	pageDone.Wait()
	for ; serving > 0; serving-- {
		if err := <-errc; err != nil && !errors.Is(err, server.ErrServerClosed) && serveErr == nil {
			serveErr = err
		}
	}
	return serveErr
}

// checkDatabase runs SQLite's check of the database before the first
// client comes, and arranges for a loud error once the file is lost.
func checkDatabase(e *env, log *slog.Logger, full bool) error {
	start := time.Now()
	check := "quick_check"
	if full {
		check = "integrity_check"
	}
	if err := e.store.CheckIntegrity(context.Background(), full); err != nil {
		return err
	}
	log.Info("database checked", "database", e.cfg.Database, "check", check, "config", e.cfg.Path,
		"took", time.Since(start).Round(time.Millisecond))
	e.store.OnFileLost(func(err error) {
		log.Error("the database file was deleted or replaced: writes are refused until wicket is restarted on the restored file; "+
			"binds that must record something answer unavailable", "database", e.cfg.Database, "err", err)
	})
	return nil
}

// watchFile notices a deleted or replaced database file while nothing
// writes; a write notices it first.
func watchFile(ctx context.Context, e *env) {
	t := time.NewTicker(fileCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if e.store.CheckFile() != nil {
				return
			}
		}
	}
}

// serverTLS loads the [tls] section's files for the server.
func serverTLS(t config.TLS, log *slog.Logger) (server.TLSConfig, error) {
	if !t.Enabled() {
		return server.TLSConfig{}, nil
	}
	certs, err := server.LoadCertificates(server.CertFiles{Cert: t.CertFile, Key: t.KeyFile, ClientCA: t.ClientCAFile}, log)
	if err != nil {
		return server.TLSConfig{}, err
	}
	minVersion := uint16(tls.VersionTLS12)
	if t.MinVersion == "1.3" {
		minVersion = tls.VersionTLS13
	}
	return server.TLSConfig{Certificates: certs, MinVersion: minVersion, Require: t.Require,
		ExemptLoopback: t.RequireExemptLoopback}, nil
}

// reloadTLS answers SIGHUP. The process must survive the signal even
// without TLS: SIGHUP's default action would end it.
func reloadTLS(t server.TLSConfig, log *slog.Logger) {
	if t.Certificates == nil {
		log.Info("SIGHUP: no TLS certificate is configured; nothing to reload")
		return
	}
	log.Info("SIGHUP: reloading TLS certificate files")
	// Reload logs the outcome and keeps the old pair on failure.
	t.Certificates.Reload()
}
