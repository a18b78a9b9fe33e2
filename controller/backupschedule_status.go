package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/schedule"
)

// scheduleState is what one reconcile of a BackupSchedule knows and has
// decided. Side effects that must happen once (Events, metrics, removing
// the run-now annotation, forgetting a job's result) are collected and
// carried out only after the status patch succeeds, so a reconcile that
// loses a race to a newer version of the object repeats nothing.
type scheduleState struct {
	obj    *v1alpha1.BackupSchedule
	before *v1alpha1.BackupSchedule
	key    types.NamespacedName
	now    time.Time

	// sched is the parsed spec; nil when invalid (then readyReason says why).
	sched *schedule.Schedule
	// target is the OffsiteTarget when it exists and is Ready.
	target *v1alpha1.OffsiteTarget

	readyReason, readyMessage string // Ready False when readyReason is set
	runningReason, runningMsg string // Running True when runningReason is set

	requeueAt time.Time // zero: no requeue

	events   []scheduleEvent
	metrics  []func()
	clearNow bool // remove AnnotationRunNow after the patch
	jobBusy  bool // a job runs, or a failed seal waits to be retried
	taken    *job // the finished job whose result this reconcile applied
}

type scheduleEvent struct {
	related                 runtime.Object
	eventType, reason, note string
}

func newScheduleState(obj *v1alpha1.BackupSchedule, now time.Time) *scheduleState {
	return &scheduleState{obj: obj, before: obj.DeepCopy(), key: client.ObjectKeyFromObject(obj), now: now}
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
func (st *scheduleState) retryRetention(jobs *sealJobs, at time.Time) {
	jobs.setNotBefore(st.key, at)
	st.wakeAt(at)
}

// notReady records why the schedule cannot run; the first reason wins.
func (st *scheduleState) notReady(reason, format string, args ...any) {
	if st.readyReason == "" {
		st.readyReason, st.readyMessage = reason, fmt.Sprintf(format, args...)
	}
}

// running records that a run is in flight.
func (st *scheduleState) running(reason, format string, args ...any) {
	st.runningReason, st.runningMsg = reason, fmt.Sprintf(format, args...)
}

// wakeAt asks for a reconcile at t (the earliest asked for wins).
func (st *scheduleState) wakeAt(t time.Time) {
	if !t.IsZero() && (st.requeueAt.IsZero() || t.Before(st.requeueAt)) {
		st.requeueAt = t
	}
}

// event queues an Event on the schedule, emitted after the patch.
func (st *scheduleState) event(related runtime.Object, eventType, reason, format string, args ...any) {
	st.events = append(st.events, scheduleEvent{related: related, eventType: eventType, reason: reason, note: fmt.Sprintf(format, args...)})
}

// count queues a metric update, applied after the patch.
func (st *scheduleState) count(f func()) { st.metrics = append(st.metrics, f) }

// countRun queues one run with result.
func (st *scheduleState) countRun(result string) {
	ns, name := st.key.Namespace, st.key.Name
	st.count(func() { scheduleRuns.WithLabelValues(ns, name, result).Inc() })
}

// setCondition sets a condition of the schedule at the reconcile's time,
// keeping the transition time when the status does not change.
func (st *scheduleState) setCondition(condType string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.obj.Status.Conditions, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: st.obj.Generation,
		LastTransitionTime: metav1.NewTime(st.now),
	})
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
	st.event(related, eventType, reason, "%s", msg)
	st.countRun(result)
	st.obj.Status.Active = ""
}

// summarize sets Ready and Running from what the reconcile found.
func (st *scheduleState) summarize() {
	s := st.obj
	status, reason, msg := readyOf(st.readyReason, st.readyMessage, s.Spec.Suspend, s.Status.NextScheduleTime, st.sched)
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
func (r *BackupScheduleReconciler) finish(ctx context.Context, st *scheduleState) error {
	st.summarize()
	s := st.obj
	s.Status.ObservedGeneration = s.Generation
	if !equality.Semantic.DeepEqual(st.before.Status, s.Status) {
		patch := client.MergeFromWithOptions(st.before, client.MergeFromWithOptimisticLock{})
		if err := r.Status().Patch(ctx, s, patch); err != nil {
			return fmt.Errorf("patch status of BackupSchedule %s: %w", st.key, err)
		}
	}
	if st.clearNow {
		p := []byte(`{"metadata":{"annotations":{"` + AnnotationRunNow + `":null}}}`)
		target := &v1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}}
		if err := r.Patch(ctx, target, client.RawPatch(types.MergePatchType, p)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("remove %s from BackupSchedule %s: %w", AnnotationRunNow, st.key, err)
		}
	}
	if st.taken != nil {
		r.jobs.take(st.key, st.taken)
	}
	log := logf.FromContext(ctx)
	for _, e := range st.events {
		log.Info("run event", "type", e.eventType, "reason", e.reason, "note", e.note)
		r.Recorder.Eventf(s, e.related, e.eventType, e.reason, e.reason, "%s", e.note)
	}
	for _, m := range st.metrics {
		m()
	}
	if t := s.Status.LastSealTime; t != nil { // also after a restart
		lastSealTimestamp.WithLabelValues(s.Namespace, s.Name).Set(float64(t.Unix()))
	}
	return nil
}
