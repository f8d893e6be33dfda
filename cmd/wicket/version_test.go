package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFrom_PrefersStampThenModuleThenCommit(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: modified}}
	}
	cases := []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"make build", "v1.2.0-3-g0123456-dirty", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")}, "v1.2.0-3-g0123456-dirty"},
		{"go install at a tag", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0"},
		{"go build in a clone", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260102030405-0123456789ab+dirty"}, Settings: vcs("true")}, "v0.0.0-20260102030405-0123456789ab+dirty"},
		{"commit without a module version", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")}, "0123456789ab"},
		{"changed commit without a module version", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")}, "0123456789ab-dirty"},
		{"nothing recorded", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)"},
		{"no build information", "", nil, "(devel)"},
	}
	for _, tc := range cases {
		if got := versionFrom(tc.stamped, tc.bi).Version; got != tc.want {
			t.Errorf("%s: version %q, want %q", tc.name, got, tc.want)
		}
	}
	v := versionFrom("", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")})
	if v.Revision != rev || v.Time != "2026-01-02T03:04:05Z" || !v.Modified || v.Go != "go1.26.0" {
		t.Errorf("commit details: %+v", v)
	}
}

// `wicket --version`, `-v` and `wicket version` agree with what the server
// logs and serves (buildVersion); `wicket version` adds the details.
func TestVersionCommands(t *testing.T) {
	c := newCLI(t, "")
	want := "wicket " + buildVersion() + "\n"
	for _, args := range [][]string{{"--version"}, {"-v"}} {
		if got := c.ok("", args...); got != want {
			t.Errorf("wicket %s: %q, want %q", args[0], got, want)
		}
	}
	out := c.ok("", "version")
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "built with go") {
		t.Errorf("wicket version: %q", out)
	}
	var v versionInfo
	decode(t, c.ok("", "version", "--json"), &v)
	if v.Version != buildVersion() || v.Go == "" || v.Platform == "" {
		t.Errorf("wicket version --json: %+v", v)
	}
}
