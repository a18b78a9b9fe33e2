package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/canonical"
	"github.com/safekeep-dev/safekeep/target"
)

// findSkew widens the look-back for an entry that may already be in the
// log: its time is its writer's clock at the write, which may run behind
// the clock that kept it.
const findSkew = 10 * time.Minute

// flush writes the entries kept for t (memory and outbox), oldest first,
// then p (nil: none; it may be one of those kept), stopping at the first
// failure; it returns p's entry.
// The caller holds t's writer lock.
func (a *Auditor) flush(ctx context.Context, t *target.Target, tk string, p *pending) (*audit.Entry, error) {
	a.mu.Lock()
	queue := a.memory[tk]
	delete(a.memory, tk)
	a.mu.Unlock()
	if p != nil && p.name == "" && !slices.Contains(queue, p) {
		queue = append(queue, p) // not one of the entries held in memory
	}
	l, err := a.logOf(t)
	if err != nil {
		a.keepInMemory(tk, queue)
		return nil, err
	}
	if a.outbox != nil {
		kept, err := a.outbox.list(ctx, t.Object.Namespace, t.Object.Name)
		if err != nil {
			// What the outbox keeps stays there for a flush that can list
			// it (and finds it in the log if it got there): the entries
			// this process holds still go to the bucket now.
			logf.FromContext(ctx).Error(err, "audit outbox not listed; writing this process's entries only", "target", t.Object.Name)
		}
		queue = merge(queue, kept, p)
	}
	var got *audit.Entry
	moved := false
	defer func() {
		if moved {
			a.headMoved(ctx, t)
		}
	}()
	for i, q := range queue {
		e, err := a.write(ctx, l, q)
		if err != nil {
			a.keepInMemory(tk, queue[i:])
			return nil, err
		}
		moved = a.advance(t, tk, e) || moved
		auditEntries.WithLabelValues(string(q.rec.Kind)).Inc()
		if len(e.Burned) > 0 {
			auditBurned.WithLabelValues(t.Object.Namespace, t.Object.Name).Add(float64(len(e.Burned)))
			logf.FromContext(ctx).Info("audit entry written after burned seqs", "seq", e.Seq, "burned", e.Burned, "target", t.Object.Name)
		}
		if q.same(p) {
			got = e
		} else {
			logf.FromContext(ctx).Info("audit entry written on retry", "kind", q.rec.Kind, "seq", e.Seq, "target", t.Object.Name)
		}
		a.done(ctx, q, e, !q.same(p))
	}
	a.memoryWritten(tk)
	return got, nil
}

// merge orders the memory entries and the outbox's, oldest first, with p
// (just added to the outbox, which may not list it yet) marked fresh.
func merge(memory, kept []*pending, p *pending) []*pending {
	if p != nil && p.name != "" && !slices.ContainsFunc(kept, p.same) {
		kept = append(kept, p)
	}
	for i, k := range kept {
		if k.same(p) {
			kept[i] = p
		}
	}
	out := append(memory, kept...)
	slices.SortStableFunc(out, func(a, b *pending) int { return a.created.Compare(b.created) })
	return out
}

// same says q and p are one entry (p may be nil).
func (q *pending) same(p *pending) bool {
	return p != nil && (q == p || (q.name != "" && q.name == p.name && q.ns == p.ns))
}

// write appends q's entry, unless q may already be in the log (it is not
// fresh: a writer tried it before a failure or a restart) and is there:
// so a retry never writes an entry twice.
func (a *Auditor) write(ctx context.Context, l *audit.Log, q *pending) (*audit.Entry, error) {
	if !q.fresh {
		e, err := l.Find(ctx, q.created.Add(-findSkew), q.matches)
		if err != nil {
			return nil, err
		}
		if e != nil {
			return e, nil
		}
	}
	q.fresh = false // from the first try on, it may be in the log
	return l.Append(ctx, q.rec)
}

// matches says e records q: same actor, kind, subject and details, and
// newer than q.after when q is bounded (an identical record written before
// q's first try is another fact).
func (q *pending) matches(e *audit.Entry) bool {
	if q.bounded && e.Seq <= q.after {
		return false
	}
	if e.Actor != q.rec.Actor || e.Kind != q.rec.Kind || e.Subject != q.rec.Subject {
		return false
	}
	want, _ := q.rec.Details.(json.RawMessage) //nolint:errcheck // canonical JSON or nil, set by record
	got := []byte(e.Details)
	if len(got) > 0 {
		var err error
		if got, err = canonical.JSON(got); err != nil {
			return false
		}
	}
	return bytes.Equal(got, want)
}

// done tells q's owner (for an entry written after a deferral) and
// removes q from the outbox. A hook that fails keeps q, to be found in the
// log and told again on the next flush.
func (a *Auditor) done(ctx context.Context, q *pending, e *audit.Entry, deferred bool) {
	log := logf.FromContext(ctx)
	if deferred && q.owner != "" {
		a.mu.Lock()
		hook := a.hooks[q.owner]
		a.mu.Unlock()
		if hook != nil {
			if err := hook(ctx, q.rec.Subject, e); err != nil {
				log.Error(err, "audit entry written, its owner not updated yet", "owner", q.owner, "seq", e.Seq)
				return
			}
		}
	}
	if q.name == "" || a.outbox == nil {
		return
	}
	if err := a.outbox.remove(ctx, q); err != nil {
		log.Error(err, "audit entry written, its outbox item not removed (found in the log next time)", "seq", e.Seq)
	}
}

// keepInMemory keeps the entries of queue that the outbox does not hold.
func (a *Auditor) keepInMemory(tk string, queue []*pending) {
	var mem []*pending
	for _, q := range queue {
		if q.name == "" {
			mem = append(mem, q)
		}
	}
	if len(mem) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	mem = append(a.memory[tk], mem...)
	if n := len(mem) - maxPendingAudit; n > 0 {
		auditDropped.WithLabelValues(splitTargetKey(tk)).Add(float64(n))
		mem = mem[n:]
	}
	a.memory[tk] = mem
	auditInMemory.WithLabelValues(splitTargetKey(tk)).Set(float64(len(mem)))
}

// memoryWritten says t's entries held in memory are all written. The
// caller holds t's writer lock.
func (a *Auditor) memoryWritten(tk string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	auditInMemory.WithLabelValues(splitTargetKey(tk)).Set(float64(len(a.memory[tk])))
}

// splitTargetKey is the namespace and name of target key tk.
func splitTargetKey(tk string) (string, string) {
	ns, name, _ := strings.Cut(tk, "/")
	return ns, name
}

// canonicalDetails is d as canonical JSON (nil: none), as the entry will
// hold it, so a kept entry compares with the one in the log.
func canonicalDetails(d any) (json.RawMessage, error) {
	var b []byte
	switch d := d.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		b = d
	default:
		var err error
		if b, err = json.Marshal(d); err != nil {
			return nil, fmt.Errorf("encode audit details: %w", err)
		}
	}
	if bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	c, err := canonical.JSON(b)
	if err != nil {
		return nil, fmt.Errorf("encode audit details: %w", err)
	}
	return c, nil
}
