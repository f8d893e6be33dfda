package backend_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/memstore"
)

func TestKeys_FileCreated0600AndGroupReadableRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wicket.key")
	if _, err := backend.CreateKeys(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	os.Chmod(path, 0o640)
	if _, err := backend.LoadKeys(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a group-readable key file: %v, want a refusal naming chmod 600", err)
	}
}

// A key is made only when asked for, never over another one and never in
// a directory that does not exist; reading never makes one.
func TestKeys_NeverMadeUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wicket.key")
	if _, err := backend.LoadKeys(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKeys of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKeys created %s", path)
	}
	if _, err := backend.CreateKeys(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if _, err := backend.CreateKeys(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateKeys over an existing key file: %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("the refused CreateKeys changed the key file")
	}
	if _, err := backend.LoadKeys(path); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.CreateKeys(filepath.Join(dir, "missing", "wicket.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CreateKeys in a missing directory: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CreateKeys created the missing directory")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want the key file alone: %v", len(entries), entries)
	}
}

func TestKeys_FromTheEnvironmentWriteNoFile(t *testing.T) {
	t.Setenv(backend.KeyEnv, "kfzCfV+Iv+ciOmfPlEOAqncZ47pziMFsvc70+piskSg=")
	path := filepath.Join(t.TempDir(), "wicket.key")
	keys, err := backend.LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a key file was written although the keys came from $%s", backend.KeyEnv)
	}
	svc := backend.New(memstore.New(), keys, backend.Options{Argon2: cheap})
	defer svc.Close()
	if _, _, err := svc.RotateSeedKey(context.Background()); err == nil {
		t.Errorf("rotation with keys from the environment succeeded; want a refusal")
	}
	t.Setenv(backend.KeyEnv, "not a key")
	if _, err := backend.LoadKeys(path); err == nil {
		t.Errorf("a malformed $%s was accepted", backend.KeyEnv)
	}
}

// A rotation re-encrypts every seed under a new key; a server that loaded
// the ring before the rotation still authenticates, reading the ring again
// when it meets the new key.
func TestRotateSeedKey_ReencryptsAndRunningServersFollow(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wicket.key")
	store := memstore.New()
	clock := &clock{}
	clock.unix.Store(1_700_000_000)
	if _, err := backend.CreateKeys(path); err != nil {
		t.Fatal(err)
	}
	open := func() *backend.Service {
		keys, err := backend.LoadKeys(path)
		if err != nil {
			t.Fatal(err)
		}
		svc := backend.New(store, keys, backend.Options{Argon2: cheap, Now: clock.now})
		t.Cleanup(svc.Close)
		return svc
	}
	server, admin := open(), open()
	secrets := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		if _, err := admin.AddUser(ctx, name, "", password, ""); err != nil {
			t.Fatal(err)
		}
		e, err := admin.EnrollTOTP(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = e.Secret
	}
	before, _ := store.AccountByName(ctx, "alice")

	n, id, err := admin.RotateSeedKey(ctx)
	if err != nil || n != 2 || id != 2 {
		t.Fatalf("RotateSeedKey = %d, %d, %v; want 2 seeds under key 2", n, id, err)
	}
	after, _ := store.AccountByName(ctx, "alice")
	if bytes.Equal(before.TOTPSeed, after.TOTPSeed) || after.TOTPSeed[1] != 2 {
		t.Errorf("alice's seed was not re-encrypted under key 2")
	}
	text, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(text), "wicket-keys 2\n") || !strings.Contains(string(text), "seed 2 ") {
		t.Errorf("the key file is not the new ring:\n%s", text)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("the rotated key file has mode %v", st.Mode().Perm())
	}
	for name, secret := range secrets {
		if err := (&fixture{svc: server}).auth(name, password+code(t, secret, clock.now())); err != nil {
			t.Errorf("%s after the rotation, on a server loaded before it: %v", name, err)
		}
	}
	// App passwords do not depend on the seed key: the pepper stays.
	fresh := open()
	if _, err := fresh.CreateAppPassword(ctx, "alice", "phone"); err != nil {
		t.Fatal(err)
	}
	clock.add(30 * time.Second)
	if err := (&fixture{svc: fresh}).auth("bob", password+code(t, secrets["bob"], clock.now())); err != nil {
		t.Errorf("bob on a server started after the rotation: %v", err)
	}
}
