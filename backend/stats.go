package backend

import (
	"context"
	"sync/atomic"
)

// Stats is what the account domain counts for the server's metrics: its
// queues, its locks and its directory. Reading it takes no lock a bind
// waits on for longer than a copy.
type Stats struct {
	// Accounts is the size of the live directory; 0 before it is first
	// read.
	Accounts int
	// DirectoryUpdates counts the times the live directory was brought up
	// to date from the log of changes, DirectoryReloads the times it was
	// read whole (at start, and when the log could not say what changed).
	DirectoryUpdates uint64
	DirectoryReloads uint64
	// AuditQueued is the audit records waiting to be written;
	// AuditDropped counts the events given up because the queue was full.
	AuditQueued  int
	AuditDropped uint64
	// UsageQueued is the last-used records of app passwords waiting to be
	// written.
	UsageQueued int
	// HashSlots is how many primary-password hashes may run at once,
	// HashesRunning how many do, HashesWaiting how many binds wait for a
	// slot.
	HashSlots     int
	HashesRunning int
	HashesWaiting int
	// SourceLocks counts the password sign-ins locked for one client
	// source, AccountLocks those locked for every client.
	SourceLocks  uint64
	AccountLocks uint64
	// Upstream is what the upstream directory counts; nil without one.
	Upstream *UpstreamStats
}

// UpstreamStats is what an upstream directory counts of its primary
// password checks.
type UpstreamStats struct {
	// Up: the upstream answered the last request sent to it.
	Up bool
	// Outages counts the times it was found unreachable.
	Outages uint64
	// Checks by outcome: the upstream accepted the password (Success) or
	// refused it (Refused); wicket refused it without asking (NotAsked:
	// an unknown, disabled or cut-off user), or answered the same wrong
	// password from memory (Cached); the upstream could not be asked
	// (Unavailable).
	Success, Refused, NotAsked, Cached, Unavailable uint64
}

// UpstreamStatser is a PrimaryVerifier that counts for the metrics.
type UpstreamStatser interface {
	UpstreamStats() UpstreamStats
}

// counters are the Service's event counts behind Stats.
type counters struct {
	dirUpdates, dirReloads    atomic.Uint64
	sourceLocks, accountLocks atomic.Uint64
	hashWaiting               atomic.Int64
}

// Stats reads the account domain's counts.
func (s *Service) Stats() Stats {
	st := Stats{
		DirectoryUpdates: s.counts.dirUpdates.Load(),
		DirectoryReloads: s.counts.dirReloads.Load(),
		UsageQueued:      s.usage.queued(),
		HashSlots:        cap(s.slots),
		HashesRunning:    len(s.slots),
		HashesWaiting:    int(s.counts.hashWaiting.Load()),
		SourceLocks:      s.counts.sourceLocks.Load(),
		AccountLocks:     s.counts.accountLocks.Load(),
	}
	st.AuditQueued, st.AuditDropped = s.audit.stats()
	if us, ok := s.opts.Upstream.(UpstreamStatser); ok {
		u := us.UpstreamStats()
		st.Upstream = &u
	}
	if l := s.dir.Load(); l != nil {
		st.Accounts = l.dir.Len()
	}
	return st
}

// WriteChecker is a Store that can tell whether a write would go through
// now, without writing anything.
type WriteChecker interface {
	CheckWritable(ctx context.Context) error
}

// CheckWritable reports whether the store would take a write now: for a
// health check, which must not itself change anything (neither the audit
// trail nor the generation). A store that cannot tell is taken as writable.
func (s *Service) CheckWritable(ctx context.Context) error {
	if wc, ok := s.store.(WriteChecker); ok {
		return wc.CheckWritable(ctx)
	}
	return nil
}
