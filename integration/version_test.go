package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/internal/testutil"
)

// The version an administrator sees is the same in all four places:
// `wicket --version`, `wicket version`, the start-up log line and the root
// DSE's vendorVersion. These tests build the binary the two ways it gets
// built: by the Makefile, and by a plain `go build` in a git clone.

// TestVersion_MakefileStampsGitDescribe builds with `make build` and
// expects what `git describe --tags --always --dirty` says of the checkout.
func TestVersion_MakefileStampsGitDescribe(t *testing.T) {
	requireTool(t, "make")
	git := requireTool(t, "git")
	root := sourceRoot(t)
	bin := filepath.Join(t.TempDir(), "wicket")
	mustRun(t, root, requireTool(t, "make"), "-s", "build", "OUT="+bin)
	want := strings.TrimSpace(mustRun(t, root, git, "describe", "--tags", "--always", "--dirty"))
	if want == "" {
		t.Fatal("git describe printed nothing")
	}
	checkVersionEverywhere(t, bin, want)
}

// TestVersion_GoBuildRecordsTheCommit builds with plain `go build` in a
// fresh git repository holding this source tree, as `git clone` and
// `go build` (or `go install`) would, and expects the module
// pseudo-version the Go toolchain derives from the commit, marked +dirty
// once a file is changed.
func TestVersion_GoBuildRecordsTheCommit(t *testing.T) {
	git := requireTool(t, "git")
	src := copySourceTree(t)
	gitIn := func(args ...string) string {
		return strings.TrimSpace(mustRun(t, src, git, append([]string{"-c", "user.name=wicket test",
			"-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"}, args...)...))
	}
	gitIn("init", "-q")
	gitIn("add", "-A")
	gitIn("commit", "-q", "-m", "the tree under test")
	rev := gitIn("rev-parse", "HEAD")

	build := func() string {
		bin := filepath.Join(t.TempDir(), "wicket")
		// The flag, not the default: a machine's go env may turn the
		// recording off (GOFLAGS=-buildvcs=false), and a flag wins over it.
		mustRun(t, src, "go", "build", "-buildvcs=true", "-o", bin, "./cmd/wicket")
		return bin
	}
	clean := build()
	info := versionJSON(t, clean)
	pseudo := regexp.MustCompile(`^v0\.0\.0-\d{14}-` + rev[:12] + `$`)
	if !pseudo.MatchString(info.Version) || info.Revision != rev || info.Modified || info.Time == "" {
		t.Fatalf("go build of commit %s: wicket version --json says %+v; want version v0.0.0-TIME-%s, "+
			"that revision, a time, not modified", rev, info, rev[:12])
	}
	checkVersionEverywhere(t, clean, info.Version)

	readme := filepath.Join(src, "README.md")
	f, err := os.OpenFile(readme, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "A local change.")
	f.Close()
	dirty := versionJSON(t, build())
	if dirty.Version != info.Version+"+dirty" || dirty.Revision != rev || !dirty.Modified {
		t.Errorf("go build with a changed file: %+v; want version %s+dirty, modified", dirty, info.Version)
	}
}

type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Time     string `json:"time"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

func versionJSON(t *testing.T, bin string) versionInfo {
	t.Helper()
	var v versionInfo
	out := mustRun(t, "", bin, "version", "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("wicket version --json: %v\n%s", err, out)
	}
	return v
}

// checkVersionEverywhere starts bin and expects want from the command
// line, in the log line that says the server is listening, and in the root
// DSE as a client reads it.
func checkVersionEverywhere(t *testing.T, bin, want string) {
	t.Helper()
	if got := mustRun(t, "", bin, "--version"); got != "wicket "+want+"\n" {
		t.Errorf("wicket --version: %q, want %q", got, "wicket "+want+"\n")
	}
	if got := mustRun(t, "", bin, "version"); !strings.HasPrefix(got, "wicket "+want+"\n") {
		t.Errorf("wicket version: %q, want it to begin with %q", got, "wicket "+want)
	}
	if got := versionJSON(t, bin).Version; got != want {
		t.Errorf("wicket version --json: version %q, want %q", got, want)
	}

	dir := t.TempDir()
	w := &wicket{t: t, dir: dir, cfg: filepath.Join(dir, "wicket.toml"), logs: &testutil.SyncBuffer{}, bin: bin}
	if err := os.WriteFile(w.cfg, fmt.Appendf(nil, testConfig, filepath.Join(dir, "wicket.db"), ""), 0o600); err != nil {
		t.Fatal(err)
	}
	w.start()
	t.Cleanup(w.stop)
	logged := ""
	for line := range strings.Lines(w.logs.String()) {
		var rec struct{ Msg, Version string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			logged = rec.Version
		}
	}
	if logged != want {
		t.Errorf("the listening log line says version %q, want %q\n%s", logged, want, w.logs.String())
	}
	r := ldapsearchAs(t, w, "", "", "", "base", "vendorName", "vendorVersion")
	requireCode(t, "ldapsearch of the root DSE", r, 0)
	if !strings.Contains(r.stdout, "\nvendorVersion: "+want+"\n") || !strings.Contains(r.stdout, "\nvendorName: wicket\n") {
		t.Errorf("root DSE: want vendorName wicket and vendorVersion %s:\n%s", want, r.output())
	}
}

// mustRun runs a program that must succeed and returns its standard output.
func mustRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String()
}

func sourceRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// copySourceTree copies the files of this checkout that git would commit
// (tracked or not ignored, as they are on disk) into a new directory.
func copySourceTree(t *testing.T) string {
	t.Helper()
	root := sourceRoot(t)
	out := mustRun(t, root, requireTool(t, "git"), "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	dst := t.TempDir()
	for name := range strings.SplitSeq(strings.TrimSuffix(out, "\x00"), "\x00") {
		from := filepath.Join(root, name)
		st, err := os.Lstat(from)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or not a plain file
		}
		to := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		copyTreeFile(t, from, to, st.Mode().Perm())
	}
	return dst
}

func copyTreeFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
