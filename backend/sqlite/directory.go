package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// Who holds an address, by the column's NOCASE collation, so that the
// writing transactions compare addresses exactly as the indexes do.
const (
	qMailOwner  = `SELECT id FROM accounts WHERE mail = ? AND mail <> ''`
	qAliasOwner = `SELECT account_id FROM aliases WHERE address = ?`
)

// addressOwner runs one of the owner queries and returns the account id,
// or 0 when nobody holds the address.
func addressOwner(ctx context.Context, tx *sql.Tx, query, address string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, query, address).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

func (s *Store) SetProfile(ctx context.Context, id int64, p backend.Profile) error {
	const op = "set profile"
	return s.change(ctx, func(tx *sql.Tx) error {
		// The update comes first so that an unknown account is ErrNotFound
		// whatever the address, and the unique index refuses another
		// account's mail; the alias check then runs before the commit.
		args := append([]any{nullString(p.Mail), p.GivenName, p.Surname, p.DisplayName}, posixArgs(p.Posix)...)
		res, err := tx.ExecContext(ctx,
			`UPDATE accounts SET mail = ?, given_name = ?, surname = ?, display_name = ?,
				uid_number = ?, gid_number = ?, home_directory = ?, login_shell = ? WHERE id = ?`,
			append(args, id)...)
		if err != nil {
			return mapErr(op, err)
		}
		if err := mustAffect(op, res, id); err != nil {
			return err
		}
		if p.Mail == "" {
			return nil
		}
		// One of the account's own aliases becoming its mail is a promotion,
		// not a conflict: the alias goes, so that an address stays either
		// the mail or an alias, and the caller can then set the remaining
		// aliases (say, the old mail) without first having to drop this one.
		if _, err := tx.ExecContext(ctx, `DELETE FROM aliases WHERE address = ? AND account_id = ?`, p.Mail, id); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		owner, err := addressOwner(ctx, tx, qAliasOwner, p.Mail)
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if owner != 0 {
			return fmt.Errorf("sqlite: %s: %q is an alias of account %d: %w", op, p.Mail, owner, backend.ErrExists)
		}
		return nil
	})
}

func (s *Store) SetAliases(ctx context.Context, id int64, aliases []string) error {
	const op = "set aliases"
	return s.change(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: %s: account %d: %w", op, id, backend.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		// Deleting first lets the new list keep addresses the old one had;
		// any refusal below rolls the deletion back with the rest.
		if _, err := tx.ExecContext(ctx, `DELETE FROM aliases WHERE account_id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		for _, addr := range aliases {
			if addr == "" {
				return fmt.Errorf("sqlite: %s: empty address: %w", op, backend.ErrInvalidInput)
			}
			owner, err := addressOwner(ctx, tx, qMailOwner, addr)
			switch {
			case err != nil:
				return fmt.Errorf("sqlite: %s: %w", op, err)
			case owner == id:
				return fmt.Errorf("sqlite: %s: %q is the account's own mail: %w", op, addr, backend.ErrInvalidInput)
			case owner != 0:
				return fmt.Errorf("sqlite: %s: %q is the mail of account %d: %w", op, addr, owner, backend.ErrExists)
			}
			owner, err = addressOwner(ctx, tx, qAliasOwner, addr)
			switch {
			case err != nil:
				return fmt.Errorf("sqlite: %s: %w", op, err)
			case owner == id:
				// Only an earlier entry of this same list can be ours now:
				// a repeated address counts once, in its first spelling.
				continue
			case owner != 0:
				return fmt.Errorf("sqlite: %s: %q is an alias of account %d: %w", op, addr, owner, backend.ErrExists)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO aliases (address, account_id) VALUES (?, ?)`, addr, id); err != nil {
				return mapErr(op, err)
			}
		}
		return nil
	})
}

func (s *Store) CreateGroup(ctx context.Context, name string) error {
	if name == "" {
		return fmt.Errorf("sqlite: create group: empty name: %w", backend.ErrInvalidInput)
	}
	return s.change(ctx, func(tx *sql.Tx) error {
		uuid, now := backend.NewUUID(), toNanos(time.Now())
		_, err := tx.ExecContext(ctx, `INSERT INTO groups (name, uuid, created_at, modified_at) VALUES (?, ?, ?, ?)`,
			name, uuid[:], now, now)
		return mapErr(fmt.Sprintf("create group %q", name), err)
	})
}

func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	return s.change(ctx, func(tx *sql.Tx) error {
		// Its memberships go with it through ON DELETE CASCADE.
		res, err := tx.ExecContext(ctx, `DELETE FROM groups WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("sqlite: delete group %q: %w", name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: delete group %q: %w", name, err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: delete group %q: no such group: %w", name, backend.ErrNotFound)
		}
		return nil
	})
}

func (s *Store) SetGroupMember(ctx context.Context, group string, accountID int64, member bool) error {
	op := fmt.Sprintf("set member of group %q", group)
	return s.change(ctx, func(tx *sql.Tx) error {
		var groupID int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM groups WHERE name = ?`, group).Scan(&groupID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: %s: no such group: %w", op, backend.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		// Checked for a removal too, where no constraint would notice: an
		// unknown account is a mistake the caller must hear about.
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, accountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: %s: account %d: %w", op, accountID, backend.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if member {
			_, err = tx.ExecContext(ctx,
				`INSERT INTO group_members (group_id, account_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, groupID, accountID)
		} else {
			_, err = tx.ExecContext(ctx,
				`DELETE FROM group_members WHERE group_id = ? AND account_id = ?`, groupID, accountID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		return nil
	})
}

// Directory reads on the read pool, so searches never queue behind writes.
// The statements share one transaction: in WAL mode its first read fixes a
// snapshot that the later ones see too, so a concurrent write shows in all
// of the result or in none of it.
func (s *Store) Directory(ctx context.Context) (*backend.Directory, error) {
	var d *backend.Directory
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = readDirectory(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: directory: %w", err)
	}
	return d, nil
}

// readTx runs fn in one read transaction of the read pool.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// selectDirAccount is what the directory reads of an account: never the
// hash, the seed, the salt or the failure records.
const selectDirAccount = `SELECT id, name, mail, role, disabled, given_name, surname, display_name, created_at,
	modified_at, uuid, ` + posixColumns + ` FROM accounts`

func scanDirAccount(rows *sql.Rows) (backend.DirAccount, error) {
	var (
		a                 backend.DirAccount
		mail              sql.NullString
		created, modified int64
		uuid              []byte
		px                posixRow
	)
	err := rows.Scan(&a.ID, &a.Name, &mail, &a.Role, &a.Disabled, &a.GivenName, &a.Surname, &a.DisplayName, &created,
		&modified, &uuid, &px.uid, &px.gid, &px.home, &px.shell)
	a.Mail, a.CreatedAt, a.ModifiedAt, a.Posix = mail.String, fromNanos(created), fromNanos(modified), px.posix()
	copy(a.UUID[:], uuid)
	return a, err
}

func readDirectory(ctx context.Context, tx *sql.Tx) (*backend.Directory, error) {
	d := &backend.Directory{
		Accounts:  []backend.DirAccount{},
		Aliases:   map[int64][]string{},
		Groups:    map[int64][]string{},
		AllGroups: []backend.Group{},
	}
	var err error
	if d.Mark, err = lastMark(ctx, tx); err != nil {
		return nil, err
	}
	var ns []byte
	if err := tx.QueryRowContext(ctx, `SELECT uuid FROM directory_namespace`).Scan(&ns); err != nil {
		return nil, err
	}
	copy(d.Namespace[:], ns)
	err = eachRow(ctx, tx, selectDirAccount+` ORDER BY name, id`, func(rows *sql.Rows) error {
		a, err := scanDirAccount(rows)
		d.Accounts = append(d.Accounts, a)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Appending in address order leaves each account's list sorted.
	err = eachRow(ctx, tx, `SELECT account_id, address FROM aliases ORDER BY address`, aliasRow(d.Aliases))
	if err != nil {
		return nil, err
	}
	if d.AllGroups, err = readGroups(ctx, tx, d.Groups); err != nil {
		return nil, err
	}
	return d, nil
}

func aliasRow(into map[int64][]string) func(rows *sql.Rows) error {
	return func(rows *sql.Rows) error {
		var id int64
		var addr string
		if err := rows.Scan(&id, &addr); err != nil {
			return err
		}
		into[id] = append(into[id], addr)
		return nil
	}
}

// readGroups reads every group with its members, and fills byAccount with
// the groups of each member.
func readGroups(ctx context.Context, tx *sql.Tx, byAccount map[int64][]string) ([]backend.Group, error) {
	all := []backend.Group{}
	byName := map[string]int{}
	err := eachRow(ctx, tx, `SELECT name, uuid, created_at, modified_at FROM groups ORDER BY name`, func(rows *sql.Rows) error {
		var (
			g                 = backend.Group{Members: []string{}}
			uuid              []byte
			created, modified int64
		)
		if err := rows.Scan(&g.Name, &uuid, &created, &modified); err != nil {
			return err
		}
		copy(g.UUID[:], uuid)
		g.CreatedAt, g.ModifiedAt = fromNanos(created), fromNanos(modified)
		byName[g.Name] = len(all)
		all = append(all, g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Ordered by group, then member: both the members of each group and
	// the groups of each account come out sorted.
	err = eachRow(ctx, tx, `SELECT g.name, a.id, a.name FROM group_members m
		JOIN groups g ON g.id = m.group_id
		JOIN accounts a ON a.id = m.account_id
		ORDER BY g.name, a.name`, func(rows *sql.Rows) error {
		var group, account string
		var id int64
		if err := rows.Scan(&group, &id, &account); err != nil {
			return err
		}
		i, ok := byName[group]
		if !ok {
			return fmt.Errorf("member of group %q, which the same snapshot lacks", group)
		}
		all[i].Members = append(all[i].Members, account)
		if byAccount != nil {
			byAccount[id] = append(byAccount[id], group)
		}
		return nil
	})
	return all, err
}

func lastMark(ctx context.Context, tx *sql.Tx) (backend.ChangeMark, error) {
	var m backend.ChangeMark
	err := tx.QueryRowContext(ctx, `SELECT seq, tag FROM dir_changes ORDER BY seq DESC LIMIT 1`).Scan(&m.Seq, &m.Tag)
	if errors.Is(err, sql.ErrNoRows) {
		// Pruned to nothing: no mark a reader holds can be found again.
		return backend.ChangeMark{}, nil
	}
	return m, err
}

// maxDeltaAccounts bounds a delta: past it, reading the whole directory is
// about as cheap and simpler (an import of thousands of accounts).
const maxDeltaAccounts = 2000

// inChunk is how many ids one IN list binds, below SQLite's limit on
// parameters.
const inChunk = 500

func (s *Store) DirectoryChanges(ctx context.Context, mark backend.ChangeMark) (*backend.DirectoryChanges, error) {
	var ch *backend.DirectoryChanges
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		ch, err = readChanges(ctx, tx, mark)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: directory changes: %w", err)
	}
	return ch, nil
}

func readChanges(ctx context.Context, tx *sql.Tx, mark backend.ChangeMark) (*backend.DirectoryChanges, error) {
	var tag int64
	err := tx.QueryRowContext(ctx, `SELECT tag FROM dir_changes WHERE seq = ?`, mark.Seq).Scan(&tag)
	if errors.Is(err, sql.ErrNoRows) || err == nil && tag != mark.Tag {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ch := &backend.DirectoryChanges{Mark: mark, Aliases: map[int64][]string{}, Groups: map[int64][]string{}}
	changed := map[int64]bool{}
	groups := false
	err = eachRowArgs(ctx, tx, `SELECT seq, tag, account_id, group_id FROM dir_changes WHERE seq > ? ORDER BY seq`, []any{mark.Seq},
		func(rows *sql.Rows) error {
			var account, group sql.NullInt64
			if err := rows.Scan(&ch.Mark.Seq, &ch.Mark.Tag, &account, &group); err != nil {
				return err
			}
			if account.Valid {
				changed[account.Int64] = true
			}
			groups = groups || group.Valid
			return nil
		})
	if err != nil {
		return nil, err
	}
	if len(changed) > maxDeltaAccounts {
		return nil, nil
	}
	ids := make([]int64, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	if err := readAccountsByID(ctx, tx, ids, ch); err != nil {
		return nil, err
	}
	if groups {
		if ch.AllGroups, err = readGroups(ctx, tx, nil); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

// readAccountsByID fills ch with the accounts of ids that exist, their
// aliases and groups, and lists the others as gone.
func readAccountsByID(ctx context.Context, tx *sql.Tx, ids []int64, ch *backend.DirectoryChanges) error {
	ids = slices.Sorted(slices.Values(ids))
	found := map[int64]bool{}
	for chunk := range slices.Chunk(ids, inChunk) {
		in, args := inList(chunk)
		err := eachRowArgs(ctx, tx, selectDirAccount+` WHERE id IN (`+in+`) ORDER BY name, id`, args, func(rows *sql.Rows) error {
			a, err := scanDirAccount(rows)
			ch.Accounts = append(ch.Accounts, a)
			found[a.ID] = true
			return err
		})
		if err != nil {
			return err
		}
		err = eachRowArgs(ctx, tx, `SELECT account_id, address FROM aliases WHERE account_id IN (`+in+`) ORDER BY address`, args, aliasRow(ch.Aliases))
		if err != nil {
			return err
		}
		err = eachRowArgs(ctx, tx, `SELECT m.account_id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id
			WHERE m.account_id IN (`+in+`) ORDER BY g.name`, args, aliasRow(ch.Groups))
		if err != nil {
			return err
		}
	}
	// Chunks come out ordered each; the whole list must be. Names are
	// lower case (backend.ValidateName), so this is the NOCASE order.
	slices.SortFunc(ch.Accounts, func(a, b backend.DirAccount) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	for _, id := range ids {
		if !found[id] {
			ch.Gone = append(ch.Gone, id)
		}
	}
	return nil
}

func (s *Store) DirectoryAccounts(ctx context.Context, ids []int64) (*backend.DirectoryChanges, error) {
	ch := &backend.DirectoryChanges{Aliases: map[int64][]string{}, Groups: map[int64][]string{}}
	if err := s.readTx(ctx, func(tx *sql.Tx) error { return readAccountsByID(ctx, tx, ids, ch) }); err != nil {
		return nil, fmt.Errorf("sqlite: directory accounts: %w", err)
	}
	return ch, nil
}

// inList is the placeholders of an IN list of ids, and its arguments.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.Repeat("?,", len(ids)-1) + "?", args
}

func (s *Store) PruneDirectoryChanges(ctx context.Context, keep int) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM dir_changes WHERE seq <= (SELECT max(seq) FROM dir_changes) - ?`, keep)
		if err != nil {
			return fmt.Errorf("sqlite: prune directory changes: %w", err)
		}
		return nil
	})
}

// eachRow runs query in tx and hands each row to fn, closing the rows
// before it returns so that the next query may run on the same connection.
func eachRow(ctx context.Context, tx *sql.Tx, query string, fn func(*sql.Rows) error) error {
	return eachRowArgs(ctx, tx, query, nil, fn)
}

func eachRowArgs(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
