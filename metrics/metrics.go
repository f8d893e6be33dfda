// Package metrics shows the server's counters to Prometheus (/metrics)
// and answers health probes (/healthz). It is the only package that
// imports the Prometheus client: the LDAP server reports each operation
// through server.Observer, and the account domain and the connection table
// are read through their Stats when a scrape comes.
//
// No label ever holds a user name, a DN, a client address or a secret:
// every label value is from a fixed set (a bind method, an LDAP result, an
// extended operation wicket knows), so that the number of series stays
// bounded whatever clients send.
package metrics

import (
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/server"
)

// Metrics holds wicket's metrics in a registry of its own (never the
// global default, which any imported package could add to), with the Go
// runtime's and the process's.
type Metrics struct {
	reg *prometheus.Registry

	binds        *byResult
	bindFailures map[string]prometheus.Counter
	bindOther    prometheus.Counter
	bindTime     [server.NumBindMethods]prometheus.Observer
	searches     *byResult
	searchTime   [2]prometheus.Observer
	compares     *byResult
	extended     *byResult
	changes      *byResult
}

var _ server.Observer = (*Metrics)(nil)

// latencyBuckets span an app password answered from memory (tens of
// microseconds) to a failed bind held back by the lockout's delay
// (seconds).
var latencyBuckets = []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10}

// New registers wicket's metrics; version is the build's, for
// wicket_build_info.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg}

	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "wicket_build_info",
		Help:        "Always 1; the labels say which wicket runs.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
	}, func() float64 { return 1 }))

	methods := labelsOf(server.NumBindMethods, server.BindMethod.String)
	m.binds = newByResult(reg, "wicket_binds_total",
		"LDAP binds answered, by the credentials presented (unknown: the bind ended before they were looked at) and the LDAP result.",
		"method", methods)
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wicket_bind_failures_total",
		Help: "Binds refused, by the reason the audit trail gives (wrong-password, replayed-code, locked, ...).",
	}, []string{"reason"})
	reg.MustRegister(failures)
	m.bindFailures = make(map[string]prometheus.Counter, len(bindFailureReasons))
	for _, r := range bindFailureReasons {
		m.bindFailures[r] = failures.WithLabelValues(r)
	}
	m.bindOther = failures.WithLabelValues("other")
	bindTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wicket_bind_duration_seconds",
		Help:    "Time from a bind's arrival to its answer, the delay of a failed bind included, by the credentials presented.",
		Buckets: latencyBuckets,
	}, []string{"method"})
	reg.MustRegister(bindTime)
	for i, name := range methods {
		m.bindTime[i] = bindTime.WithLabelValues(name)
	}

	kinds := []string{"scan", "lookup"}
	m.searches = newByResult(reg, "wicket_searches_total",
		"LDAP searches answered, by kind (lookup: a base-scope read or an equality on uid, mail or an alias, as mail servers send; scan: any other) and the LDAP result.",
		"kind", kinds)
	searchTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wicket_search_duration_seconds",
		Help:    "Time from a search's arrival to its last answer, by kind (lookup or scan).",
		Buckets: latencyBuckets,
	}, []string{"kind"})
	reg.MustRegister(searchTime)
	for i, k := range kinds {
		m.searchTime[i] = searchTime.WithLabelValues(k)
	}

	m.compares = newByResult(reg, "wicket_compares_total", "LDAP compare operations answered, by LDAP result.", "", nil)
	m.extended = newByResult(reg, "wicket_extended_operations_total",
		"LDAP extended operations answered, by operation (unknown: a name wicket does not serve) and LDAP result.",
		"operation", labelsOf(server.NumExtendedOps, server.ExtendedOp.String))
	m.changes = newByResult(reg, "wicket_change_operations_total",
		"LDAP modify and delete operations answered, and others wicket refuses (add, modify DN), by LDAP result.",
		"operation", []string{"modify", "delete", "other"})

	// The series a dashboard starts from exist at zero from the start,
	// so that the first of each is counted by rate() and increase().
	for i := range methods {
		m.binds.get(i, ldap.LDAPResultSuccess)
		m.binds.get(i, ldap.LDAPResultInvalidCredentials)
	}
	for i := range kinds {
		m.searches.get(i, ldap.LDAPResultSuccess)
	}
	m.compares.get(0, ldap.LDAPResultCompareTrue)
	m.compares.get(0, ldap.LDAPResultCompareFalse)
	for i := range server.NumExtendedOps {
		m.extended.get(int(i), ldap.LDAPResultSuccess)
	}
	return m
}

// Observe counts one answered operation. It allocates nothing once each
// series it touches has been made.
func (m *Metrics) Observe(o server.Outcome) {
	switch o.Op {
	case server.OpBind:
		m.binds.inc(int(o.Method), o.Code)
		m.bindTime[o.Method].Observe(o.Took.Seconds())
		if o.Reason != "" {
			if c, ok := m.bindFailures[o.Reason]; ok {
				c.Inc()
			} else {
				m.bindOther.Inc()
			}
		}
	case server.OpSearch:
		kind := 0
		if o.Lookup {
			kind = 1
		}
		m.searches.inc(kind, o.Code)
		m.searchTime[kind].Observe(o.Took.Seconds())
	case server.OpCompare:
		m.compares.inc(0, o.Code)
	case server.OpExtended:
		m.extended.inc(int(o.Extended), o.Code)
	case server.OpModify:
		m.changes.inc(0, o.Code)
	case server.OpDelete:
		m.changes.inc(1, o.Code)
	default:
		m.changes.inc(2, o.Code)
	}
}

// Watch adds what is read at each scrape: the connection table and the
// account domain's queues, locks and directory.
func (m *Metrics) Watch(conns func() server.Stats, domain func() backend.Stats) {
	m.reg.MustRegister(&stateCollector{conns: conns, domain: domain})
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A scrape that cannot be gathered whole is an error, not a
		// partial page that would read as counters gone to zero.
		ErrorHandling:       promhttp.HTTPErrorOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// bindFailureReasons are the audit categories a bind can fail with; any
// other counts as "other".
var bindFailureReasons = []string{
	backend.FailEmptyPassword, backend.FailUnknownAccount, backend.FailWrongPassword, backend.FailCodeMissing,
	backend.FailWrongCode, backend.FailReplayedCode, backend.FailSecondFactorRequired,
	backend.FailWrongAppPassword, backend.FailRevokedAppPassword, backend.FailAccountDisabled, backend.FailLocked,
	backend.FailInvalidCredentials, backend.FailRateLimited, backend.FailUnauthenticatedBind,
	backend.FailInvalidName, backend.FailUnsupported, backend.FailMalformed, backend.FailNoCertificate,
	backend.FailUnknownCertificate, backend.FailNotServiceAccount, backend.FailAuthzRefused,
	backend.FailPasswordExpired, backend.FailPasswordMustChange, backend.FailAccountExpired, backend.FailLogonRestricted,
	backend.FailUpstreamLocked,
	backend.FailBusy, backend.FailUnavailable, backend.FailError,
}

func labelsOf[T ~uint8](n T, name func(T) string) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = name(i)
	}
	return out
}

// Result codes as labels: RFC 4511's (0 to 80) by their names in
// snake_case, "abandoned" for an answer never sent, and "other" for any
// code beyond.
const (
	maxRFCCode    = ldap.LDAPResultOther
	slotAbandoned = maxRFCCode + 1
	resultSlots   = slotAbandoned + 1
)

var resultLabels = func() [resultSlots]string {
	var out [resultSlots]string
	for code := range uint16(maxRFCCode + 1) {
		name, ok := ldap.LDAPResultCodeMap[code]
		switch {
		case code == ldap.LDAPResultVirtualListViewErrorOrControlError:
			name = "virtual_list_view_error"
		case !ok:
			name = "other"
		default:
			name = strings.ReplaceAll(strings.ToLower(name), " ", "_")
		}
		out[code] = name
	}
	out[slotAbandoned] = "abandoned"
	return out
}()

func resultSlot(code uint16) int {
	switch {
	case code <= maxRFCCode:
		return int(code)
	case code == server.Abandoned:
		return slotAbandoned
	}
	return int(ldap.LDAPResultOther)
}

// byResult is a counter by one fixed label and the result. A series is
// made the first time it is counted and kept for lookup by index, so that
// counting it again costs an atomic load and an add: a result code that
// never happens costs no series.
type byResult struct {
	vec    *prometheus.CounterVec
	labels []string // values of the first label; nil when there is none
	kids   []atomic.Pointer[prometheus.Counter]
}

func newByResult(reg *prometheus.Registry, name, help, label string, values []string) *byResult {
	names := []string{"result"}
	n := 1
	if label != "" {
		names = []string{label, "result"}
		n = len(values)
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, names)
	reg.MustRegister(vec)
	return &byResult{vec: vec, labels: values, kids: make([]atomic.Pointer[prometheus.Counter], n*resultSlots)}
}

func (b *byResult) inc(i int, code uint16) { b.get(i, code).Inc() }

func (b *byResult) get(i int, code uint16) prometheus.Counter {
	slot := resultSlot(code)
	p := &b.kids[i*resultSlots+slot]
	if c := p.Load(); c != nil {
		return *c
	}
	var c prometheus.Counter
	if b.labels == nil {
		c = b.vec.WithLabelValues(resultLabels[slot])
	} else {
		c = b.vec.WithLabelValues(b.labels[i], resultLabels[slot])
	}
	// Two first uses at once get the same series from the vector.
	p.Store(&c)
	return c
}
