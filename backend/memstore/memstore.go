// Package memstore is an in-memory backend.Store for fast tests. It follows
// the SQLite store's semantics, including its quirks, so that a test passing
// against it means the same against the real thing: names and mail compare
// case-insensitively in ASCII only (SQLite's NOCASE), an empty mail is no
// mail, and times come back in UTC.
package memstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wicketldap/wicket/backend"
)

var _ backend.Store = (*Store)(nil)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("memstore: closed")

type appPassword struct {
	backend.AppPassword
	verifier string
	seq      uint64 // creation order, to break created_at ties
}

// Store implements backend.Store in memory. Values are copied in and out, so
// callers never share memory with the store.
type Store struct {
	mu       sync.Mutex
	closed   bool
	gen      backend.Generation // moved by every write that can change a bind's answer
	nextID   int64
	nextSeq  uint64
	accounts map[int64]*backend.Account
	byName   map[string]int64 // folded name
	byMail   map[string]int64 // folded mail, only non-empty
	byAlias  map[string]int64 // folded alias
	aliases  map[int64][]string
	groups   map[string]*group // by folded name
	apps     map[string]*appPassword
	byVerif  map[verifierKey]string
	// audit is in insertion order; nextAudit numbers it as rowids would.
	audit     []backend.AuditRecord
	nextAudit int64
	// namespace is the database's, drawn once (backend.Directory).
	namespace backend.UUID
	// entries hold, by account id, what the directory shows beyond the
	// Account a bind reads, as the SQLite store keeps it in columns the
	// bind's query leaves out.
	entries map[int64]*entryFields
}

type entryFields struct {
	uuid     backend.UUID
	modified time.Time
	posix    *backend.Posix
}

type group struct {
	name              string
	members           map[int64]struct{}
	uuid              backend.UUID
	created, modified time.Time
}

// now is the time of modifyTimestamp, which the SQLite store takes from
// its own clock too rather than from the account domain's.
func now() time.Time { return time.Now().UTC() }

type verifierKey struct {
	account  int64
	verifier string
}

// New returns an empty store.
func New() *Store {
	return &Store{
		accounts:  map[int64]*backend.Account{},
		byName:    map[string]int64{},
		byMail:    map[string]int64{},
		byAlias:   map[string]int64{},
		aliases:   map[int64][]string{},
		groups:    map[string]*group{},
		apps:      map[string]*appPassword{},
		byVerif:   map[verifierKey]string{},
		namespace: backend.NewUUID(),
		entries:   map[int64]*entryFields{},
	}
}

// fold mirrors SQLite's NOCASE collation, which folds ASCII letters only;
// strings.EqualFold would also match "É" with "é", which the real store
// keeps apart.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// utc strips the monotonic reading and the location, as a round trip
// through the database does.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// revokedAt keeps a revocation at the zero time a revocation: a zero
// RevokedAt means active. The SQLite store stores it as the Unix epoch.
func revokedAt(at time.Time) time.Time {
	if at.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return at.UTC()
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

func copyAccount(a *backend.Account) *backend.Account {
	c := *a
	c.TOTPSeed = cloneBytes(a.TOTPSeed)
	c.AppPasswordSalt = slices.Clone(a.AppPasswordSalt)
	if c.AppPasswordSalt == nil {
		c.AppPasswordSalt = []byte{}
	}
	return &c
}

func copyPosix(p *backend.Posix) *backend.Posix {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func samePosix(a, b *backend.Posix) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// write is lock for a method that changes what a bind may find.
func (s *Store) write() error {
	if err := s.lock(); err != nil {
		return err
	}
	s.gen = backend.Generation{N: s.gen.N + 1, Stamp: rand.Uint64()}
	return nil
}

// commit ends a change made under write: when it succeeded, the audit
// record ctx carries (backend.WithChange) is appended, as the SQLite store
// inserts it in the change's transaction; then the store is unlocked. n is
// what the record counts (app passwords revoked), nil for none.
func (s *Store) commit(ctx context.Context, err *error, n *int) {
	defer s.mu.Unlock()
	c := backend.ChangeFrom(ctx)
	if *err != nil || c == nil {
		return
	}
	count := 0
	if n != nil {
		count = *n
	}
	s.appendAudit(c.Record(count))
}

func (s *Store) Generation(ctx context.Context) (backend.Generation, error) {
	if err := s.lock(); err != nil {
		return backend.Generation{}, err
	}
	defer s.mu.Unlock()
	return s.gen, nil
}

func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) AccountByName(ctx context.Context, name string) (*backend.Account, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	id, ok := s.byName[fold(name)]
	if !ok {
		return nil, fmt.Errorf("memstore: account %q: %w", name, backend.ErrNotFound)
	}
	return copyAccount(s.accounts[id]), nil
}

func (s *Store) AccountByMail(ctx context.Context, mail string) (*backend.Account, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	id, ok := s.byMail[fold(mail)]
	if !ok {
		id, ok = s.byAlias[fold(mail)]
	}
	if mail == "" || !ok {
		return nil, fmt.Errorf("memstore: account with mail %q: %w", mail, backend.ErrNotFound)
	}
	return copyAccount(s.accounts[id]), nil
}

func (s *Store) ListAccounts(ctx context.Context) ([]backend.Account, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []backend.Account
	for _, a := range s.accounts {
		out = append(out, *copyAccount(a))
	}
	slices.SortFunc(out, func(a, b backend.Account) int {
		return cmp.Or(strings.Compare(fold(a.Name), fold(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *Store) CreateAccount(ctx context.Context, a *backend.Account) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	if err := s.canCreateLocked(a, nil); err != nil {
		return err
	}
	s.createLocked(a)
	return nil
}

func (s *Store) CreateAccounts(ctx context.Context, batch []backend.AccountCreation) error {
	if err := s.write(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	// Everything is checked before anything changes: all or none.
	taken := map[string]bool{}
	for _, c := range batch {
		if err := s.canCreateLocked(c.Account, taken); err != nil {
			return err
		}
		taken["name "+fold(c.Account.Name)] = true
		if c.Account.Mail != "" {
			taken["mail "+fold(c.Account.Mail)] = true
		}
		if !c.Account.KeepUUID.IsZero() {
			taken["uuid "+c.Account.KeepUUID.String()] = true
		}
	}
	for _, c := range batch {
		s.createLocked(c.Account)
		if c.Change != nil {
			s.appendAudit(c.Change.Record(0))
		}
	}
	return nil
}

// canCreateLocked refuses a when its name or mail is taken, by an account
// or by one of a batch (taken, keyed "name "+folded name and "mail
// "+folded mail).
func (s *Store) canCreateLocked(a *backend.Account, taken map[string]bool) error {
	name, mail := fold(a.Name), fold(a.Mail)
	if _, ok := s.byName[name]; ok || taken["name "+name] {
		return fmt.Errorf("memstore: create account %q: name taken: %w", a.Name, backend.ErrExists)
	}
	if u := a.KeepUUID; !u.IsZero() {
		// A scan: only imports keep a UUID, and this store is for tests.
		for id, e := range s.entries {
			if e.uuid == u {
				return fmt.Errorf("memstore: create account %q: entryUUID %s is account %s's: %w",
					a.Name, u, s.accounts[id].Name, backend.ErrUUIDTaken)
			}
		}
		if taken["uuid "+u.String()] {
			return fmt.Errorf("memstore: create account %q: entryUUID %s given twice: %w", a.Name, u, backend.ErrUUIDTaken)
		}
	}
	if mail == "" {
		return nil
	}
	if _, ok := s.byMail[mail]; ok || taken["mail "+mail] {
		return fmt.Errorf("memstore: create account %q: mail taken: %w", a.Name, backend.ErrExists)
	}
	if _, ok := s.byAlias[mail]; ok {
		return fmt.Errorf("memstore: create account %q: mail is an alias: %w", a.Name, backend.ErrExists)
	}
	return nil
}

// createLocked stores a copy of a, checked by canCreateLocked, and fills in
// a.ID.
func (s *Store) createLocked(a *backend.Account) {
	s.nextID++
	c := copyAccount(a)
	c.ID = s.nextID
	// A new account starts with a clean record, as the SQLite columns' defaults give.
	c.PasswordFailures, c.AppPasswordFailures = backend.Failures{}, backend.Failures{}
	c.CreatedAt = utc(a.CreatedAt)
	c.PasswordChangedAt = utc(a.PasswordChangedAt)
	s.accounts[c.ID] = c
	u := a.KeepUUID
	if u.IsZero() {
		u = backend.NewUUID()
	}
	c.KeepUUID = backend.UUID{}
	s.entries[c.ID] = &entryFields{uuid: u, modified: c.CreatedAt}
	s.byName[fold(a.Name)] = c.ID
	if mail := fold(a.Mail); mail != "" {
		s.byMail[mail] = c.ID
	}
	a.ID = c.ID
}

func (s *Store) DeleteAccount(ctx context.Context, id int64) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	a, ok := s.accounts[id]
	if !ok {
		return notFound("delete account", id)
	}
	delete(s.accounts, id)
	delete(s.entries, id)
	delete(s.byName, fold(a.Name))
	if a.Mail != "" {
		delete(s.byMail, fold(a.Mail))
	}
	for _, addr := range s.aliases[id] {
		delete(s.byAlias, fold(addr))
	}
	delete(s.aliases, id)
	for _, g := range s.groups {
		if _, ok := g.members[id]; ok {
			delete(g.members, id)
			g.modified = now()
		}
	}
	for pid, p := range s.apps {
		if p.AccountID == id {
			delete(s.apps, pid)
			delete(s.byVerif, verifierKey{id, p.verifier})
		}
	}
	return nil
}

func notFound(op string, id int64) error {
	return fmt.Errorf("memstore: %s: account %d: %w", op, id, backend.ErrNotFound)
}

func (s *Store) SetDisabled(ctx context.Context, id int64, disabled bool) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	a, ok := s.accounts[id]
	if !ok {
		return notFound("set disabled", id)
	}
	if a.Disabled != disabled {
		a.Disabled, s.entries[id].modified = disabled, now()
	}
	return nil
}

func (s *Store) SetRole(ctx context.Context, id int64, role string) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	a, ok := s.accounts[id]
	if !ok {
		return notFound("set role", id)
	}
	if a.Role != role {
		a.Role, s.entries[id].modified = role, now()
	}
	return nil
}

func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string, revokeAll bool, at time.Time) (revoked int, err error) {
	if err := s.write(); err != nil {
		return 0, err
	}
	defer s.commit(ctx, &err, &revoked)
	a, ok := s.accounts[id]
	if !ok {
		return 0, notFound("set password", id)
	}
	a.PasswordHash = hash
	a.PasswordChangedAt = utc(at)
	if !revokeAll {
		return 0, nil
	}
	return s.revokeAllLocked(id, at), nil
}

func (s *Store) SetTOTPSeed(ctx context.Context, id int64, seed []byte, at time.Time) (revoked int, err error) {
	if err := s.write(); err != nil {
		return 0, err
	}
	defer s.commit(ctx, &err, &revoked)
	a, ok := s.accounts[id]
	if !ok {
		return 0, notFound("set totp seed", id)
	}
	a.TOTPSeed = cloneBytes(seed)
	a.TOTPLastStep = 0
	if len(seed) > 0 {
		return 0, nil
	}
	return s.revokeAllLocked(id, at), nil
}

func (s *Store) AdvanceTOTPStep(ctx context.Context, id int64, step int64) (bool, error) {
	// Bookkeeping: the step decides no cached answer (Store.Generation).
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok || a.TOTPLastStep >= step {
		return false, nil
	}
	a.TOTPLastStep = step
	return true, nil
}

// CreateAppPassword stores p as a new, active and never used app password;
// p's LastUsed and Revoked fields are ignored.
func (s *Store) CreateAppPassword(ctx context.Context, p *backend.AppPassword, verifier []byte, limit int) (err error) {
	if p.ID == "" || len(verifier) == 0 {
		return fmt.Errorf("memstore: create app password: empty id or verifier: %w", backend.ErrInvalidInput)
	}
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	if err := s.canGrantLocked(p, verifier, false, limit, nil); err != nil {
		return err
	}
	s.grantLocked(p, verifier)
	return nil
}

func (s *Store) GrantAppPasswords(ctx context.Context, grants []backend.AppPasswordGrant, limit int) error {
	for _, g := range grants {
		if !g.EnrolOnly() && (g.AppPassword.ID == "" || len(g.Verifier) == 0) {
			return fmt.Errorf("memstore: grant app passwords: empty id or verifier: %w", backend.ErrInvalidInput)
		}
	}
	if err := s.write(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	// Everything is checked, counting the grants before, before anything
	// changes: all or none.
	var b batchGrants
	for i := range grants {
		g := &grants[i]
		var err error
		if g.EnrolOnly() {
			err = s.canEnrolLocked(g.AppPassword.AccountID, &b)
		} else {
			err = s.canGrantLocked(&g.AppPassword, g.Verifier, len(g.Seed) > 0, limit, &b)
		}
		if err != nil {
			return err
		}
		b.add(g)
	}
	for i := range grants {
		g := &grants[i]
		if len(g.Seed) > 0 {
			a := s.accounts[g.AppPassword.AccountID]
			a.TOTPSeed = cloneBytes(g.Seed)
			a.TOTPLastStep = 0
			if g.Enrolment != nil {
				s.appendAudit(g.Enrolment.Record(0))
			}
		}
		if g.EnrolOnly() {
			continue
		}
		s.grantLocked(&g.AppPassword, g.Verifier)
		if g.Creation != nil {
			s.appendAudit(g.Creation.Record(0))
		}
	}
	return nil
}

// canEnrolLocked checks an enrolment alone: the account exists and has no
// second factor, nor one from the batch before.
func (s *Store) canEnrolLocked(id int64, b *batchGrants) error {
	a, ok := s.accounts[id]
	if !ok {
		return notFound("enrol totp", id)
	}
	if len(a.TOTPSeed) > 0 || b.seeded[id] {
		return fmt.Errorf("memstore: enrol totp: account %d already has a second factor: %w", id, backend.ErrExists)
	}
	return nil
}

// batchGrants is what the grants of a batch checked so far will change.
type batchGrants struct {
	seeded map[int64]bool
	active map[int64]int
	ids    map[string]bool
	verifs map[verifierKey]bool
}

func (b *batchGrants) add(g *backend.AppPasswordGrant) {
	if b.seeded == nil {
		b.seeded, b.active, b.ids, b.verifs = map[int64]bool{}, map[int64]int{}, map[string]bool{}, map[verifierKey]bool{}
	}
	id := g.AppPassword.AccountID
	if len(g.Seed) > 0 {
		b.seeded[id] = true
	}
	if g.EnrolOnly() {
		return
	}
	b.active[id]++
	b.ids[g.AppPassword.ID] = true
	b.verifs[verifierKey{id, string(g.Verifier)}] = true
}

// canGrantLocked checks the creation of p, after enrolling its account
// when enrol is set, as CreateAppPassword and GrantAppPasswords document;
// b, when not nil, holds the changes of the grants checked before it.
func (s *Store) canGrantLocked(p *backend.AppPassword, verifier []byte, enrol bool, limit int, b *batchGrants) error {
	if b == nil {
		b = &batchGrants{}
	}
	a, ok := s.accounts[p.AccountID]
	if !ok {
		return notFound("create app password", p.AccountID)
	}
	enrolled := len(a.TOTPSeed) > 0 || b.seeded[p.AccountID]
	if enrol {
		if enrolled {
			return fmt.Errorf("memstore: enrol totp: account %d already has a second factor: %w", p.AccountID, backend.ErrExists)
		}
		enrolled = true
	}
	if !enrolled {
		return backend.ErrSecondFactorRequired
	}
	if active := s.activeLocked(p.AccountID) + b.active[p.AccountID]; active >= limit {
		return fmt.Errorf("memstore: create app password: %d active, limit %d: %w", active, limit, backend.ErrLimitReached)
	}
	key := verifierKey{p.AccountID, string(verifier)}
	if _, taken := s.apps[p.ID]; taken || b.ids[p.ID] {
		return fmt.Errorf("memstore: create app password %q: id taken: %w", p.ID, backend.ErrExists)
	}
	if _, taken := s.byVerif[key]; taken || b.verifs[key] {
		return fmt.Errorf("memstore: create app password %q: verifier taken: %w", p.ID, backend.ErrExists)
	}
	return nil
}

// grantLocked stores p, checked by canGrantLocked, and fills in its UUID.
func (s *Store) grantLocked(p *backend.AppPassword, verifier []byte) {
	s.nextSeq++
	p.UUID = backend.NewUUID()
	s.apps[p.ID] = &appPassword{
		AppPassword: backend.AppPassword{
			ID:        p.ID,
			AccountID: p.AccountID,
			Label:     p.Label,
			CreatedAt: utc(p.CreatedAt),
			UUID:      p.UUID,
		},
		verifier: string(verifier),
		seq:      s.nextSeq,
	}
	s.byVerif[verifierKey{p.AccountID, string(verifier)}] = p.ID
}

func (s *Store) activeLocked(accountID int64) int {
	n := 0
	for _, p := range s.apps {
		if p.AccountID == accountID && p.Active() {
			n++
		}
	}
	return n
}

func (s *Store) AppPasswordByVerifier(ctx context.Context, accountID int64, verifier []byte) (*backend.AppPassword, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	id, ok := s.byVerif[verifierKey{accountID, string(verifier)}]
	if !ok {
		return nil, fmt.Errorf("memstore: app password of account %d: %w", accountID, backend.ErrNoSuchAppPassword)
	}
	p := s.apps[id].AppPassword
	return &p, nil
}

func (s *Store) AppPasswordByUUID(ctx context.Context, u backend.UUID) (*backend.AppPassword, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	for _, p := range s.apps {
		if p.UUID == u && p.Active() {
			c := p.AppPassword
			return &c, nil
		}
	}
	return nil, fmt.Errorf("memstore: app password %s: %w", u, backend.ErrNoSuchAppPassword)
}

func (s *Store) ListAppPasswords(ctx context.Context, accountID int64) ([]backend.AppPassword, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []backend.AppPassword
	for _, p := range s.activeApps() {
		if p.AccountID == accountID {
			out = append(out, p.AppPassword)
		}
	}
	return out, nil
}

func (s *Store) AllAppPasswords(ctx context.Context) (map[int64][]backend.AppPassword, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make(map[int64][]backend.AppPassword)
	for _, p := range s.activeApps() {
		out[p.AccountID] = append(out[p.AccountID], p.AppPassword)
	}
	return out, nil
}

// activeApps is every active app password, oldest first. s.mu is held.
func (s *Store) activeApps() []*appPassword {
	var active []*appPassword
	for _, p := range s.apps {
		if p.Active() {
			active = append(active, p)
		}
	}
	slices.SortFunc(active, func(a, b *appPassword) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.seq, b.seq))
	})
	return active
}

func (s *Store) RevokeAppPassword(ctx context.Context, accountID int64, id string, at time.Time) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	p, ok := s.apps[id]
	if !ok || p.AccountID != accountID || !p.Active() {
		return fmt.Errorf("memstore: revoke app password %q: %w", id, backend.ErrNoSuchAppPassword)
	}
	p.RevokedAt = revokedAt(at)
	return nil
}

func (s *Store) RevokeAppPasswords(ctx context.Context, accountID int64, ids []string, at time.Time) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	for _, id := range ids {
		if p, ok := s.apps[id]; !ok || p.AccountID != accountID || !p.Active() {
			return fmt.Errorf("memstore: revoke app password %q: %w", id, backend.ErrNoSuchAppPassword)
		}
	}
	for _, id := range ids {
		s.apps[id].RevokedAt = revokedAt(at)
	}
	return nil
}

func (s *Store) RevokeAllAppPasswords(ctx context.Context, accountID int64, at time.Time) (revoked int, err error) {
	if err := s.write(); err != nil {
		return 0, err
	}
	defer s.commit(ctx, &err, &revoked)
	return s.revokeAllLocked(accountID, at), nil
}

func (s *Store) revokeAllLocked(accountID int64, at time.Time) int {
	n := 0
	for _, p := range s.apps {
		if p.AccountID == accountID && p.Active() {
			p.RevokedAt = revokedAt(at)
			n++
		}
	}
	return n
}

func (s *Store) RecordAppPasswordUses(ctx context.Context, uses []backend.AppPasswordUse) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, u := range uses {
		p, ok := s.apps[u.ID]
		if !ok || u.At.IsZero() {
			continue
		}
		if p.LastUsedAt.IsZero() || p.LastUsedAt.Before(u.At) {
			p.LastUsedAt = u.At.UTC()
			p.LastUsedFrom = u.From
		}
	}
	return nil
}

// Close makes every later call fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
