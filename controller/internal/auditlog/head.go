package auditlog

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/target"
)

// HeadFunc is told that the controller wrote entries to the log of the
// OffsiteTarget namespace/name: its head (Auditor.Head) moved.
type HeadFunc func(namespace, name string)

// OnHead registers fn, called after each write that moved a target's
// head (outside the Auditor's locks). Call it before the first Record.
func (a *Auditor) OnHead(fn HeadFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onHead = fn
}

// Head returns the newest entry this process wrote to t's log, as the
// OffsiteTarget's status.auditHead records it; ok is false when it wrote
// none to the place t's spec names now.
func (a *Auditor) Head(t *target.Target) (head v1alpha1.AuditHead, ok bool) {
	if a == nil {
		return v1alpha1.AuditHead{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.heads[targetKey(t)]
	if !ok || h.Bucket != t.Object.Spec.S3.Bucket || h.Prefix != t.Object.Spec.S3.Prefix {
		return v1alpha1.AuditHead{}, false
	}
	return h, true
}

// advance records e as t's head when it is newer than the one known.
func (a *Auditor) advance(t *target.Target, tk string, e *audit.Entry) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	spec := t.Object.Spec.S3
	h, ok := a.heads[tk]
	if ok && h.Bucket == spec.Bucket && h.Prefix == spec.Prefix && h.Seq >= e.Seq {
		return false
	}
	a.heads[tk] = v1alpha1.AuditHead{Bucket: spec.Bucket, Prefix: spec.Prefix, Seq: e.Seq, Hash: e.Hash, Time: metav1.NewTime(e.Time.UTC())}
	return true
}

type noHeadNoticeKey struct{}

// WithoutHeadNotice marks ctx so that writes under it do not call the
// OnHead function: for the writer that records the head itself.
func WithoutHeadNotice(ctx context.Context) context.Context {
	return context.WithValue(ctx, noHeadNoticeKey{}, true)
}

// headMoved tells the OnHead function, if any, unless ctx says not to.
func (a *Auditor) headMoved(ctx context.Context, t *target.Target) {
	if off, _ := ctx.Value(noHeadNoticeKey{}).(bool); off {
		return
	}
	a.mu.Lock()
	fn := a.onHead
	a.mu.Unlock()
	if fn != nil {
		fn(t.Object.Namespace, t.Object.Name)
	}
}

// NewerHead says whether head should replace cur in a target's status: cur
// is unset, of another place, or older.
func NewerHead(cur *v1alpha1.AuditHead, head v1alpha1.AuditHead) bool {
	return cur == nil || cur.Bucket != head.Bucket || cur.Prefix != head.Prefix || cur.Seq < head.Seq
}
