package backupschedule

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/schedule"
	"github.com/safekeep-dev/safekeep/scope"
)

// scheduleState is what one reconcile of a BackupSchedule knows and has
// decided. Besides kit.State's queued Events and metrics, removing the
// run-now annotation and forgetting a job's result wait for the status
// patch, so a reconcile that loses a race to a newer version of the
// object repeats nothing.
type scheduleState struct {
	kit.State
	obj    *v1alpha1.BackupSchedule
	before *v1alpha1.BackupSchedule

	// sched is the parsed spec; nil when invalid (then Ready says why).
	sched *schedule.Schedule
	// target is the OffsiteTarget when it exists and is Ready.
	target *v1alpha1.OffsiteTarget
	// scope is the template's namespaces with the protected ones kept out.
	scope scope.Namespaces

	runningReason, runningMsg string // Running True when runningReason is set

	clearNow bool                    // remove AnnotationRunNow after the patch
	jobBusy  bool                    // a job runs, or a failed seal waits to be retried
	taken    *kit.Status[*jobResult] // the finished job whose result this reconcile applied
}

func newScheduleState(obj *v1alpha1.BackupSchedule, now time.Time) *scheduleState {
	return &scheduleState{State: kit.NewState(obj, now), obj: obj, before: obj.DeepCopy()}
}

// retentionPolicy is the schedule's retention, counting calendar days in
// its time zone (UTC when the spec does not parse).
func (st *scheduleState) retentionPolicy() retention.Policy {
	loc := time.UTC
	if st.sched != nil {
		loc = st.sched.Location()
	}
	return retentionPolicy(st.obj.Spec.Retention, loc)
}

// retryRetention asks for the next retention pass at at, and a wake-up then.
func (st *scheduleState) retryRetention(jobs *kit.Pool[*jobResult], at time.Time) {
	jobs.SetNotBefore(st.Key, at)
	st.WakeAt(at)
}

// running records that a run is in flight.
func (st *scheduleState) running(reason, format string, args ...any) {
	st.runningReason, st.runningMsg = reason, fmt.Sprintf(format, args...)
}

// countRun queues one run with result.
func (st *scheduleState) countRun(result string) {
	ns, name := st.Key.Namespace, st.Key.Name
	st.After(func() { scheduleRuns.WithLabelValues(ns, name, result).Inc() })
}

// setCondition sets a condition of the schedule at the reconcile's time,
// keeping the transition time when the status does not change.
func (st *scheduleState) setCondition(condType string, status metav1.ConditionStatus, reason, msg string) {
	kit.SetCondition(&st.obj.Status.Conditions, st.obj.Generation, st.Now, condType, status, reason, msg)
}

// condition returns the schedule's condition of condType, or nil.
func (st *scheduleState) condition(condType string) *metav1.Condition {
	return meta.FindStatusCondition(st.obj.Status.Conditions, condType)
}

// runEnded records the end of the active run: LastRunSucceeded with
// reason, an Event, and the run counted with result.
func (st *scheduleState) runEnded(ok bool, reason, result string, related runtime.Object, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	status, eventType := metav1.ConditionFalse, corev1.EventTypeWarning
	if ok {
		status, eventType = metav1.ConditionTrue, corev1.EventTypeNormal
	}
	st.setCondition(v1alpha1.ConditionLastRunSucceeded, status, reason, msg)
	st.Event(related, eventType, reason, "%s", msg)
	st.countRun(result)
	st.obj.Status.Active = ""
}

// summarize sets Ready and Running from what the reconcile found, and
// the generation the status now speaks for.
func (st *scheduleState) summarize() {
	s := st.obj
	s.Status.ObservedGeneration = s.Generation
	status, reason, msg := st.Ready(s.Spec.Suspend, s.Status.NextScheduleTime, st.sched)
	st.setCondition(v1alpha1.ConditionReady, status, reason, msg)
	if s.Status.Active == "" {
		st.setCondition(v1alpha1.ConditionRunning, metav1.ConditionFalse, v1alpha1.ReasonIdle, "no run in flight")
		return
	}
	if st.runningReason == "" { // kept from the last reconcile
		if c := st.condition(v1alpha1.ConditionRunning); c != nil && c.Status == metav1.ConditionTrue {
			return
		}
		st.running(v1alpha1.ReasonBackupInProgress, "Velero backup %s is running", s.Status.Active)
	}
	st.setCondition(v1alpha1.ConditionRunning, metav1.ConditionTrue, st.runningReason, st.runningMsg)
}

// finish summarizes, patches the status (optimistic lock: a newer version
// of the object means this reconcile decided on stale data, and it is
// repeated) and, when that worked, carries out the queued side effects.
func (r *Reconciler) finish(ctx context.Context, st *scheduleState) error {
	st.summarize()
	s := st.obj
	if err := st.PatchStatus(ctx, r.Client, st.before, s, st.before.Status.Conditions, s.Status.Conditions); err != nil {
		return err
	}
	if st.clearNow {
		if err := kit.RemoveAnnotation(ctx, r.Client, s, v1alpha1.AnnotationRunNow); err != nil {
			return err
		}
	}
	if st.taken != nil {
		r.jobs.Take(st.Key, st.taken)
	}
	st.Flush(ctx, r.Recorder, s)
	if t := s.Status.LastSealTime; t != nil { // also after a restart
		lastSealTimestamp.WithLabelValues(s.Namespace, s.Name).Set(float64(t.Unix()))
	}
	return nil
}
