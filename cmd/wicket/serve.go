package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/config"
	"github.com/wicketldap/wicket/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newServeCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve LDAP binds from the local database",
		Long: `Serve LDAP on --listen (default 127.0.0.1:1389). The database and the key
file are created on first start. SIGINT or SIGTERM stops accepting, lets
operations in flight finish, and closes the database cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, newLogger(cfg, cmd.ErrOrStderr()))
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "ldap:// address, host:port (overrides the config file)")
	return cmd
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

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	e, err := openEnv(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		e.Close()
		log.Info("database closed")
	}()

	srv, err := server.New(server.Config{
		BaseDN:                   cfg.BaseDN,
		MaxMessageBytesAnonymous: cfg.Limits.MaxMessageBytesAnonymous,
		MaxMessageBytes:          cfg.Limits.MaxMessageBytes,
		MaxConnections:           cfg.Limits.MaxConnections,
		MaxOutstanding:           cfg.Limits.MaxOutstanding,
		IdleTimeout:              cfg.Limits.IdleTimeout.Duration,
		ReadTimeout:              cfg.Limits.ReadTimeout.Duration,
		WriteTimeout:             cfg.Limits.WriteTimeout.Duration,
		Logger:                   log,
		Version:                  buildVersion(),
	}, e.svc)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", "ldap://"+l.Addr().String(), "base_dn", cfg.BaseDN,
		"database", cfg.Database, "version", buildVersion())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing operations in flight", "timeout", cfg.Limits.ShutdownTimeout.Duration)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownTimeout.Duration)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown timed out; remaining connections closed", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	return nil
}
