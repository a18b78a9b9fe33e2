// Package auditlog writes the reconcilers' entries to each OffsiteTarget's
// audit log, shared by every reconciler of the process: one audit.Log per
// target, and entries a bucket refused kept and written, in order, later.
package auditlog

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/target"
)

// DefaultActor is the actor of the controller's audit entries when
// Options.AuditActor is empty.
const DefaultActor = "safekeep-controller"

// maxPendingAudit bounds the entries kept in memory per target while its
// bucket refuses them; older ones are dropped (and were counted as
// failures).
const maxPendingAudit = 1000

// Auditor writes the reconcilers' audit entries to each target's log. It
// keeps one audit.Log per target (and bucket, key and lock settings), so
// appends find the head without listing, and keeps the entries a bucket
// refused, to write them, in order, before the next entry for that
// target or when the target is next reconciled. A nil *Auditor records
// nothing (reconcilers built without one, in tests).
type Auditor struct {
	actor    string
	recorder events.EventRecorder

	mu      sync.Mutex
	logs    map[string]*audit.Log
	pending map[string][]audit.Record
}

// New returns an Auditor writing entries as actor ("" means
// DefaultActor), reporting failed writes as Events through recorder.
func New(actor string, recorder events.EventRecorder) *Auditor {
	if actor == "" {
		actor = DefaultActor
	}
	return &Auditor{actor: actor, recorder: recorder, logs: map[string]*audit.Log{}, pending: map[string][]audit.Record{}}
}

// Record appends rec to t's audit log (rec.Actor defaults to the
// controller's) after any entries kept from earlier failures, and returns
// the entry. On failure it counts the failure, writes a Warning Event on
// the OffsiteTarget, keeps rec for a later try and returns the error: the
// caller goes on (an audit failure never fails a backup).
func (a *Auditor) Record(ctx context.Context, t *target.Target, rec audit.Record) (*audit.Entry, error) {
	if a == nil {
		return nil, nil
	}
	if rec.Actor == "" {
		rec.Actor = a.actor
	}
	key, l, err := a.logOf(t)
	if err == nil {
		err = a.flush(ctx, t, key, l)
	}
	if err != nil {
		a.keep(ctx, t, key, rec, err)
		return nil, err
	}
	e, err := l.Append(ctx, rec)
	if err != nil {
		a.keep(ctx, t, key, rec, err)
		return nil, err
	}
	auditEntries.WithLabelValues(string(rec.Kind)).Inc()
	return e, nil
}

// Retry writes the entries kept for t, if any.
func (a *Auditor) Retry(ctx context.Context, t *target.Target) error {
	if a == nil {
		return nil
	}
	key, l, err := a.logOf(t)
	if err != nil {
		return err
	}
	return a.flush(ctx, t, key, l)
}

// logOf returns t's log and its key.
func (a *Auditor) logOf(t *target.Target) (string, *audit.Log, error) {
	l, err := t.AuditLog()
	if err != nil {
		return "", nil, err
	}
	o := t.AuditOptions()
	key := fmt.Sprintf("%s/%s|%s|%s|%s|%d|%v", t.Object.Namespace, t.Object.Name, t.Store, t.Signer.Public().KeyID(), o.LockMode, o.RetainDays, o.NoLock)
	a.mu.Lock()
	defer a.mu.Unlock()
	if cached := a.logs[key]; cached != nil {
		return key, cached, nil
	}
	a.logs[key] = l
	return key, l, nil
}

// flush appends the entries kept under key, in order, stopping at the
// first failure.
func (a *Auditor) flush(ctx context.Context, t *target.Target, key string, l *audit.Log) error {
	a.mu.Lock()
	recs := a.pending[key]
	delete(a.pending, key)
	a.mu.Unlock()
	for i, rec := range recs {
		if _, err := l.Append(ctx, rec); err != nil {
			a.mu.Lock()
			a.pending[key] = append(recs[i:], a.pending[key]...)
			a.mu.Unlock()
			return err
		}
		auditEntries.WithLabelValues(string(rec.Kind)).Inc()
		logf.FromContext(ctx).Info("audit entry written on retry", "kind", rec.Kind, "target", t.Object.Name)
	}
	return nil
}

// keep counts and reports a failed write and keeps rec for later.
func (a *Auditor) keep(ctx context.Context, t *target.Target, key string, rec audit.Record, err error) {
	auditWriteFailures.WithLabelValues(string(rec.Kind)).Inc()
	logf.FromContext(ctx).Error(err, "audit entry not written, kept for a retry", "kind", rec.Kind, "subject", rec.Subject)
	if key != "" {
		a.mu.Lock()
		p := append(a.pending[key], rec)
		if len(p) > maxPendingAudit {
			p = p[len(p)-maxPendingAudit:]
		}
		a.pending[key] = p
		a.mu.Unlock()
	}
	if a.recorder != nil && t != nil && t.Object != nil {
		note := fmt.Sprintf("audit entry %s for %s not written, retried on the next reconcile: %v", rec.Kind, rec.Subject, err)
		a.recorder.Eventf(t.Object, nil, corev1.EventTypeWarning, "AuditWriteFailed", "Audit", "%s", kit.Note(note))
	}
}

// Seconds is d in seconds to the millisecond, as audit entries carry
// durations: signed entries keep 1.261, not 1.2610000000000001.
func Seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// RecordDrill records a drill run and returns its entry's sequence number
// and hash (zero when a nil Auditor records nothing).
func (a *Auditor) RecordDrill(ctx context.Context, t *target.Target, rec audit.Record) (uint64, string, error) {
	e, err := a.Record(ctx, t, rec)
	if err != nil || e == nil {
		return 0, "", err
	}
	return e.Seq, e.Hash, nil
}

// CountFailure counts an entry of kind that could not even be attempted
// (its target did not resolve).
func CountFailure(kind audit.Kind) { auditWriteFailures.WithLabelValues(string(kind)).Inc() }
