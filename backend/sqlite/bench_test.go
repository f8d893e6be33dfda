package sqlite_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
)

// BenchmarkAuthenticate_AppPassword is an app-password bind's work in the
// account domain over the real store: admission, the account's row, the
// keyed derivation, the indexed lookup, the bookkeeping of its use.
func BenchmarkAuthenticate_AppPassword(b *testing.B) {
	dir := b.TempDir()
	keys, err := backend.LoadOrCreateKeys(filepath.Join(dir, "wicket.key"))
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlite.Open(filepath.Join(dir, "wicket.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	svc := backend.New(store, keys, backend.Options{
		Argon2:              backend.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		RequireSecondFactor: true,
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer svc.Close()
	ctx := context.Background()
	if _, err := svc.AddUser(ctx, "alice", "", "Correct-Horse-Battery", ""); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.EnrollTOTP(ctx, "alice", nil); err != nil {
		b.Fatal(err)
	}
	var pw string
	for i := 0; i < 5; i++ {
		np, err := svc.CreateAppPassword(ctx, "alice", "device")
		if err != nil {
			b.Fatal(err)
		}
		pw = np.Password
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, "alice", pw, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertAudit is the audit trail's cost per bind: records written
// in the batches the recorder makes (1,024 when binds arrive fast).
func BenchmarkInsertAudit(b *testing.B) {
	store, err := sqlite.Open(filepath.Join(b.TempDir(), "wicket.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const batch = 1024
	recs := make([]backend.AuditRecord, batch)
	for i := range recs {
		recs[i] = backend.AuditRecord{At: time.Now(), Actor: "uid=user0042,ou=people,dc=example,dc=org",
			Action: backend.ActionBind, Subject: "user0042", Method: "app-password", Remote: "127.0.0.1",
			Result: backend.ResultSuccess, Detail: "app_password=0a1b2c3d4e"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := store.InsertAudit(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
}
