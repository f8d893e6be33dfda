package memstore

import (
	"context"
	"fmt"
)

func (s *Store) ResealTOTPSeeds(ctx context.Context, reseal func(int64, []byte) ([]byte, error)) (n int, err error) {
	if err := s.write(); err != nil {
		return 0, err
	}
	defer s.commit(ctx, &err, &n)
	fresh := map[int64][]byte{}
	for id, a := range s.accounts {
		if len(a.TOTPSeed) == 0 {
			continue
		}
		sealed, err := reseal(id, cloneBytes(a.TOTPSeed))
		if err != nil {
			return 0, fmt.Errorf("memstore: reseal TOTP seeds: account %d: %w", id, err)
		}
		fresh[id] = sealed
	}
	// All or nothing: nothing is replaced until every seed resealed.
	for id, sealed := range fresh {
		s.accounts[id].TOTPSeed = sealed
	}
	return len(fresh), nil
}
