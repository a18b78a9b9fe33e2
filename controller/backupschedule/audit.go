package backupschedule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/target"
)

// auditSeal records a seal: a new one, or one found already sealed that
// the log does not hold yet, nor the outbox (its writer stopped before
// recording it, or before the kept entry reached the bucket).
func (r *Reconciler) auditSeal(ctx context.Context, tgt *target.Target, spec jobSpec, res *jobResult) {
	sl := res.seal
	subject := spec.target.Namespace + "/" + spec.schedule + "/" + spec.backup
	d := audit.SealDetails{
		Namespace: spec.target.Namespace, Schedule: spec.schedule, Backup: spec.backup, Target: spec.target.Name,
		Objects: len(sl.Objects), CiphertextBytes: sl.CiphertextBytes(), SealDigest: sl.Digest(),
		Recipients: sl.Recipients, DurationSeconds: auditlog.Seconds(res.duration),
	}
	if sl.Lock != nil {
		d.RetainUntil = sl.Lock.RetainUntil
	}
	if res.coverage != nil {
		d.Volumes = &audit.VolumeCounts{Sealed: int(res.coverage.Sealed), NotCovered: res.notCovered}
	}
	rec := audit.Record{Kind: audit.KindSeal, Subject: subject, Details: d}
	if !res.copied {
		_, _ = r.audit.RecordOnce(ctx, tgt, rec, sl.SealedAt) // failures are kept and retried
		return
	}
	_, _ = r.audit.Record(ctx, tgt, rec) // failures are kept and retried
}

// deleteRecordWindow is how far back the log is searched for a deletion's
// entry before recording it: a deletion cut short by a crash is completed,
// without a second entry, by a pass within this window.
const deleteRecordWindow = 24 * time.Hour

// auditDelete records that retention deletes backup, before the deletion
// starts (a crash mid-deletion cannot lose the record), once: a later pass
// completing a deletion cut short finds the entry and records none.
func (r *Reconciler) auditDelete(ctx context.Context, tgt *target.Target, spec jobSpec, backup string) {
	ns := spec.target.Namespace
	reason := "retention: not kept by " + describePolicy(spec.target, spec)
	_, _ = r.audit.RecordOnce(ctx, tgt, audit.Record{
		Kind: audit.KindRetentionDelete, Subject: ns + "/" + spec.schedule + "/" + backup,
		Details: audit.DeleteDetails{Namespace: ns, Schedule: spec.schedule, Backup: backup, Reason: reason},
	}, r.Clock.Now().Add(-deleteRecordWindow)) // failures are kept and retried
}

// auditVolumeDelete records the volume blobs a retention pass deleted,
// counted (their names say nothing to a reader of the log). It comes after
// the deletion: which blobs go is known only then, and none of them was
// needed by a retained seal.
func (r *Reconciler) auditVolumeDelete(ctx context.Context, tgt *target.Target, spec jobSpec, gc seal.VolumeGC) {
	if gc.Deleted == 0 && gc.Receipts == 0 {
		return
	}
	ns := spec.target.Namespace
	_, _ = r.audit.Record(ctx, tgt, audit.Record{
		Kind: audit.KindVolumeDelete, Subject: ns + "/" + spec.target.Name + "/volumes",
		Details: audit.VolumeDeleteDetails{Namespace: ns, Schedule: spec.schedule, Target: spec.target.Name,
			Blobs: gc.Deleted, Bytes: gc.DeletedBytes, Receipts: gc.Receipts, Reason: "retention: no retained seal needs them"},
	}) // failures are kept and retried
}

// auditRetention records a retention pass's failure.
func (r *Reconciler) auditRetention(ctx context.Context, tgt *target.Target, spec jobSpec, out retentionOutcome) {
	if out.Err != nil {
		r.auditFailure(ctx, tgt, spec, "retention-delete", v1alpha1.ReasonRetentionFailed, out.Err)
	}
}

// auditFailure records a failed operation on spec's schedule.
func (r *Reconciler) auditFailure(ctx context.Context, tgt *target.Target, spec jobSpec, op, reason string, err error) {
	ns := spec.target.Namespace
	subject := ns + "/" + spec.schedule
	if spec.backup != "" {
		subject += "/" + spec.backup
	}
	_, _ = r.audit.Record(ctx, tgt, audit.Record{
		Kind: audit.KindFailure, Subject: subject,
		Details: audit.FailureDetails{Namespace: ns, Operation: op, Schedule: spec.schedule, Backup: spec.backup, Reason: reason, Message: err.Error()},
	})
}

// auditRunFailure records a run that ended without a seal (the Velero
// backup failed or went away), when the schedule's target is Ready. It
// resolves the target (its Secrets) only then.
func (r *Reconciler) auditRunFailure(ctx context.Context, st *scheduleState, backup, reason, msg string) {
	r.auditScheduleFailure(ctx, st, backup, "backup", reason, msg)
}

// auditScheduleFailure records a failed operation op on backup of the
// schedule, outside a job: it resolves the target (its Secrets) first.
func (r *Reconciler) auditScheduleFailure(ctx context.Context, st *scheduleState, backup, op, reason, msg string) {
	if r.audit == nil || st.target == nil {
		return
	}
	tgt, err := target.Resolve(ctx, r.APIReader, st.target)
	if err != nil {
		auditlog.CountFailure(audit.KindFailure)
		return
	}
	spec := jobSpec{schedule: st.obj.Name, backup: backup, target: st.target}
	r.auditFailure(ctx, tgt, spec, op, reason, errors.New(msg))
}

// describePolicy names a schedule's retention rules for a deletion entry.
func describePolicy(_ *v1alpha1.OffsiteTarget, spec jobSpec) string {
	p := spec.policy
	var parts []string
	for _, r := range []struct {
		name string
		n    int
	}{{"keepLast", p.KeepLast}, {"keepDaily", p.KeepDaily}, {"keepWeekly", p.KeepWeekly}, {"keepMonthly", p.KeepMonthly}, {"keepYearly", p.KeepYearly}} {
		if r.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r.name, r.n))
		}
	}
	if len(parts) == 0 {
		return "the policy"
	}
	return strings.Join(parts, ", ")
}
