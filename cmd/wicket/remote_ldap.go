package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/config"
	"github.com/wicketldap/wicket/internal/loadgen"
)

const (
	defaultRemoteURI  = "ldap://127.0.0.1:1389"
	remoteDialTimeout = 15 * time.Second
	// remoteOpTimeout leaves room for a bind queued behind others for a
	// password-hashing slot, which the server bounds at 10 s.
	remoteOpTimeout = 30 * time.Second
)

// remoteAddr is where -H points: host:port and whether to speak TLS from
// the first byte (ldaps://) or after StartTLS, and whom to trust.
type remoteAddr struct {
	uri      string
	hostPort string
	host     string
	tls      bool
	startTLS bool
	// roots are the certificates trusted besides the system's; nil: the
	// system's alone.
	roots *x509.CertPool
}

func parseRemoteURI(uri string) (remoteAddr, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return remoteAddr{}, fmt.Errorf("-H %q is not an LDAP URI such as %s", uri, defaultRemoteURI)
	}
	var a remoteAddr
	port := u.Port()
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		if port == "" {
			port = "389"
		}
	case "ldaps":
		a.tls = true
		if port == "" {
			port = "636"
		}
	default:
		return remoteAddr{}, fmt.Errorf("-H %q: the scheme must be ldap:// or ldaps://", uri)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return remoteAddr{}, fmt.Errorf("-H %q: give only scheme://host:port", uri)
	}
	a.host = u.Hostname()
	a.hostPort = net.JoinHostPort(a.host, port)
	a.uri = uri
	return a, nil
}

// configAddr is where a client on the server's host reaches the wicket of
// cfg: ldaps:// on tls.listen_ldaps when set, else listen, with StartTLS
// when a certificate is configured. A wildcard listener is reached on
// loopback.
func configAddr(cfg *config.Config) (remoteAddr, error) {
	scheme, listen, setting := "ldap", cfg.Listen, "listen"
	if cfg.TLS.ListenLDAPS != "" {
		scheme, listen, setting = "ldaps", cfg.TLS.ListenLDAPS, "tls.listen_ldaps"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		return remoteAddr{}, fmt.Errorf("%s = %q names no port to connect to; give -H ldap://host:port", setting, listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	a, err := parseRemoteURI(scheme + "://" + net.JoinHostPort(host, port))
	if err != nil {
		return remoteAddr{}, err
	}
	a.startTLS = scheme == "ldap" && cfg.TLS.Enabled()
	return a, nil
}

// addRoots adds the PEM certificates of file to pool.
func addRoots(pool *x509.CertPool, file string) error {
	pem, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", file)
	}
	return nil
}

// cleartext: the bind password would cross a network unencrypted.
func (a remoteAddr) cleartext() bool {
	if a.tls || a.startTLS || strings.EqualFold(a.host, "localhost") {
		return false
	}
	ip := net.ParseIP(a.host)
	return ip == nil || !ip.IsLoopback()
}

func (a remoteAddr) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: a.host, MinVersion: tls.VersionTLS12, RootCAs: a.roots}
}

// dialRemote connects, with TLS from the first byte or after StartTLS as
// a says: nothing is sent in the clear before the bind if either is asked.
func dialRemote(a remoteAddr) (*ldap.Conn, error) {
	opts := []ldap.DialOpt{ldap.DialWithDialer(&net.Dialer{Timeout: remoteDialTimeout})}
	scheme := "ldap://"
	if a.tls {
		scheme = "ldaps://"
		opts = append(opts, ldap.DialWithTLSConfig(a.tlsConfig()))
	}
	conn, err := ldap.DialURL(scheme+a.hostPort, opts...)
	if err != nil {
		return nil, tlsHint(err)
	}
	conn.SetTimeout(remoteOpTimeout)
	if a.startTLS {
		if err := conn.StartTLS(a.tlsConfig()); err != nil {
			conn.Close()
			return nil, fmt.Errorf("StartTLS: %w", tlsHint(err))
		}
	}
	return conn, nil
}

// tlsHint adds to a certificate the client does not trust what to do
// about it.
func tlsHint(err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (give the CA that signed the server's certificate with --ca-file FILE, "+
			"or for a self-signed one the certificate itself)", err)
	case errors.As(err, &host):
		return fmt.Errorf("%w (connect by a name the certificate holds: -H ldaps://NAME:PORT, or ldap://NAME:PORT --starttls)", err)
	}
	return err
}

// requestValue wraps an extended operation's value in the [1] requestValue
// tag. Some go-ldap versions send the packet given as it is, others wrap it
// unless it is already [1] (go-ldap#627): wrapped here, it is sent the same
// by all of them.
func requestValue(v []byte) *ber.Packet {
	return ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, string(v), "requestValue")
}

// responseValue is the content of an extended response's [11]
// responseValue, nil when there is none. go-ldap hands over the tagged
// packet itself, and asn1-ber keeps a context-tagged primitive's content in
// Data, leaving Value empty.
func responseValue(res *ldap.ExtendedResponse) []byte {
	if res == nil || res.Value == nil || res.Value.Data == nil {
		return nil
	}
	return res.Value.Data.Bytes()
}

// resultName is a result code as RFC 4511 names it, "insufficientAccessRights";
// the load tool names results the same way.
func resultName(code uint16) string { return loadgen.ResultName(int(code)) }

// serverSaid is the diagnostic message of an LDAP error, "" if none.
func serverSaid(le *ldap.Error) string {
	if le.Err == nil {
		return ""
	}
	return strings.TrimSpace(le.Err.Error())
}

// remoteError words a failed operation as one line: the result code's name
// and number, then what the server said.
func remoteError(uri string, err error) error {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return err
	}
	if le.ResultCode >= ldap.ErrorNetwork {
		// go-ldap's own codes: no answer came back from the server.
		return &userError{err: err, msg: fmt.Sprintf("talking to %s: %s", uri, serverSaid(le))}
	}
	msg := fmt.Sprintf("%s (%d)", resultName(le.ResultCode), le.ResultCode)
	if d := serverSaid(le); d != "" {
		msg += ": " + d
	}
	return &userError{err: err, msg: msg}
}

// bindError words a failed bind. wicket answers every wrong password, code
// or name alike (49, nothing more), so the likely mistakes are named here.
func bindError(uri string, err error) error {
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode >= ldap.ErrorNetwork {
		return remoteError(uri, err)
	}
	msg := fmt.Sprintf("bind failed: %s (%d)", strings.ToLower(ldap.LDAPResultCodeMap[le.ResultCode]), le.ResultCode)
	if d := serverSaid(le); d != "" {
		msg += ": " + d
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials:
		msg += "; type your password immediately followed by a current one-time code (each code works once)"
	case ldap.LDAPResultConfidentialityRequired:
		msg += "; here: --starttls, or -H ldaps://HOST:PORT"
	}
	return &userError{err: err, msg: msg}
}
