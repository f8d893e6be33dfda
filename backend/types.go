package backend

import "time"

// Roles an account can hold.
const (
	RoleUser    = "user"
	RoleService = "service"
	RoleAdmin   = "admin"
)

// Account is one user as the store keeps it. Secrets are kept in the forms
// the store may hold: a PHC argon2id string and a sealed TOTP seed.
type Account struct {
	ID       int64
	Name     string
	Mail     string
	Role     string
	Disabled bool
	// PasswordHash is a PHC string ("$argon2id$v=19$m=…"), or a hash
	// imported from another directory ("{SSHA}…", see hashimport.go) until
	// the first successful bind replaces it; empty means no primary password
	// has been set and password binds always fail.
	PasswordHash string
	// TOTPSeed is the sealed (encrypted) seed; nil when not enrolled.
	TOTPSeed []byte
	// TOTPLastStep is the last accepted time step; only later steps pass.
	TOTPLastStep int64
	// Profile attributes served in the directory.
	GivenName   string
	Surname     string
	DisplayName string
	// AppPasswordSalt is the per-account salt of app-password verifiers.
	AppPasswordSalt   []byte
	CreatedAt         time.Time
	PasswordChangedAt time.Time
	// PasswordFailures and AppPasswordFailures are the failure records of
	// the two paths into the account, read with it so that an ordinary
	// bind costs no extra query. CreateAccount ignores them.
	PasswordFailures    Failures
	AppPasswordFailures Failures
	// Unlocks counts UnlockAccount calls. A server keeps locks per client
	// source in memory; a different count read with the account means an
	// administrator lifted them, from whichever process.
	Unlocks int64
	// KeepUUID is read by CreateAccount only: the entryUUID an imported
	// entry had in its old directory, kept so that clients that know users
	// by it (Nextcloud, SSSD) see the same users; zero draws a new one.
	// Taken by another account, the creation fails with ErrUUIDTaken.
	KeepUUID UUID
}

// Posix is an account's RFC 2307 attributes, for systems that resolve mail
// users as system users (nslcd, SSSD, Dovecot with system uids). The
// directory serves them, as the auxiliary class posixAccount, only as a
// whole: UIDNumber, GIDNumber and HomeDirectory are always set together
// (ValidatePosix); LoginShell may be empty.
type Posix struct {
	UIDNumber     uint32 `json:"uid_number"`
	GIDNumber     uint32 `json:"gid_number"`
	HomeDirectory string `json:"home_directory"`
	LoginShell    string `json:"login_shell,omitempty"`
}

// TOTPEnrolled reports whether the account has a second factor.
func (a *Account) TOTPEnrolled() bool { return len(a.TOTPSeed) > 0 }

// AppPassword is the public record of an app-specific password. The secret
// itself is never stored, only its verifier.
type AppPassword struct {
	ID           string
	AccountID    int64
	Label        string
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero when never used
	LastUsedFrom string
	RevokedAt    time.Time // zero while active
	// UUID is the entryUUID of its entry, drawn when it is created (the
	// store fills it in).
	UUID UUID
}

// Active reports whether the app password still authenticates.
func (p *AppPassword) Active() bool { return p.RevokedAt.IsZero() }

// AccountCreation is one account of Store.CreateAccounts with the record of
// its creation (nil for none).
type AccountCreation struct {
	Account *Account
	Change  *Change
}

// AppPasswordGrant is one entry of Store.GrantAppPasswords: an app password
// to create with its verifier, after enrolling the account's second factor
// when Seed is not empty, and the records of both. A grant with a Seed and
// no app password (an empty ID, no Verifier; AppPassword.AccountID names
// the account) only enrols: a first enrolment of many accounts at once.
type AppPasswordGrant struct {
	// AppPassword is the one to create, as CreateAppPassword takes it.
	AppPassword AppPassword
	Verifier    []byte
	// Seed, when not empty, is a sealed TOTP seed to enrol the account
	// with first.
	Seed []byte
	// Enrolment and Creation are the records of the enrolment and of the
	// creation, nil for none.
	Enrolment, Creation *Change
}

// EnrolOnly reports whether g enrols its account without creating an app
// password.
func (g *AppPasswordGrant) EnrolOnly() bool {
	return g.AppPassword.ID == "" && len(g.Verifier) == 0 && len(g.Seed) > 0
}

// AppPasswordUse is one successful bind with an app password, recorded off
// the bind path and written in batches.
type AppPasswordUse struct {
	ID   string
	At   time.Time
	From string
}

// Method says how a principal authenticated.
type Method string

const (
	MethodPasswordTOTP Method = "password+totp"
	MethodPassword     Method = "password"
	MethodAppPassword  Method = "app-password"
	MethodSASLExternal Method = "sasl-external" // a TLS client certificate (service accounts)
)

// Principal is the outcome of a successful authentication.
type Principal struct {
	Name   string
	Role   string
	Method Method
	// AppPasswordID is set when Method is MethodAppPassword.
	AppPasswordID string
	// Admin, when set, is the administrator who authenticated and acts as
	// Name (a SASL authorization identity): the actor of what the session
	// changes.
	Admin string
}

// Profile is the part of an account an administrator edits with
// `wicket user set`. Mail is the primary address; Aliases are further
// addresses delivered to the same mailbox (mailAlternateAddress).
type Profile struct {
	Mail        string
	GivenName   string
	Surname     string
	DisplayName string
	// Posix is nil for none.
	Posix *Posix
}

// Group is a named set of accounts (groupOfNames).
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"` // account names, sorted
	// UUID, CreatedAt and ModifiedAt are the entry's entryUUID,
	// createTimestamp and modifyTimestamp, which the store keeps: a new
	// member or one leaving moves ModifiedAt.
	UUID       UUID      `json:"uuid"`
	CreatedAt  time.Time `json:"created_at"`
	ModifiedAt time.Time `json:"modified_at"`
}

// DirAccount is what the directory shows of an account. It holds no
// secret: no password hash, TOTP seed, salt or failure record ever leaves
// the account domain through the directory.
type DirAccount struct {
	ID          int64
	Name        string
	Mail        string
	Role        string
	Disabled    bool
	GivenName   string
	Surname     string
	DisplayName string
	CreatedAt   time.Time
	// ModifiedAt is when what the directory serves of the account last
	// changed (modifyTimestamp): its profile, aliases, groups, role or
	// state; never bookkeeping. A new account's is its CreatedAt.
	//
	// UUID is the account's entryUUID: drawn at random when the row is
	// created, never changed, never reused; kept as its 16 bytes rather
	// than 36 characters of text (a string would also cost a header and
	// an allocation per account).
	//
	// Account, what a bind reads, has neither, nor the POSIX attributes:
	// every column a bind reads for a real account is time that an unknown
	// name does not take.
	ModifiedAt time.Time
	UUID       UUID
	// Posix is shared, never modified; nil for most accounts, which so
	// pay 8 bytes for it.
	Posix *Posix
}

// Directory is every account with its aliases and every group, read in one
// consistent snapshot, and the place in the store's log of directory
// changes it reflects (Store.DirectoryChanges).
type Directory struct {
	Accounts []DirAccount
	// Aliases and Groups by account id; Groups lists group names.
	Aliases map[int64][]string
	Groups  map[int64][]string
	// AllGroups are the groups themselves, by name.
	AllGroups []Group
	Mark      ChangeMark
	// Namespace is drawn once per database: the entries that have no row
	// (the naming context, ou=people, ou=groups, cn=Subschema) take their
	// entryUUID from it and their DN (NameUUID), so theirs stay the same
	// across restarts and differ between databases.
	Namespace UUID
}

// ChangeMark is a place in the store's log of directory changes. Like a
// Generation it is compared for equality only: Tag is drawn at random with
// each entry, so a restored or replaced database never repeats a mark.
type ChangeMark struct {
	Seq int64
	Tag int64
}

// DirectoryChanges is what changed in the directory after a mark: the
// accounts written since, as they are now, and the groups.
type DirectoryChanges struct {
	// Accounts are the changed accounts that exist, ordered by name, with
	// their aliases and groups in the maps (an account without any has no
	// key there).
	Accounts []DirAccount
	Aliases  map[int64][]string
	Groups   map[int64][]string
	// Gone are the changed accounts that no longer exist.
	Gone []int64
	// AllGroups is every group when a group or a membership changed, nil
	// when none did.
	AllGroups []Group
	Mark      ChangeMark
}

// UserInfo is what administration shows of an account: never a secret.
type UserInfo struct {
	Name               string    `json:"name"`
	Mail               string    `json:"mail,omitempty"`
	Aliases            []string  `json:"aliases,omitempty"`
	GivenName          string    `json:"given_name,omitempty"`
	Surname            string    `json:"surname,omitempty"`
	DisplayName        string    `json:"display_name,omitempty"`
	Posix              *Posix    `json:"posix,omitempty"`
	Groups             []string  `json:"groups,omitempty"`
	Role               string    `json:"role"`
	UUID               UUID      `json:"uuid,omitzero"`
	Disabled           bool      `json:"disabled"`
	TOTPEnrolled       bool      `json:"totp_enrolled"`
	HasPassword        bool      `json:"has_password"`
	ActiveAppPasswords int       `json:"active_app_passwords"`
	CreatedAt          time.Time `json:"created_at"`
	PasswordChangedAt  time.Time `json:"password_changed_at"`
	// PasswordLockout is the account's failed password binds in force,
	// from all client sources, and its lock if any. App passwords are
	// never locked; locks of single client sources live in the server.
	PasswordLockout LockState `json:"password_lockout"`

	// Upstream: the primary password is kept in the upstream directory;
	// UpstreamDisabled: the upstream refused the user when last read.
	Upstream         bool `json:"upstream,omitempty"`
	UpstreamDisabled bool `json:"upstream_disabled,omitempty"`
}
