package backend

import (
	"context"
	"time"
)

// Generation identifies one state of everything that decides a bind or the
// directory. Two generations are the same state only when they are equal:
// they have no order a cache may rely on.
type Generation struct {
	// N counts the writes that moved the generation.
	N uint64
	// Stamp is drawn at random by every write that moves N. A database
	// restored from an older backup counts from the backup's N again, and
	// may climb back to a number a cache has seen; it never draws the same
	// stamp with it.
	Stamp uint64
}

// Store is the persistence the account domain needs. Implementations must
// make each method atomic: a method either applies fully or not at all.
//
// A change and its audit record are one write (DESIGN.md, Durability). The
// context of a method that changes an account, its app passwords or the
// directory may carry the change's record (ChangeFrom): CreateAccount,
// DeleteAccount, SetDisabled, SetRole, SetPasswordHash, SetTOTPSeed,
// CreateAppPassword, RevokeAppPassword, RevokeAppPasswords,
// RevokeAllAppPasswords, UnlockAccount, SetProfile, SetAliases,
// CreateGroup, DeleteGroup and SetGroupMember then insert c.Record(n) as
// InsertAudit would, atomically with the change: both are committed or
// neither is. n is how many app passwords the call revoked (what
// SetPasswordHash, SetTOTPSeed and RevokeAllAppPasswords return), 0 for the
// others. A call that fails writes no record; the account domain records
// the refusal itself. Other methods are never given one. The batch methods,
// CreateAccounts and GrantAppPasswords, change many accounts at once: they
// take no change from their context but the record of each entry with the
// entry, and insert each in the batch's transaction.
type Store interface {
	// Generation changes whenever a write commits that could change how a
	// bind is answered or what Directory returns (accounts, their app
	// passwords, aliases, groups), whether this process or another made
	// it. It must not change for bookkeeping that decides nothing a cache
	// holds: failure records (RecordAuthFailure, ResetAuthFailures,
	// UnlockAccount), the TOTP step, last-use records and the audit trail;
	// otherwise anyone could flush every cache with a wrong password, and
	// tell real accounts from unknown names by it. A generation once left is
	// never returned again, even after the database is restored from a
	// backup or replaced (Generation.Stamp). The account domain trusts an app
	// password it verified, and a directory snapshot, only while the
	// generation they were read in lasts.
	Generation(ctx context.Context) (Generation, error)
	// AccountByName and AccountByMail return ErrNotFound when absent.
	// Names and mail addresses compare case-insensitively; AccountByMail
	// matches the primary address or an alias.
	AccountByName(ctx context.Context, name string) (*Account, error)
	AccountByMail(ctx context.Context, mail string) (*Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// CreateAccount fills in a.ID; ErrExists when the name or mail is
	// taken. The account gets a new random UUID, and no POSIX attributes
	// (SetProfile gives them).
	CreateAccount(ctx context.Context, a *Account) error
	// CreateAccounts creates the accounts of batch in one transaction, all
	// or none, as CreateAccount would one after another: it fills in each
	// Account.ID, and inserts the record of each entry's Change (when not
	// nil; Record(0)) with its account. ErrExists when a name or mail is
	// taken, by an existing account or an earlier one of the batch; then
	// no account is created and no record written.
	CreateAccounts(ctx context.Context, batch []AccountCreation) error
	DeleteAccount(ctx context.Context, id int64) error
	SetDisabled(ctx context.Context, id int64, disabled bool) error
	SetRole(ctx context.Context, id int64, role string) error

	// SetPasswordHash replaces the primary password hash. With revokeAll it
	// also revokes every active app password in the same transaction and
	// returns how many it revoked.
	SetPasswordHash(ctx context.Context, id int64, hash string, revokeAll bool, at time.Time) (revoked int, err error)
	// SetTOTPSeed enrols (seed != nil) or removes (seed == nil) the second
	// factor and resets the last accepted step. Removing it also revokes
	// every active app password, in the same transaction.
	SetTOTPSeed(ctx context.Context, id int64, seed []byte, at time.Time) (revoked int, err error)
	// ResealTOTPSeeds replaces every stored TOTP seed with reseal's result,
	// in one transaction, and returns how many it replaced (key rotation);
	// the change's record counts them.
	ResealTOTPSeeds(ctx context.Context, reseal func(accountID int64, sealed []byte) ([]byte, error)) (int, error)
	// AdvanceTOTPStep records step as the last accepted one if and only if it
	// is later than the stored one, atomically: of two callers with the same
	// step exactly one gets true.
	AdvanceTOTPStep(ctx context.Context, id int64, step int64) (bool, error)

	// CreateAppPassword stores p with its verifier, and fills in p.UUID
	// with a new random one, unless the account already
	// has limit active app passwords (ErrLimitReached) or has no TOTP seed
	// (ErrSecondFactorRequired), both checked in the same transaction as the
	// insert. ErrExists means the id is taken.
	CreateAppPassword(ctx context.Context, p *AppPassword, verifier []byte, limit int) error
	// GrantAppPasswords creates the app password of each grant, in one
	// transaction, all or none, filling in each one's UUID. A grant with a non-empty Seed first enrols
	// its account as SetTOTPSeed would; the account must have no seed then
	// (ErrExists), so that an enrolment made meanwhile is never replaced.
	// Each creation is checked as CreateAppPassword checks it, counting
	// the grants before it in the batch: ErrNotFound,
	// ErrSecondFactorRequired, ErrLimitReached, ErrExists for a taken id.
	// Each grant's records (Enrolment, Creation, when not nil; Record(0))
	// are inserted with it. A grant that only enrols (EnrolOnly) creates
	// nothing else. On any error nothing is changed and no record written.
	GrantAppPasswords(ctx context.Context, grants []AppPasswordGrant, limit int) error
	// AppPasswordByVerifier finds an app password, active or revoked, by its
	// verifier: one indexed lookup whatever the number of app passwords.
	AppPasswordByVerifier(ctx context.Context, accountID int64, verifier []byte) (*AppPassword, error)
	// AppPasswordByUUID finds an active app password by its UUID (the
	// entryUUID a search asks for): one indexed lookup.
	// ErrNoSuchAppPassword when no active one has it.
	AppPasswordByUUID(ctx context.Context, u UUID) (*AppPassword, error)
	// ListAppPasswords returns the active app passwords of an account, oldest first.
	ListAppPasswords(ctx context.Context, accountID int64) ([]AppPassword, error)
	// AllAppPasswords returns every account's active app passwords by
	// account ID, each list oldest first, in one read: what a search over
	// many accounts needs, instead of one query per account.
	AllAppPasswords(ctx context.Context) (map[int64][]AppPassword, error)
	// RevokeAppPassword returns ErrNoSuchAppPassword unless id is an active
	// app password of that account.
	RevokeAppPassword(ctx context.Context, accountID int64, id string, at time.Time) error
	// RevokeAppPasswords revokes several at once, all or none: unless every
	// id is an active app password of the account it revokes nothing and
	// returns ErrNoSuchAppPassword. Repeated ids count once.
	RevokeAppPasswords(ctx context.Context, accountID int64, ids []string, at time.Time) error
	RevokeAllAppPasswords(ctx context.Context, accountID int64, at time.Time) (int, error)
	// SetProfile replaces the profile attributes, the POSIX attributes
	// (nil: none) and the primary mail address (ErrExists when another
	// account has it as mail or alias).
	SetProfile(ctx context.Context, id int64, p Profile) error
	// SetAliases replaces the account's aliases, all or none. ErrExists when
	// one is another account's mail or alias; an alias equal to the
	// account's own mail is ErrInvalidInput. Addresses compare
	// case-insensitively.
	SetAliases(ctx context.Context, id int64, aliases []string) error
	// CreateGroup: ErrExists when the name is taken (case-insensitively).
	CreateGroup(ctx context.Context, name string) error
	// DeleteGroup: ErrNotFound when there is no such group.
	DeleteGroup(ctx context.Context, name string) error
	// SetGroupMember adds (member) or removes the account; adding twice or
	// removing a non-member is not an error. ErrNotFound for an unknown group
	// or account.
	SetGroupMember(ctx context.Context, group string, accountID int64, member bool) error
	// Directory reads all accounts (ordered by name), aliases and groups in
	// one read transaction, with the mark of the change log it reflects
	// and the database's namespace.
	//
	// The UUID of an account, app password or group never changes once it
	// is created. ModifiedAt moves, by the store's own clock, when what the
	// directory shows of the account or group changes: an account's
	// profile, aliases, groups, role and state, a group's members. Nothing
	// that leaves Generation alone moves it, nor do passwords, second
	// factors and app passwords.
	// It makes a fixed number of queries, whatever the number of accounts.
	Directory(ctx context.Context) (*Directory, error)
	// DirectoryChanges reads, in one read transaction, what changed in the
	// directory after mark: every account whose row, aliases or group
	// memberships were written since (as it is now, or as gone) and, when a
	// group or membership changed, every group. It returns nil, nil when
	// the log cannot say: the mark is not in it (pruned, or the database was
	// restored or replaced), or too much changed for a delta to be cheaper
	// than Directory; the caller then reads the whole directory.
	DirectoryChanges(ctx context.Context, mark ChangeMark) (*DirectoryChanges, error)
	// DirectoryAccounts reads the directory's view of the accounts ids, as
	// DirectoryChanges reports changed ones (Accounts, Aliases, Groups,
	// Gone), without reading the others: what one command needs of one
	// account in a directory of any size.
	DirectoryAccounts(ctx context.Context, ids []int64) (*DirectoryChanges, error)
	// PruneDirectoryChanges forgets the log's entries but the newest keep.
	// A reader whose mark was forgotten reads the whole directory again.
	PruneDirectoryChanges(ctx context.Context, keep int) error

	// RecordAppPasswordUses writes a batch of last-used records.
	RecordAppPasswordUses(ctx context.Context, uses []AppPasswordUse) error

	// RecordAuthFailure counts one failed bind on path, atomically: it
	// replaces the path's record r with r.After(at, policy) and returns the
	// new record, so that of parallel callers none is lost. ErrNotFound for
	// an unknown account.
	RecordAuthFailure(ctx context.Context, id int64, path AuthPath, at time.Time, policy LockoutPolicy) (Failures, error)
	// ResetAuthFailures clears the record of path: a success after failures.
	ResetAuthFailures(ctx context.Context, id int64, path AuthPath) error
	// UnlockAccount clears the records of both paths in one write.
	UnlockAccount(ctx context.Context, id int64) error

	// InsertAudit appends a batch of audit records, all or none; the store
	// assigns their IDs, in the batch's order.
	InsertAudit(ctx context.Context, recs []AuditRecord) error
	// ListAudit returns the records f selects, newest first; records of
	// the same instant, the later inserted first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// PruneAudit deletes at most limit of the records older than before,
	// the oldest first, and says how many it deleted.
	PruneAudit(ctx context.Context, before time.Time, limit int) (int, error)

	Close() error
}
