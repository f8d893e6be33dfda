package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// TLSConfig is the transport security of a Server. The zero value serves
// LDAP in the clear only.
type TLSConfig struct {
	// Certificates enable ldaps:// (ServeTLS) and StartTLS; nil leaves both
	// off. With a client CA they also enable SASL EXTERNAL.
	Certificates *Certificates
	// MinVersion is the oldest protocol accepted; zero means TLS 1.2.
	MinVersion uint16
	// Require answers binds and searches on a connection without TLS with
	// confidentialityRequired, leaving only what a client needs to find
	// out about and start TLS.
	Require bool
	// ExemptLoopback counts connections from 127.0.0.0/8 and ::1 as
	// confidential for Require.
	ExemptLoopback bool
}

// CertFiles names the PEM files Certificates reads.
type CertFiles struct {
	Cert, Key string
	// ClientCA is the CA bundle that signs client certificates for SASL
	// EXTERNAL; empty means no client certificates are asked for.
	ClientCA string
}

// Certificates is the server's key pair and client CA, read from files and
// swapped atomically by Reload, so a renewed certificate is served to new
// connections without a restart while established ones keep theirs.
type Certificates struct {
	files CertFiles
	log   *slog.Logger

	// reload keeps two loads from interleaving, which could pair one
	// load's certificate with another's client CA.
	reload sync.Mutex
	cert   atomic.Pointer[tls.Certificate]
	cas    atomic.Pointer[x509.CertPool]
}

// LoadCertificates reads files; an error names the file at fault.
func LoadCertificates(files CertFiles, log *slog.Logger) (*Certificates, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Certificates{files: files, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On any error the pair and CA in use stay,
// and the error is logged and returned: a half-copied renewal must not take
// TLS down.
func (c *Certificates) Reload() error {
	if err := c.load(); err != nil {
		c.log.Error("TLS reload failed; still serving the previous certificate", "err", err)
		return err
	}
	return nil
}

func (c *Certificates) load() error {
	c.reload.Lock()
	defer c.reload.Unlock()
	cert, err := tls.LoadX509KeyPair(c.files.Cert, c.files.Key)
	if err != nil {
		return fmt.Errorf("tls.cert_file %s, tls.key_file %s: %w", c.files.Cert, c.files.Key, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("tls.cert_file %s: %w", c.files.Cert, err)
		}
	}
	var pool *x509.CertPool
	if c.files.ClientCA != "" {
		pem, err := os.ReadFile(c.files.ClientCA)
		if err != nil {
			return fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls.client_ca_file %s: no PEM certificate in it", c.files.ClientCA)
		}
	}
	c.cert.Store(&cert)
	if pool != nil {
		c.cas.Store(pool)
	}
	leaf := cert.Leaf
	c.log.Info("TLS certificate loaded", "file", c.files.Cert, "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		c.log.Warn("TLS certificate is not valid now; clients will refuse it", "file", c.files.Cert,
			"not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	}
	return nil
}

// Leaf is the certificate in use, for `wicket config check` to describe.
func (c *Certificates) Leaf() *x509.Certificate { return c.cert.Load().Leaf }

func (c *Certificates) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// WebConfig is the tls.Config of the account page's HTTPS: the same
// certificate, reloaded with it on SIGHUP, and no client certificates.
func (c *Certificates) WebConfig(minVersion uint16) *tls.Config {
	return &tls.Config{MinVersion: minVersion, GetCertificate: c.getCertificate, NextProtos: []string{"h2", "http/1.1"}}
}

// serverConfig is the tls.Config of every handshake. Go's default cipher
// suites are kept: they are the modern ones, and Go updates them.
func (c *Certificates) serverConfig(minVersion uint16) *tls.Config {
	base := &tls.Config{
		MinVersion:     minVersion,
		GetCertificate: c.getCertificate,
	}
	if c.files.ClientCA == "" {
		return base
	}
	base.ClientAuth = tls.VerifyClientCertIfGiven
	// A resumed session would carry a client certificate checked against
	// a CA that a reload may since have replaced.
	base.SessionTicketsDisabled = true
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.ClientCAs = c.cas.Load()
		return cfg, nil
	}
	return base
}

// setupTLS checks cfg.TLS and builds the handshake configuration.
func (s *Server) setupTLS() error {
	t := &s.cfg.TLS
	if t.Certificates == nil {
		if t.Require {
			return errors.New("TLS is required but no certificate is configured")
		}
		return nil
	}
	if t.MinVersion == 0 {
		t.MinVersion = tls.VersionTLS12
	}
	if t.MinVersion < tls.VersionTLS12 {
		return errors.New("TLS versions before 1.2 are not supported")
	}
	s.tlsConf = t.Certificates.serverConfig(t.MinVersion)
	return nil
}

// externalEnabled reports whether SASL EXTERNAL is offered: it needs a
// client CA, and Accounts to map a certificate to an account.
func (s *Server) externalEnabled() bool {
	return s.tlsConf != nil && s.cfg.TLS.Certificates.files.ClientCA != "" && s.accounts != nil
}

// ServeTLS is Serve for ldaps://: every connection starts with a TLS
// handshake, run by the connection's own goroutine so a slow client holds
// up no one else.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.tlsConf == nil {
		l.Close()
		return errors.New("ldaps:// needs a certificate (tls.cert_file, tls.key_file)")
	}
	return s.Serve(tls.NewListener(l, s.tlsConf))
}

// handshake completes the TLS handshake of an ldaps:// connection; a
// connection in the clear passes through. It reports false when the
// connection cannot go on: nothing can be said to a client whose handshake
// failed.
func (c *conn) handshake() bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	if err := c.tlsHandshake(tc); err != nil {
		c.log.Debug("TLS handshake failed; connection closed", "err", err)
		return false
	}
	return true
}

func (c *conn) tlsHandshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.ReadTimeout)
	defer cancel()
	if c.draining.Load() {
		return errors.New("server is shutting down")
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	st := tc.ConnectionState()
	c.tlsState.Store(&st)
	c.log.Debug("TLS established", "version", tls.VersionName(st.Version),
		"cipher", tls.CipherSuiteName(st.CipherSuite), "client_certificate", len(st.PeerCertificates) > 0)
	return nil
}

// isTLS reports whether the connection runs over TLS.
func (c *conn) isTLS() bool { return c.tlsState.Load() != nil }

// confidential reports whether tls.require lets this connection bind and
// search.
func (c *conn) confidential() bool {
	if c.isTLS() {
		return true
	}
	if !c.srv.cfg.TLS.ExemptLoopback {
		return false
	}
	ip := net.ParseIP(c.remote)
	return ip != nil && ip.IsLoopback()
}

// checkConfidential applies tls.require. On a clear connection a client
// may still read the root DSE (to learn that StartTLS is there), ask Who
// am I? while anonymous, and bind anonymously (ldapsearch -x binds so before
// anything else; it carries no secret). StartTLS never gets here: the
// reader runs it.
func (c *conn) checkConfidential(req *request) (result, bool) {
	if !c.srv.cfg.TLS.Require || c.confidential() {
		return result{}, true
	}
	switch req.op.Tag {
	case ldap.ApplicationSearchRequest:
		if s, _, ok := req.searchRequest(); ok && s.base == "" && s.scope == scopeBase {
			return result{}, true
		}
	case ldap.ApplicationExtendedRequest:
		if x, _, ok := req.extendedRequest(); ok && x.name == exop.OIDWhoAmI && c.principal == nil {
			return result{}, true
		}
	case ldap.ApplicationBindRequest:
		if b, _, ok := req.bindRequest(); ok && b.simple && b.name == "" && b.password == "" {
			return result{}, true
		}
	}
	return fail(ldap.LDAPResultConfidentialityRequired,
		"TLS is required: use StartTLS (ldapsearch -ZZ) or an ldaps:// URL"), false
}
