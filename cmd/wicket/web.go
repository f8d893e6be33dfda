package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wicketldap/wicket/config"
	"github.com/wicketldap/wicket/internal/addrlimit"
	"github.com/wicketldap/wicket/server"
	"github.com/wicketldap/wicket/web"
)

// webPage is the account page's listener while it serves.
type webPage struct {
	srv  *http.Server
	url  string
	done chan struct{}
	stop sync.Once
}

// startWeb serves the account page on web.listen, over HTTPS with the
// LDAP certificate when one is configured.
func startWeb(cfg *config.Config, e *env, tlsCfg server.TLSConfig, failed *addrlimit.Limiter, log *slog.Logger) (*webPage, error) {
	if err := cfg.CheckWebListen(); err != nil {
		return nil, err
	}
	proxies, err := cfg.Web.ProxyPrefixes()
	if err != nil {
		return nil, fmt.Errorf("web.trusted_proxies: %w", err)
	}
	h, err := web.New(e.svc, web.Config{
		Enrolment:       cfg.Web.Enrolment,
		SessionIdle:     cfg.Web.SessionIdle.Duration,
		SessionMax:      cfg.Web.SessionMax.Duration,
		TrustedProxies:  proxies,
		Secure:          tlsCfg.Certificates != nil,
		MaxAppPasswords: cfg.Auth.MaxAppPasswords,
		FailedBinds:     failed,
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", cfg.Web.Listen)
	if err != nil {
		return nil, fmt.Errorf("web.listen: %w", err)
	}
	srv := &http.Server{
		Handler: h,
		// Forms are a few hundred bytes; a client slower than this is
		// holding the port, not typing (typing happens before the post).
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if tlsCfg.Certificates != nil {
		scheme = "https"
		minVersion := tlsCfg.MinVersion
		if minVersion == 0 {
			minVersion = tls.VersionTLS12
		}
		srv.TLSConfig = tlsCfg.Certificates.WebConfig(minVersion)
		l = tls.NewListener(l, srv.TLSConfig)
	}
	p := &webPage{srv: srv, url: scheme + "://" + l.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("the account page's listener failed; LDAP goes on", "err", err)
		}
	}()
	return p, nil
}

// shutdown lets requests in flight finish for a few seconds; later calls
// wait for the first.
func (p *webPage) shutdown() {
	p.stop.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			p.srv.Close()
		}
	})
	<-p.done
}
