package offsitetarget

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/target"
)

// auditTarget records a Ready target's configuration in its audit log
// when it is first seen Ready or when its endpoint, bucket, prefix,
// recipients, object lock, audit retention, signing key or audit key changed since
// the last record (status.audited, written with the status patch), and
// writes the entries kept from earlier failures. A failed write leaves
// status.audited as it was: the next reconcile tries again.
func (r *Reconciler) auditTarget(ctx context.Context, obj *v1alpha1.OffsiteTarget, v verdict) {
	if r.Audit == nil || v.err != nil || v.resolved == nil || !v.resolved.HasSigner {
		return
	}
	if err := r.Audit.Retry(auditlog.WithoutHeadNotice(ctx), v.resolved); err != nil {
		return // counted and reported; the target-change entry waits its turn
	}
	now := auditedTarget(v.resolved)
	prev := r.lastAudited(obj)
	if prev != nil {
		was := *prev
		was.Entry = 0
		if equalAudited(&was, now) {
			return
		}
	}
	d := audit.TargetDetails{
		Namespace: obj.Namespace, Target: obj.Name, Change: "created", Fields: changedFields(prev, now),
		Endpoint: now.Endpoint, Bucket: now.Bucket, Recipients: now.RecipientFingerprints, SigningKey: now.SigningKeyID, AuditKey: now.AuditKeyID,
		ChangedBy: target.SpecChangedBy(obj).String(), // the entry's actor is the controller that records it
	}
	if prev != nil {
		d.Change = "updated"
	}
	if ol := obj.Spec.ObjectLock; ol != nil {
		d.LockMode, d.LockDays = string(ol.Mode), int(ol.RetainDays)
	}
	// This reconcile records the head itself (recordHead): no wake-up.
	e, err := r.Audit.Record(auditlog.WithoutHeadNotice(ctx), v.resolved, audit.Record{Kind: audit.KindTargetChange, Subject: obj.Namespace + "/" + obj.Name, Details: d})
	if err != nil || e == nil {
		return
	}
	now.Entry = e.Seq
	obj.Status.Audited = now
	r.auditedMu.Lock()
	defer r.auditedMu.Unlock()
	if r.audited == nil {
		r.audited = map[types.UID]*v1alpha1.AuditedTarget{}
	}
	r.audited[obj.UID] = now
}

// lastAudited is obj's status.audited, or the newer one this process gave
// it when the cache has not caught up yet.
func (r *Reconciler) lastAudited(obj *v1alpha1.OffsiteTarget) *v1alpha1.AuditedTarget {
	r.auditedMu.Lock()
	defer r.auditedMu.Unlock()
	prev := obj.Status.Audited
	if mem := r.audited[obj.UID]; mem != nil && (prev == nil || mem.Entry > prev.Entry) {
		return mem
	}
	return prev
}

// auditedTarget is what a target-change entry records of t.
func auditedTarget(t *target.Target) *v1alpha1.AuditedTarget {
	spec := t.Object.Spec
	a := &v1alpha1.AuditedTarget{
		Endpoint: strings.TrimSuffix(spec.S3.Endpoint, "/"), Bucket: spec.S3.Bucket, Prefix: spec.S3.Prefix,
		RecipientFingerprints: target.Fingerprints(t.Recipients), SigningKeyID: t.Signer.Public().KeyID(),
		AuditRetainDays: int32(t.AuditOptions().RetainDays),
	}
	if t.HasAuditSigner {
		a.AuditKeyID = t.AuditSigner.Public().KeyID()
	}
	if ol := spec.ObjectLock; ol != nil {
		a.ObjectLock = fmt.Sprintf("%s/%d", ol.Mode, ol.RetainDays)
	}
	return a
}

func equalAudited(a, b *v1alpha1.AuditedTarget) bool {
	return a.Endpoint == b.Endpoint && a.Bucket == b.Bucket && a.Prefix == b.Prefix &&
		slices.Equal(a.RecipientFingerprints, b.RecipientFingerprints) && a.SigningKeyID == b.SigningKeyID && a.AuditKeyID == b.AuditKeyID &&
		a.ObjectLock == b.ObjectLock && a.AuditRetainDays == b.AuditRetainDays
}

// changedFields names the fields that differ; none for a first record.
func changedFields(prev, now *v1alpha1.AuditedTarget) []string {
	if prev == nil {
		return nil
	}
	var out []string
	add := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	add("endpoint", prev.Endpoint != now.Endpoint)
	add("bucket", prev.Bucket != now.Bucket)
	add("prefix", prev.Prefix != now.Prefix)
	add("recipients", !slices.Equal(prev.RecipientFingerprints, now.RecipientFingerprints))
	add("signingKey", prev.SigningKeyID != now.SigningKeyID)
	add("auditKey", prev.AuditKeyID != now.AuditKeyID)
	add("objectLock", prev.ObjectLock != now.ObjectLock)
	add("auditRetainDays", prev.AuditRetainDays != now.AuditRetainDays)
	return out
}

// recordHead keeps in status.auditHead the newest entry the controller
// wrote to the target's log (never an older one of the same place).
func (r *Reconciler) recordHead(obj *v1alpha1.OffsiteTarget, v verdict) {
	if v.resolved == nil {
		return
	}
	if h, ok := r.Audit.Head(v.resolved); ok && auditlog.NewerHead(obj.Status.AuditHead, h) {
		obj.Status.AuditHead = &h
	}
}
