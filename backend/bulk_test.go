package backend_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/sqlite"
)

// sqliteFixture is a service over a real SQLite store in t.TempDir(),
// with the settable clock, and batches of three for the bulk methods.
type sqliteFixture struct {
	svc   *backend.Service
	store backend.Store
	clock *clock
	keys  *backend.Keys
	opts  backend.Options
}

func newSQLiteFixture(t *testing.T, opts backend.Options, wrap func(backend.Store) backend.Store) *sqliteFixture {
	t.Helper()
	dir := t.TempDir()
	keys, err := backend.CreateKeys(filepath.Join(dir, "wicket.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Create(filepath.Join(dir, "wicket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &sqliteFixture{store: st, clock: &clock{}, keys: keys}
	f.clock.unix.Store(1_700_000_000)
	opts.Argon2, opts.Now = cheap, f.clock.now
	opts.Logger = slog.New(slog.DiscardHandler)
	if opts.BulkBatch == 0 {
		opts.BulkBatch = 3
	}
	if wrap != nil {
		f.store = wrap(st)
	}
	f.opts = opts
	f.reopen(t)
	return f
}

// reopen starts a new service over the same store, as a second command
// would.
func (f *sqliteFixture) reopen(t *testing.T) {
	f.svc = backend.New(f.store, f.keys, f.opts)
	t.Cleanup(f.svc.Close)
}

// audit is the audit trail, oldest first, after writing what is queued.
func (f *sqliteFixture) audit(t *testing.T) []backend.AuditRecord {
	t.Helper()
	f.svc.Close()
	recs, err := f.store.ListAudit(context.Background(), backend.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(recs)
	return recs
}

// row is what an account's row holds, but for its random salt.
func rows(t *testing.T, s backend.Store) []string {
	t.Helper()
	accts, err := s.ListAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range accts {
		if len(a.AppPasswordSalt) != 16 {
			t.Errorf("%s: salt of %d bytes", a.Name, len(a.AppPasswordSalt))
		}
		a.AppPasswordSalt = nil
		out = append(out, fmt.Sprintf("%+v", a))
	}
	return out
}

func records(recs []backend.AuditRecord) []string {
	var out []string
	for _, r := range recs {
		r.ID = 0
		out = append(out, fmt.Sprintf("%+v", r))
	}
	return out
}

// ImportUsers creates, in batches, exactly what the import made one
// account at a time (look the name up, then AddUserWithHash, or AddUser
// without a password where the entry has none): the same
// rows, the same records, the same refusals; and a second run leaves
// everything alone.
func TestImportUsers_CreatesWhatOneByOneWould(t *testing.T) {
	users := []backend.ImportUser{
		{Name: "Alice", Mail: "alice@example.org", Hash: sshaOfPassword},
		{Name: "bob"}, // no password: cannot bind until one is set
		{Name: "carol", Mail: "not an address", Hash: sshaOfPassword},
		{Name: "dave", Mail: "ALICE@example.org", Hash: sshaOfPassword}, // alice's: refuses its batch as a whole
		{Name: "erin", Mail: "erin@example.org", Hash: sshaOfPassword},  // there already
		{Name: "frank", Mail: "frank@example.org", Hash: "{MD5}X03MO1qnZdYdgyfeuILPmQ=="},
		{Name: "grace", Mail: "grace@example.org", Hash: sshaOfPassword},
		{Name: "bad name!", Hash: sshaOfPassword},
		{Name: "heidi", Mail: "heidi@example.org", Hash: sshaOfPassword},
	}
	want := []backend.ImportResult{
		{Created: true}, {Created: true}, {Err: backend.ErrInvalidInput}, {Err: backend.ErrExists}, {Exists: true},
		{Err: backend.ErrInvalidInput}, {Created: true}, {Err: backend.ErrInvalidInput}, {Created: true},
	}
	ctx := backend.WithActor(context.Background(), backend.Actor{Name: "root", Method: "cli"})
	setUp := func(t *testing.T, f *sqliteFixture) {
		if _, err := f.svc.AddUserWithHash(ctx, "erin", "erin@example.org", sshaOfPassword, ""); err != nil {
			t.Fatal(err)
		}
	}

	one := newSQLiteFixture(t, backend.Options{}, nil)
	setUp(t, one)
	for _, u := range users {
		exists, err := one.svc.AccountExists(ctx, u.Name)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case exists:
		case u.Hash == "":
			one.svc.AddUser(ctx, u.Name, u.Mail, "", "")
		default:
			one.svc.AddUserWithHash(ctx, u.Name, u.Mail, u.Hash, "")
		}
	}

	batched := newSQLiteFixture(t, backend.Options{}, nil)
	setUp(t, batched)
	got, err := batched.svc.ImportUsers(ctx, users, "")
	if err != nil {
		t.Fatalf("ImportUsers: %v", err)
	}
	for i, r := range got {
		w := want[i]
		if r.Created != w.Created || r.Exists != w.Exists || !errors.Is(r.Err, w.Err) || (r.Err == nil) != (w.Err == nil) {
			t.Errorf("%s: %+v, want %+v", users[i].Name, r, w)
		}
	}

	if g, w := rows(t, batched.store), rows(t, one.store); !slices.Equal(g, w) {
		t.Errorf("accounts:\n got %q\nwant %q", g, w)
	}
	if g, w := records(batched.audit(t)), records(one.audit(t)); !slices.Equal(g, w) {
		t.Errorf("audit records:\n got %q\nwant %q", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

// Run again, an import leaves every account as it is, writes no record for
// them, and refuses again what it refused.
func TestImportUsers_RunAgainLeavesAccountsAlone(t *testing.T) {
	f := newSQLiteFixture(t, backend.Options{}, nil)
	ctx := context.Background()
	users := []backend.ImportUser{
		{Name: "alice", Mail: "alice@example.org", Hash: sshaOfPassword},
		{Name: "bob", Mail: "alice@example.org"},
		{Name: "carol", Mail: "carol@example.org"},
		{Name: "dave"},
	}
	if _, err := f.svc.ImportUsers(ctx, users, backend.RoleUser); err != nil {
		t.Fatal(err)
	}
	before := rows(t, f.store)
	n := len(f.audit(t))
	f.reopen(t)
	got, err := f.svc.ImportUsers(ctx, users, backend.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if users[i].Name == "bob" {
			if !errors.Is(r.Err, backend.ErrExists) {
				t.Errorf("bob: %+v, want refused again: alice has the address", r)
			}
			continue
		}
		if !r.Exists || r.Created || r.Err != nil {
			t.Errorf("%s: %+v, want left alone", users[i].Name, r)
		}
	}
	if after := rows(t, f.store); !slices.Equal(after, before) {
		t.Errorf("a second run changed the accounts:\n%q\n%q", before, after)
	}
	recs := f.audit(t)
	if len(recs) != n+1 || recs[n].Subject != "bob" || recs[n].Result != backend.FailExists {
		t.Errorf("a second run added records %q, want bob's refusal alone", records(recs[n:]))
	}
}

func TestImportUsers_InvalidRoleImportsNothing(t *testing.T) {
	f := newSQLiteFixture(t, backend.Options{}, nil)
	_, err := f.svc.ImportUsers(context.Background(), []backend.ImportUser{{Name: "alice"}}, "root")
	if !errors.Is(err, backend.ErrInvalidInput) {
		t.Fatalf("ImportUsers with role root: %v", err)
	}
	if r := rows(t, f.store); len(r) != 0 {
		t.Errorf("accounts %q", r)
	}
}

// collect runs CreateAppPasswords and returns what each committed batch
// handed over, in order.
func collect(t *testing.T, f *sqliteFixture, names []string, label string, enroll bool) ([]backend.BulkAppPassword, []int) {
	t.Helper()
	var all []backend.BulkAppPassword
	var sizes []int
	err := f.svc.CreateAppPasswords(context.Background(), names, label, enroll, func(b []backend.BulkAppPassword) error {
		all, sizes = append(all, b...), append(sizes, len(b))
		return nil
	})
	if err != nil {
		t.Fatalf("CreateAppPasswords: %v", err)
	}
	return all, sizes
}

// addUsers creates accounts with the fixture's password: alice with TOTP
// and one app password, bob and erin without TOTP, carol a service
// account, dave at the limit of two, erin an administrator.
func addUsers(t *testing.T, f *sqliteFixture) {
	t.Helper()
	ctx := context.Background()
	for _, u := range []struct{ name, role string }{
		{"alice", ""}, {"bob", ""}, {"carol", backend.RoleService}, {"dave", ""}, {"erin", backend.RoleAdmin},
	} {
		if _, err := f.svc.AddUser(ctx, u.name, u.name+"@example.org", password, u.role); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"alice", "dave"} {
		if _, err := f.svc.EnrollTOTP(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"alice", "dave", "dave"} {
		if _, err := f.svc.CreateAppPassword(ctx, name, "earlier"); err != nil {
			t.Fatal(err)
		}
	}
}

// Each account gets one app password that binds, and a second factor where
// it had none and one was asked for, with CreateAppPassword's rules for the
// rest; each change and each refusal is recorded.
func TestCreateAppPasswords_GivesEachAccountOneThatBinds(t *testing.T) {
	type want struct {
		err    error // nil: created
		enrols bool
	}
	for _, tc := range []struct {
		name   string
		enroll bool
		want   map[string]want
	}{
		{"with --enroll-totp", true, map[string]want{
			"alice": {}, "bob": {enrols: true}, "erin": {enrols: true},
			"carol": {err: backend.ErrServiceAccount}, "dave": {err: backend.ErrLimitReached}, "nobody": {err: backend.ErrNotFound},
		}},
		{"without", false, map[string]want{
			"alice": {}, "bob": {err: backend.ErrSecondFactorRequired}, "erin": {err: backend.ErrSecondFactorRequired},
			"carol": {err: backend.ErrServiceAccount}, "dave": {err: backend.ErrLimitReached}, "nobody": {err: backend.ErrNotFound},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSQLiteFixture(t, backend.Options{MaxAppPasswords: 2, RequireSecondFactor: true}, nil)
			addUsers(t, f)
			before := len(f.audit(t))
			f.reopen(t)
			names := []string{"alice", "Bob", "carol", "dave", "nobody", "ALICE", "erin"}
			got, sizes := collect(t, f, names, "bench", tc.enroll)
			if !slices.Equal(sizes, []int{3, 3, 1}) {
				t.Errorf("batches of %v, want the names in threes", sizes)
			}
			if len(got) != len(names) {
				t.Fatalf("%d results for %d names", len(got), len(names))
			}
			ctx := context.Background()
			for i, r := range got {
				w := tc.want[r.Name]
				if i == 5 {
					w = want{err: backend.ErrInvalidInput} // alice again
				}
				if r.Name != strings.ToLower(names[i]) {
					t.Errorf("result %d is %q's, want %q's", i, r.Name, names[i])
				}
				if w.err != nil {
					if !errors.Is(r.Err, w.err) || r.AppPassword != nil || r.TOTP != nil {
						t.Errorf("%s: %+v, want refused with %v", r.Name, r, w.err)
					}
					continue
				}
				if r.Err != nil || r.AppPassword == nil || (r.TOTP != nil) != w.enrols {
					t.Fatalf("%s: %+v, want an app password (enrolled: %v)", r.Name, r, w.enrols)
				}
				if r.AppPassword.Label != "bench" || len(r.AppPassword.Password) != 19 {
					t.Errorf("%s: app password %+v", r.Name, r.AppPassword)
				}
				p, err := f.svc.Authenticate(ctx, r.Name, r.AppPassword.Password, "192.0.2.1")
				if err != nil || p.Method != backend.MethodAppPassword || p.AppPasswordID != r.AppPassword.ID {
					t.Errorf("%s: bind with the app password: %+v, %v", r.Name, p, err)
				}
				if r.TOTP != nil {
					if !strings.HasPrefix(r.TOTP.URI, "otpauth://totp/") || !strings.Contains(r.TOTP.URI, r.TOTP.Secret) {
						t.Errorf("%s: enrolment %+v", r.Name, r.TOTP)
					}
					if _, err := f.svc.Authenticate(ctx, r.Name, password+code(t, r.TOTP.Secret, f.clock.now()), "192.0.2.1"); err != nil {
						t.Errorf("%s: bind with password and a code of the new seed: %v", r.Name, err)
					}
				}
			}

			var trail []string
			for _, r := range f.audit(t)[before:] {
				trail = append(trail, r.Subject+" "+r.Action+" "+r.Result)
				if r.Action == backend.ActionAppPasswordCreate && !strings.HasSuffix(r.Detail, `label=bench`) ||
					r.Result == backend.ResultSuccess && r.Action == backend.ActionAppPasswordCreate && !strings.HasPrefix(r.Detail, "id=") {
					t.Errorf("record %+v: want the id when created, and the label", r)
				}
			}
			wantTrail := []string{}
			for i, name := range names {
				name = strings.ToLower(name)
				w := tc.want[name]
				switch {
				case i == 5:
					wantTrail = append(wantTrail, name+" apppw-create invalid-input")
				case w.err != nil:
					wantTrail = append(wantTrail, name+" apppw-create "+backend.FailureCategory(w.err))
				case w.enrols:
					wantTrail = append(wantTrail, name+" totp-enroll success", name+" apppw-create success")
				default:
					wantTrail = append(wantTrail, name+" apppw-create success")
				}
			}
			// The refusals are queued and written after the batch's
			// changes: compare as sets.
			slices.Sort(trail)
			slices.Sort(wantTrail)
			if !slices.Equal(trail, wantTrail) {
				t.Errorf("records:\n got %q\nwant %q", trail, wantTrail)
			}
		})
	}
}

// enrolMeanwhile is a store on which bob is enrolled by someone else just
// before the first batch of grants is written.
type enrolMeanwhile struct {
	backend.Store
	done bool
	seed []byte
}

func (s *enrolMeanwhile) GrantAppPasswords(ctx context.Context, grants []backend.AppPasswordGrant, limit int) error {
	if !s.done {
		s.done = true
		bob, err := s.AccountByName(ctx, "bob")
		if err != nil {
			return err
		}
		if _, err := s.SetTOTPSeed(ctx, bob.ID, s.seed, bob.CreatedAt); err != nil {
			return err
		}
	}
	return s.Store.GrantAppPasswords(ctx, grants, limit)
}

// A batch the store refuses as a whole, here because an account was
// enrolled after it was read, is made again account by account: the others
// get theirs, and the account enrolled meanwhile keeps its seed and gets
// its app password without a second enrolment.
func TestCreateAppPasswords_BatchRefusedAsAWholeIsMadeOneByOne(t *testing.T) {
	var wrapped *enrolMeanwhile
	f := newSQLiteFixture(t, backend.Options{}, func(s backend.Store) backend.Store {
		wrapped = &enrolMeanwhile{Store: s, seed: []byte("sealed elsewhere")}
		return wrapped
	})
	ctx := context.Background()
	for _, name := range []string{"alice", "bob", "carol"} {
		if _, err := f.svc.AddUser(ctx, name, "", password, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := collect(t, f, []string{"alice", "bob", "carol"}, "bench", true)
	for _, r := range got {
		if r.Err != nil || r.AppPassword == nil {
			t.Errorf("%s: %+v, want an app password", r.Name, r)
		}
		if (r.TOTP == nil) != (r.Name == "bob") {
			t.Errorf("%s: enrolment %+v; want one for each but bob, enrolled meanwhile", r.Name, r.TOTP)
		}
	}
	bob, err := f.store.AccountByName(ctx, "bob")
	if err != nil || string(bob.TOTPSeed) != "sealed elsewhere" {
		t.Errorf("bob's seed %q (%v), want the one enrolled meanwhile", bob.TOTPSeed, err)
	}
	var trail []string
	for _, r := range f.audit(t) {
		if r.Action == backend.ActionAppPasswordCreate || r.Action == backend.ActionTOTPEnroll {
			trail = append(trail, r.Subject+" "+r.Action+" "+r.Result)
		}
	}
	want := []string{"alice totp-enroll success", "alice apppw-create success", "bob apppw-create success",
		"carol totp-enroll success", "carol apppw-create success"}
	if !slices.Equal(trail, want) {
		t.Errorf("records %q, want %q: nothing of the refused batch", trail, want)
	}
}

func TestCreateAppPasswords_InvalidLabelChangesNothing(t *testing.T) {
	f := newSQLiteFixture(t, backend.Options{}, nil)
	addUsers(t, f)
	n := len(f.audit(t))
	f.reopen(t)
	called := false
	err := f.svc.CreateAppPasswords(context.Background(), []string{"alice"}, " bench", false, func([]backend.BulkAppPassword) error {
		called = true
		return nil
	})
	if !errors.Is(err, backend.ErrInvalidInput) || called {
		t.Errorf("label with a leading space: %v (results handed over: %v)", err, called)
	}
	if recs := f.audit(t); len(recs) != n {
		t.Errorf("records %q", records(recs[n:]))
	}
}

// Without names, the bulk creation is for every enabled account of role
// user, with TOTP unless it is to be enrolled.
func TestAppPasswordCandidates(t *testing.T) {
	f := newSQLiteFixture(t, backend.Options{MaxAppPasswords: 2}, nil)
	addUsers(t, f)
	ctx := context.Background()
	if _, err := f.svc.AddUser(ctx, "frank", "", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetDisabled(ctx, "frank", true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		enroll bool
		names  []string
		left   backend.LeftOut
	}{
		{false, []string{"alice", "dave"}, backend.LeftOut{Service: 1, Admin: 1, Disabled: 1, WithoutTOTP: 1}},
		{true, []string{"alice", "bob", "dave"}, backend.LeftOut{Service: 1, Admin: 1, Disabled: 1}},
	} {
		names, left, err := f.svc.AppPasswordCandidates(ctx, tc.enroll)
		if err != nil || !slices.Equal(names, tc.names) || left != tc.left {
			t.Errorf("enroll %v: %q, %+v, %v; want %q, %+v", tc.enroll, names, left, err, tc.names, tc.left)
		}
	}
}

// A first enrolment of many accounts gives each one without a second
// factor a seed whose codes sign in, each with its record; accounts with
// one keep it, service accounts, unknown names and a name given twice are
// refused, each refusal recorded.
func TestEnrollTOTPs_EnrolsThoseWithoutAndLeavesTheOthers(t *testing.T) {
	f := newSQLiteFixture(t, backend.Options{}, nil)
	addUsers(t, f)
	ctx := context.Background()
	alice, err := f.store.AccountByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.audit(t))
	f.reopen(t)

	names := []string{"alice", "bob", "carol", "ghost", "erin", "BOB"}
	var got []backend.BulkTOTP
	var sizes []int
	if err := f.svc.EnrollTOTPs(ctx, names, func(b []backend.BulkTOTP) error {
		got, sizes = append(got, b...), append(sizes, len(b))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{3, 3}) {
		t.Errorf("handed over in batches of %v, want 3 and 3", sizes)
	}
	for i, r := range got {
		name := strings.ToLower(names[i])
		enrolled := r.TOTP != nil && r.Err == nil && !r.Had
		switch {
		case r.Name != name:
			t.Errorf("result %d is %q's, want %q's", i, r.Name, name)
		case name == "alice" && !r.Had, name == "alice" && r.TOTP != nil:
			t.Errorf("alice, enrolled before: %+v; want her left alone", r)
		case (name == "bob" && i == 1) || name == "erin":
			if !enrolled || !strings.HasPrefix(r.TOTP.URI, "otpauth://totp/") {
				t.Errorf("%s: %+v; want an enrolment", name, r)
				continue
			}
			if _, err := f.svc.Authenticate(ctx, name, password+code(t, r.TOTP.Secret, f.clock.now()), "192.0.2.1"); err != nil {
				t.Errorf("%s with a code of the seed handed over: %v", name, err)
			}
		case name == "carol" && !errors.Is(r.Err, backend.ErrServiceAccount),
			name == "ghost" && !errors.Is(r.Err, backend.ErrNotFound),
			i == 5 && !errors.Is(r.Err, backend.ErrInvalidInput):
			t.Errorf("%s: %+v; want a refusal", name, r)
		}
	}
	if a, err := f.store.AccountByName(ctx, "alice"); err != nil || string(a.TOTPSeed) != string(alice.TOTPSeed) {
		t.Errorf("alice's seed changed (%v)", err)
	}
	var trail []string
	for _, r := range f.audit(t)[n:] {
		trail = append(trail, r.Subject+" "+r.Action+" "+r.Result)
	}
	slices.Sort(trail)
	want := []string{"bob totp-enroll invalid-input", "bob totp-enroll success", "carol totp-enroll service-account",
		"erin totp-enroll success", "ghost totp-enroll unknown-account"}
	if !slices.Equal(trail, want) {
		t.Errorf("records %q, want %q", trail, want)
	}

	f.reopen(t)
	names, left, err := f.svc.TOTPCandidates(ctx)
	if err != nil || len(names) != 0 || left != (backend.LeftOut{Service: 1, WithTOTP: 4}) {
		t.Errorf("TOTPCandidates after: %q, %+v, %v; want none, 4 with TOTP and the service account", names, left, err)
	}
}

// An account enrolled between the read and the write keeps the seed it
// got meanwhile; the rest of its batch is enrolled one by one.
func TestEnrollTOTPs_EnrolledMeanwhileKeepsItsSeed(t *testing.T) {
	f := newSQLiteFixture(t, backend.Options{}, func(s backend.Store) backend.Store {
		return &enrolMeanwhile{Store: s, seed: []byte("sealed elsewhere")}
	})
	ctx := context.Background()
	for _, name := range []string{"alice", "bob", "carol"} {
		if _, err := f.svc.AddUser(ctx, name, "", password, ""); err != nil {
			t.Fatal(err)
		}
	}
	names, _, err := f.svc.TOTPCandidates(ctx)
	if err != nil || !slices.Equal(names, []string{"alice", "bob", "carol"}) {
		t.Fatalf("TOTPCandidates: %q, %v", names, err)
	}
	var got []backend.BulkTOTP
	if err := f.svc.EnrollTOTPs(ctx, names, func(b []backend.BulkTOTP) error { got = append(got, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.Err != nil || (r.TOTP == nil) != (r.Name == "bob") || r.Had != (r.Name == "bob") {
			t.Errorf("%s: %+v; want an enrolment for each but bob, left alone", r.Name, r)
		}
	}
	if bob, err := f.store.AccountByName(ctx, "bob"); err != nil || string(bob.TOTPSeed) != "sealed elsewhere" {
		t.Errorf("bob's seed %q (%v), want the one enrolled meanwhile", bob.TOTPSeed, err)
	}
}
