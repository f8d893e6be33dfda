package backend

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// DirEntry is one account of the live directory, with its aliases and the
// names of its groups, both sorted. An entry is never changed once the
// directory holds it: a change puts a new entry in its place, so a search
// holding one reads a consistent account.
type DirEntry struct {
	DirAccount
	Aliases []string
	Groups  []string
}

// Dir is the directory that searches are answered from: every account,
// indexed by name and by address, and every group. It is kept up to date
// by applying the store's log of changes (DirectoryChanges), so a changed
// alias costs the few queries of that account, not a read of every
// account, and a lookup costs the same at a hundred accounts and at a
// hundred thousand.
//
// Its methods are safe for concurrent use. What they return is shared and
// must not be modified.
type Dir struct {
	mu     sync.RWMutex
	byID   map[int64]*DirEntry
	byName map[string]*DirEntry   // FoldKey of the name
	byAddr map[string][]*DirEntry // FoldKey of the mail and of each alias
	// byUUID answers (entryUUID=...), as Nextcloud finds its users, at
	// about 27 bytes per account (measured at 100,000), beside the 48 the
	// UUID, modifyTimestamp and the POSIX pointer add to the entry itself.
	byUUID map[UUID]*DirEntry
	order  []*DirEntry // by name, as the store orders accounts
	groups []Group
	mark   ChangeMark
	// namespace is the store's; it never changes for one database.
	namespace UUID
}

// NewDir is the live directory of a whole read of the store.
func NewDir(full *Directory) *Dir {
	d := &Dir{
		byID:      make(map[int64]*DirEntry, len(full.Accounts)),
		byName:    make(map[string]*DirEntry, len(full.Accounts)),
		byAddr:    make(map[string][]*DirEntry, len(full.Accounts)),
		byUUID:    make(map[UUID]*DirEntry, len(full.Accounts)),
		order:     make([]*DirEntry, 0, len(full.Accounts)),
		groups:    full.AllGroups,
		mark:      full.Mark,
		namespace: full.Namespace,
	}
	for _, a := range full.Accounts {
		e := &DirEntry{DirAccount: a, Aliases: full.Aliases[a.ID], Groups: full.Groups[a.ID]}
		d.index(e)
		d.order = append(d.order, e)
	}
	// The store's order is already by name.
	return d
}

// Apply brings the directory to the state ch describes, the changes read
// after the directory's own mark.
func (d *Dir) Apply(ch *DirectoryChanges) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ch.Gone {
		d.remove(id)
	}
	for _, a := range ch.Accounts {
		d.remove(a.ID)
		e := &DirEntry{DirAccount: a, Aliases: ch.Aliases[a.ID], Groups: ch.Groups[a.ID]}
		d.index(e)
		i, _ := slices.BinarySearchFunc(d.order, e, byName)
		d.order = slices.Insert(d.order, i, e)
	}
	if ch.AllGroups != nil {
		d.groups = ch.AllGroups
	}
	d.mark = ch.Mark
}

func byName(a, b *DirEntry) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
}

// index adds e to the maps; call with mu held for writing, or before the
// directory is shared.
func (d *Dir) index(e *DirEntry) {
	d.byID[e.ID] = e
	d.byName[FoldKey(e.Name)] = e
	if !e.UUID.IsZero() {
		d.byUUID[e.UUID] = e
	}
	if e.Mail != "" {
		k := FoldKey(e.Mail)
		d.byAddr[k] = append(d.byAddr[k], e)
	}
	for _, al := range e.Aliases {
		k := FoldKey(al)
		d.byAddr[k] = append(d.byAddr[k], e)
	}
}

// remove takes the account out of the maps and the order; call with mu held.
func (d *Dir) remove(id int64) {
	e, ok := d.byID[id]
	if !ok {
		return
	}
	delete(d.byID, id)
	if k := FoldKey(e.Name); d.byName[k] == e {
		delete(d.byName, k)
	}
	if d.byUUID[e.UUID] == e {
		delete(d.byUUID, e.UUID)
	}
	unaddr := func(addr string) {
		k := FoldKey(addr)
		// A new slice: a search may still hold the old one.
		l := slices.DeleteFunc(slices.Clone(d.byAddr[k]), func(x *DirEntry) bool { return x == e })
		if len(l) == 0 {
			delete(d.byAddr, k)
		} else {
			d.byAddr[k] = l
		}
	}
	if e.Mail != "" {
		unaddr(e.Mail)
	}
	for _, al := range e.Aliases {
		unaddr(al)
	}
	if i, found := slices.BinarySearchFunc(d.order, e, byName); found {
		d.order = slices.Delete(d.order, i, i+1)
	}
}

// Account is the account named name (case-insensitively), or nil.
func (d *Dir) Account(name string) *DirEntry {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.byName[FoldKey(name)]
}

// ByAddress is the accounts whose mail or alias is addr
// (case-insensitively): at most one, as the store keeps addresses unique.
func (d *Dir) ByAddress(addr string) []*DirEntry {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.byAddr[FoldKey(addr)]
}

// ByUUID is the account whose entryUUID is u, or nil.
func (d *Dir) ByUUID(u UUID) *DirEntry {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.byUUID[u]
}

// ByID is the account with the store's id, or nil.
func (d *Dir) ByID(id int64) *DirEntry {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.byID[id]
}

// Namespace is the database's namespace of name-based UUIDs
// (Directory.Namespace).
func (d *Dir) Namespace() UUID { return d.namespace }

// All is every account, by name: for a search that no index narrows.
func (d *Dir) All() []*DirEntry {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return slices.Clone(d.order)
}

// Mark is the place in the store's log of changes the directory reflects.
func (d *Dir) Mark() ChangeMark {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.mark
}

// Len is the number of accounts.
func (d *Dir) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.order)
}

// Groups is every group, by name, with its members.
func (d *Dir) Groups() []Group {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.groups
}

// liveDir is the directory with the store generation it was last brought
// up to.
type liveDir struct {
	dir *Dir
	gen Generation
	// genOK: gen was read; without it the next call asks the store again.
	genOK bool
}

// Directory is the live directory, brought up to date with the store when
// the store's generation moved since it was last looked at: by the changes
// since, or, the first time and when the log cannot say, by reading it
// whole. A search waits for that, so it sees every change committed before
// it began.
func (s *Service) Directory(ctx context.Context) (*Dir, error) {
	gen, gerr := s.store.Generation(ctx)
	if l := s.dir.Load(); l != nil && gerr == nil && l.genOK && l.gen == gen {
		return l.dir, nil
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	l := s.dir.Load()
	if l != nil && gerr == nil && l.genOK && l.gen == gen {
		return l.dir, nil
	}
	// gen was read before what follows, so it is at most as new as what
	// is read: a later write always moves it again.
	if l != nil {
		ch, err := s.store.DirectoryChanges(ctx, l.dir.mark)
		if err != nil {
			return nil, err
		}
		if ch != nil {
			l.dir.Apply(ch)
			s.counts.dirUpdates.Add(1)
			s.dir.Store(&liveDir{dir: l.dir, gen: gen, genOK: gerr == nil})
			return l.dir, nil
		}
	}
	full, err := s.store.Directory(ctx)
	if err != nil {
		return nil, err
	}
	d := NewDir(full)
	s.counts.dirReloads.Add(1)
	s.dir.Store(&liveDir{dir: d, gen: gen, genOK: gerr == nil})
	return d, nil
}

// dirLogKept is how many entries of the log of directory changes pruning
// keeps: a server whose copy is further behind (a second server on the same
// database, idle for that many changes) reads the whole directory again.
const dirLogKept = 100_000

// KeepDirectoryLog prunes the store's log of directory changes to its
// newest entries at once, then every interval, until ctx ends.
func (s *Service) KeepDirectoryLog(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.store.PruneDirectoryChanges(ctx, dirLogKept); err != nil && ctx.Err() == nil {
			s.log.Error("pruning the log of directory changes failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FoldKey maps strings that strings.EqualFold holds equal, and only those,
// to the same key: each rune becomes the least rune of its case-folding
// orbit (so 'k', 'K' and the Kelvin sign all become 'K').
func FoldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
