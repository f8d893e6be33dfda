package config

import (
	"strings"
	"testing"
	"time"
)

func TestWeb_DefaultListensOnLoopbackWithoutAFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Web.Listen != "127.0.0.1:8080" || c.Web.Enrolment != "invite" ||
		c.Web.SessionIdle.Duration != 15*time.Minute || c.Web.SessionMax.Duration != 8*time.Hour {
		t.Errorf("built-in [web] = %+v", c.Web)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

// An upgrade must not open a port: a file without web.listen leaves the
// page off.
func TestWeb_FileWithoutListenLeavesThePageOff(t *testing.T) {
	c, err := Load(write(t, "listen = \"127.0.0.1:1389\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Web.Listen != "" {
		t.Errorf("web.listen = %q; want off", c.Web.Listen)
	}
	c, err = Load(write(t, "[web]\nlisten = \"127.0.0.1:8443\"\nenrolment = \"password\"\nsession_idle = \"5m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Web.Listen != "127.0.0.1:8443" || c.Web.Enrolment != "password" || c.Web.SessionIdle.Duration != 5*time.Minute {
		t.Errorf("[web] = %+v", c.Web)
	}
}

func TestWeb_NonLoopbackNeedsTLS(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.10:8443", "[::]:8080"} {
		c := Default()
		c.Web.Listen = addr
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "web.listen") || !strings.Contains(err.Error(), "tls.cert_file") {
			t.Errorf("%s without TLS: %v; want a refusal naming web.listen and tls.cert_file", addr, err)
		}
		c.TLS.CertFile, c.TLS.KeyFile = "/etc/wicket/cert.pem", "/etc/wicket/key.pem"
		if err := c.Validate(); err != nil {
			t.Errorf("%s with TLS: %v", addr, err)
		}
	}
}

func TestWeb_InvalidSettingsAreNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(w *Web)
		want string
	}{
		{"enrolment", func(w *Web) { w.Enrolment = "anyone" }, "web.enrolment"},
		{"idle", func(w *Web) { w.SessionIdle = Duration{time.Second} }, "web.session_idle"},
		{"max below idle", func(w *Web) { w.SessionMax = Duration{10 * time.Minute} }, "web.session_max"},
		{"max too long", func(w *Web) { w.SessionMax = Duration{30 * 24 * time.Hour} }, "web.session_max"},
		{"proxy", func(w *Web) { w.TrustedProxies = []string{"proxy.example.org"} }, "web.trusted_proxies"},
		{"listen", func(w *Web) { w.Listen = "127.0.0.1" }, "web.listen"},
	} {
		c := Default()
		tc.set(&c.Web)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error naming %s", tc.name, err, tc.want)
		}
	}
}
