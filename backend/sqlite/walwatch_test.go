package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/wicketldap/wicket/backend"
)

// Another process's write (here another store on the same file, with its
// own connections, as `wicket` on the command line has) moves the
// generation the server reads, at once, though the server reads it
// without a query while nothing commits.
func TestGeneration_SeesAnotherProcessesWriteAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	server, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if server.wal == nil {
		t.Fatal("no watch on the WAL index: every Generation would be a query")
	}
	cli, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := t.Context()

	a := &backend.Account{Name: "alice", Role: backend.RoleUser, PasswordHash: "x", TOTPSeed: []byte("seed"),
		AppPasswordSalt: []byte("salt"), CreatedAt: time.Now(), PasswordChangedAt: time.Now()}
	if err := cli.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	p := &backend.AppPassword{ID: "ap1", AccountID: a.ID, Label: "phone", CreatedAt: time.Now()}
	if err := cli.CreateAppPassword(ctx, p, []byte("verifier"), 25); err != nil {
		t.Fatal(err)
	}
	before, err := server.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if g, _ := server.Generation(ctx); g != before {
			t.Fatalf("generation moved from %+v to %+v with nothing written", before, g)
		}
	}
	// Recording a use commits too, but decides nothing: the generation
	// stays, though the header changed and the database was asked.
	if err := cli.RecordAppPasswordUses(ctx, []backend.AppPasswordUse{{ID: "ap1", At: time.Now(), From: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	if g, _ := server.Generation(ctx); g != before {
		t.Errorf("recording a use moved the generation from %+v to %+v", before, g)
	}
	if err := cli.RevokeAppPassword(ctx, a.ID, "ap1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if g, _ := server.Generation(ctx); g == before {
		t.Errorf("another store's revocation left the generation at %+v", g)
	}
}

func BenchmarkGeneration_Unchanged(b *testing.B) {
	s, err := Create(filepath.Join(b.TempDir(), "wicket.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Generation(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// A backup restored in place counts from its older generation again; after
// as many writes as were lost, the number is back where a cache saw it, and
// the generation must still differ (sqlite3's ".restore" while serving).
func TestGeneration_RestoredBackupNeverRepeatsOne(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "wicket.db")
	s, err := Create(live)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	a := &backend.Account{Name: "alice", Role: backend.RoleUser, PasswordHash: "x", TOTPSeed: []byte("seed"),
		AppPasswordSalt: []byte("salt"), CreatedAt: time.Now(), PasswordChangedAt: time.Now()}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := s.w.ExecContext(ctx, "VACUUM INTO ?", backup); err != nil {
		t.Fatal(err)
	}
	atBackup, err := s.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const lost = 3
	for i := range lost {
		if err := s.CreateAppPassword(ctx, &backend.AppPassword{ID: fmt.Sprint("ap", i), AccountID: a.ID, Label: "x", CreatedAt: time.Now()},
			[]byte{byte(i)}, 25); err != nil {
			t.Fatal(err)
		}
	}
	cached, err := s.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}

	restore(t, live, backup)
	g, err := s.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.N != atBackup.N {
		t.Fatalf("after the restore the counter is %d, want the backup's %d", g.N, atBackup.N)
	}
	for i := range lost {
		if err := s.SetRole(ctx, a.ID, []string{backend.RoleAdmin, backend.RoleUser}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	g, err = s.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.N != cached.N {
		t.Fatalf("counter %d after %d writes, want %d", g.N, lost, cached.N)
	}
	if g == cached {
		t.Errorf("a restored database repeated generation %+v: a stale cached verdict would pass again", g)
	}
}

// restore copies the database at from over the live one at to, through
// SQLite's backup API as sqlite3's ".restore" does, with the store open.
func restore(t *testing.T, to, from string) {
	t.Helper()
	var dst, src *sqlite3.SQLiteConn
	d := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error { dst = c; return nil }}
	dc, err := d.Open(to)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	sd := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error { src = c; return nil }}
	sc, err := sd.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	b, err := dst.Backup("main", src, "main")
	if err != nil {
		t.Fatal(err)
	}
	if done, err := b.Step(-1); err != nil || !done {
		t.Fatalf("restore: done %v, %v", done, err)
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
}
