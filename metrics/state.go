package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/server"
)

// stateCollector reads the connection table and the account domain when
// a scrape comes, rather than being told of every change: what it shows is
// kept by them anyway, and a bind pays nothing for it.
type stateCollector struct {
	conns  func() server.Stats
	domain func() backend.Stats
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descConnsOpen     = desc("wicket_connections_open", "LDAP connections open now.")
	descConnsAccepted = desc("wicket_connections_accepted_total", "LDAP connections accepted, those then refused by a limit included.")
	descConnsRefused  = desc("wicket_connections_refused_total",
		"LDAP connections refused by the connection table, by the limit that refused them (address, network, reserved: only the trusted clients' reserve was left, full).",
		"limit")
	descAuditQueued  = desc("wicket_audit_queue_records", "Audit records waiting to be written to the database.")
	descAuditDropped = desc("wicket_audit_dropped_total",
		"Audited events given up because the audit queue was full (successful binds first).")
	descUsageQueued = desc("wicket_app_password_use_queue_records",
		"Last-use records of app passwords waiting to be written to the database.")
	descHashSlots   = desc("wicket_password_hash_slots", "Primary-password hashes allowed to run at once (argon2.max_concurrent).")
	descHashRunning = desc("wicket_password_hashes_running", "Primary-password hashes running now.")
	descHashWaiting = desc("wicket_password_hash_waiting", "Binds waiting for a password-hashing slot.")
	descLocks       = desc("wicket_sign_in_locks_total",
		"Password sign-ins locked after repeated failures: for one client source, or for every client (account).",
		"scope")
	descAccounts = desc("wicket_directory_accounts", "Accounts in the directory the server answers searches from.")
	descRefresh  = desc("wicket_directory_refreshes_total",
		"Times the directory was brought up to date: from the log of changes (changes), or by reading it whole (full).",
		"kind")
	descUpstreamUp = desc("wicket_upstream_up",
		"1 while the upstream directory answers, 0 while primary sign-ins are refused as unavailable; absent without [upstream].")
	descUpstreamOutages = desc("wicket_upstream_outages_total", "Times the upstream directory was found unreachable.")
	descUpstreamChecks  = desc("wicket_upstream_checks_total",
		"Primary passwords checked for the upstream directory, by outcome: success or refused by the upstream; not_asked "+
			"(unknown, disabled or cut off below its lockout), cached (the same wrong password again) or unavailable, without reaching it.",
		"outcome")
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnsOpen, descConnsAccepted, descConnsRefused, descAuditQueued,
		descAuditDropped, descUsageQueued, descHashSlots, descHashRunning, descHashWaiting, descLocks,
		descAccounts, descRefresh, descUpstreamUp, descUpstreamOutages, descUpstreamChecks} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	cs := c.conns()
	gauge(descConnsOpen, cs.Open)
	counter(descConnsAccepted, cs.Accepted)
	for limit, n := range cs.Refused {
		counter(descConnsRefused, n, limit)
	}
	d := c.domain()
	gauge(descAuditQueued, d.AuditQueued)
	counter(descAuditDropped, d.AuditDropped)
	gauge(descUsageQueued, d.UsageQueued)
	gauge(descHashSlots, d.HashSlots)
	gauge(descHashRunning, d.HashesRunning)
	gauge(descHashWaiting, d.HashesWaiting)
	counter(descLocks, d.SourceLocks, "source")
	counter(descLocks, d.AccountLocks, "account")
	gauge(descAccounts, d.Accounts)
	counter(descRefresh, d.DirectoryUpdates, "changes")
	counter(descRefresh, d.DirectoryReloads, "full")
	if u := d.Upstream; u != nil {
		up := 0
		if u.Up {
			up = 1
		}
		gauge(descUpstreamUp, up)
		counter(descUpstreamOutages, u.Outages)
		for _, o := range []struct {
			name string
			n    uint64
		}{{"success", u.Success}, {"refused", u.Refused}, {"not_asked", u.NotAsked}, {"cached", u.Cached}, {"unavailable", u.Unavailable}} {
			counter(descUpstreamChecks, o.n, o.name)
		}
	}
}
