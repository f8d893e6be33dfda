package server

import (
	"context"
	"log/slog"
	"strings"

	"github.com/wicketldap/wicket/backend"
)

// Auditor keeps the audit trail: it logs each record and stores it without
// holding up the caller. The server finds it on its Authenticator by type
// assertion (backend.Service is one); without it records are only logged.
type Auditor interface {
	Audit(ctx context.Context, r backend.AuditRecord)
}

var _ Auditor = (*backend.Service)(nil)

// logOnly is the Auditor of a server with no audit trail behind it.
type logOnly struct{ log *slog.Logger }

func (l logOnly) Audit(_ context.Context, r backend.AuditRecord) { backend.LogAudit(l.log, r) }

// auditBind records the outcome of one bind. name is the bind name as the
// client gave it; account the account it resolved to, if any.
func (c *conn) auditBind(ctx context.Context, name, account, method, res string, detail ...string) {
	c.bindMethod = bindMethodOf(method)
	if res != backend.ResultSuccess {
		c.bindReason = res
	}
	c.srv.audit.Audit(ctx, backend.AuditRecord{Action: backend.ActionBind, Actor: name, Subject: account,
		Method: method, Remote: c.remote, Result: res, Detail: joinDetail(detail...)})
}

func joinDetail(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

// The operations through which a client changes an account, as the audit
// trail names them (AuditRecord.Method).
const (
	viaExop           = "extended-operation"
	viaModify         = "modify"
	viaDelete         = "delete"
	viaPasswordModify = "password-modify"
)

// acting is ctx naming the session's principal as the actor of the changes
// an operation makes, so the account domain records who made them. An
// administrator acting as a user is the actor, not that user.
func (c *conn) acting(ctx context.Context, via string) context.Context {
	a := backend.Actor{Method: via, Remote: c.remote}
	if p := c.principal; p != nil {
		a.Name = p.Name
		if p.Admin != "" {
			a.Name = p.Admin
		}
	}
	return backend.WithActor(ctx, a)
}
