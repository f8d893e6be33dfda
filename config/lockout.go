package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Lockout is the failure policy of binds (DESIGN.md, "Lockout is per account
// first"), after OpenLDAP ppolicy's pwdMaxFailure, pwdFailureCountInterval
// and pwdLockoutDuration, and the limits of failed binds per client address.
type Lockout struct {
	// MaxFailures failed password binds in a row from one client address
	// (an IPv6 /64; all trusted clients together count as one) lock
	// password sign-in from that address only. App passwords are never
	// locked: guessing cannot find one, and a lock would cut a user's mail.
	MaxFailures int `toml:"max_failures"`
	// AccountMaxFailures in a row from all addresses together lock
	// password sign-in from everywhere (NIST SP 800-63B-4 3.2.2: at most 100).
	AccountMaxFailures int `toml:"account_max_failures"`
	// FailureWindow forgets a count after this long without a failure.
	FailureWindow Duration `toml:"failure_window"`
	// LockoutDuration is how long a lock lasts; `wicket user unlock`
	// lifts it sooner.
	LockoutDuration Duration `toml:"lockout_duration"`
	// FailureDelay holds the answer to the fourth failure in a row; each
	// further one doubles it, up to MaxFailureDelay. 0 turns it off.
	FailureDelay    Duration `toml:"failure_delay"`
	MaxFailureDelay Duration `toml:"max_failure_delay"`
	// AddressFailuresPerMinute and AddressFailureBurst are the token
	// bucket of failed binds of one client address: binds beyond it wait,
	// then are answered busy (51). 0 per minute turns it off.
	AddressFailuresPerMinute int `toml:"address_failures_per_minute"`
	AddressFailureBurst      int `toml:"address_failure_burst"`
	// TrustedClients are CIDRs (or single addresses) of the mail servers:
	// exempt from the limits per address and from the failure delay, since
	// behind them every user shares one address.
	TrustedClients []string `toml:"trusted_clients"`
}

func defaultLockout() Lockout {
	return Lockout{
		MaxFailures:              10,
		AccountMaxFailures:       100,
		FailureWindow:            Duration{10 * time.Minute},
		LockoutDuration:          Duration{10 * time.Minute},
		FailureDelay:             Duration{250 * time.Millisecond},
		MaxFailureDelay:          Duration{5 * time.Second},
		AddressFailuresPerMinute: 30,
		AddressFailureBurst:      10,
		// The default listener is loopback only, so whatever reaches it
		// runs on this host: the mail stack wicket sits next to.
		TrustedClients: []string{"127.0.0.1/32", "::1/128"},
	}
}

// TrustedPrefixes parses TrustedClients; a bare address is a prefix of one.
func (l *Lockout) TrustedPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(l.TrustedClients))
	for _, s := range l.TrustedClients {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix such as 192.0.2.10/32", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (l *Lockout) validate(bad func(string, ...any)) {
	if l.MaxFailures < 1 || l.MaxFailures > 100 {
		// NIST SP 800-63B-4 3.2.2: no more than 100 failures in a row.
		bad("lockout.max_failures: %d is not between 1 and 100", l.MaxFailures)
	}
	if l.AccountMaxFailures < l.MaxFailures || l.AccountMaxFailures > 100 {
		bad("lockout.account_max_failures: %d is not between lockout.max_failures (%d) and 100", l.AccountMaxFailures, l.MaxFailures)
	}
	if l.FailureWindow.Duration <= 0 {
		bad("lockout.failure_window: must be a positive duration")
	}
	if l.LockoutDuration.Duration <= 0 {
		bad("lockout.lockout_duration: must be a positive duration")
	}
	if l.FailureDelay.Duration < 0 {
		bad("lockout.failure_delay: must be 0 (none) or a positive duration")
	}
	if l.MaxFailureDelay.Duration < l.FailureDelay.Duration {
		bad("lockout.max_failure_delay: must be at least lockout.failure_delay")
	}
	if l.MaxFailureDelay.Duration > time.Minute {
		bad("lockout.max_failure_delay: %v is above 1m; clients give up long before", l.MaxFailureDelay.Duration)
	}
	if l.AddressFailuresPerMinute < 0 {
		bad("lockout.address_failures_per_minute: must be 0 (no limit) or more")
	}
	if l.AddressFailuresPerMinute > 0 && l.AddressFailureBurst < 1 {
		bad("lockout.address_failure_burst: must be at least 1")
	}
	if _, err := l.TrustedPrefixes(); err != nil {
		bad("lockout.trusted_clients: %v", err)
	}
}
