package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/spf13/cobra"
)

// version is stamped by the Makefile with
// -ldflags "-X main.version=$(git describe --tags --always --dirty)".
// Left empty, the version comes from what the Go toolchain recorded.
var version = ""

// versionInfo is what `wicket version` reports. Version is the one string
// the server logs at start and serves as the root DSE's vendorVersion.
type versionInfo struct {
	Version string `json:"version"`
	// Revision, Time and Modified are the commit the binary was built from,
	// when the toolchain recorded it (go build inside a git clone).
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// buildVersion is the version of this binary, read once.
var buildVersion = sync.OnceValue(func() string { return readVersion().Version })

func readVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(version, bi)
}

// versionFrom prefers the stamped version, then the module version that
// `go install module@vX.Y.Z` records (or, since Go 1.24, the pseudo-version
// `go build` derives from the commit), then the bare commit, so that a
// binary built without the Makefile still says which code it is.
func versionFrom(stamped string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: stamped, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion
		}
	}
	switch {
	case v.Version != "":
	case bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		v.Version = bi.Main.Version
	case v.Revision != "":
		v.Version = v.Revision[:min(len(v.Revision), 12)]
		if v.Modified {
			v.Version += "-dirty"
		}
	default:
		// What `go version -m` says of a build that recorded nothing.
		v.Version = "(devel)"
	}
	return v
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the commit this binary was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readVersion()
			w := cmd.OutOrStdout()
			if g.json {
				return printJSON(w, v)
			}
			fmt.Fprintf(w, "wicket %s\n", v.Version)
			if v.Revision != "" {
				state := ""
				if v.Modified {
					state = ", with uncommitted changes"
				}
				fmt.Fprintf(w, "commit %s (%s%s)\n", v.Revision, v.Time, state)
			}
			fmt.Fprintf(w, "built with %s for %s\n", v.Go, v.Platform)
			return nil
		},
	}
}
