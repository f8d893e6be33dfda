package config

import (
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend/upstream"
)

// Upstream is the enterprise directory that keeps the primary passwords
// ([upstream]); off while URL is empty. TOTP seeds and app passwords stay
// in wicket.
type Upstream struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL      string `toml:"url"`
	StartTLS bool   `toml:"start_tls"`
	// CAFile checks the upstream's certificate; empty means the system's
	// CAs.
	CAFile string `toml:"ca_file"`
	// BindDN searches for users, with the password in BindPasswordFile
	// (its first line); empty searches anonymously.
	BindDN           string `toml:"bind_dn"`
	BindPasswordFile string `toml:"bind_password_file"`
	// DNTemplate is the user's DN with {login} in it; without it users are
	// found under Base with UserFilter. Base is needed for `wicket user
	// sync` and polling in either case.
	DNTemplate     string `toml:"dn_template"`
	Base           string `toml:"base"`
	UserFilter     string `toml:"user_filter"`
	UIDAttribute   string `toml:"uid_attribute"`
	MailAttribute  string `toml:"mail_attribute"`
	AliasAttribute string `toml:"alias_attribute"`
	GroupAttribute string `toml:"group_attribute"`
	// GroupBase and GroupFilter find groups by search when the users'
	// entries have no group attribute (OpenLDAP without memberof).
	GroupBase   string `toml:"group_base"`
	GroupFilter string `toml:"group_filter"`
	// PasswordChangedAttributes are the password-change markers, the first
	// an entry has being followed.
	PasswordChangedAttributes []string `toml:"password_changed_attributes"`
	DialTimeout               Duration `toml:"dial_timeout"`
	Timeout                   Duration `toml:"timeout"`
	PoolSize                  int      `toml:"pool_size"`
	// PollInterval is how often every user is read again: a password
	// changed, or a user disabled, upstream stops the app passwords within
	// it. 0 turns polling off.
	PollInterval     Duration `toml:"poll_interval"`
	MaxFailures      int      `toml:"max_failures"`
	FailureWindow    Duration `toml:"failure_window"`
	NegativeCacheTTL Duration `toml:"negative_cache_ttl"`
}

// Enabled reports whether an upstream is configured.
func (u *Upstream) Enabled() bool { return u.URL != "" }

func defaultUpstream() Upstream {
	return Upstream{
		UserFilter:                upstream.DefaultUserFilter,
		GroupFilter:               upstream.DefaultGroupFilter,
		UIDAttribute:              "uid",
		MailAttribute:             "mail",
		PasswordChangedAttributes: upstream.DefaultChangedAttributes,
		DialTimeout:               Duration{upstream.DefaultDialTimeout},
		Timeout:                   Duration{upstream.DefaultTimeout},
		PoolSize:                  upstream.DefaultPoolSize,
		PollInterval:              Duration{time.Minute},
		MaxFailures:               upstream.DefaultMaxFailures,
		FailureWindow:             Duration{upstream.DefaultFailureWindow},
		NegativeCacheTTL:          Duration{upstream.DefaultNegativeCacheTTL},
	}
}

func (u *Upstream) validate(bad func(string, ...any)) {
	if !u.Enabled() {
		return
	}
	p, err := url.Parse(u.URL)
	if err != nil || (p.Scheme != "ldap" && p.Scheme != "ldaps") || p.Host == "" || (p.Path != "" && p.Path != "/") {
		bad("upstream.url: %q is not ldap://host[:port] or ldaps://host[:port]", u.URL)
	} else if u.StartTLS && p.Scheme == "ldaps" {
		bad("upstream.start_tls: ldaps:// is TLS already; use ldap:// with start_tls")
	}
	if u.BindDN != "" {
		if _, err := ldap.ParseDN(u.BindDN); err != nil {
			bad("upstream.bind_dn: %q is not a DN", u.BindDN)
		}
		if u.BindPasswordFile == "" {
			bad("upstream.bind_password_file: needed with upstream.bind_dn")
		}
	}
	if u.DNTemplate != "" {
		if !strings.Contains(u.DNTemplate, upstream.Login) {
			bad("upstream.dn_template: %q has no %s", u.DNTemplate, upstream.Login)
		} else if _, err := ldap.ParseDN(strings.ReplaceAll(u.DNTemplate, upstream.Login, "x")); err != nil {
			bad("upstream.dn_template: %q is not a DN once %s is filled in", u.DNTemplate, upstream.Login)
		}
	}
	if u.Base == "" {
		switch {
		case u.DNTemplate == "":
			bad("upstream.base: needed to find users (or set upstream.dn_template)")
		case u.PollInterval.Duration > 0:
			bad("upstream.base: needed to poll the users (or upstream.poll_interval = \"0s\", and a password " +
				"changed upstream revokes app passwords only at the user's next sign-in)")
		}
	} else if _, err := ldap.ParseDN(u.Base); err != nil {
		bad("upstream.base: %q is not a DN", u.Base)
	}
	if !strings.Contains(u.UserFilter, upstream.Login) {
		bad("upstream.user_filter: %q has no %s", u.UserFilter, upstream.Login)
	} else if _, err := ldap.CompileFilter(strings.ReplaceAll(u.UserFilter, upstream.Login, "x")); err != nil {
		bad("upstream.user_filter: %q is not an LDAP filter once %s is filled in", u.UserFilter, upstream.Login)
	}
	if u.GroupBase != "" {
		if _, err := ldap.ParseDN(u.GroupBase); err != nil {
			bad("upstream.group_base: %q is not a DN", u.GroupBase)
		}
		if _, err := ldap.CompileFilter(strings.ReplaceAll(u.GroupFilter, upstream.UserDN, "x")); err != nil || !strings.Contains(u.GroupFilter, upstream.UserDN) {
			bad("upstream.group_filter: %q is not an LDAP filter with %s", u.GroupFilter, upstream.UserDN)
		}
	}
	if u.UIDAttribute == "" || u.MailAttribute == "" {
		bad("upstream.uid_attribute and upstream.mail_attribute: must not be empty")
	}
	if u.PoolSize < 1 || u.PoolSize > 256 {
		bad("upstream.pool_size: %d is not between 1 and 256", u.PoolSize)
	}
	if u.MaxFailures < 1 || u.MaxFailures > 100 {
		bad("upstream.max_failures: %d is not between 1 and 100; keep it below the upstream's lockout threshold", u.MaxFailures)
	}
	for name, d := range map[string]Duration{"dial_timeout": u.DialTimeout, "timeout": u.Timeout, "failure_window": u.FailureWindow} {
		if d.Duration <= 0 {
			bad("upstream.%s: must be a positive duration", name)
		}
	}
	if u.PollInterval.Duration < 0 || (u.PollInterval.Duration > 0 && u.PollInterval.Duration < time.Second) {
		bad("upstream.poll_interval: must be 0 (off) or at least 1s")
	}
	if u.NegativeCacheTTL.Duration < 0 || u.NegativeCacheTTL.Duration > time.Hour {
		bad("upstream.negative_cache_ttl: must be between 0 (off) and 1h")
	}
}
