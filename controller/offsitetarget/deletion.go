package offsitetarget

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/target"
)

const (
	// deletionAuditRetry is how soon a deletion entry the bucket refused
	// is tried again.
	deletionAuditRetry = 30 * time.Second
	// deletionAuditGiveUp bounds how long a deleted target is held for its
	// entry: a bucket gone for good must not keep it forever.
	deletionAuditGiveUp = 10 * time.Minute
)

// addFinalizer puts FinalizerTargetAudit on every target (when the
// controller audits), before its configuration is first recorded, so that
// its deletion is recorded too.
func (r *Reconciler) addFinalizer(ctx context.Context, obj *v1alpha1.OffsiteTarget) error {
	if r.Audit == nil || controllerutil.ContainsFinalizer(obj, v1alpha1.FinalizerTargetAudit) {
		return nil
	}
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(obj, v1alpha1.FinalizerTargetAudit)
	if err := r.Patch(ctx, obj, patch); err != nil {
		return fmt.Errorf("add the finalizer of OffsiteTarget %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// deleting records the deletion of a target in its audit log (the
// schedules that used it, and that who deleted it is not known to the
// API), then lets it go. The Secrets may be gone already (deleted with
// it): the target as last resolved by this process serves then. A
// bucket that refuses the entry holds the target for up to
// deletionAuditGiveUp; after that, or when the target cannot be
// resolved at all, it goes unrecorded, with a Warning Event and a
// counted failure.
func (r *Reconciler) deleting(ctx context.Context, obj *v1alpha1.OffsiteTarget) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, v1alpha1.FinalizerTargetAudit) {
		return ctrl.Result{}, nil
	}
	log := logf.FromContext(ctx)
	tg, err := target.Resolve(ctx, r.Client, obj)
	if err != nil {
		tg = r.lastResolved(obj.UID)
	}
	switch {
	case r.Audit == nil || r.lastAudited(obj) == nil:
		// The log never recorded this target: nothing to close.
	case tg == nil || !hasAuditKey(tg):
		auditlog.CountFailure(audit.KindTargetChange)
		why := "the target has no audit key"
		if err != nil {
			why = fmt.Sprintf("the target could not be resolved (%v)", err)
		}
		r.warnUnrecorded(obj, why)
		log.Info("offsite target deletion not recorded in its audit log", "why", why)
	case !r.deletionKept(obj.UID):
		rec := target.DeletionRecord(obj, tg.Object.Spec.S3.Endpoint, r.schedulesUsing(ctx, obj))
		if _, err := r.Audit.Record(ctx, tg, rec); err != nil {
			r.keepDeletion(obj.UID) // the Auditor keeps the entry; Retry writes it
			return ctrl.Result{RequeueAfter: deletionAuditRetry}, nil
		}
	default:
		if err := r.Audit.Retry(ctx, tg); err != nil {
			if time.Since(obj.DeletionTimestamp.Time) < deletionAuditGiveUp {
				return ctrl.Result{RequeueAfter: deletionAuditRetry}, nil
			}
			r.warnUnrecorded(obj, fmt.Sprintf("the bucket refused it for %s (%v)", deletionAuditGiveUp, err))
		}
	}
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, v1alpha1.FinalizerTargetAudit)
	if err := r.Patch(ctx, obj, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("remove the finalizer of OffsiteTarget %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	r.forget(obj.UID)
	log.Info("offsite target deleted")
	return ctrl.Result{}, nil
}

// warnUnrecorded says on the target (while it lasts) and in the log that
// its deletion is not in its audit log.
func (r *Reconciler) warnUnrecorded(obj *v1alpha1.OffsiteTarget, why string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "DeletionNotAudited", "Delete",
			"%s", kit.Note("the deletion of this OffsiteTarget is not in its audit log: "+why))
	}
}

// schedulesUsing names the BackupSchedules of obj's namespace that name it.
func (r *Reconciler) schedulesUsing(ctx context.Context, obj *v1alpha1.OffsiteTarget) []string {
	var names []string
	for _, req := range kit.Referrers(ctx, r.Client, &v1alpha1.BackupScheduleList{}, obj.Namespace, func(o client.Object) bool {
		s, ok := o.(*v1alpha1.BackupSchedule)
		return ok && s.Spec.OffsiteTargetRef.Name == obj.Name
	}) {
		names = append(names, req.Name)
	}
	slices.Sort(names)
	return names
}

// remember keeps the target as last resolved, for its deletion entry.
func (r *Reconciler) remember(tg *target.Target) {
	if tg == nil || !hasAuditKey(tg) {
		return
	}
	r.deletionMu.Lock()
	defer r.deletionMu.Unlock()
	if r.resolved == nil {
		r.resolved = map[types.UID]*target.Target{}
	}
	r.resolved[tg.Object.UID] = tg
}

func (r *Reconciler) lastResolved(uid types.UID) *target.Target {
	r.deletionMu.Lock()
	defer r.deletionMu.Unlock()
	return r.resolved[uid]
}

// keepDeletion notes that uid's deletion entry waits in the Auditor.
func (r *Reconciler) keepDeletion(uid types.UID) {
	r.deletionMu.Lock()
	defer r.deletionMu.Unlock()
	if r.kept == nil {
		r.kept = map[types.UID]bool{}
	}
	r.kept[uid] = true
}

func (r *Reconciler) deletionKept(uid types.UID) bool {
	r.deletionMu.Lock()
	defer r.deletionMu.Unlock()
	return r.kept[uid]
}

// forget drops what this process kept of a deleted target.
func (r *Reconciler) forget(uid types.UID) {
	r.deletionMu.Lock()
	delete(r.resolved, uid)
	delete(r.kept, uid)
	r.deletionMu.Unlock()
	r.auditedMu.Lock()
	delete(r.audited, uid)
	r.auditedMu.Unlock()
}

// hasAuditKey reports whether tg can sign audit entries.
func hasAuditKey(tg *target.Target) bool {
	_, ok := tg.AuditSigningKey()
	return ok
}
