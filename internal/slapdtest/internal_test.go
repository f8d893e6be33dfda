package slapdtest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Fatal and Skip only record their message,
// so that Require's choice between them can be seen.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatal(args ...any)     { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Skip(args ...any)      { r.skip = fmt.Sprint(args...) }
func (r *recorder) Fatalf(string, ...any) { panic("not expected") }

// Without slapd a test is skipped on a developer's machine and fails under
// CI, naming what is missing and how to install it.
func TestRequire_MissingSlapdFailsUnderCI(t *testing.T) {
	saved := slapdPath
	t.Cleanup(func() { slapdPath = saved })
	slapdPath = t.TempDir() + "/no-slapd"

	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		Require(r)
		msg := r.skip
		if ci == "true" {
			if r.skip != "" || r.fatal == "" {
				t.Fatalf("CI=true: skip %q, fatal %q; want a failure only", r.skip, r.fatal)
			}
			msg = r.fatal
		} else if r.fatal != "" || r.skip == "" {
			t.Fatalf("CI unset: skip %q, fatal %q; want a skip only", r.skip, r.fatal)
		}
		for _, want := range []string{"no-slapd", "Debian package slapd", "scripts/install-test-deps.sh"} {
			if !strings.Contains(msg, want) {
				t.Errorf("CI=%q: message %q does not say %q", ci, msg, want)
			}
		}
	}
}

// A port taken between the check and slapd's start, as by another test's
// server, costs a retry on another port, not the test.
func TestStart_RetriesWhenThePortIsTaken(t *testing.T) {
	Require(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, p, _ := net.SplitHostPort(taken.Addr().String())
	takenPort, _ := strconv.Atoi(p)
	calls := 0
	saved := freePort
	t.Cleanup(func() { freePort = saved })
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return takenPort, nil
		}
		return pickPort()
	}
	s := Start(t, Options{})
	if calls != 2 || strings.Contains(s.URL, ":"+p+"/") {
		t.Fatalf("%d ports tried, listening on %s; want a second port, not %s", calls, s.URL, p)
	}
	if !strings.Contains(s.log(), "Address already in use") {
		t.Errorf("the log does not say why the first port failed:\n%s", s.log())
	}
	if err := s.Bind(s.AdminDN, s.AdminPassword); err != nil {
		t.Fatalf("bind on the second port: %v", err)
	}
}
