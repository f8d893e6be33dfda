package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/wicketldap/wicket/backend"
)

// Failure records are bookkeeping: they move no generation (Store.Generation).

func (s *Store) RecordAuthFailure(ctx context.Context, id int64, path backend.AuthPath, at time.Time, policy backend.LockoutPolicy) (backend.Failures, error) {
	if !path.Valid() {
		return backend.Failures{}, fmt.Errorf("memstore: record failure: path %d: %w", path, backend.ErrInvalidInput)
	}
	if err := s.lock(); err != nil {
		return backend.Failures{}, err
	}
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return backend.Failures{}, notFound("record failure", id)
	}
	f := a.Failures(path).After(at, policy)
	f.LastAt, f.LockedUntil = utc(f.LastAt), utc(f.LockedUntil)
	a.SetFailures(path, f)
	return f, nil
}

func (s *Store) ResetAuthFailures(ctx context.Context, id int64, path backend.AuthPath) error {
	if !path.Valid() {
		return fmt.Errorf("memstore: reset failures: path %d: %w", path, backend.ErrInvalidInput)
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return notFound("reset failures", id)
	}
	a.SetFailures(path, backend.Failures{})
	return nil
}

func (s *Store) UnlockAccount(ctx context.Context, id int64) (err error) {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.commit(ctx, &err, nil)
	a, ok := s.accounts[id]
	if !ok {
		return notFound("unlock", id)
	}
	a.PasswordFailures, a.AppPasswordFailures = backend.Failures{}, backend.Failures{}
	a.Unlocks++
	return nil
}
