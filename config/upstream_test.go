package config

import (
	"strings"
	"testing"
)

func TestUpstream_DeployExamplesLoad(t *testing.T) {
	for _, f := range []string{"../deploy/upstream/openldap.toml", "../deploy/upstream/active-directory.toml"} {
		c, err := Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !c.Upstream.Enabled() || c.Upstream.MaxFailures != 3 {
			t.Fatalf("%s: %+v", f, c.Upstream)
		}
	}
}

func TestUpstream_MistakesAreNamed(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*Upstream)
		want string
	}{
		{"scheme", func(u *Upstream) { u.URL = "http://dc1" }, "upstream.url"},
		{"start_tls on ldaps", func(u *Upstream) { u.URL = "ldaps://dc1"; u.StartTLS = true }, "upstream.start_tls"},
		{"no placeholder", func(u *Upstream) { u.UserFilter = "(uid=alice)" }, "upstream.user_filter"},
		{"bad filter", func(u *Upstream) { u.UserFilter = "(uid={login}" }, "upstream.user_filter"},
		{"no base", func(u *Upstream) { u.Base = "" }, "upstream.base"},
		{"bind dn without password", func(u *Upstream) { u.BindDN = "cn=wicket,dc=corp"; u.BindPasswordFile = "" }, "upstream.bind_password_file"},
		{"max_failures", func(u *Upstream) { u.MaxFailures = 0 }, "upstream.max_failures"},
		{"template", func(u *Upstream) { u.DNTemplate = "uid=alice,dc=corp" }, "upstream.dn_template"},
		{"polling without a base", func(u *Upstream) { u.DNTemplate = "uid={login},dc=corp"; u.Base = "" }, "upstream.base: needed to poll"},
	} {
		cfg := Default()
		cfg.Upstream.URL, cfg.Upstream.Base = "ldap://dc1.corp.example", "dc=corp,dc=example"
		if err := cfg.Validate(); err != nil {
			t.Fatalf("the valid base case: %v", err)
		}
		c.set(&cfg.Upstream)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
}
