package config

import (
	"strings"
	"testing"
)

func TestTLS_DefaultsAreOffWithModernMinimum(t *testing.T) {
	c := Default()
	if c.TLS.Enabled() || c.TLS.Require || c.TLS.MinVersion != "1.2" || !c.TLS.RequireExemptLoopback {
		t.Errorf("tls defaults: %+v", c.TLS)
	}
}

func TestTLS_ExampleFileMatchesTheDefaults(t *testing.T) {
	c, err := Load("wicket.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS != Default().TLS {
		t.Errorf("example [tls] = %+v, defaults %+v", c.TLS, Default().TLS)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestTLS_FromFile(t *testing.T) {
	c, err := Load(write(t, `[tls]
cert_file = "/etc/wicket/cert.pem"
key_file = "/etc/wicket/key.pem"
listen_ldaps = "0.0.0.0:636"
min_version = "1.3"
require = true
require_exempt_loopback = false
client_ca_file = "/etc/wicket/clients.pem"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := TLS{CertFile: "/etc/wicket/cert.pem", KeyFile: "/etc/wicket/key.pem", ListenLDAPS: "0.0.0.0:636",
		MinVersion: "1.3", Require: true, RequireExemptLoopback: false, ClientCAFile: "/etc/wicket/clients.pem"}
	if c.TLS != want {
		t.Errorf("tls = %+v, want %+v", c.TLS, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestTLS_ValidateNamesTheSetting(t *testing.T) {
	cases := []struct {
		body string
		want []string
	}{
		{"[tls]\ncert_file = \"c.pem\"\n", []string{"tls.cert_file and tls.key_file"}},
		{"[tls]\nmin_version = \"1.1\"\n", []string{"tls.min_version"}},
		{"[tls]\nrequire = true\nlisten_ldaps = \":636\"\nclient_ca_file = \"ca.pem\"\n",
			[]string{"tls.require", "tls.listen_ldaps", "tls.client_ca_file"}},
	}
	for _, tc := range cases {
		c, err := Load(write(t, tc.body))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Validate()
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: got %v, want an error naming %s", tc.body, err, want)
			}
		}
	}
}
