package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema steps, in order. The database's PRAGMA
// user_version counts how many have been applied, so a step, once released,
// is never edited: a change is a new step appended at the end.
var migrations = []string{
	// 1: accounts and app passwords.
	`
CREATE TABLE accounts (
	id                  INTEGER PRIMARY KEY,
	name                TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	mail                TEXT    COLLATE NOCASE,
	role                TEXT    NOT NULL,
	disabled            INTEGER NOT NULL,
	password_hash       TEXT    NOT NULL,
	totp_seed           BLOB,
	totp_last_step      INTEGER NOT NULL DEFAULT 0,
	apppw_salt          BLOB    NOT NULL,
	created_at          INTEGER NOT NULL,
	password_changed_at INTEGER NOT NULL
);

-- Accounts without a mail address are many; only real addresses must be unique.
CREATE UNIQUE INDEX accounts_mail ON accounts (mail) WHERE mail IS NOT NULL AND mail <> '';

CREATE TABLE app_passwords (
	id             TEXT    NOT NULL PRIMARY KEY,
	account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	label          TEXT    NOT NULL,
	verifier       BLOB    NOT NULL,
	created_at     INTEGER NOT NULL,
	last_used_at   INTEGER,
	last_used_from TEXT,
	revoked_at     INTEGER
);

-- The bind path: one derivation, then one probe of this index.
CREATE UNIQUE INDEX app_passwords_verifier ON app_passwords (account_id, verifier);
-- Listing, counting against the limit and revoking the active ones.
CREATE INDEX app_passwords_active ON app_passwords (account_id, revoked_at);
`,
	// 2: profile attributes, mail aliases and groups.
	`
ALTER TABLE accounts ADD COLUMN given_name   TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN surname      TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN display_name TEXT NOT NULL DEFAULT '';

-- An address belongs to at most one account, as its mail or as an alias.
-- The key enforces it among aliases; against accounts.mail, the writing
-- transactions check it, as no constraint spans two tables.
CREATE TABLE aliases (
	address    TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
	account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE
);
-- Replacing an account's aliases, and the cascade when it is deleted.
CREATE INDEX aliases_account ON aliases (account_id);

CREATE TABLE groups (
	id   INTEGER PRIMARY KEY,
	name TEXT    NOT NULL UNIQUE COLLATE NOCASE
);

CREATE TABLE group_members (
	group_id   INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, account_id)
) WITHOUT ROWID;
-- The cascade when an account is deleted.
CREATE INDEX group_members_account ON group_members (account_id);
`,
	// 3: failed binds, counted apart on the password path and on the
	// app-password path (lockout). Columns rather than a table: the bind
	// reads them with the account, in the query it makes anyway, and they
	// are written only when a bind fails or first succeeds after failures.
	// Times are Unix nanoseconds, 0 for none.
	`
ALTER TABLE accounts ADD COLUMN password_failures     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN password_failed_at    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN password_locked_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN apppw_failures        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN apppw_failed_at       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN apppw_locked_until    INTEGER NOT NULL DEFAULT 0;
`,
	// 4: the audit trail. No foreign key to accounts: a record outlives
	// the account it names, and a failed bind may name none. Times are
	// Unix nanoseconds.
	`
CREATE TABLE audit (
	id      INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	actor   TEXT,
	action  TEXT    NOT NULL,
	subject TEXT,
	method  TEXT,
	remote  TEXT,
	result  TEXT    NOT NULL,
	detail  TEXT
);
-- Listing newest first, and pruning the oldest.
CREATE INDEX audit_at ON audit (at);
-- Listing one account's records.
CREATE INDEX audit_subject ON audit (subject, at);
`,
	// 5: a counter that every write deciding a bind or changing the
	// directory moves, kept by triggers so that writes from any process,
	// the command line's included, move it. Recording when an app
	// password was last used does not: the bind path writes that all the
	// time, and it decides nothing and is no part of the snapshot.
	`
CREATE TABLE generation (n INTEGER NOT NULL);
INSERT INTO generation (n) VALUES (0);
CREATE TRIGGER generation_accounts_insert AFTER INSERT ON accounts
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_accounts_update AFTER UPDATE ON accounts
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_accounts_delete AFTER DELETE ON accounts
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_app_passwords_insert AFTER INSERT ON app_passwords
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_app_passwords_update
	AFTER UPDATE OF id, account_id, verifier, created_at, revoked_at ON app_passwords
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_app_passwords_delete AFTER DELETE ON app_passwords
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_aliases_insert AFTER INSERT ON aliases
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_aliases_update AFTER UPDATE ON aliases
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_aliases_delete AFTER DELETE ON aliases
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_groups_insert AFTER INSERT ON groups
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_groups_update AFTER UPDATE ON groups
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_groups_delete AFTER DELETE ON groups
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_group_members_insert AFTER INSERT ON group_members
	BEGIN UPDATE generation SET n = n + 1; END;
CREATE TRIGGER generation_group_members_delete AFTER DELETE ON group_members
	BEGIN UPDATE generation SET n = n + 1; END;
`,
	// 6: identical successful binds written as one record with a count.
	`
ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
`,
	// 7: the generation moves only for what decides a bind or the
	// directory, and carries a random stamp.
	//
	// Step 5 moved it on every update of an account, so a failed bind on a
	// real account (its failure count) or a password+code bind (its TOTP
	// step) flushed every cache, and, since a failed bind on an unknown
	// name writes nothing, told the two apart. Now the columns of failure
	// records, the TOTP step and the unlock count move nothing.
	//
	// A restored backup counts from its older n again; a cache that saw n
	// before the restore must not take the same n after it for the same
	// state. Every write that moves n draws a new stamp, which a restore
	// cannot reproduce. The stamp trigger fires on n alone and writes only
	// stamp, so it never fires itself.
	`
ALTER TABLE generation ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
UPDATE generation SET stamp = random();
CREATE TRIGGER generation_stamp AFTER UPDATE OF n ON generation
	BEGIN UPDATE generation SET stamp = random(); END;
DROP TRIGGER generation_accounts_update;
CREATE TRIGGER generation_accounts_update
	AFTER UPDATE OF id, name, mail, role, disabled, password_hash, totp_seed, apppw_salt, created_at,
		password_changed_at, given_name, surname, display_name ON accounts
	BEGIN UPDATE generation SET n = n + 1; END;
-- Counts administrative unlocks, so that a server sees an unlock made by
-- another process and drops the locks it keeps in memory per client.
ALTER TABLE accounts ADD COLUMN unlocks INTEGER NOT NULL DEFAULT 0;
`,
	// 8: a log of what changed in the directory, so that a server keeps
	// its copy of the directory by applying the changes since it last read
	// instead of reading everything again (a hundred thousand accounts
	// for one changed alias). Triggers fill it, so writes from any process
	// are logged. Each entry draws a random tag: a reader checks that the
	// entry it read last is still there with its tag, which a restored or
	// replaced database cannot reproduce. The first entry stands for the
	// directory as it was before the log began.
	`
CREATE TABLE dir_changes (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	tag        INTEGER NOT NULL DEFAULT (random()),
	account_id INTEGER,
	group_id   INTEGER
);
INSERT INTO dir_changes (account_id, group_id) VALUES (NULL, NULL);
CREATE TRIGGER dir_accounts_insert AFTER INSERT ON accounts
	BEGIN INSERT INTO dir_changes (account_id) VALUES (NEW.id); END;
CREATE TRIGGER dir_accounts_update
	AFTER UPDATE OF id, name, mail, role, disabled, given_name, surname, display_name, created_at ON accounts
	BEGIN INSERT INTO dir_changes (account_id) VALUES (OLD.id); INSERT INTO dir_changes (account_id) VALUES (NEW.id); END;
CREATE TRIGGER dir_accounts_delete AFTER DELETE ON accounts
	BEGIN INSERT INTO dir_changes (account_id) VALUES (OLD.id); END;
CREATE TRIGGER dir_aliases_insert AFTER INSERT ON aliases
	BEGIN INSERT INTO dir_changes (account_id) VALUES (NEW.account_id); END;
CREATE TRIGGER dir_aliases_update AFTER UPDATE ON aliases
	BEGIN INSERT INTO dir_changes (account_id) VALUES (OLD.account_id); INSERT INTO dir_changes (account_id) VALUES (NEW.account_id); END;
CREATE TRIGGER dir_aliases_delete AFTER DELETE ON aliases
	BEGIN INSERT INTO dir_changes (account_id) VALUES (OLD.account_id); END;
CREATE TRIGGER dir_groups_insert AFTER INSERT ON groups
	BEGIN INSERT INTO dir_changes (group_id) VALUES (NEW.id); END;
CREATE TRIGGER dir_groups_update AFTER UPDATE ON groups
	BEGIN INSERT INTO dir_changes (group_id) VALUES (NEW.id); END;
CREATE TRIGGER dir_groups_delete AFTER DELETE ON groups
	BEGIN INSERT INTO dir_changes (group_id) VALUES (OLD.id); END;
CREATE TRIGGER dir_group_members_insert AFTER INSERT ON group_members
	BEGIN INSERT INTO dir_changes (account_id, group_id) VALUES (NEW.account_id, NEW.group_id); END;
CREATE TRIGGER dir_group_members_delete AFTER DELETE ON group_members
	BEGIN INSERT INTO dir_changes (account_id, group_id) VALUES (OLD.account_id, OLD.group_id); END;
`,
	// 9: entryUUID and modifyTimestamp (RFC 4530, RFC 4512 3.4).
	//
	// Every account, app password and group gets a random (version 4)
	// UUID with its row; the rows that exist get one each here (RFC 9562
	// 5.4's layout, assembled from independent random pieces so that each
	// row draws its own). Triggers keep it from ever changing, and from
	// being left out.
	//
	// modified_at moves, by trigger, when what the entry serves changes:
	// for an account its profile, role, state, aliases and groups, for a
	// group its members; never for failure records, TOTP steps or last
	// uses. Rows that exist take the time of this step: when they last
	// changed is not known, and no later change can be older. The groups'
	// triggers of steps 5 and 8 fired on any column; a group's own
	// modified_at must not count as a change of the directory.
	//
	// The naming context, ou=people, ou=groups and cn=Subschema have no
	// row: their UUIDs are name-based, in a namespace drawn once here.
	`
ALTER TABLE accounts ADD COLUMN uuid BLOB;
ALTER TABLE accounts ADD COLUMN modified_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE app_passwords ADD COLUMN uuid BLOB;
ALTER TABLE groups ADD COLUMN uuid BLOB;
ALTER TABLE groups ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN modified_at INTEGER NOT NULL DEFAULT 0;

UPDATE accounts SET uuid = ` + sqlRandomUUID + `, modified_at = ` + sqlNow + `;
UPDATE app_passwords SET uuid = ` + sqlRandomUUID + `;
UPDATE groups SET uuid = ` + sqlRandomUUID + `, created_at = ` + sqlNow + `, modified_at = ` + sqlNow + `;
CREATE UNIQUE INDEX accounts_uuid ON accounts (uuid);
CREATE UNIQUE INDEX app_passwords_uuid ON app_passwords (uuid);
CREATE UNIQUE INDEX groups_uuid ON groups (uuid);

CREATE TRIGGER accounts_uuid_given BEFORE INSERT ON accounts WHEN length(NEW.uuid) IS NOT 16
	BEGIN SELECT RAISE(ABORT, 'an account needs a 16-byte uuid'); END;
CREATE TRIGGER accounts_uuid_fixed BEFORE UPDATE OF uuid ON accounts WHEN NEW.uuid IS NOT OLD.uuid
	BEGIN SELECT RAISE(ABORT, 'an account''s uuid never changes'); END;
CREATE TRIGGER app_passwords_uuid_given BEFORE INSERT ON app_passwords WHEN length(NEW.uuid) IS NOT 16
	BEGIN SELECT RAISE(ABORT, 'an app password needs a 16-byte uuid'); END;
CREATE TRIGGER app_passwords_uuid_fixed BEFORE UPDATE OF uuid ON app_passwords WHEN NEW.uuid IS NOT OLD.uuid
	BEGIN SELECT RAISE(ABORT, 'an app password''s uuid never changes'); END;
CREATE TRIGGER groups_uuid_given BEFORE INSERT ON groups WHEN length(NEW.uuid) IS NOT 16
	BEGIN SELECT RAISE(ABORT, 'a group needs a 16-byte uuid'); END;
CREATE TRIGGER groups_uuid_fixed BEFORE UPDATE OF uuid ON groups WHEN NEW.uuid IS NOT OLD.uuid
	BEGIN SELECT RAISE(ABORT, 'a group''s uuid never changes'); END;

CREATE TRIGGER modified_accounts AFTER UPDATE OF name, mail, role, disabled, given_name, surname, display_name ON accounts
	WHEN OLD.name IS NOT NEW.name COLLATE BINARY OR OLD.mail IS NOT NEW.mail COLLATE BINARY OR OLD.role IS NOT NEW.role
		OR OLD.disabled IS NOT NEW.disabled OR OLD.given_name IS NOT NEW.given_name
		OR OLD.surname IS NOT NEW.surname OR OLD.display_name IS NOT NEW.display_name
	BEGIN UPDATE accounts SET modified_at = ` + sqlNow + ` WHERE id = NEW.id; END;
CREATE TRIGGER modified_aliases_insert AFTER INSERT ON aliases
	BEGIN UPDATE accounts SET modified_at = ` + sqlNow + ` WHERE id = NEW.account_id; END;
CREATE TRIGGER modified_aliases_update AFTER UPDATE ON aliases
	BEGIN UPDATE accounts SET modified_at = ` + sqlNow + ` WHERE id IN (OLD.account_id, NEW.account_id); END;
CREATE TRIGGER modified_aliases_delete AFTER DELETE ON aliases
	BEGIN UPDATE accounts SET modified_at = ` + sqlNow + ` WHERE id = OLD.account_id; END;
CREATE TRIGGER modified_group_members_insert AFTER INSERT ON group_members
	BEGIN
		UPDATE accounts SET modified_at = ` + sqlNow + ` WHERE id = NEW.account_id;
		UPDATE groups SET modified_at = ` + sqlNow + ` WHERE id = NEW.group_id;
	END;
CREATE TRIGGER modified_group_members_delete AFTER DELETE ON group_members
	BEGIN
		UPDATE accounts SET modified_at = ` + sqlNow + ` WHERE id = OLD.account_id;
		UPDATE groups SET modified_at = ` + sqlNow + ` WHERE id = OLD.group_id;
	END;
CREATE TRIGGER modified_groups AFTER UPDATE OF name ON groups WHEN OLD.name IS NOT NEW.name
	BEGIN UPDATE groups SET modified_at = ` + sqlNow + ` WHERE id = NEW.id; END;

DROP TRIGGER generation_groups_update;
CREATE TRIGGER generation_groups_update AFTER UPDATE OF id, name, uuid, created_at ON groups
	BEGIN UPDATE generation SET n = n + 1; END;
DROP TRIGGER dir_groups_update;
CREATE TRIGGER dir_groups_update AFTER UPDATE OF id, name, uuid, created_at ON groups
	BEGIN INSERT INTO dir_changes (group_id) VALUES (NEW.id); END;

CREATE TABLE directory_namespace (uuid BLOB NOT NULL);
INSERT INTO directory_namespace (uuid) VALUES (randomblob(16));
`,
	// 10: POSIX attributes (RFC 2307 posixAccount), NULL for none. They
	// are part of what the directory serves: they move the generation,
	// the log of changes and modified_at like the profile.
	`
ALTER TABLE accounts ADD COLUMN uid_number     INTEGER;
ALTER TABLE accounts ADD COLUMN gid_number     INTEGER;
ALTER TABLE accounts ADD COLUMN home_directory TEXT;
ALTER TABLE accounts ADD COLUMN login_shell    TEXT;

DROP TRIGGER generation_accounts_update;
CREATE TRIGGER generation_accounts_update
	AFTER UPDATE OF id, name, mail, role, disabled, password_hash, totp_seed, apppw_salt, created_at,
		password_changed_at, given_name, surname, display_name,
		uid_number, gid_number, home_directory, login_shell ON accounts
	BEGIN UPDATE generation SET n = n + 1; END;
DROP TRIGGER dir_accounts_update;
CREATE TRIGGER dir_accounts_update
	AFTER UPDATE OF id, name, mail, role, disabled, given_name, surname, display_name, created_at,
		uid_number, gid_number, home_directory, login_shell ON accounts
	BEGIN INSERT INTO dir_changes (account_id) VALUES (OLD.id); INSERT INTO dir_changes (account_id) VALUES (NEW.id); END;
DROP TRIGGER modified_accounts;
CREATE TRIGGER modified_accounts
	AFTER UPDATE OF name, mail, role, disabled, given_name, surname, display_name,
		uid_number, gid_number, home_directory, login_shell ON accounts
	WHEN OLD.name IS NOT NEW.name COLLATE BINARY OR OLD.mail IS NOT NEW.mail COLLATE BINARY OR OLD.role IS NOT NEW.role
		OR OLD.disabled IS NOT NEW.disabled OR OLD.given_name IS NOT NEW.given_name
		OR OLD.surname IS NOT NEW.surname OR OLD.display_name IS NOT NEW.display_name
		OR OLD.uid_number IS NOT NEW.uid_number OR OLD.gid_number IS NOT NEW.gid_number
		OR OLD.home_directory IS NOT NEW.home_directory OR OLD.login_shell IS NOT NEW.login_shell
	BEGIN UPDATE accounts SET modified_at = ` + sqlNow + ` WHERE id = NEW.id; END;
`,
	// 11: enrolment invitations, one per account at most, only their
	// hash stored. They decide no bind and nothing the directory shows,
	// so no trigger moves the generation for them.
	`
CREATE TABLE totp_invites (
	account_id INTEGER NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	hash       BLOB    NOT NULL,
	expires_at INTEGER NOT NULL
);
`,
}

// sqlNow is the time, in the Unix nanoseconds the time columns hold (to
// the millisecond), in the SQL of triggers. It and sqlRandomUUID are part
// of released steps: never edit them.
const sqlNow = `(CAST(unixepoch('now', 'subsec') * 1000 AS INTEGER) * 1000000)`

// sqlRandomUUID is a random version 4 UUID (RFC 9562 5.4) as 16 bytes:
// random hex around the version digit 4 and a variant digit of 8 to b,
// each part drawn apart, so that an UPDATE draws one per row.
const sqlRandomUUID = `unhex(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2) ||
	substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || hex(randomblob(6)))`

// migrate applies the missing steps, each in its own immediate transaction
// that also bumps user_version, so a crash leaves the database at a step
// boundary and two processes starting together cannot both apply a step.
func migrate(ctx context.Context, db *sql.DB, steps []string) error {
	for {
		done, err := migrateStep(ctx, db, steps)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB, steps []string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()

	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	switch {
	case v > len(steps):
		return false, fmt.Errorf("sqlite: %w: database has version %d, this wicket knows up to %d; run a newer wicket or restore a backup",
			ErrSchemaTooNew, v, len(steps))
	case v == len(steps):
		return true, nil
	case v < 0:
		return false, fmt.Errorf("sqlite: database has invalid schema version %d", v)
	}

	if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
		return false, fmt.Errorf("sqlite: migrate to version %d: %w", v+1, err)
	}
	// PRAGMA takes no bound parameters; the value is our own step count.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("sqlite: migrate to version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: migrate to version %d: %w", v+1, err)
	}
	return false, nil
}
