package restoredrill

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/schedule"
)

// drillState is what one reconcile of a RestoreDrill knows and has
// decided. Side effects that must happen once (starting a job, Events,
// counters, removing the run-now annotation, recording a drill on its
// OffsiteBackup) are carried out only after the status patch succeeds, so
// that a reconcile that loses a race to a newer version of the drill
// repeats nothing, and a run starts only once status.active says so.
type drillState struct {
	kit.State
	obj    *v1alpha1.RestoreDrill
	before *v1alpha1.RestoreDrill

	// sched is the parsed spec; nil when invalid.
	sched *schedule.Schedule
	// bs and target are the BackupSchedule and its OffsiteTarget, when
	// they resolve (target: when Ready).
	bs     *v1alpha1.BackupSchedule
	target *v1alpha1.OffsiteTarget

	jobBusy  bool                         // a job of the drill runs
	taken    *kit.Status[*drillJobResult] // the finished job whose result this reconcile applied
	submit   *kit.Job[*drillJobResult]    // a job to start once the status is patched
	clearNow bool

	recorded []recordedDrill // OffsiteBackups to record a finished run on
}

// recordedDrill is a finished run to record on the OffsiteBackup it used.
type recordedDrill struct {
	offsiteBackup string
	run           v1alpha1.DrillRun
}

func newDrillState(obj *v1alpha1.RestoreDrill, now time.Time) *drillState {
	return &drillState{State: kit.NewState(obj, now), obj: obj, before: obj.DeepCopy()}
}

// setCondition sets a condition at the reconcile's time, keeping the
// transition time when the status does not change.
func (st *drillState) setCondition(condType string, status metav1.ConditionStatus, reason, msg string) {
	kit.SetCondition(&st.obj.Status.Conditions, st.obj.Generation, st.Now, condType, status, reason, msg)
}

// condition returns the drill's condition of condType, or nil.
func (st *drillState) condition(condType string) *metav1.Condition {
	return meta.FindStatusCondition(st.obj.Status.Conditions, condType)
}

// runEnded records a finished run: history (newest first, trimmed to the
// limit), lastRun, lastPassTime, LastDrillPassed, an Event, the counters
// and, when it used one, the OffsiteBackup's last drill. It clears
// status.active when the run is the active one.
func (st *drillState) runEnded(run *v1alpha1.DrillRun, offsiteBackup string, reason string) {
	d := st.obj
	if d.Status.Active != nil && d.Status.Active.ID == run.ID {
		d.Status.Active = nil
	}
	d.Status.History = trimHistory(append([]v1alpha1.DrillRun{*run}, d.Status.History...), historyLimit(d))
	d.Status.LastRun = run.DeepCopy()
	status, eventType := metav1.ConditionFalse, corev1.EventTypeWarning
	if run.Result == v1alpha1.DrillRunPassed {
		status, eventType = metav1.ConditionTrue, corev1.EventTypeNormal
		end := run.StartTime
		if run.EndTime != nil {
			end = *run.EndTime
		}
		d.Status.LastPassTime = &end
	}
	st.setCondition(v1alpha1.ConditionLastDrillPassed, status, reason, run.Message)
	st.Event(nil, eventType, reason, "run %s: %s", run.ID, run.Message)
	ns, name, counted := d.Namespace, d.Name, run.DeepCopy()
	st.After(func() { countDrillRun(ns, name, counted) })
	if offsiteBackup != "" && run.Result != v1alpha1.DrillRunError {
		st.recorded = append(st.recorded, recordedDrill{offsiteBackup: offsiteBackup, run: *run.DeepCopy()})
	}
}

// runReason is the LastDrillPassed reason of a finished run.
func runReason(run *v1alpha1.DrillRun) string {
	switch run.Result {
	case v1alpha1.DrillRunPassed:
		return v1alpha1.ReasonDrillPassed
	case v1alpha1.DrillRunFailed:
		return failedReason(run)
	}
	return v1alpha1.ReasonDrillError
}

// failedReason names what failed in a failed run: Velero's repository
// password, a volume restored by Velero, a sealed volume, or another
// check.
func failedReason(run *v1alpha1.DrillRun) string {
	return volumesReason(drill.AuditVolumes(run.Volumes))
}

// volumesReason is failedReason of a run whose volumes checked as vs (as
// its audit entry holds them).
func volumesReason(vs []audit.VolumeCheck) string {
	reason := v1alpha1.ReasonDrillFailed
	for _, v := range vs {
		switch r := v.Restored; {
		case r != nil && r.Reason == v1alpha1.ReasonRepositoryPasswordMismatch:
			return v1alpha1.ReasonRepositoryPasswordMismatch
		case r != nil && !r.Passed:
			reason = v1alpha1.ReasonVolumeFilesCheckFailed
		case !v.Passed && reason == v1alpha1.ReasonDrillFailed:
			reason = v1alpha1.ReasonVolumeCheckFailed
		}
	}
	return reason
}

// historyLimit is spec.historyLimit or its default.
func historyLimit(d *v1alpha1.RestoreDrill) int {
	if n := int(d.Spec.HistoryLimit); n > 0 {
		return min(n, 100)
	}
	return DefaultDrillHistoryLimit
}

// trimHistory keeps the newest limit runs, and beyond them any run whose
// leftovers are not deleted yet (they are still to be cleaned up, and only
// status remembers them); at most 100 in all.
func trimHistory(h []v1alpha1.DrillRun, limit int) []v1alpha1.DrillRun {
	out := make([]v1alpha1.DrillRun, 0, min(len(h), 100))
	for i, run := range h {
		if len(out) == 100 {
			break
		}
		if i < limit || (run.Cleanup != "" && run.Cleanup != v1alpha1.DrillCleanupDeleted) {
			out = append(out, run)
		}
	}
	return out
}

// summarize sets Ready and Running from what the reconcile found, and
// the generation the status now speaks for.
func (st *drillState) summarize() {
	d := st.obj
	d.Status.ObservedGeneration = d.Generation
	status, reason, msg := st.Ready(d.Spec.Suspend, d.Status.NextScheduleTime, st.sched)
	st.setCondition(v1alpha1.ConditionReady, status, reason, msg)
	if a := d.Status.Active; a != nil {
		st.setCondition(v1alpha1.ConditionRunning, metav1.ConditionTrue, v1alpha1.ReasonDrilling,
			fmt.Sprintf("run %s is drilling backup %s", a.ID, a.Backup))
	} else {
		st.setCondition(v1alpha1.ConditionRunning, metav1.ConditionFalse, v1alpha1.ReasonIdle, "no run in flight")
	}
	if st.condition(v1alpha1.ConditionLastDrillPassed) == nil {
		st.setCondition(v1alpha1.ConditionLastDrillPassed, metav1.ConditionUnknown, v1alpha1.ReasonNeverDrilled, "no run has finished yet")
	}
}

// finish summarizes, patches the status (optimistic lock: a newer version
// of the drill means this reconcile decided on stale data, and it is
// repeated) and, when that worked, carries out the queued side effects.
func (r *Reconciler) finish(ctx context.Context, st *drillState) error {
	st.summarize()
	d := st.obj
	if err := st.PatchStatus(ctx, r.Client, st.before, d, st.before.Status.Conditions, d.Status.Conditions); err != nil {
		return err
	}
	if st.taken != nil {
		r.jobs.Take(st.Key, st.taken)
	}
	if j := st.submit; j != nil {
		if err := r.jobs.Submit(st.Key, *j); err != nil {
			// The run recorded as active is found without a job by the
			// next reconcile and recorded as interrupted.
			return fmt.Errorf("start %s job of RestoreDrill %s: %w", j.Kind, st.Key, err)
		}
	}
	if st.clearNow {
		if err := kit.RemoveAnnotation(ctx, r.Client, d, v1alpha1.AnnotationRunNow); err != nil {
			return err
		}
	}
	st.Flush(ctx, r.Recorder, d)
	for _, rec := range st.recorded {
		if err := r.recordOnBackup(ctx, d, rec); err != nil {
			logf.FromContext(ctx).Error(err, "record the drill on its offsite backup", "offsiteBackup", rec.offsiteBackup)
		}
	}
	setDrillGauges(d, st.maxPassAge().Seconds())
	return nil
}

// recordOnBackup sets the OffsiteBackup's last drill and Verified
// condition from a finished run (Passed or Failed).
func (r *Reconciler) recordOnBackup(ctx context.Context, d *v1alpha1.RestoreDrill, rec recordedDrill) error {
	ob := &v1alpha1.OffsiteBackup{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: rec.offsiteBackup}, ob); err != nil {
		return client.IgnoreNotFound(err) // retention removed it meanwhile
	}
	before := ob.DeepCopy()
	run := rec.run
	end := run.StartTime
	if run.EndTime != nil {
		end = *run.EndTime
	}
	sum := &v1alpha1.DrillSummary{Drill: d.Name, Result: v1alpha1.DrillPassed, Time: end}
	status, reason := metav1.ConditionTrue, v1alpha1.ReasonDrillPassed
	msg := fmt.Sprintf("RestoreDrill %s run %s passed every check", d.Name, run.ID)
	if run.Result != v1alpha1.DrillRunPassed {
		sum.Result, status, reason = v1alpha1.DrillFailed, metav1.ConditionFalse, v1alpha1.ReasonDrillFailed
		sum.FailedCheck = firstFailed(run.Checks)
		msg = fmt.Sprintf("RestoreDrill %s run %s: %s", d.Name, run.ID, run.Message)
	}
	if a := run.AuditEntry; a != nil {
		sum.AuditEntry = fmt.Sprintf("%d %s", a.Seq, a.Hash)
	}
	ob.Status.LastDrill = sum
	kit.SetCondition(&ob.Status.Conditions, ob.Generation, r.Clock.Now(), v1alpha1.ConditionVerified, status, reason, msg)
	if equality.Semantic.DeepEqual(before.Status, ob.Status) {
		return nil
	}
	return r.Status().Patch(ctx, ob, client.MergeFrom(before))
}

// firstFailed names the first failed check, or "".
func firstFailed(checks []v1alpha1.DrillCheckResult) string {
	for _, c := range checks {
		if !c.Passed {
			return c.Name
		}
	}
	return ""
}
