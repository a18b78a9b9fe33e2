// Package auditlog writes the reconcilers' entries to each OffsiteTarget's
// audit log, shared by every reconciler of the process: one audit.Log per
// target, and the entries still to be written kept in the cluster (an
// Outbox) until they are in the bucket, then written in order, once.
package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/internal/canonical"
	"github.com/safekeep-dev/safekeep/target"
)

// DefaultActor is the actor of the controller's audit entries when
// Options.AuditActor is empty.
const DefaultActor = "safekeep-controller"

// maxPendingAudit bounds the entries kept in memory per target while both
// its bucket and the API server refuse them; older ones are dropped (and
// were counted as failures).
const maxPendingAudit = 1000

// ReasonAuditInMemory is the reason of the Warning Event saying an audit
// entry is held in the controller's memory only.
const ReasonAuditInMemory = "AuditEvidenceInMemory"

// OwnerRestoreDrill is the owner of drill entries: once a deferred one is
// written, the hook registered for it puts its seq and hash in the drill's
// status.
const OwnerRestoreDrill = "RestoreDrill"

// WrittenFunc is told that the entry recorded for subject, deferred
// earlier, is now in the log. An error keeps the outbox item: the entry is
// found in the log (not written again) and the hook called again later.
type WrittenFunc func(ctx context.Context, subject string, e *audit.Entry) error

// Auditor writes the reconcilers' audit entries to each target's log. It
// keeps one audit.Log per target (and bucket, key and lock settings), so
// appends find the head without listing. Each entry is first kept in the
// Outbox (when set), then written after every older entry still kept for
// its target; an entry that may have reached the log before a failure or
// a restart is looked for before it is written again (see write). A nil
// *Auditor records nothing (reconcilers built without one, in tests).
type Auditor struct {
	actor    string
	recorder events.EventRecorder
	outbox   *Outbox
	now      func() time.Time

	mu   sync.Mutex
	logs map[string]*audit.Log
	// memory holds, per target, entries neither the bucket nor the API
	// server took.
	memory map[string][]*pending
	// writing serializes the writers of one target, so an entry kept in
	// the outbox is written by one of them.
	writing map[string]*sync.Mutex
	hooks   map[string]WrittenFunc
	// heads holds the newest entry written per target (see Head).
	heads  map[string]v1alpha1.AuditHead
	onHead HeadFunc
}

// New returns an Auditor writing entries as actor ("" means
// DefaultActor), reporting failed writes as Events through recorder. It
// keeps entries in memory until UseOutbox is called.
func New(actor string, recorder events.EventRecorder) *Auditor {
	if actor == "" {
		actor = DefaultActor
	}
	return &Auditor{
		actor: actor, recorder: recorder, now: time.Now,
		logs: map[string]*audit.Log{}, memory: map[string][]*pending{},
		writing: map[string]*sync.Mutex{}, hooks: map[string]WrittenFunc{},
		heads: map[string]v1alpha1.AuditHead{},
	}
}

// UseOutbox keeps entries still to be written in o. Call it before the
// first Record.
func (a *Auditor) UseOutbox(o *Outbox) { a.outbox = o }

// OnWritten registers fn for the deferred entries recorded for owner.
// Call it before the first Record.
func (a *Auditor) OnWritten(owner string, fn WrittenFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hooks[owner] = fn
}

// Record appends rec to t's audit log (rec.Actor defaults to the
// controller's) after any entries kept from earlier failures, and returns
// the entry. On failure it counts the failure, writes a Warning Event on
// the OffsiteTarget, keeps rec for a later try and returns the error: the
// caller goes on (an audit failure never fails a backup).
func (a *Auditor) Record(ctx context.Context, t *target.Target, rec audit.Record) (*audit.Entry, error) {
	return a.record(ctx, t, rec, "")
}

// RecordDrill records a drill run and returns its entry's sequence number
// and hash (zero when a nil Auditor records nothing). A deferred entry's
// seq and hash reach the drill's status through the OwnerRestoreDrill hook.
func (a *Auditor) RecordDrill(ctx context.Context, t *target.Target, rec audit.Record) (uint64, string, error) {
	e, err := a.record(ctx, t, rec, OwnerRestoreDrill)
	if err != nil || e == nil {
		return 0, "", err
	}
	return e.Seq, e.Hash, nil
}

// RecordOnce is Record for a fact that a retry after a crash may record
// again (a decision taken again after a restart): it records nothing when
// an entry of rec's kind and subject is kept to be written (that one is
// written now, after the entries kept before it), or is in the log no
// earlier than since, and returns that entry (nil when it stays kept). A
// log that cannot be searched does not stop the record.
func (a *Auditor) RecordOnce(ctx context.Context, t *target.Target, rec audit.Record, since time.Time) (*audit.Entry, error) {
	if a == nil {
		return nil, nil
	}
	return a.recordIf(ctx, t, rec, "", a.recordedSince(t, rec, since))
}

// RunEntry is a drill run's entry as RecordDrillOnce found or recorded
// it: the run's status says what the log says.
type RunEntry struct {
	// Kind and Details (canonical JSON) are the entry's.
	Kind    audit.Kind
	Details json.RawMessage
	// Seq and Hash name the entry in the log; 0 and "" while it is kept
	// to be written (the OwnerRestoreDrill hook names it then).
	Seq  uint64
	Hash string
}

// RecordDrillOnce is RecordOnce for a drill run's entry. Any entry of the
// run counts, its verdict (KindDrill) or a failure: a controller killed
// after recording the verdict (kept in the outbox, or in the log while it
// cleaned up) leaves the run active, and the next one must not record it
// again as interrupted. It returns the run's entry: the one in the log
// since since; or the one kept, written now (after the entries kept
// before it); or rec, written now. An entry kept that cannot be written
// yet is returned with seq 0 and the error; so is rec, kept for a retry.
func (a *Auditor) RecordDrillOnce(ctx context.Context, t *target.Target, rec audit.Record, since time.Time) (*RunEntry, error) {
	if a == nil {
		return nil, nil
	}
	details, err := canonicalDetails(rec.Details)
	if err != nil {
		a.failed(ctx, t, rec, err)
		return nil, err
	}
	rec.Details = details
	ofRun := func(kind audit.Kind, subject string) bool {
		return (kind == audit.KindDrill || kind == audit.KindFailure) && subject == rec.Subject
	}
	var kept *RunEntry // the run's entry found kept
	var keptErr error  // why it is not written yet
	e, err := a.recordIf(ctx, t, rec, OwnerRestoreDrill, func(ctx context.Context, queue []*pending) (*audit.Entry, bool) {
		for _, q := range queue {
			if !ofRun(q.rec.Kind, q.rec.Subject) {
				continue
			}
			kept = &RunEntry{Kind: q.rec.Kind}
			kept.Details, _ = q.rec.Details.(json.RawMessage) //nolint:errcheck // canonical JSON or nil, set by record
			e, err := a.flush(ctx, t, targetKey(t), q)
			if err != nil {
				a.failed(ctx, t, q.rec, err)
				keptErr = err
			}
			return e, true
		}
		l, err := a.logOf(t)
		if err != nil {
			return nil, false
		}
		e, err := l.Find(ctx, since, func(e *audit.Entry) bool { return ofRun(e.Kind, e.Subject) })
		return e, err == nil && e != nil
	})
	switch {
	case kept != nil:
		if e != nil {
			kept.Seq, kept.Hash = e.Seq, e.Hash
		}
		return kept, keptErr
	case err != nil:
		return &RunEntry{Kind: rec.Kind, Details: details}, err // kept for a retry
	}
	return runEntryOf(e)
}

// runEntryOf is e as a RunEntry, its details canonical.
func runEntryOf(e *audit.Entry) (*RunEntry, error) {
	r := &RunEntry{Kind: e.Kind, Seq: e.Seq, Hash: e.Hash}
	if len(e.Details) > 0 {
		d, err := canonical.JSON(e.Details)
		if err != nil {
			return nil, fmt.Errorf("audit entry %d: details: %w", e.Seq, err)
		}
		r.Details = d
	}
	return r, nil
}

// recordedSince is RecordOnce's test: an entry of rec's subject and kind
// kept, or in t's log no earlier than since.
func (a *Auditor) recordedSince(t *target.Target, rec audit.Record, since time.Time) func(context.Context, []*pending) (*audit.Entry, bool) {
	return func(ctx context.Context, kept []*pending) (*audit.Entry, bool) {
		for _, q := range kept {
			if q.rec.Kind == rec.Kind && q.rec.Subject == rec.Subject {
				// Kept: written now, after those kept before it.
				e, err := a.flush(ctx, t, targetKey(t), q)
				if err != nil {
					a.failed(ctx, t, q.rec, err)
				}
				return e, true
			}
		}
		l, err := a.logOf(t)
		if err != nil {
			return nil, false
		}
		e, err := l.Find(ctx, since, func(e *audit.Entry) bool { return e.Kind == rec.Kind && e.Subject == rec.Subject })
		return e, err == nil && e != nil
	}
}

func (a *Auditor) record(ctx context.Context, t *target.Target, rec audit.Record, owner string) (*audit.Entry, error) {
	if a == nil {
		return nil, nil
	}
	return a.recordIf(ctx, t, rec, owner, nil)
}

// recordIf records rec unless done (nil: never) says, given the entries
// kept for t, that it is recorded already.
func (a *Auditor) recordIf(ctx context.Context, t *target.Target, rec audit.Record, owner string, done func(context.Context, []*pending) (*audit.Entry, bool)) (*audit.Entry, error) {
	if rec.Actor == "" {
		rec.Actor = a.actor
	}
	details, err := canonicalDetails(rec.Details)
	if err != nil {
		a.failed(ctx, t, rec, err)
		return nil, err
	}
	rec.Details = details
	tk := targetKey(t)
	defer a.lockTarget(tk)()
	if done != nil {
		if e, ok := done(ctx, a.kept(ctx, t, tk)); ok {
			return e, nil
		}
	}
	p := &pending{created: a.now(), rec: rec, owner: owner, fresh: true}
	if l, err := a.logOf(t); err == nil {
		p.after, p.bounded = l.KnownHead()
	}
	var refused error
	if a.outbox != nil {
		if refused = a.outbox.add(ctx, t.Object.Namespace, t.Object.Name, p); refused != nil {
			logf.FromContext(ctx).Error(refused, "audit entry not kept in the cluster, kept in memory", "kind", rec.Kind)
		}
	}
	e, err := a.flush(ctx, t, tk, p)
	if err != nil {
		a.failed(ctx, t, rec, err)
		if refused != nil {
			a.heldInMemory(t, rec, refused)
			a.headMoved(ctx, t) // the target's AuditEvidenceDurable condition follows
		}
		return nil, err
	}
	return e, nil
}

// heldInMemory says, as a Warning Event on t, that the entry rec is
// neither in the bucket nor in the cluster: only this process holds it
// (safekeep_audit_entries_in_memory counts them).
func (a *Auditor) heldInMemory(t *target.Target, rec audit.Record, refused error) {
	if a.recorder == nil || t == nil || t.Object == nil {
		return
	}
	note := fmt.Sprintf("audit entry %s for %s is held in this controller's memory only: the bucket refused it and the API server would not keep it in the outbox (%v); a restart before the bucket takes it loses it",
		rec.Kind, rec.Subject, refused)
	a.recorder.Eventf(t.Object, nil, corev1.EventTypeWarning, ReasonAuditInMemory, "Audit", "%s", kit.Note(note))
}

// InMemory returns how many of t's entries only this process holds (see
// heldInMemory).
func (a *Auditor) InMemory(t *target.Target) int {
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.memory[targetKey(t)])
}

// Retry writes the entries kept for t, if any.
func (a *Auditor) Retry(ctx context.Context, t *target.Target) error {
	if a == nil {
		return nil
	}
	tk := targetKey(t)
	defer a.lockTarget(tk)()
	_, err := a.flush(ctx, t, tk, nil)
	return err
}

// kept returns the entries kept for t, in memory and in the outbox (as far
// as it can be listed). The caller holds t's writer lock.
func (a *Auditor) kept(ctx context.Context, t *target.Target, tk string) []*pending {
	a.mu.Lock()
	out := slices.Clone(a.memory[tk])
	a.mu.Unlock()
	if a.outbox != nil {
		if list, err := a.outbox.list(ctx, t.Object.Namespace, t.Object.Name); err == nil {
			out = append(out, list...)
		}
	}
	return out
}

// targetKey names t's outbox and lock.
func targetKey(t *target.Target) string { return t.Object.Namespace + "/" + t.Object.Name }

// lockTarget takes the writer lock of target tk and returns its release.
func (a *Auditor) lockTarget(tk string) func() {
	a.mu.Lock()
	m := a.writing[tk]
	if m == nil {
		m = &sync.Mutex{}
		a.writing[tk] = m
	}
	a.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// logOf returns t's log.
func (a *Auditor) logOf(t *target.Target) (*audit.Log, error) {
	l, err := t.AuditLog()
	if err != nil {
		return nil, err
	}
	o := t.AuditOptions()
	signer, _ := t.AuditSigningKey() // AuditLog succeeded: there is one
	key := fmt.Sprintf("%s/%s|%s|%s|%s|%d|%v", t.Object.Namespace, t.Object.Name, t.Store, signer.Public().KeyID(), o.LockMode, o.RetainDays, o.NoLock)
	a.mu.Lock()
	defer a.mu.Unlock()
	if cached := a.logs[key]; cached != nil {
		return cached, nil
	}
	a.logs[key] = l
	return l, nil
}

// failed counts and reports a failed write.
func (a *Auditor) failed(ctx context.Context, t *target.Target, rec audit.Record, err error) {
	auditWriteFailures.WithLabelValues(string(rec.Kind)).Inc()
	logf.FromContext(ctx).Error(err, "audit entry not written, kept for a retry", "kind", rec.Kind, "subject", rec.Subject)
	if a.recorder != nil && t != nil && t.Object != nil {
		note := fmt.Sprintf("audit entry %s for %s not written, retried on the next reconcile: %v", rec.Kind, rec.Subject, err)
		a.recorder.Eventf(t.Object, nil, corev1.EventTypeWarning, "AuditWriteFailed", "Audit", "%s", kit.Note(note))
	}
}

// Seconds is d in seconds to the millisecond, as audit entries carry
// durations: signed entries keep 1.261, not 1.2610000000000001.
func Seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// CountFailure counts an entry of kind that could not even be attempted
// (its target did not resolve).
func CountFailure(kind audit.Kind) { auditWriteFailures.WithLabelValues(string(kind)).Inc() }
