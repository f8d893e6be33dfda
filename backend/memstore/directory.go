package memstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/wicketldap/wicket/backend"
)

// compareFolded orders as SQLite's ORDER BY does on a NOCASE column.
func compareFolded(a, b string) int { return strings.Compare(fold(a), fold(b)) }

// SetProfile checks in the order the SQLite store does, so that an update
// refused for several reasons at once reports the same one.
func (s *Store) SetProfile(ctx context.Context, id int64, p backend.Profile) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	a, ok := s.accounts[id]
	if !ok {
		return notFound("set profile", id)
	}
	mail := fold(p.Mail)
	if p.Mail != "" {
		if owner, taken := s.byMail[mail]; taken && owner != id {
			return fmt.Errorf("memstore: set profile: %q is the mail of account %d: %w", p.Mail, owner, backend.ErrExists)
		}
		if owner, taken := s.byAlias[mail]; taken && owner != id {
			return fmt.Errorf("memstore: set profile: %q is an alias of account %d: %w", p.Mail, owner, backend.ErrExists)
		}
		// An own alias becoming the mail is a promotion: the alias goes.
		if owner, taken := s.byAlias[mail]; taken && owner == id {
			delete(s.byAlias, mail)
			s.aliases[id] = slices.DeleteFunc(s.aliases[id], func(a string) bool { return fold(a) == mail })
			if len(s.aliases[id]) == 0 {
				delete(s.aliases, id)
			}
		}
	}
	if a.Mail != "" {
		delete(s.byMail, fold(a.Mail))
	}
	if p.Mail != "" {
		s.byMail[mail] = id
	}
	ef := s.entries[id]
	if a.Mail != p.Mail || a.GivenName != p.GivenName || a.Surname != p.Surname || a.DisplayName != p.DisplayName ||
		!samePosix(ef.posix, p.Posix) {
		ef.modified = now()
	}
	ef.posix = copyPosix(p.Posix)
	a.Mail = p.Mail
	a.GivenName = p.GivenName
	a.Surname = p.Surname
	a.DisplayName = p.DisplayName
	return nil
}

func (s *Store) SetAliases(ctx context.Context, id int64, aliases []string) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	if _, ok := s.accounts[id]; !ok {
		return notFound("set aliases", id)
	}
	// Everything is checked before anything changes: all or none.
	keep := make([]string, 0, len(aliases))
	seen := map[string]bool{}
	for _, addr := range aliases {
		if addr == "" {
			return fmt.Errorf("memstore: set aliases: empty address: %w", backend.ErrInvalidInput)
		}
		f := fold(addr)
		if owner, taken := s.byMail[f]; taken {
			if owner == id {
				return fmt.Errorf("memstore: set aliases: %q is the account's own mail: %w", addr, backend.ErrInvalidInput)
			}
			return fmt.Errorf("memstore: set aliases: %q is the mail of account %d: %w", addr, owner, backend.ErrExists)
		}
		if owner, taken := s.byAlias[f]; taken && owner != id {
			return fmt.Errorf("memstore: set aliases: %q is an alias of account %d: %w", addr, owner, backend.ErrExists)
		}
		// A repeated address counts once, in its first spelling.
		if !seen[f] {
			seen[f] = true
			keep = append(keep, addr)
		}
	}
	// The SQLite store deletes the old list and inserts the new one, and
	// either moves the time.
	if len(s.aliases[id]) > 0 || len(keep) > 0 {
		s.entries[id].modified = now()
	}
	for _, old := range s.aliases[id] {
		delete(s.byAlias, fold(old))
	}
	delete(s.aliases, id)
	for _, addr := range keep {
		s.byAlias[fold(addr)] = id
	}
	if len(keep) > 0 {
		slices.SortFunc(keep, compareFolded)
		s.aliases[id] = keep
	}
	return nil
}

func (s *Store) CreateGroup(ctx context.Context, name string) (err error) {
	if name == "" {
		return fmt.Errorf("memstore: create group: empty name: %w", backend.ErrInvalidInput)
	}
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	if _, taken := s.groups[fold(name)]; taken {
		return fmt.Errorf("memstore: create group %q: %w", name, backend.ErrExists)
	}
	t := now()
	s.groups[fold(name)] = &group{name: name, members: map[int64]struct{}{}, uuid: backend.NewUUID(), created: t, modified: t}
	return nil
}

func (s *Store) DeleteGroup(ctx context.Context, name string) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	g, ok := s.groups[fold(name)]
	if !ok {
		return fmt.Errorf("memstore: delete group %q: no such group: %w", name, backend.ErrNotFound)
	}
	for id := range g.members {
		s.entries[id].modified = now()
	}
	delete(s.groups, fold(name))
	return nil
}

func (s *Store) SetGroupMember(ctx context.Context, group string, accountID int64, member bool) (err error) {
	if err := s.write(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	g, ok := s.groups[fold(group)]
	if !ok {
		return fmt.Errorf("memstore: set member of group %q: no such group: %w", group, backend.ErrNotFound)
	}
	if _, ok := s.accounts[accountID]; !ok {
		return notFound(fmt.Sprintf("set member of group %q", group), accountID)
	}
	if _, was := g.members[accountID]; was == member {
		return nil
	}
	if member {
		g.members[accountID] = struct{}{}
	} else {
		delete(g.members, accountID)
	}
	t := now()
	g.modified, s.entries[accountID].modified = t, t
	return nil
}

func (s *Store) Directory(ctx context.Context) (*backend.Directory, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	d := &backend.Directory{
		Accounts:  []backend.DirAccount{},
		Aliases:   map[int64][]string{},
		Groups:    map[int64][]string{},
		AllGroups: []backend.Group{},
		Namespace: s.namespace,
	}
	for _, a := range s.accounts {
		ef := s.entries[a.ID]
		d.Accounts = append(d.Accounts, backend.DirAccount{ID: a.ID, Name: a.Name, Mail: a.Mail, Role: a.Role,
			Disabled: a.Disabled, GivenName: a.GivenName, Surname: a.Surname, DisplayName: a.DisplayName,
			CreatedAt: a.CreatedAt, ModifiedAt: ef.modified, UUID: ef.uuid, Posix: copyPosix(ef.posix)})
	}
	slices.SortFunc(d.Accounts, func(a, b backend.DirAccount) int {
		return cmp.Or(compareFolded(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	for id, addrs := range s.aliases {
		d.Aliases[id] = slices.Clone(addrs)
	}
	for _, key := range slices.Sorted(maps.Keys(s.groups)) {
		g := s.groups[key]
		members := make([]string, 0, len(g.members))
		for id := range g.members {
			members = append(members, s.accounts[id].Name)
			d.Groups[id] = append(d.Groups[id], g.name)
		}
		slices.SortFunc(members, compareFolded)
		d.AllGroups = append(d.AllGroups, backend.Group{Name: g.name, Members: members, UUID: g.uuid,
			CreatedAt: g.created, ModifiedAt: g.modified})
	}
	return d, nil
}

// DirectoryChanges keeps no log: readers read the whole directory again,
// as the contract allows.
func (s *Store) DirectoryChanges(ctx context.Context, mark backend.ChangeMark) (*backend.DirectoryChanges, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	s.mu.Unlock()
	return nil, nil
}

func (s *Store) PruneDirectoryChanges(ctx context.Context, keep int) error {
	if err := s.lock(); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

func (s *Store) DirectoryAccounts(ctx context.Context, ids []int64) (*backend.DirectoryChanges, error) {
	d, err := s.Directory(ctx)
	if err != nil {
		return nil, err
	}
	ch := &backend.DirectoryChanges{Aliases: map[int64][]string{}, Groups: map[int64][]string{}}
	found := map[int64]bool{}
	for _, a := range d.Accounts {
		if slices.Contains(ids, a.ID) {
			ch.Accounts = append(ch.Accounts, a)
			found[a.ID] = true
			if l, ok := d.Aliases[a.ID]; ok {
				ch.Aliases[a.ID] = l
			}
			if l, ok := d.Groups[a.ID]; ok {
				ch.Groups[a.ID] = l
			}
		}
	}
	for _, id := range slices.Sorted(slices.Values(ids)) {
		if !found[id] {
			ch.Gone = append(ch.Gone, id)
		}
	}
	return ch, nil
}
