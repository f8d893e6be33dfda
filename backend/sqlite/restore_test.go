package sqlite

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestRevivedAppPasswords_ListsWhatTheRestoreBringsBack(t *testing.T) {
	s := openTemp(t)
	a := seedAccount(t, s, "alice")
	out := t.TempDir()
	c, err := CopyDatabase(t.Context(), s.path, out, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(out, "old.db")
	if err := c.Install(old, false); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAppPassword(t.Context(), a.ID, "alicep2", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := RevivedAppPasswords(t.Context(), old, s.path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Revived{{"alice", "alicep2", "p2"}}; !slices.Equal(got, want) {
		t.Errorf("revived %v, want %v", got, want)
	}
	if leftovers := dirEntries(t, filepath.Dir(s.path)); !slices.Equal(leftovers, []string{"wicket.db"}) {
		t.Errorf("reading the replaced database left %v", leftovers)
	}
}
