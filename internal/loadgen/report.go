package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Codes of failures that are not an LDAP result, negative so that they
// never meet one.
const (
	CodeNetwork   = -1 // the connection failed: refused, reset, closed
	CodeTimeout   = -2 // no answer within the timeout
	CodeNoEntry   = -3 // bind-search, lookup: the search found nothing
	CodeMalformed = -4 // the server's answer was not LDAP as RFC 4511 has it
	CodeTooMany   = -5 // lookup: the search found more than one entry
)

// resultNames are RFC 4511's names (and those of the RFCs after it, for
// codes above 80) where go-ldap's table, from which the others are made,
// says something else.
var resultNames = map[int]string{
	CodeNetwork:   "network",
	CodeTimeout:   "timeout",
	CodeNoEntry:   "noEntry",
	CodeMalformed: "malformed",
	CodeTooMany:   "tooMany",

	ldap.LDAPResultStrongAuthRequired:                 "strongerAuthRequired",
	ldap.LDAPResultOffsetRangeError:                   "offsetRangeError",
	ldap.LDAPResultVirtualListViewErrorOrControlError: "virtualListViewError",
	ldap.LDAPResultCanceled:                           "canceled",
	ldap.LDAPResultNoSuchOperation:                    "noSuchOperation",
	ldap.LDAPResultTooLate:                            "tooLate",
	ldap.LDAPResultCannotCancel:                       "cannotCancel",
	ldap.LDAPResultAssertionFailed:                    "assertionFailed",
	ldap.LDAPResultAuthorizationDenied:                "authorizationDenied",
	ldap.LDAPResultSyncRefreshRequired:                "syncRefreshRequired",
}

// ResultName names a result code as RFC 4511 does, "invalidCredentials",
// made from go-ldap's "Invalid Credentials"; or one of the codes above.
func ResultName(code int) string {
	if n, ok := resultNames[code]; ok {
		return n
	}
	// Above other (80) go-ldap names its own client-side conditions, in
	// sentences; no server sends those codes.
	if code < 0 || code > ldap.LDAPResultOther {
		return "unknown"
	}
	words := strings.Fields(ldap.LDAPResultCodeMap[uint16(code)])
	if len(words) == 0 {
		return "unknown"
	}
	words[0] = strings.ToLower(words[0])
	return strings.Join(words, "")
}

// A Report is what a run measured.
type Report struct {
	Mode        Mode
	URL         string
	Concurrency int
	// Rate is the cap on operations a second the run had; 0 for none.
	Rate  float64
	Users int
	// Service is the account lookup mode binds as.
	Service string
	// Base and Filter are the search of bind-search and lookup, defaults
	// applied; an empty Base in bind-search is each bind name's parent.
	Base, Filter string
	// Duration is the measured time, from the first operation started to
	// the last one finished, warmup excluded.
	Duration    time.Duration
	Interrupted bool
	Operations  uint64
	Succeeded   uint64
	Failed      uint64
	Latency     Latency
	// Errors are the failures by result, the most frequent first.
	Errors []ErrorCount
}

// Latency sums up every operation's latency, failed ones included.
type Latency struct {
	Mean, P50, P95, P99, Max time.Duration
}

// ErrorCount is how many operations failed with one result.
type ErrorCount struct {
	Code  int
	Count uint64
	// Example is what the first of them said: the server's diagnostic
	// message, or the error. It may be empty.
	Example string
}

func (e ErrorCount) String() string {
	s := fmt.Sprintf("%s (%d): %d", ResultName(e.Code), e.Code, e.Count)
	if e.Code < 0 {
		s = fmt.Sprintf("%s: %d", ResultName(e.Code), e.Count)
	}
	if e.Example != "" {
		s += fmt.Sprintf(" (%s)", e.Example)
	}
	return s
}

// OpsPerSecond counts every completed operation, failed ones included.
func (r *Report) OpsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Operations) / r.Duration.Seconds()
}

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, a ...any) {
		fmt.Fprintf(&b, "%-13s %s\n", label, fmt.Sprintf(format, a...))
	}
	line("mode", "%s", r.Mode)
	line("url", "%s", r.URL)
	line("concurrency", "%d", r.Concurrency)
	if r.Rate > 0 {
		line("rate limit", "%g ops/s", r.Rate)
	}
	line("users", "%d", r.Users)
	if r.Service != "" {
		line("service", "%s", r.Service)
	}
	if r.Mode.searches() {
		under := r.Base
		if under == "" {
			under = "each bind name's parent"
		}
		line("search", "%s under %s", r.Filter, under)
	}
	dur := fmt.Sprintf("%.3f s", r.Duration.Seconds())
	if r.Interrupted {
		dur += " (interrupted)"
	}
	line("duration", "%s", dur)
	line("operations", "%d (%d succeeded, %d failed)", r.Operations, r.Succeeded, r.Failed)
	line("throughput", "%.1f ops/s", r.OpsPerSecond())
	l := r.Latency
	line("latency (ms)", "mean %.3f  p50 %.3f  p95 %.3f  p99 %.3f  max %.3f",
		ms(l.Mean), ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max))
	if len(r.Errors) == 0 {
		line("errors", "none")
	}
	for i, e := range r.Errors {
		label := ""
		if i == 0 {
			label = "errors"
		}
		line(label, "%s", e)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// jsonReport is the report's JSON: scripts (bench/compare.sh) read these
// names, so they do not change.
type jsonReport struct {
	Mode            string      `json:"mode"`
	URL             string      `json:"url"`
	Concurrency     int         `json:"concurrency"`
	RateLimit       float64     `json:"rate_limit,omitempty"`
	Users           int         `json:"users"`
	Service         string      `json:"service,omitempty"`
	SearchBase      string      `json:"search_base,omitempty"`
	SearchFilter    string      `json:"search_filter,omitempty"`
	DurationSeconds float64     `json:"duration_seconds"`
	Operations      uint64      `json:"operations"`
	Succeeded       uint64      `json:"succeeded"`
	Failed          uint64      `json:"failed"`
	OpsPerSecond    float64     `json:"ops_per_second"`
	Latency         jsonLatency `json:"latency_ms"`
	Errors          []jsonError `json:"errors"`
}

type jsonLatency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

type jsonError struct {
	Result string `json:"result"`
	Code   int    `json:"code"`
	Count  uint64 `json:"count"`
}

func (r *Report) MarshalJSON() ([]byte, error) {
	l := r.Latency
	j := jsonReport{
		Mode:            string(r.Mode),
		URL:             r.URL,
		Concurrency:     r.Concurrency,
		RateLimit:       r.Rate,
		Users:           r.Users,
		Service:         r.Service,
		SearchBase:      r.Base,
		SearchFilter:    r.Filter,
		DurationSeconds: math.Round(r.Duration.Seconds()*1e3) / 1e3,
		Operations:      r.Operations,
		Succeeded:       r.Succeeded,
		Failed:          r.Failed,
		OpsPerSecond:    math.Round(r.OpsPerSecond()*10) / 10,
		Latency:         jsonLatency{ms(l.Mean), ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max)},
		Errors:          []jsonError{},
	}
	for _, e := range r.Errors {
		j.Errors = append(j.Errors, jsonError{ResultName(e.Code), e.Code, e.Count})
	}
	return json.Marshal(j)
}

// sortErrors puts the most frequent first, then by code.
func sortErrors(es []ErrorCount) {
	slices.SortFunc(es, func(a, b ErrorCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Code, b.Code)
	})
}
