package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// AccountExists reports whether there is an account of that name.
func (s *Service) AccountExists(ctx context.Context, name string) (bool, error) {
	_, err := s.account(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// ImportUser is one account for ImportUsers.
type ImportUser struct {
	Name, Mail string
	// Hash is the primary password's hash taken from another directory
	// (see ValidatePasswordHash); empty for none.
	Hash string
	// UUID is the entry's entryUUID in that directory, kept; zero for a
	// new one.
	UUID UUID
}

// ImportResult is what ImportUsers did with one account: created it, found
// it there already and left it alone, or refused it (Err, recorded in the
// audit trail as AddUserWithHash records a refusal).
type ImportResult struct {
	Created bool
	Exists  bool
	Err     error
}

// ImportUsers creates the accounts of users that do not exist yet, with
// AddUserWithHash's checks and records, Options.BulkBatch in a transaction;
// existing accounts are left alone and recorded nowhere. results[i] is
// users[i]'s. A transaction the store refuses as a whole (an address
// already in use, a name taken meanwhile) is made again one account at a
// time, so that what is reported created is exactly what was. The error is
// what stopped the import before its end (an invalid role, the context
// ending, the database failing); results then says what was done before.
func (s *Service) ImportUsers(ctx context.Context, users []ImportUser, role string) ([]ImportResult, error) {
	if role == "" {
		role = RoleUser
	}
	if err := validRole(role); err != nil {
		return nil, err
	}
	results := make([]ImportResult, len(users))
	batch := make([]AccountCreation, 0, s.opts.BulkBatch)
	at := make([]int, 0, s.opts.BulkBatch) // batch[j] is users[at[j]]
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		defer func() { batch, at = batch[:0], at[:0] }()
		err := s.store.CreateAccounts(ctx, batch)
		if err == nil {
			for j, c := range batch {
				s.changed(ctx, c.Change, committed(c.Change, nil))
				results[at[j]].Created = true
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// One at a time, each refusal its own.
		for j, c := range batch {
			err := committed(c.Change, s.store.CreateAccount(WithChange(ctx, c.Change), c.Account))
			s.changed(ctx, c.Change, err)
			results[at[j]] = ImportResult{Created: err == nil, Err: err}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	}
	for i, u := range users {
		if ValidateName(strings.ToLower(u.Name)) == nil {
			exists, err := s.AccountExists(ctx, u.Name)
			if err != nil {
				return results, err
			}
			if exists {
				results[i].Exists = true
				continue
			}
		}
		hash := u.Hash
		cctx, ch, a, err := s.newAccount(ctx, u.Name, u.Mail, role, func() (string, error) {
			if hash == "" {
				return "", nil
			}
			return hash, ValidatePasswordHash(hash)
		})
		if err != nil {
			s.changed(cctx, ch, err)
			results[i].Err = err
			continue
		}
		a.KeepUUID = u.UUID
		batch, at = append(batch, AccountCreation{Account: a, Change: ch}), append(at, i)
		if len(batch) == s.opts.BulkBatch {
			if err := flush(); err != nil {
				return results, err
			}
		}
	}
	return results, flush()
}

// BulkAppPassword is what CreateAppPasswords did for one account.
type BulkAppPassword struct {
	Name string
	// AppPassword is the one created, its password shown this once; nil
	// when refused.
	AppPassword *NewAppPassword
	// TOTP is the second factor enrolled on the way, nil when the account
	// had one.
	TOTP *TOTPEnrollment
	// Err is why nothing was done, recorded in the audit trail as
	// CreateAppPassword records a refusal.
	Err error
}

// CreateAppPasswords gives each named account one app password labelled
// label, with CreateAppPassword's rules and records, Options.BulkBatch
// accounts in a transaction. With enrollTOTP, an account without a second
// factor is first enrolled with a random seed, in the same transaction and
// recorded as EnrollTOTP records it; an account that has one keeps it.
// Without enrollTOTP, such an account is refused (ErrSecondFactorRequired).
// A name given twice is refused the second time (ErrInvalidInput).
//
// done receives the results of each transaction, in the order of names,
// once it is committed, and so before the next one starts: the caller
// keeps the passwords, which exist nowhere else. An error from done stops
// here. A transaction the store refuses as a whole (an account changed
// meanwhile) is made again one account at a time. The error is what stopped
// the run before its end (an invalid label, the context ending, done).
func (s *Service) CreateAppPasswords(ctx context.Context, names []string, label string, enrollTOTP bool,
	done func([]BulkAppPassword) error) error {
	if err := validateLabel(label); err != nil {
		return err
	}
	seen := make(map[string]bool, len(names))
	for start := 0; start < len(names); start += s.opts.BulkBatch {
		chunk := names[start:min(start+s.opts.BulkBatch, len(names))]
		results := make([]BulkAppPassword, len(chunk))
		grants := make([]AppPasswordGrant, 0, len(chunk))
		at := make([]int, 0, len(chunk)) // grants[j] is chunk[at[j]]
		for i, name := range chunk {
			name = strings.ToLower(name)
			results[i].Name = name
			var g AppPasswordGrant
			var err error
			if seen[name] {
				_, g.Creation = s.changing(ctx, ActionAppPasswordCreate, name, KV("label", label))
				err = fmt.Errorf("%w: %s is listed more than once", ErrInvalidInput, name)
			} else {
				seen[name] = true
				g, err = s.grant(ctx, name, label, enrollTOTP, &results[i])
			}
			if err != nil {
				s.changed(ctx, g.Creation, err)
				results[i] = BulkAppPassword{Name: name, Err: err}
				continue
			}
			grants, at = append(grants, g), append(at, i)
		}
		if len(grants) > 0 {
			err := s.store.GrantAppPasswords(ctx, grants, s.opts.MaxAppPasswords)
			switch {
			case err == nil:
				for _, g := range grants {
					s.granted(ctx, g, nil)
				}
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				for _, i := range at {
					results[i] = s.grantOne(ctx, results[i].Name, label, enrollTOTP)
				}
			}
		}
		if err := done(results); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// grant makes the grant of one app password for the named account, after
// enrolling it when enroll is set and it has no second factor, and fills
// in out with what it will have once the grant is committed. Its error is
// the refusal, for changed to record with the grant's Creation.
func (s *Service) grant(ctx context.Context, name, label string, enroll bool, out *BulkAppPassword) (AppPasswordGrant, error) {
	var g AppPasswordGrant
	_, g.Creation = s.changing(ctx, ActionAppPasswordCreate, name, KV("label", label))
	a, err := s.account(ctx, name)
	if err != nil {
		return g, err
	}
	if a.Role == RoleService {
		return g, ErrServiceAccount
	}
	switch {
	case a.TOTPEnrolled():
		// Counted here too, so that one account at its limit does not
		// cost its whole batch a second, one-by-one pass; the store
		// counts again in the transaction.
		aps, err := s.store.ListAppPasswords(ctx, a.ID)
		if err != nil {
			return g, err
		}
		if len(aps) >= s.opts.MaxAppPasswords {
			return g, &LimitError{Limit: s.opts.MaxAppPasswords}
		}
	case !enroll:
		return g, ErrSecondFactorRequired
	default:
		e, sealed, err := s.freshEnrolment(a)
		if err != nil {
			return g, err
		}
		g.Seed = sealed
		_, g.Enrolment = s.changing(ctx, ActionTOTPEnroll, name, "")
		out.TOTP = &e
	}
	pw := GenerateAppPassword()
	p := AppPassword{ID: newAppPasswordID(), AccountID: a.ID, Label: label, CreatedAt: s.now().UTC()}
	g.AppPassword = p
	g.Verifier = appPasswordVerifier(s.keys.appPasswordPepper(), a.AppPasswordSalt, pw)
	g.Creation.counted = func(int) string { return KV("id", p.ID, "label", label) }
	out.AppPassword = &NewAppPassword{AppPassword: p, Password: FormatAppPassword(pw)}
	return g, nil
}

// granted notes the outcome of the store call that made g, and records it.
func (s *Service) granted(ctx context.Context, g AppPasswordGrant, err error) {
	if g.Enrolment != nil {
		// An enrolment refused with its grant is not recorded apart: the
		// creation's refusal says what did not happen.
		if committed(g.Enrolment, err) == nil {
			s.changed(ctx, g.Enrolment, nil)
		}
	}
	s.changed(ctx, g.Creation, committed(g.Creation, err))
}

// grantOne makes one account's grant in a transaction of its own, as
// CreateAppPassword does after EnrollTOTP: what a batch the store refused
// comes down to. A taken id (40 random bits) or an enrolment made
// meanwhile is tried again, from the account as it is then.
func (s *Service) grantOne(ctx context.Context, name, label string, enroll bool) BulkAppPassword {
	for attempt := 0; ; attempt++ {
		out := BulkAppPassword{Name: name}
		g, err := s.grant(ctx, name, label, enroll, &out)
		if err == nil {
			err = s.store.GrantAppPasswords(ctx, []AppPasswordGrant{g}, s.opts.MaxAppPasswords)
			if errors.Is(err, ErrExists) && attempt < 3 {
				continue
			}
			if errors.Is(err, ErrLimitReached) {
				err = &LimitError{Limit: s.opts.MaxAppPasswords}
			}
		}
		s.granted(ctx, g, err)
		if err != nil {
			return BulkAppPassword{Name: name, Err: err}
		}
		return out
	}
}

// LeftOut counts the accounts AppPasswordCandidates leaves out, by reason.
type LeftOut struct {
	Service     int `json:"service"`
	Admin       int `json:"admin"`
	Disabled    int `json:"disabled"`
	WithoutTOTP int `json:"without_totp"`
	// WithTOTP counts, for TOTPCandidates, the accounts enrolled already.
	WithTOTP int `json:"with_totp,omitempty"`
}

// AppPasswordCandidates lists, by name, the accounts a bulk creation gives
// an app password when none are named: every enabled account of role user
// with a second factor, or without one too when enrollTOTP is set.
func (s *Service) AppPasswordCandidates(ctx context.Context, enrollTOTP bool) ([]string, LeftOut, error) {
	var left LeftOut
	accts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return nil, left, err
	}
	names := make([]string, 0, len(accts))
	for i := range accts {
		a := &accts[i]
		switch {
		case a.Role == RoleService:
			left.Service++
		case a.Role != RoleUser:
			left.Admin++
		case a.Disabled:
			left.Disabled++
		case !a.TOTPEnrolled() && !enrollTOTP:
			left.WithoutTOTP++
		default:
			names = append(names, a.Name)
		}
	}
	return names, left, nil
}

// BulkTOTP is what EnrollTOTPs did for one account.
type BulkTOTP struct {
	Name string
	// TOTP is the enrolment made, its secret shown this once; nil when
	// the account was left alone or refused.
	TOTP *TOTPEnrollment
	// Had: the account has a second factor already (perhaps enrolled
	// meanwhile), which was left as it is.
	Had bool
	// Err is why the account was refused, recorded in the audit trail as
	// EnrollTOTP records a refusal.
	Err error
}

// EnrollTOTPs gives each named account without a second factor a random
// TOTP seed, Options.BulkBatch accounts in a transaction, each enrolment
// with its record, as EnrollTOTP makes one; an account that has a second
// factor keeps it (Had), never replaced, even when enrolled meanwhile.
// Unknown names and service accounts (which bind with their password
// alone) are refused, and so is a name given twice (ErrInvalidInput).
//
// done receives the results of each transaction, in the order of names,
// once it is committed and before the next one starts: the caller keeps
// the secrets, which exist nowhere else in the clear. An error from done
// stops here. The error is what stopped the run before its end.
func (s *Service) EnrollTOTPs(ctx context.Context, names []string, done func([]BulkTOTP) error) error {
	seen := make(map[string]bool, len(names))
	for start := 0; start < len(names); start += s.opts.BulkBatch {
		chunk := names[start:min(start+s.opts.BulkBatch, len(names))]
		results := make([]BulkTOTP, len(chunk))
		grants := make([]AppPasswordGrant, 0, len(chunk))
		at := make([]int, 0, len(chunk)) // grants[j] is chunk[at[j]]
		for i, name := range chunk {
			name = strings.ToLower(name)
			results[i].Name = name
			if seen[name] {
				_, ch := s.changing(ctx, ActionTOTPEnroll, name, "")
				results[i].Err = fmt.Errorf("%w: %s is listed more than once", ErrInvalidInput, name)
				s.changed(ctx, ch, results[i].Err)
				continue
			}
			seen[name] = true
			g, err := s.enrolment(ctx, name, &results[i])
			if err != nil {
				s.changed(ctx, g.Enrolment, err)
				results[i].Err = err
				continue
			}
			if g.Enrolment != nil {
				grants, at = append(grants, g), append(at, i)
			}
		}
		if len(grants) > 0 {
			err := s.store.GrantAppPasswords(ctx, grants, s.opts.MaxAppPasswords)
			switch {
			case err == nil:
				for _, g := range grants {
					s.changed(ctx, g.Enrolment, committed(g.Enrolment, nil))
				}
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				// One at a time, from each account as it is now: one
				// enrolled meanwhile is left as it is, the others enrolled.
				for _, i := range at {
					results[i] = s.enrolOne(ctx, results[i].Name)
				}
			}
		}
		if err := done(results); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// enrolment makes the grant that enrols the named account, filling in out
// with the enrolment it will have once committed; no grant (a nil
// Enrolment) when the account has a second factor already. Its error is
// the refusal, for changed to record with the grant's Enrolment.
func (s *Service) enrolment(ctx context.Context, name string, out *BulkTOTP) (AppPasswordGrant, error) {
	var g AppPasswordGrant
	_, ch := s.changing(ctx, ActionTOTPEnroll, name, "")
	a, err := s.account(ctx, name)
	if err != nil {
		g.Enrolment = ch
		return g, err
	}
	if a.Role == RoleService {
		g.Enrolment = ch
		return g, ErrServiceAccount
	}
	if a.TOTPEnrolled() {
		out.Had = true
		return g, nil
	}
	e, sealed, err := s.freshEnrolment(a)
	if err != nil {
		g.Enrolment = ch
		return g, err
	}
	g.AppPassword.AccountID = a.ID
	g.Seed = sealed
	g.Enrolment = ch
	out.TOTP = &e
	return g, nil
}

// freshEnrolment draws a TOTP seed for account a, named in the
// authenticator app by its mail address or else its name, and seals it
// for the store.
func (s *Service) freshEnrolment(a *Account) (TOTPEnrollment, []byte, error) {
	seed := newTOTPSeed()
	who := a.Name
	if a.Mail != "" {
		who = a.Mail
	}
	e, err := totpEnrollment(s.opts.TOTPIssuer, who, seed)
	if err != nil {
		return TOTPEnrollment{}, nil, err
	}
	return e, s.keys.sealSeed(a.ID, seed), nil
}

// enrolOne enrols one account in a transaction of its own: what a batch
// the store refused comes down to.
func (s *Service) enrolOne(ctx context.Context, name string) BulkTOTP {
	out := BulkTOTP{Name: name}
	g, err := s.enrolment(ctx, name, &out)
	if err == nil && g.Enrolment == nil {
		return out
	}
	if err == nil {
		err = s.store.GrantAppPasswords(ctx, []AppPasswordGrant{g}, s.opts.MaxAppPasswords)
		if errors.Is(err, ErrExists) {
			// Enrolled between the look and the write: left as it is,
			// nothing refused.
			return BulkTOTP{Name: name, Had: true}
		}
	}
	s.changed(ctx, g.Enrolment, committed(g.Enrolment, err))
	if err != nil {
		return BulkTOTP{Name: name, Err: err}
	}
	return out
}

// TOTPCandidates lists, by name, the accounts a first enrolment of the
// whole user base enrols: every enabled account of role user without a
// second factor. The others are counted by why they are left out.
func (s *Service) TOTPCandidates(ctx context.Context) ([]string, LeftOut, error) {
	var left LeftOut
	accts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return nil, left, err
	}
	names := make([]string, 0, len(accts))
	for i := range accts {
		a := &accts[i]
		switch {
		case a.TOTPEnrolled():
			left.WithTOTP++
		case a.Role == RoleService:
			left.Service++
		case a.Role != RoleUser:
			left.Admin++
		case a.Disabled:
			left.Disabled++
		default:
			names = append(names, a.Name)
		}
	}
	return names, left, nil
}
