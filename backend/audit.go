package backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AuditRecord is one entry of the audit trail: a bind, or a change to an
// account, its password, second factor or app passwords. It never holds a
// secret: no password, code, app password, hash or seed, in any field.
type AuditRecord struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is who acted: for a bind, the bind name as the client gave it;
	// for a change, the bound account on the LDAP server, or the operating
	// system user who ran the command.
	Actor string `json:"actor"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Subject is the account acted on; for a bind, the account the name
	// resolved to, empty when none did.
	Subject string `json:"subject"`
	// Method is how: for a bind, the credentials (a Method) or the SASL
	// mechanism; for a change, the operation that asked for it ("cli",
	// "extended-operation", "modify", "delete", "password-modify").
	Method string `json:"method"`
	// Remote is the client's address; empty for the command line.
	Remote string `json:"remote"`
	// Result is ResultSuccess or a failure category (the Fail constants).
	Result string `json:"result"`
	// Detail is key=value pairs: an app password's id and label, counts,
	// the reason of a failure.
	Detail string `json:"detail"`
	// Count is how many binds the record stands for, from the first one's
	// time: identical successful binds (same name, account, method,
	// address and detail) queued for one write to the database are one
	// record, and so are the binds from one address answered without
	// looking at any account (refused by the address's limit, busy,
	// malformed, anonymous; see summarised). Every other record stands for
	// one event.
	Count int `json:"count"`
}

// Actions of the audit trail.
const (
	ActionBind                 = "bind"
	ActionAppPasswordCreate    = "apppw-create"
	ActionAppPasswordRevoke    = "apppw-revoke"
	ActionAppPasswordRevokeAll = "apppw-revoke-all"
	ActionPasswordChange       = "password-change"
	ActionTOTPEnroll           = "totp-enroll"
	ActionTOTPRemove           = "totp-remove"
	ActionUserCreate           = "user-create"
	ActionUserDisable          = "user-disable"
	ActionUserEnable           = "user-enable"
	ActionUserDelete           = "user-delete"
	ActionUserRole             = "user-role"
	ActionUserUnlock           = "user-unlock"
	ActionUserProfile          = "user-profile"
	ActionUserAliases          = "user-aliases"
	ActionGroupCreate          = "group-create"
	ActionGroupDelete          = "group-delete"
	ActionGroupAdd             = "group-add"
	ActionGroupRemove          = "group-remove"
	ActionKeyRotate            = "key-rotate"
)

// Results of the audit trail: success, or the category of a failure. The
// categories are few and fixed, so that they can be counted and filtered;
// the particulars go in Detail.
const (
	ResultSuccess = "success"

	// Binds refused by the account domain (AuthFailure.Category).
	FailEmptyPassword        = "empty-password"
	FailUnknownAccount       = "unknown-account"
	FailWrongPassword        = "wrong-password"
	FailCodeMissing          = "code-missing"
	FailWrongCode            = "wrong-code"
	FailReplayedCode         = "replayed-code"
	FailSecondFactorRequired = "second-factor-required"
	FailWrongAppPassword     = "wrong-app-password"
	FailRevokedAppPassword   = "revoked-app-password"
	FailAccountDisabled      = "account-disabled"
	FailLocked               = "locked"
	FailInvalidCredentials   = "invalid-credentials"

	// Binds refused by the LDAP server before or around the account domain.
	FailRateLimited         = "rate-limited"
	FailUnauthenticatedBind = "unauthenticated-bind"
	FailInvalidName         = "invalid-name"
	FailUnsupported         = "unsupported"
	FailMalformed           = "malformed"
	FailNoCertificate       = "no-client-certificate"
	FailUnknownCertificate  = "unknown-certificate"
	FailNotServiceAccount   = "not-a-service-account"
	FailAuthzRefused        = "authorization-refused"

	// Changes refused by the account domain.
	FailNoSuchAppPassword = "no-such-app-password"
	FailLimitReached      = "limit-reached"
	FailServiceAccount    = "service-account"
	FailInvalidInput      = "invalid-input"
	FailExists            = "exists"

	FailBusy        = "busy"
	FailUnavailable = "unavailable"
	FailError       = "error"
)

// FailureCategory is the audit result of an error returned by the account
// domain.
func FailureCategory(err error) string {
	var af *AuthFailure
	switch {
	case err == nil:
		return ResultSuccess
	case errors.As(err, &af) && af.Category != "":
		return af.Category
	case errors.Is(err, ErrInvalidCredentials):
		return FailInvalidCredentials
	case errors.Is(err, ErrNotFound):
		return FailUnknownAccount
	case errors.Is(err, ErrNoSuchAppPassword):
		return FailNoSuchAppPassword
	case errors.Is(err, ErrLimitReached):
		return FailLimitReached
	case errors.Is(err, ErrSecondFactorRequired):
		return FailSecondFactorRequired
	case errors.Is(err, ErrServiceAccount):
		return FailServiceAccount
	case errors.Is(err, ErrInvalidInput):
		return FailInvalidInput
	case errors.Is(err, ErrExists):
		return FailExists
	case errors.Is(err, ErrBusy), errors.Is(err, context.DeadlineExceeded):
		return FailBusy
	case errors.Is(err, ErrUnavailable):
		return FailUnavailable
	case errors.Is(err, ErrInvalidInvite):
		return FailWrongInvite
	}
	return FailError
}

// AuditFilter selects records for AuditRecords.
type AuditFilter struct {
	// Subject keeps the records about one account; empty keeps all.
	Subject string
	// Since keeps the records at or after it; zero keeps all.
	Since time.Time
	// Limit keeps the newest Limit records; 0 keeps all.
	Limit int
}

// Actor is who asks for a change: the LDAP server puts the bound account
// and its address in the context of each operation, the command line its
// operating-system user. The account domain takes it from there, so that
// every change is recorded in one place whoever asked.
type Actor struct {
	Name   string
	Method string
	Remote string
}

type actorKey struct{}

// WithActor returns ctx carrying a as the actor of the changes made with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, if any.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// Audit records r in the audit trail and logs it: both in one place, so
// that the log and the table always say the same. A zero At is now; an
// empty Actor, Method or Remote is taken from the Actor ctx carries.
//
// It never blocks a bind: records queue and are written in batches off the
// caller's path (auditRecorder). Refusals that need no account to decide
// (summarised) are counted into one record per address and flush, logged
// when that record is written.
func (s *Service) Audit(ctx context.Context, r AuditRecord) {
	if r.At.IsZero() {
		r.At = s.now()
	}
	a := ActorFrom(ctx)
	r.Actor = cmp.Or(r.Actor, a.Name)
	r.Method = cmp.Or(r.Method, a.Method)
	r.Remote = cmp.Or(r.Remote, a.Remote)
	r = cleanRecord(r)
	if !summarised(&r) {
		logAudit(s.log, r)
	}
	s.audit.add(r)
}

// Change is the audit record of one change to an account, carried by the
// context of the change into the store (WithChange), which writes it in the
// transaction of the change: a committed change always has its record, and
// a kill -9 right after the answer loses neither. See Store.
type Change struct {
	rec AuditRecord
	// counted, when set, gives the record's Detail from the count the
	// transaction reports (how many app passwords it revoked).
	counted func(n int) string
	// taken: a store asked for the record (Record); stored: the store
	// call that did so returned without error, so it was committed.
	taken, stored bool
}

// NewChange returns the change whose record is rec; counted, when not nil,
// gives the record's Detail from the count the transaction reports.
func NewChange(rec AuditRecord, counted func(n int) string) *Change {
	rec = cleanRecord(rec)
	rec.Count = 1
	return &Change{rec: rec, counted: counted}
}

type changeKey struct{}

// WithChange returns ctx carrying c into the store call that makes the
// change.
func WithChange(ctx context.Context, c *Change) context.Context {
	return context.WithValue(ctx, changeKey{}, c)
}

// ChangeFrom returns the change ctx carries, nil when none: a store's
// writing methods insert its Record in their transaction.
func ChangeFrom(ctx context.Context) *Change {
	c, _ := ctx.Value(changeKey{}).(*Change)
	return c
}

// Record is the record for the store to insert in the transaction of the
// change, before its commit. n is what only the transaction knows: the
// number of app passwords the change revoked (0 for changes that revoke
// none).
func (c *Change) Record(n int) AuditRecord {
	if c.counted != nil {
		c.rec.Detail = cleanField(c.counted(n), maxAuditDetail)
	}
	c.taken = true
	return c.rec
}

// changing starts the record of a change to subject by the actor ctx
// carries, and returns ctx carrying it (for the store call that makes the
// change) with the record. detail is the record's Detail, refused or done;
// set Change.counted for a Detail that needs the transaction's count.
func (s *Service) changing(ctx context.Context, action, subject, detail string) (context.Context, *Change) {
	a := ActorFrom(ctx)
	c := NewChange(AuditRecord{At: s.now(), Actor: a.Name, Action: action, Subject: strings.ToLower(subject),
		Method: a.Method, Remote: a.Remote, Result: ResultSuccess, Detail: detail}, nil)
	return WithChange(ctx, c), c
}

// committed notes the outcome of the store call that made change c, and
// returns its error.
func committed(c *Change, err error) error {
	c.stored = err == nil && c.taken
	return err
}

// changed records the outcome of change c: done, the store wrote its
// record with it and only the log line is left; refused (nothing was
// committed), the refusal is queued like a bind's record.
func (s *Service) changed(ctx context.Context, c *Change, err error) {
	r := c.rec
	switch {
	case c.stored:
		logAudit(s.log, r)
		return
	case err == nil:
		// A store that did not write it (none of wicket's): queued, as
		// every record was before.
	default:
		r.Result = FailureCategory(err)
	}
	s.Audit(ctx, r)
}

// AuditRecords lists the audit trail, newest first.
func (s *Service) AuditRecords(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	f.Subject = strings.ToLower(f.Subject)
	return s.store.ListAudit(ctx, f)
}

// auditPruneChunk is how many records one statement deletes: small enough
// that a bind's write waiting behind it waits milliseconds, not the whole
// purge of a server that was down for weeks.
const auditPruneChunk = 1000

// PruneAudit deletes the records older than before, a chunk at a time so
// that the single writer is never held long, and says how many went.
func (s *Service) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n, err := s.store.PruneAudit(ctx, before, auditPruneChunk)
		total += n
		if err != nil || n < auditPruneChunk {
			return total, err
		}
		// Other writers queued on the connection get their turn here.
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// KeepAudit prunes the records older than retention at once, then every
// interval, until ctx ends. A zero retention keeps everything.
func (s *Service) KeepAudit(ctx context.Context, retention, interval time.Duration) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		before := s.now().Add(-retention)
		n, err := s.PruneAudit(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("pruning audit records failed", "before", before.UTC().Format(time.RFC3339), "pruned", n, "err", err)
		case n > 0:
			s.log.Info("pruned audit records", "before", before.UTC().Format(time.RFC3339), "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recordedID is an app password's id as a revocation records it: only
// something shaped like an id (newAppPasswordID) is kept, since a user who
// pastes the app password itself where its id belongs must not leave it in
// the audit trail.
func recordedID(id string) string {
	id = strings.ToLower(id)
	if len(id) == 10 && strings.Trim(id, "0123456789abcdef") == "" {
		return id
	}
	return "(not an id)"
}

// KV formats key=value pairs for AuditRecord.Detail as logfmt does: a
// value with a space, a quote, a backslash or an equals sign, or an empty
// one, is quoted.
func KV(pairs ...any) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		v := kvString(pairs[i+1])
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kvString(pairs[i]))
		b.WriteByte('=')
		if v == "" || strings.ContainsAny(v, " \"=\\") {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// kvString is fmt.Sprint without its allocations for what a bind's record
// carries: strings and integers.
func kvString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return fmt.Sprint(v)
}

// Field limits: bind names and authorization identities come from clients,
// and a record must stay a line, whatever they send.
const (
	maxAuditField  = 256
	maxAuditDetail = 1024
)

func cleanRecord(r AuditRecord) AuditRecord {
	r.At = r.At.UTC()
	r.Actor = cleanField(r.Actor, maxAuditField)
	r.Action = cleanField(r.Action, maxAuditField)
	r.Subject = cleanField(r.Subject, maxAuditField)
	r.Method = cleanField(r.Method, maxAuditField)
	r.Remote = cleanField(r.Remote, maxAuditField)
	r.Result = cleanField(r.Result, maxAuditField)
	r.Detail = cleanField(r.Detail, maxAuditDetail)
	return r
}

// cleanField makes s valid UTF-8 without control characters (a newline in
// a bind name must not forge a second line in a listing), cut to limit bytes.
func cleanField(s string, limit int) string {
	clean := func(s string) bool {
		return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
	}
	if len(s) <= limit && clean(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) > limit {
		cut := limit - len("…")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// auditMessages are the log messages of each action: done, and refused.
var auditMessages = map[string][2]string{
	ActionBind:                 {"bind", "bind failed"},
	ActionAppPasswordCreate:    {"app password created", "app password creation refused"},
	ActionAppPasswordRevoke:    {"app password revoked", "app password revocation refused"},
	ActionAppPasswordRevokeAll: {"app passwords revoked", "app password revocation refused"},
	ActionPasswordChange:       {"password changed", "password change refused"},
	ActionTOTPEnroll:           {"TOTP enrolled", "TOTP enrollment refused"},
	ActionTOTPRemove:           {"TOTP removed", "TOTP removal refused"},
	ActionUserCreate:           {"account created", "account creation refused"},
	ActionUserDisable:          {"account disabled", "disabling an account refused"},
	ActionUserEnable:           {"account enabled", "enabling an account refused"},
	ActionUserDelete:           {"account deleted", "account deletion refused"},
	ActionUserRole:             {"role changed", "role change refused"},
	ActionUserUnlock:           {"account unlocked", "unlocking an account refused"},
	ActionUserProfile:          {"profile changed", "profile change refused"},
	ActionUserAliases:          {"mail aliases changed", "mail alias change refused"},
	ActionGroupCreate:          {"group created", "group creation refused"},
	ActionGroupDelete:          {"group deleted", "group deletion refused"},
	ActionGroupAdd:             {"added to group", "adding to a group refused"},
	ActionGroupRemove:          {"removed from group", "removing from a group refused"},
	ActionKeyRotate:            {"TOTP seeds re-encrypted under a new key", "key rotation refused"},
}

// LogAudit logs r as Service.Audit does, for a server with no audit trail
// behind it.
func LogAudit(log *slog.Logger, r AuditRecord) {
	if r.At.IsZero() {
		r.At = time.Now()
	}
	logAudit(log, cleanRecord(r))
}

func logAudit(log *slog.Logger, r AuditRecord) {
	level, msg := slog.LevelInfo, r.Action
	if m, ok := auditMessages[r.Action]; ok {
		msg = m[0]
		if r.Result != ResultSuccess {
			msg = m[1]
		}
	}
	switch {
	case r.Action == ActionBind && r.Result == ResultSuccess && r.Method == "anonymous":
		// Monitoring probes bind anonymously every few seconds: a line
		// each would bury the log. The record is kept all the same, and
		// an anonymous session sees only the root DSE.
		level = slog.LevelDebug
	case r.Action == ActionBind && r.Result == FailRateLimited:
		level, msg = slog.LevelWarn, "bind refused: too many failed binds from this address"
	case r.Action == ActionBind && r.Result == FailUnauthenticatedBind:
		msg = "bind refused"
	case r.Result == FailBusy:
		level = slog.LevelWarn
	case r.Result == FailUnavailable:
		level = slog.LevelError
	case r.Result == FailError:
		level = slog.LevelError
	}
	ctx := context.Background()
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("action", r.Action), slog.String("result", r.Result))
	for _, f := range []struct{ k, v string }{
		{"actor", r.Actor}, {"subject", r.Subject}, {"method", r.Method}, {"remote", r.Remote}, {"detail", r.Detail},
	} {
		if f.v != "" {
			attrs = append(attrs, slog.String(f.k, f.v))
		}
	}
	if r.Count > 1 {
		attrs = append(attrs, slog.Int("count", r.Count))
	}
	log.LogAttrs(ctx, level, msg, attrs...)
}
