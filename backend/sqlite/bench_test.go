package sqlite_test

import (
	"context"
	"fmt"
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
	keys, err := backend.CreateKeys(filepath.Join(dir, "wicket.key"))
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlite.Create(filepath.Join(dir, "wicket.db"))
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
	store, err := sqlite.Create(filepath.Join(b.TempDir(), "wicket.db"))
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

// BenchmarkDirectory_UpdateAfterOneChange is what a server does to its copy
// of a directory of 100,000 accounts after a command-line write changed one
// account's aliases: apply the logged change ("delta"), or read every
// account again as it did before the log ("whole").
func BenchmarkDirectory_UpdateAfterOneChange(b *testing.B) {
	store, err := sqlite.Create(filepath.Join(b.TempDir(), "wicket.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	const accounts = 100_000
	batch := make([]backend.AccountCreation, 0, 1000)
	for i := range accounts {
		name := fmt.Sprintf("user%06d", i)
		batch = append(batch, backend.AccountCreation{Account: &backend.Account{Name: name, Mail: name + "@example.org",
			Role: backend.RoleUser, PasswordHash: "x", AppPasswordSalt: []byte("salt"), CreatedAt: time.Now(), PasswordChangedAt: time.Now()}})
		if len(batch) == cap(batch) {
			if err := store.CreateAccounts(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	full, err := store.Directory(ctx)
	if err != nil {
		b.Fatal(err)
	}
	dir := backend.NewDir(full)
	id := full.Accounts[accounts/2].ID
	change := func(i int) {
		b.StopTimer()
		if err := store.SetAliases(ctx, id, []string{fmt.Sprintf("alias%d@example.org", i)}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.Run("delta", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			change(i)
			i++
			ch, err := store.DirectoryChanges(ctx, dir.Mark())
			if err != nil || ch == nil {
				b.Fatalf("no delta: %v", err)
			}
			dir.Apply(ch)
		}
	})
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			change(i)
			i++
			d, err := store.Directory(ctx)
			if err != nil {
				b.Fatal(err)
			}
			dir = backend.NewDir(d)
		}
	})
}
