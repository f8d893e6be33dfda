package loadgen

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestResultName_RFC4511Names(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{
		0: "success", 2: "protocolError", 8: "strongerAuthRequired", 32: "noSuchObject",
		49: "invalidCredentials", 50: "insufficientAccessRights", 51: "busy", 53: "unwillingToPerform",
		80: "other", 118: "canceled", 123: "authorizationDenied", 4096: "syncRefreshRequired",
		200: "unknown", 99: "unknown",
		CodeNetwork: "network", CodeTimeout: "timeout", CodeNoEntry: "noEntry", CodeMalformed: "malformed",
		CodeTooMany: "tooMany",
	} {
		if got := ResultName(code); got != want {
			t.Errorf("%d: %q, want %q", code, got, want)
		}
	}
}

func sampleReport() *Report {
	return &Report{
		Mode: ModeBind, URL: "ldap://127.0.0.1:1389", Concurrency: 16, Users: 1000,
		Duration: 10002 * time.Millisecond, Operations: 123456, Succeeded: 123447, Failed: 9,
		Latency: Latency{Mean: 1234567 * time.Nanosecond, P50: 1100 * time.Microsecond, P95: 2 * time.Millisecond,
			P99: 3100 * time.Microsecond, Max: 12500 * time.Microsecond},
		Errors: []ErrorCount{{Code: 49, Count: 6}, {Code: CodeNetwork, Count: 3, Example: "connection reset by peer"}},
	}
}

// The JSON has exactly the fields scripts read, with times in ms to the µs.
func TestReportJSON_Shape(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"concurrency", "duration_seconds", "errors", "failed", "latency_ms", "mode", "operations",
		"ops_per_second", "succeeded", "url", "users"}
	if !slices.Equal(keys, want) {
		t.Errorf("fields %v, want %v", keys, want)
	}
	for _, frag := range []string{
		`"mode":"bind"`, `"url":"ldap://127.0.0.1:1389"`, `"concurrency":16`, `"users":1000`,
		`"duration_seconds":10.002`, `"operations":123456`, `"succeeded":123447`, `"failed":9`,
		`"ops_per_second":12343.1`,
		`"latency_ms":{"mean":1.235,"p50":1.1,"p95":2,"p99":3.1,"max":12.5}`,
		`"errors":[{"result":"invalidCredentials","code":49,"count":6},{"result":"network","code":-1,"count":3}]`,
	} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("JSON lacks %s:\n%s", frag, b)
		}
	}

	r := sampleReport()
	r.Errors, r.Failed = nil, 0
	b, _ = json.Marshal(r)
	if !strings.Contains(string(b), `"errors":[]`) {
		t.Errorf("no errors is not []: %s", b)
	}
}

func TestReportText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `mode          bind
url           ldap://127.0.0.1:1389
concurrency   16
users         1000
duration      10.002 s
operations    123456 (123447 succeeded, 9 failed)
throughput    12343.1 ops/s
latency (ms)  mean 1.235  p50 1.100  p95 2.000  p99 3.100  max 12.500
errors        invalidCredentials (49): 6
              network: 3 (connection reset by peer)
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// A run with a rate says so, in the text and the JSON; one without has
// neither the line nor the field.
func TestReport_RateLimitShownWhenSet(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	r.Rate = 100
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "concurrency   16\nrate limit    100 ops/s\nusers") {
		t.Errorf("text without the rate limit:\n%s", b.String())
	}
	j, _ := json.Marshal(r)
	if !strings.Contains(string(j), `"rate_limit":100`) {
		t.Errorf("JSON without the rate limit: %s", j)
	}
	r.Rate = 0
	j, _ = json.Marshal(r)
	if strings.Contains(string(j), "rate_limit") {
		t.Errorf("JSON of a run without a rate: %s", j)
	}
}

// A search's report says what was searched, and lookup's as whom; the
// bind modes' have neither.
func TestReport_SearchAndServiceShownWhenSearching(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	r.Mode, r.Service, r.Base, r.Filter = ModeLookup, "uid=postfix,ou=people,dc=example,dc=org", "ou=people,dc=example,dc=org", "(mail=%u@example.org)"
	r.Errors = []ErrorCount{{Code: CodeNoEntry, Count: 9, Example: "nothing found for nobody under ou=people,dc=example,dc=org"}}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"users         1000\nservice       uid=postfix,ou=people,dc=example,dc=org\nsearch        (mail=%u@example.org) under ou=people,dc=example,dc=org\nduration",
		"errors        noEntry: 9 (nothing found for nobody under ou=people,dc=example,dc=org)\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	j, _ := json.Marshal(r)
	for _, want := range []string{`"mode":"lookup"`, `"service":"uid=postfix,ou=people,dc=example,dc=org"`,
		`"search_base":"ou=people,dc=example,dc=org"`, `"search_filter":"(mail=%u@example.org)"`,
		`"errors":[{"result":"noEntry","code":-3,"count":9}]`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("JSON lacks %s: %s", want, j)
		}
	}

	r.Mode, r.Service, r.Base, r.Filter = ModeBindSearch, "", "", "(uid=%u)"
	b.Reset()
	r.WriteText(&b)
	if !strings.Contains(b.String(), "search        (uid=%u) under each bind name's parent\n") || strings.Contains(b.String(), "service") {
		t.Errorf("bind-search's text:\n%s", b.String())
	}
}

func TestSortErrors_MostFrequentFirst(t *testing.T) {
	t.Parallel()
	es := []ErrorCount{{Code: 51, Count: 2}, {Code: CodeTimeout, Count: 5}, {Code: 49, Count: 2}}
	sortErrors(es)
	if es[0].Code != CodeTimeout || es[1].Code != 49 || es[2].Code != 51 {
		t.Errorf("order %+v", es)
	}
}
