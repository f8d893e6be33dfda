package backend

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// auditRecorder queues the records that are not written with a change
// (binds, and changes that were refused) and writes them in batches, so
// that no bind waits on the database for its record.
//
//   - Successful binds alike (same name, account, method, address and
//     detail) are one record with a count per flush; refusals decided
//     before any account is looked at (summarised) are one record per
//     address and kind per flush, logged once, when it is written. A flood
//     from one address adds a few rows per flush, whatever its rate.
//   - Failed binds and refused changes are written within soon of being
//     queued (a tenth of a second), the rest every interval, so a crash
//     loses at most that much of each.
//   - A batch the store refuses stays queued and is tried again, later
//     each time.
//   - The queue is bounded. When it is full the oldest record of the lowest
//     tier gives way (successful binds; then summaries and failures that
//     name no account; last the records about an account: its failed binds
//     and refused changes), and a warning counts them.
type auditRecorder struct {
	store    Store
	log      *slog.Logger
	max      int
	maxBatch int
	interval time.Duration
	soon     time.Duration

	mu     sync.Mutex
	queues [auditTiers][]*queuedRecord
	// open finds the queued record a new one adds to: successful binds
	// alike, refusals summarised by address. Flushing closes them all.
	open   map[openKey]*queuedRecord
	queued int
	// dropped counts the events given up since the last warning, by tier;
	// droppedTotal all of them since the start, for the metrics.
	dropped      [auditTiers]int
	droppedTotal uint64
	// hurried: a prompt flush is on its way.
	hurried bool
	// failures counts the writes that failed in a row; none is tried
	// again before retryAt.
	failures int
	retryAt  time.Time
	closed   bool

	flusher   *flusher
	closeOnce sync.Once
}

// The tiers of the queue, in the order they give way.
const (
	tierBindSuccess = iota
	tierNoAccount
	tierAccount
	auditTiers
)

func tierOf(r *AuditRecord) int {
	switch {
	case r.Action != ActionBind && r.Action != ActionSignIn:
		return tierAccount
	case r.Result == ResultSuccess:
		return tierBindSuccess
	case r.Subject == "" || summarised(r):
		return tierNoAccount
	}
	return tierAccount
}

// summarised reports whether r is one of the binds counted into one record
// per address and flush rather than a record each: those answered without
// looking at any account (anonymous, refused by the address's limit, busy,
// or malformed), which a client can send as fast as its link allows.
// Binds that name an account, or that the address's limit let through to
// be verified, are recorded one by one.
func summarised(r *AuditRecord) bool {
	// The account page's sign-ins are binds by another door: a flood of
	// them refused by the address's limit is counted the same way.
	if r.Action != ActionBind && r.Action != ActionSignIn {
		return false
	}
	switch r.Result {
	case ResultSuccess:
		return r.Method == "anonymous"
	case FailRateLimited, FailBusy, FailUnauthenticatedBind, FailInvalidName, FailUnsupported, FailMalformed,
		FailEmptyPassword, FailNoCertificate:
		return true
	}
	return false
}

// openKey is what a new record shares with a queued one to be added to it.
type openKey struct {
	summary                                                bool
	action, actor, subject, method, remote, detail, result string
}

func openKeyOf(r *AuditRecord, summary bool) openKey {
	if summary {
		return openKey{summary: true, action: r.Action, remote: addressOf(r.Remote), result: r.Result}
	}
	return openKey{action: r.Action, actor: r.Actor, subject: r.Subject, method: r.Method, remote: r.Remote, detail: r.Detail}
}

// addressOf is the address refusals are summarised by: an IPv4 address, or
// the /64 of an IPv6 one, as the server's limits count them (one host
// commonly holds a whole /64).
func addressOf(remote string) string {
	a, err := netip.ParseAddr(remote)
	if err != nil || a.Unmap().Is4() {
		return remote
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return remote
	}
	return p.String()
}

// queuedRecord is a record waiting to be written.
type queuedRecord struct {
	AuditRecord
	key    openKey
	keyed  bool
	logged bool
	// A summary keeps the fields its refusals share (the others are
	// emptied as they come), the time of the last one, and whether they
	// gave several bind names.
	summary bool
	last    time.Time
	several bool
}

// merge adds rec, alike, to q.
func (q *queuedRecord) merge(rec *AuditRecord) {
	q.Count += rec.Count
	if !q.summary {
		return
	}
	if rec.At.After(q.last) {
		q.last = rec.At
	}
	if q.Actor != rec.Actor {
		q.Actor, q.several = "", true
	}
	if q.Subject != rec.Subject {
		q.Subject = ""
	}
	if q.Method != rec.Method {
		q.Method = ""
	}
	if q.Detail != rec.Detail {
		q.Detail = ""
	}
	if q.Remote != rec.Remote {
		q.Remote = addressOf(rec.Remote)
	}
}

// record is the record written: a summary of several refusals says when
// the last one came and whether they gave several names.
func (q *queuedRecord) record() AuditRecord {
	r := q.AuditRecord
	if q.summary && q.Count > 1 {
		extra := KV("last", q.last.UTC().Format(time.RFC3339Nano))
		if q.several {
			extra += " " + KV("names", "several")
		}
		if r.Detail != "" {
			extra = r.Detail + " " + extra
		}
		r.Detail = cleanField(extra, maxAuditDetail)
	}
	return r
}

func newAuditRecorder(store Store, log *slog.Logger, interval, soon time.Duration, limit int) *auditRecorder {
	r := &auditRecorder{
		store:    store,
		log:      log,
		max:      limit,
		maxBatch: max(1, limit/8),
		interval: interval,
		soon:     soon,
		open:     make(map[openKey]*queuedRecord),
	}
	r.flusher = startFlusher(interval, r.flush)
	return r
}

// add queues rec without ever waiting for the database. A device that
// binds all day (a mail client's every check, a submission's every
// message), or a client refused again and again, adds to the count of its
// queued record instead of a row each.
func (r *auditRecorder) add(rec AuditRecord) {
	rec.Count = max(rec.Count, 1)
	sum := summarised(&rec)
	t := tierOf(&rec)
	r.mu.Lock()
	if r.closed {
		// Late records (after Close) are written at once rather than lost.
		r.mu.Unlock()
		if sum {
			logAudit(r.log, rec)
		}
		r.writeNow(rec)
		return
	}
	var key openKey
	keyed := sum || t == tierBindSuccess
	if keyed {
		key = openKeyOf(&rec, sum)
		if q, ok := r.open[key]; ok {
			q.merge(&rec)
			r.mu.Unlock()
			return
		}
	}
	if r.queued >= r.max {
		r.dropOldest()
	}
	q := &queuedRecord{AuditRecord: rec, key: key, keyed: keyed, summary: sum, last: rec.At}
	if keyed {
		r.open[key] = q
	}
	r.queues[t] = append(r.queues[t], q)
	r.queued++
	full := r.queued >= r.maxBatch
	hurry := !keyed && !r.hurried
	if hurry {
		r.hurried = true
	}
	r.mu.Unlock()
	switch {
	case full:
		r.flusher.poke()
	case hurry:
		time.AfterFunc(r.soon, r.flusher.hurry)
	}
}

// stats is how many records are queued and how many events were dropped
// since the start.
func (r *auditRecorder) stats() (queued int, dropped uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queued, r.droppedTotal
}

// dropOldest gives up the oldest record of the lowest tier that has one.
func (r *auditRecorder) dropOldest() {
	for t := range r.queues {
		q := r.queues[t]
		if len(q) == 0 {
			continue
		}
		if q[0].keyed && r.open[q[0].key] == q[0] {
			delete(r.open, q[0].key)
		}
		r.dropped[t] += q[0].Count
		r.droppedTotal += uint64(q[0].Count)
		q[0] = nil // let its strings go
		r.queues[t] = q[1:]
		r.queued--
		return
	}
}

// flush writes queued records: on a hurry, the failed binds and refused
// changes only; otherwise everything, closing the open records so that
// the next flush starts new ones.
func (r *auditRecorder) flush(why flushReason) {
	r.mu.Lock()
	dropped := r.dropped
	r.dropped = [auditTiers]int{}
	// Any flush takes what a hurry was asked for (in a backoff, the retry
	// will), so the next failure may ask again.
	r.hurried = false
	if why != flushClose && time.Now().Before(r.retryAt) {
		r.mu.Unlock()
		r.warnDropped(dropped)
		return
	}
	var taken []*queuedRecord
	if why == flushHurry {
		for t := tierNoAccount; t < auditTiers; t++ {
			var kept []*queuedRecord
			for _, q := range r.queues[t] {
				if q.keyed {
					kept = append(kept, q)
				} else {
					taken = append(taken, q)
				}
			}
			r.queues[t] = kept
		}
	} else {
		for t := range r.queues {
			taken = append(taken, r.queues[t]...)
			r.queues[t] = nil
		}
		clear(r.open)
	}
	r.queued -= len(taken)
	r.mu.Unlock()

	r.warnDropped(dropped)
	if len(taken) == 0 {
		return
	}
	// The tiers were queued apart; the table is read in time order.
	slices.SortStableFunc(taken, func(a, b *queuedRecord) int { return a.At.Compare(b.At) })
	batch := make([]AuditRecord, len(taken))
	for i, q := range taken {
		batch[i] = q.record()
		if q.summary && !q.logged {
			// Its one log line, now that its count is known.
			logAudit(r.log, batch[i])
			q.logged = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.store.InsertAudit(ctx, batch)
	if err == nil {
		r.mu.Lock()
		r.failures, r.retryAt = 0, time.Time{}
		r.mu.Unlock()
		return
	}
	if why == flushClose {
		r.log.Error("writing audit records failed at shutdown: records lost", "count", len(batch), "err", err)
		return
	}
	r.requeue(taken, err)
}

// maxAuditBackoff bounds the wait before a failed write is tried again.
const maxAuditBackoff = time.Minute

// requeue puts back the records of a failed write, in front of their
// tiers since they are older than anything queued meanwhile, and sets when
// to try again: after interval, then twice as long each time.
func (r *auditRecorder) requeue(taken []*queuedRecord, err error) {
	r.mu.Lock()
	r.failures++
	wait := min(r.interval<<min(r.failures-1, 6), max(maxAuditBackoff, r.interval))
	r.retryAt = time.Now().Add(wait)
	var back [auditTiers][]*queuedRecord
	for _, q := range taken {
		t := tierOf(&q.AuditRecord)
		back[t] = append(back[t], q)
	}
	for t := range r.queues {
		r.queues[t] = append(back[t], r.queues[t]...)
	}
	r.queued += len(taken)
	for r.queued > r.max {
		r.dropOldest()
	}
	r.mu.Unlock()
	r.log.Error("writing audit records failed; they stay queued", "count", len(taken), "retry_in", wait.String(), "err", err)
	time.AfterFunc(wait, r.flusher.poke)
}

func (r *auditRecorder) warnDropped(dropped [auditTiers]int) {
	if n := dropped[tierBindSuccess] + dropped[tierNoAccount] + dropped[tierAccount]; n > 0 {
		r.log.Warn("audit queue full: records dropped", "dropped", n, "bind_successes", dropped[tierBindSuccess],
			"without_account", dropped[tierNoAccount], "about_accounts", dropped[tierAccount])
	}
}

// writeNow writes one record at once: for records that come after close.
func (r *auditRecorder) writeNow(rec AuditRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.store.InsertAudit(ctx, []AuditRecord{rec}); err != nil {
		// The bind or the change itself stands; the operator must hear
		// that its record did not.
		r.log.Error("writing audit records failed", "count", 1, "err", err)
	}
}

// close writes what is queued and stops the loop; records added later are
// written one by one.
func (r *auditRecorder) close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.flusher.close()
	})
}
