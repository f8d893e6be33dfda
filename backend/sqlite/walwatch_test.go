package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// Another process's write (here another store on the same file, with its
// own connections, as `wicket` on the command line has) moves the
// generation the server reads, at once, though the server reads it
// without a query while nothing commits.
func TestGeneration_SeesAnotherProcessesWriteAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.db")
	server, err := Open(path)
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
			t.Fatalf("generation moved from %d to %d with nothing written", before, g)
		}
	}
	// Recording a use commits too, but decides nothing: the generation
	// stays, though the header changed and the database was asked.
	if err := cli.RecordAppPasswordUses(ctx, []backend.AppPasswordUse{{ID: "ap1", At: time.Now(), From: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	if g, _ := server.Generation(ctx); g != before {
		t.Errorf("recording a use moved the generation from %d to %d", before, g)
	}
	if err := cli.RevokeAppPassword(ctx, a.ID, "ap1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if g, _ := server.Generation(ctx); g <= before {
		t.Errorf("another store's revocation left the generation at %d (was %d)", g, before)
	}
}

func BenchmarkGeneration_Unchanged(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "wicket.db"))
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
