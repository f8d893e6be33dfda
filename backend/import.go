package backend

import "context"

// AddUserWithHash creates an account whose primary password is given as a
// hash taken from another directory (see ValidatePasswordHash for the
// accepted forms). The account binds with the original password, and its
// first successful bind replaces the hash with argon2id.
func (s *Service) AddUserWithHash(ctx context.Context, name, mail, hash, role string) (*UserInfo, error) {
	return s.addAccount(ctx, name, mail, role, func() (string, error) {
		return hash, ValidatePasswordHash(hash)
	})
}

// SetPasswordHash replaces an account's primary password with a hash taken
// from another directory. Like SetPassword it is a password change, so it
// revokes every app password of the account in the same transaction, and
// says how many.
func (s *Service) SetPasswordHash(ctx context.Context, name, hash string) (revoked int, err error) {
	ctx, ch := s.passwordChange(ctx, name, true)
	defer func() { s.changed(ctx, ch, err) }()
	if err := ValidatePasswordHash(hash); err != nil {
		return 0, err
	}
	a, err := s.account(ctx, name)
	if err != nil {
		return 0, err
	}
	revoked, err = s.store.SetPasswordHash(ctx, a.ID, hash, true, s.now().UTC())
	return revoked, committed(ch, err)
}
