package restoredrill

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/target"
)

// auditDeletedRun records in the audit log of the drilled target that d
// was deleted while a run was in flight (status.active): a failure entry
// (the run has no verdict) saying what is known of who deleted it.
func (r *Reconciler) auditDeletedRun(ctx context.Context, d *v1alpha1.RestoreDrill) {
	a := d.Status.Active
	if a == nil {
		return
	}
	r.auditRunWithoutVerdict(ctx, d, a, v1alpha1.ReasonDrillDeleted,
		fmt.Sprintf("RestoreDrill %s/%s was deleted while run %s (started %s) was in flight: the run has no verdict, and what it left is deleted. Deleted by: %s",
			d.Namespace, d.Name, a.ID, a.StartTime.UTC().Format(time.RFC3339), target.DeletedBy(d)))
}

// auditInterruptedRun records in the audit log of the drilled target that
// run a of d was interrupted: the controller that ran it stopped or lost
// its lease, and the run has no verdict. It returns the run's entry: that
// one, or the one recorded before the stop (a verdict, or a failure) that
// the run's status must then say; nil when none could be recorded.
func (r *Reconciler) auditInterruptedRun(ctx context.Context, d *v1alpha1.RestoreDrill, a *v1alpha1.ActiveDrillRun) *auditlog.RunEntry {
	return r.auditRunWithoutVerdict(ctx, d, a, v1alpha1.ReasonDrillInterrupted,
		fmt.Sprintf("RestoreDrill %s/%s run %s (started %s) was interrupted: the controller running it stopped or lost its lease; the run has no verdict, and what it left is deleted",
			d.Namespace, d.Name, a.ID, a.StartTime.UTC().Format(time.RFC3339)))
}

// auditRunWithoutVerdict records a failure entry (reason, message) for
// run a of d in the drilled target's log, once: a reconcile repeated after
// a restart finds the run's entry (in the log since the run started, or
// kept in the outbox, then written) and records nothing. It returns the
// run's entry, its seq 0 while it is kept for a retry (a refused write is
// retried by the Auditor with the target's next entry). When the schedule
// or target is gone, nothing can be written: that is logged and counted,
// and it returns nil.
func (r *Reconciler) auditRunWithoutVerdict(ctx context.Context, d *v1alpha1.RestoreDrill, a *v1alpha1.ActiveDrillRun, reason, message string) *auditlog.RunEntry {
	if r.Audit == nil {
		return nil
	}
	log := logf.FromContext(ctx).WithValues("run", a.ID, "reason", reason)
	tgt, err := r.drilledTarget(ctx, d)
	if err != nil {
		auditlog.CountFailure(audit.KindFailure)
		log.Error(err, "a drill run without verdict is not recorded in the audit log")
		return nil
	}
	rec := audit.Record{Kind: audit.KindFailure, Subject: d.Namespace + "/" + d.Name + "/" + a.ID, Details: audit.FailureDetails{
		Namespace: d.Namespace, Operation: "drill", Schedule: d.Spec.BackupScheduleRef.Name, Backup: a.Backup,
		Reason: reason, Message: message,
	}}
	e, err := r.Audit.RecordDrillOnce(ctx, tgt, rec, a.StartTime.Time)
	if err != nil {
		log.Error(err, "record a drill run without verdict in the audit log; kept for a retry")
	}
	return e
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
