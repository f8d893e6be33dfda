package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// A database file deleted, or replaced by another, under an open store:
// every write is refused as unavailable, naming the path, rather than
// committed into a file nothing will read again; the callback hears of it
// once.
func TestCheckFile_LostFileRefusesWrites(t *testing.T) {
	for _, c := range []struct {
		name string
		lose func(t *testing.T, path string)
		what string
	}{
		{"deleted", func(t *testing.T, path string) {
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				os.Remove(p)
			}
		}, "deleted"},
		{"replaced", func(t *testing.T, path string) {
			other := filepath.Join(t.TempDir(), "other.db")
			o, err := Create(other)
			if err != nil {
				t.Fatal(err)
			}
			o.Close()
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, "replaced"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wicket.db")
			s, err := Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var heard atomic.Int32
			var said atomic.Value
			s.OnFileLost(func(err error) { heard.Add(1); said.Store(err.Error()) })
			a := seedAccount(t, s, "alice")
			if err := s.CheckFile(); err != nil {
				t.Fatalf("CheckFile before anything happened: %v", err)
			}

			c.lose(t, path)
			writes := map[string]error{
				"revoke": s.RevokeAppPassword(t.Context(), a.ID, "alicep1", t0.Add(time.Hour)),
			}
			_, writes["totp step"] = s.AdvanceTOTPStep(t.Context(), a.ID, 99)
			_, writes["prune"] = s.PruneAudit(t.Context(), t0, 10)
			for what, err := range writes {
				var lost *FileLostError
				if !errors.As(err, &lost) || !errors.Is(err, backend.ErrUnavailable) {
					t.Errorf("%s after the file was %s: %v, want a FileLostError that is ErrUnavailable", what, c.name, err)
					continue
				}
				if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.what) {
					t.Errorf("%s: %q, want the path and %q", what, err, c.what)
				}
			}
			if n := heard.Load(); n != 1 {
				t.Errorf("OnFileLost called %d times, want once", n)
			}
			if msg, _ := said.Load().(string); !strings.Contains(msg, path) {
				t.Errorf("OnFileLost heard %q, want the path", msg)
			}
		})
	}
}
