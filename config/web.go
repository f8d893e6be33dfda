package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Web is the account page: users sign in with password and code, manage
// their app passwords and enrol a second factor; administrators get a
// helpdesk view.
type Web struct {
	// Listen is its address, host:port; empty turns the page off. The
	// built-in default (no configuration file) is 127.0.0.1:8080; a file
	// that does not set it leaves the page off, so that an upgrade does
	// not open a port nobody asked for.
	Listen string `toml:"listen"`
	// Enrolment is who may enrol a first second factor on the page:
	// "invite" (the password and a one-time code from `wicket totp invite`),
	// "password" (the password alone) or "off" (only administrators, with
	// `wicket totp enroll`). See README, "The account page".
	Enrolment string `toml:"enrolment"`
	// SessionIdle ends a session unused for this long; SessionMax ends
	// any session this long after its sign-in.
	SessionIdle Duration `toml:"session_idle"`
	SessionMax  Duration `toml:"session_max"`
	// TrustedProxies are the addresses (or CIDRs) of reverse proxies in
	// front of the page: only a request from one of them has its client
	// address taken from X-Forwarded-For. Empty: never.
	TrustedProxies []string `toml:"trusted_proxies"`
}

// Enrolment modes of the account page.
const (
	EnrolmentInvite   = "invite"
	EnrolmentPassword = "password"
	EnrolmentOff      = "off"
)

// DefaultWebListen is web.listen without a configuration file, as `make
// run` starts the server.
const DefaultWebListen = "127.0.0.1:8080"

func defaultWeb() Web {
	return Web{
		Listen:      DefaultWebListen,
		Enrolment:   EnrolmentInvite,
		SessionIdle: Duration{15 * time.Minute},
		SessionMax:  Duration{8 * time.Hour},
	}
}

// ProxyPrefixes parses TrustedProxies; a bare address is a prefix of one.
func (w *Web) ProxyPrefixes() ([]netip.Prefix, error) {
	l := Lockout{TrustedClients: w.TrustedProxies}
	return l.TrustedPrefixes()
}

func (c *Config) validateWeb(bad func(string, ...any)) {
	w := &c.Web
	switch w.Enrolment {
	case EnrolmentInvite, EnrolmentPassword, EnrolmentOff:
	default:
		bad("web.enrolment: %q is not invite, password or off", w.Enrolment)
	}
	if w.SessionIdle.Duration < time.Minute {
		bad("web.session_idle: %v is shorter than a minute", w.SessionIdle.Duration)
	}
	if w.SessionMax.Duration < w.SessionIdle.Duration {
		bad("web.session_max: %v is shorter than web.session_idle (%v)", w.SessionMax.Duration, w.SessionIdle.Duration)
	}
	if w.SessionMax.Duration > 7*24*time.Hour {
		bad("web.session_max: %v is longer than 7 days", w.SessionMax.Duration)
	}
	if _, err := w.ProxyPrefixes(); err != nil {
		bad("web.trusted_proxies: %v", err)
	}
	if w.Listen == "" {
		return
	}
	checkAddress(bad, "web.listen", w.Listen)
	if err := c.CheckWebListen(); err != nil {
		bad("%v", err)
	}
}

// CheckWebListen refuses a web.listen that is not loopback while no TLS
// certificate is configured: the page takes passwords and codes, and
// shows new app passwords, which must not cross a network in clear.
func (c *Config) CheckWebListen() error {
	host, _, err := net.SplitHostPort(c.Web.Listen)
	if err != nil || c.TLS.Enabled() || loopbackHost(host) {
		return nil
	}
	return fmt.Errorf("web.listen: %q is not a loopback address and no TLS certificate is configured: the page's "+
		"passwords, codes and new app passwords would cross the network in clear. Set tls.cert_file and tls.key_file "+
		"(the page then uses HTTPS with them), or listen on 127.0.0.1 behind a proxy that terminates TLS "+
		"(and list it in web.trusted_proxies)", strings.TrimSpace(c.Web.Listen))
}
