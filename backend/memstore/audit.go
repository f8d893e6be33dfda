package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/wicketldap/wicket/backend"
)

func (s *Store) InsertAudit(ctx context.Context, recs []backend.AuditRecord) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, r := range recs {
		s.appendAudit(r)
	}
	return nil
}

// appendAudit adds r as the next record; s.mu is held.
func (s *Store) appendAudit(r backend.AuditRecord) {
	s.nextAudit++
	r.ID = s.nextAudit
	r.At = utc(r.At)
	r.Count = max(1, r.Count)
	s.audit = append(s.audit, r)
}

func (s *Store) ListAudit(ctx context.Context, f backend.AuditFilter) ([]backend.AuditRecord, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []backend.AuditRecord
	for _, r := range s.audit {
		if (f.Subject == "" || r.Subject == f.Subject) && (f.Since.IsZero() || !r.At.Before(f.Since)) {
			out = append(out, r)
		}
	}
	// IDs grow with insertion, as SQLite's rowids do.
	slices.SortFunc(out, func(a, b backend.AuditRecord) int {
		return cmp.Or(b.At.Compare(a.At), cmp.Compare(b.ID, a.ID))
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (s *Store) PruneAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	var old []int // indexes into s.audit
	for i, r := range s.audit {
		if r.At.Before(before) {
			old = append(old, i)
		}
	}
	slices.SortStableFunc(old, func(i, j int) int { return s.audit[i].At.Compare(s.audit[j].At) })
	if len(old) > limit {
		old = old[:max(limit, 0)]
	}
	gone := make(map[int]bool, len(old))
	for _, i := range old {
		gone[i] = true
	}
	kept := s.audit[:0]
	for i, r := range s.audit {
		if !gone[i] {
			kept = append(kept, r)
		}
	}
	clear(s.audit[len(kept):])
	s.audit = kept
	return len(old), nil
}
