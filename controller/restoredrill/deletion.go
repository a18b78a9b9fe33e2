package restoredrill

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/target"
)

// auditDeletedRun records in the audit log of the drilled target that d
// was deleted while a run was in flight (status.active): a failure entry
// (the run has no verdict) saying what is known of who deleted it. When
// the schedule or target is gone too, the entry cannot be written: that
// is logged and counted. A refused write is kept and retried by the
// Auditor with the target's next entry.
func (r *Reconciler) auditDeletedRun(ctx context.Context, d *v1alpha1.RestoreDrill) {
	a := d.Status.Active
	if a == nil || r.Audit == nil {
		return
	}
	log := logf.FromContext(ctx).WithValues("run", a.ID)
	tgt, err := r.drilledTarget(ctx, d)
	if err != nil {
		auditlog.CountFailure(audit.KindFailure)
		log.Error(err, "the deletion of the drill mid-run is not recorded in the audit log")
		return
	}
	rec := audit.Record{Kind: audit.KindFailure, Subject: d.Namespace + "/" + d.Name + "/" + a.ID, Details: audit.FailureDetails{
		Namespace: d.Namespace, Operation: "drill", Schedule: d.Spec.BackupScheduleRef.Name, Backup: a.Backup,
		Reason: v1alpha1.ReasonDrillDeleted,
		Message: fmt.Sprintf("RestoreDrill %s/%s was deleted while run %s (started %s) was in flight: the run has no verdict, and what it left is deleted. Deleted by: %s",
			d.Namespace, d.Name, a.ID, a.StartTime.UTC().Format("2006-01-02T15:04:05Z"), target.DeletedBy(d)),
	}}
	if _, _, err := r.Audit.RecordDrill(ctx, tgt, rec); err != nil {
		log.Error(err, "record the deletion of the drill mid-run in the audit log; kept for a retry")
	}
}

// drilledTarget resolves the OffsiteTarget of d's schedule.
func (r *Reconciler) drilledTarget(ctx context.Context, d *v1alpha1.RestoreDrill) (*target.Target, error) {
	bs := &v1alpha1.BackupSchedule{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: d.Spec.BackupScheduleRef.Name}, bs); err != nil {
		return nil, fmt.Errorf("read BackupSchedule %s: %w", d.Spec.BackupScheduleRef.Name, err)
	}
	t := &v1alpha1.OffsiteTarget{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: bs.Spec.OffsiteTargetRef.Name}, t); err != nil {
		return nil, fmt.Errorf("read OffsiteTarget %s: %w", bs.Spec.OffsiteTargetRef.Name, err)
	}
	tgt, err := target.Resolve(ctx, r.APIReader, t)
	if err != nil {
		return nil, fmt.Errorf("resolve OffsiteTarget %s: %w", t.Name, err)
	}
	return tgt, nil
}
