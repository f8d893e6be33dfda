package storetest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

// change is the record of one change to subject, told apart by its detail.
func change(action, subject, detail string) *backend.Change {
	return backend.NewChange(backend.AuditRecord{At: t0, Actor: "admin", Action: action, Subject: subject,
		Method: "cli", Result: backend.ResultSuccess, Detail: detail}, nil)
}

func creation(t *testing.T, name, mail string) backend.AccountCreation {
	return backend.AccountCreation{Account: newAccount(t, name, mail),
		Change: change(backend.ActionUserCreate, name, "create "+name)}
}

// oldestFirst lists the details of every record, oldest first.
func oldestFirst(t *testing.T, s backend.Store) []string {
	t.Helper()
	d := details(mustListAudit(t, s, backend.AuditFilter{}))
	slices.Reverse(d)
	return d
}

// A batch creates every account, as CreateAccount would one by one, each
// with its record, in one write.
func createAccountsCreatesAll(t *testing.T, s backend.Store) {
	mustCreate(t, s, "alice", "alice@example.org")
	before, err := s.Generation(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	batch := []backend.AccountCreation{
		creation(t, "bob", "bob@example.org"),
		creation(t, "carol", ""),
		creation(t, "dave", ""),                              // several without mail
		{Account: newAccount(t, "erin", "erin@example.org")}, // no record
	}
	batch[2].Account.Role = backend.RoleService
	want := make([]backend.Account, len(batch))
	for i, c := range batch {
		want[i] = *c.Account
	}
	if err := s.CreateAccounts(t.Context(), batch); err != nil {
		t.Fatalf("CreateAccounts: %v", err)
	}
	seen := map[int64]bool{}
	for i, c := range batch {
		if c.Account.ID == 0 || seen[c.Account.ID] {
			t.Errorf("%s: ID %d, want a new one of its own", c.Account.Name, c.Account.ID)
		}
		seen[c.Account.ID] = true
		want[i].ID = c.Account.ID
		sameAccount(t, c.Account.Name, mustByName(t, s, c.Account.Name), &want[i])
	}
	if a, err := s.AccountByMail(t.Context(), "BOB@example.org"); err != nil || a.Name != "bob" {
		t.Errorf("AccountByMail(bob's): %v, %v", a, err)
	}
	if after, err := s.Generation(t.Context()); err != nil || after == before {
		t.Errorf("generation %+v after the batch, was %+v (err %v): want it moved", after, before, err)
	}
	if got := oldestFirst(t, s); !slices.Equal(got, []string{"create bob", "create carol", "create dave"}) {
		t.Errorf("records %q, want one per account that carried one, in the batch's order", got)
	}
	for _, r := range mustListAudit(t, s, backend.AuditFilter{}) {
		if r.Action != backend.ActionUserCreate || r.Actor != "admin" || r.Method != "cli" || r.Count != 1 ||
			r.Detail != "create "+r.Subject {
			t.Errorf("record %+v, want the change's fields", r)
		}
	}
	if err := s.CreateAccounts(t.Context(), nil); err != nil {
		t.Errorf("CreateAccounts of an empty batch: %v", err)
	}
}

// A batch with one account that cannot be created creates none of them and
// writes no record.
func createAccountsAllOrNone(t *testing.T, s backend.Store) {
	alice := mustCreate(t, s, "alice", "alice@example.org")
	mustSetAliases(t, s, alice.ID, "al@example.org")
	for _, tc := range []struct {
		name string
		bad  func(t *testing.T) []backend.AccountCreation
	}{
		{"name of an account", func(t *testing.T) []backend.AccountCreation {
			return []backend.AccountCreation{creation(t, "ALICE", "")}
		}},
		{"mail of an account", func(t *testing.T) []backend.AccountCreation {
			return []backend.AccountCreation{creation(t, "zed", "Alice@Example.org")}
		}},
		{"alias of an account", func(t *testing.T) []backend.AccountCreation {
			return []backend.AccountCreation{creation(t, "zed", "AL@example.org")}
		}},
		{"name twice in the batch", func(t *testing.T) []backend.AccountCreation {
			return []backend.AccountCreation{creation(t, "zed", ""), creation(t, "Zed", "")}
		}},
		{"mail twice in the batch", func(t *testing.T) []backend.AccountCreation {
			return []backend.AccountCreation{creation(t, "zed", "z@example.org"), creation(t, "yves", "Z@example.org")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Good accounts before and after the bad ones.
			batch := append([]backend.AccountCreation{creation(t, "bob", "bob@example.org")}, tc.bad(t)...)
			batch = append(batch, creation(t, "carol", "carol@example.org"))
			wantErr(t, "CreateAccounts", s.CreateAccounts(t.Context(), batch), backend.ErrExists)
			for _, c := range batch {
				if c.Account.ID != 0 {
					t.Errorf("%s: ID %d after a refused batch, want it left 0", c.Account.Name, c.Account.ID)
				}
			}
			for _, name := range []string{"bob", "carol", "zed", "yves"} {
				if _, err := s.AccountByName(t.Context(), name); err == nil {
					t.Errorf("%s exists after a refused batch", name)
				}
			}
			if got := mustListAudit(t, s, backend.AuditFilter{}); len(got) != 0 {
				t.Errorf("a refused batch left records %q", details(got))
			}
			if accts, err := s.ListAccounts(t.Context()); err != nil || len(accts) != 1 {
				t.Errorf("ListAccounts: %d accounts (%v), want alice alone", len(accts), err)
			}
		})
	}
}

// grant is the app password id for accountID, with its records.
func grant(accountID int64, subject, id string, seed []byte) backend.AppPasswordGrant {
	g := backend.AppPasswordGrant{
		AppPassword: backend.AppPassword{ID: id, AccountID: accountID, Label: "label " + id, CreatedAt: t0},
		Verifier:    verifier(id),
		Creation:    change(backend.ActionAppPasswordCreate, subject, "create "+id),
	}
	if seed != nil {
		g.Seed = seed
		g.Enrolment = change(backend.ActionTOTPEnroll, subject, "enrol for "+id)
	}
	return g
}

// enrolOnly is a grant that enrols accountID and creates nothing else.
func enrolOnly(accountID int64, subject string, seed []byte) backend.AppPasswordGrant {
	return backend.AppPasswordGrant{AppPassword: backend.AppPassword{AccountID: accountID}, Seed: seed,
		Enrolment: change(backend.ActionTOTPEnroll, subject, "enrol "+subject)}
}

// A batch of grants enrols the accounts that need it and creates one app
// password per grant, the same account's grants counted together, each
// with its records; a grant that only enrols creates no app password.
func grantAppPasswordsCreatesAll(t *testing.T, s backend.Store) {
	alice := mustEnrolled(t, s, "alice")
	bob := mustCreate(t, s, "bob", "bob@example.org")
	// A step left from before the enrolment says nothing of the new seed.
	if _, err := s.AdvanceTOTPStep(t.Context(), bob.ID, 1234); err != nil {
		t.Fatal(err)
	}
	mustApp(t, s, alice.ID, "a0", t0)
	before, err := s.Generation(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	carol := mustCreate(t, s, "carol", "carol@example.org")
	seed, carolSeed := randomBytes(t, 48), randomBytes(t, 48)
	grants := []backend.AppPasswordGrant{
		grant(alice.ID, "alice", "a1", nil),
		grant(bob.ID, "bob", "b1", seed),
		enrolOnly(carol.ID, "carol", carolSeed),
		grant(alice.ID, "alice", "a2", nil),
	}
	grants[3].Creation = nil
	// alice ends at her limit of 3, a0 included.
	if err := s.GrantAppPasswords(t.Context(), grants, 3); err != nil {
		t.Fatalf("GrantAppPasswords: %v", err)
	}
	wantIDs(t, "alice's", activeIDs(t, s, alice.ID), "a0", "a1", "a2")
	wantIDs(t, "bob's", activeIDs(t, s, bob.ID), "b1")
	for _, id := range []string{"a1", "a2"} {
		if p := mustByVerifier(t, s, alice.ID, id); p.ID != id || p.Label != "label "+id || !p.Active() {
			t.Errorf("%s: %+v", id, p)
		}
	}
	b := mustByName(t, s, "bob")
	if !bytes.Equal(b.TOTPSeed, seed) || b.TOTPLastStep != 0 {
		t.Errorf("bob: seed %x, last step %d; want the grant's seed and step 0", b.TOTPSeed, b.TOTPLastStep)
	}
	if after, err := s.Generation(t.Context()); err != nil || after == before {
		t.Errorf("generation %+v after the batch, was %+v (err %v): want it moved", after, before, err)
	}
	if c := mustByName(t, s, "carol"); !bytes.Equal(c.TOTPSeed, carolSeed) || len(activeIDs(t, s, carol.ID)) != 0 {
		t.Errorf("carol: seed %x, app passwords %q; want the grant's seed and none", c.TOTPSeed, activeIDs(t, s, carol.ID))
	}
	if got := oldestFirst(t, s); !slices.Equal(got, []string{"create a1", "enrol for b1", "create b1", "enrol carol"}) {
		t.Errorf("records %q, want each grant's, enrolment first, in the batch's order", got)
	}
	if err := s.GrantAppPasswords(t.Context(), nil, 3); err != nil {
		t.Errorf("GrantAppPasswords of an empty batch: %v", err)
	}
}

// A batch with one grant that cannot be made makes none of them.
func grantAppPasswordsAllOrNone(t *testing.T, s backend.Store) {
	alice := mustEnrolled(t, s, "alice")
	bob := mustCreate(t, s, "bob", "bob@example.org")
	carol := mustCreate(t, s, "carol", "carol@example.org")
	mustApp(t, s, alice.ID, "a0", t0)
	const unknown = 999999
	const limit = 3
	for _, tc := range []struct {
		name   string
		bad    []backend.AppPasswordGrant
		target error
	}{
		{"unknown account", []backend.AppPasswordGrant{grant(unknown, "nobody", "x1", nil)}, backend.ErrNotFound},
		{"unknown account to enrol", []backend.AppPasswordGrant{grant(unknown, "nobody", "x1", randomBytes(t, 48))}, backend.ErrNotFound},
		{"no second factor", []backend.AppPasswordGrant{grant(carol.ID, "carol", "c1", nil)}, backend.ErrSecondFactorRequired},
		{"enrolment of an enrolled account", []backend.AppPasswordGrant{grant(alice.ID, "alice", "a9", randomBytes(t, 48))}, backend.ErrExists},
		{"enrolled twice in the batch", []backend.AppPasswordGrant{
			grant(carol.ID, "carol", "c1", randomBytes(t, 48)), grant(carol.ID, "carol", "c2", randomBytes(t, 48))}, backend.ErrExists},
		{"past the limit with the batch's own", []backend.AppPasswordGrant{
			grant(alice.ID, "alice", "a2", nil), grant(alice.ID, "alice", "a3", nil)}, backend.ErrLimitReached},
		{"id taken", []backend.AppPasswordGrant{grant(alice.ID, "alice", "a0", nil)}, backend.ErrExists},
		{"id twice in the batch", []backend.AppPasswordGrant{
			grant(carol.ID, "carol", "dup", randomBytes(t, 48)), grant(alice.ID, "alice", "dup", nil)}, backend.ErrExists},
		{"empty id", []backend.AppPasswordGrant{grant(alice.ID, "alice", "", nil)}, backend.ErrInvalidInput},
		{"enrolment only of an enrolled account", []backend.AppPasswordGrant{enrolOnly(alice.ID, "alice", randomBytes(t, 48))},
			backend.ErrExists},
		{"enrolment only of an unknown account", []backend.AppPasswordGrant{enrolOnly(unknown, "nobody", randomBytes(t, 48))},
			backend.ErrNotFound},
		{"enrolment only, twice in the batch", []backend.AppPasswordGrant{
			enrolOnly(carol.ID, "carol", randomBytes(t, 48)), enrolOnly(carol.ID, "carol", randomBytes(t, 48))}, backend.ErrExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Good grants before and after the bad ones: an enrolment and
			// a creation.
			grants := append([]backend.AppPasswordGrant{grant(bob.ID, "bob", "b1", randomBytes(t, 48))}, tc.bad...)
			grants = append(grants, grant(alice.ID, "alice", "a1", nil))
			wantErr(t, "GrantAppPasswords", s.GrantAppPasswords(t.Context(), grants, limit), tc.target)
			wantIDs(t, "alice's", activeIDs(t, s, alice.ID), "a0")
			for _, a := range []*backend.Account{bob, carol} {
				if ids := activeIDs(t, s, a.ID); len(ids) != 0 {
					t.Errorf("%s has app passwords %q after a refused batch", a.Name, ids)
				}
				if got := mustByName(t, s, a.Name); got.TOTPEnrolled() {
					t.Errorf("%s enrolled by a refused batch", a.Name)
				}
			}
			if got := mustListAudit(t, s, backend.AuditFilter{}); len(got) != 0 {
				t.Errorf("a refused batch left records %q", details(got))
			}
		})
	}
}
