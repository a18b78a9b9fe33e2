package restoredrill

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/schedule"
)

// defaultMaxPassAge is the objective when the schedule has no upcoming
// time to derive it from.
const defaultMaxPassAge = 8 * 24 * time.Hour

// parseSpec parses the cron expression and time zone. An invalid spec is
// terminal (kit.ParseSchedule); a run in flight is still followed.
func (r *Reconciler) parseSpec(_ context.Context, st *drillState) error {
	st.sched = kit.ParseSchedule(&st.State, st.obj.Spec.Schedule, st.obj.Spec.TimeZone, &st.obj.Status.NextScheduleTime)
	kit.CheckDurations(&st.State, st.obj)
	return nil
}

// maxPassAge is spec.maxPassAge, else twice the longest interval between
// the schedule's next eight times; 0 when the spec does not parse.
func (st *drillState) maxPassAge() time.Duration {
	if m := st.obj.Spec.MaxPassAge; m != nil && m.Duration > 0 {
		return m.Duration
	}
	if st.sched == nil {
		return 0
	}
	return 2 * longestInterval(*st.sched, st.Now, 8)
}

// longestInterval is the longest gap between n consecutive scheduled times
// after now, or defaultMaxPassAge/2 when there are none.
func longestInterval(s schedule.Schedule, now time.Time, n int) time.Duration {
	var longest time.Duration
	t := s.Next(now)
	for range n {
		next := s.Next(t)
		if t.IsZero() || next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(t))
		t = next
	}
	if longest == 0 {
		return defaultMaxPassAge / 2
	}
	return longest
}

// startRun starts the run that is due, if any: a run asked for with
// v1alpha1.AnnotationRunNow first, else the most recent scheduled time missed
// (within the starting deadline). One run at a time, and none while a
// cleanup job runs or the drill is not Ready. It sets the next schedule
// time and asks to be woken then.
func (r *Reconciler) startRun(ctx context.Context, st *drillState) error {
	d := st.obj
	if st.sched == nil {
		return nil
	}
	_, askedNow := d.Annotations[v1alpha1.AnnotationRunNow]
	if d.Spec.Suspend {
		d.Status.NextScheduleTime = nil
		if askedNow {
			st.Event(nil, corev1.EventTypeWarning, "RunNowRefused",
				"spec.suspend is set: the run asked for with %s was not started", v1alpha1.AnnotationRunNow)
			st.clearNow = true
		}
		return nil
	}
	due, missed, next := kit.DueRun(*st.sched, st.Now, d.Status.LastScheduleTime, d.CreationTimestamp.Time, d.Spec.StartingDeadlineSeconds)
	d.Status.NextScheduleTime = nil
	if !next.IsZero() {
		d.Status.NextScheduleTime = &metav1.Time{Time: next}
		st.WakeAt(next)
	}
	if d.Status.Active != nil || st.jobBusy || st.submit != nil || st.NotReadyReason() != "" {
		if askedNow && st.NotReadyReason() != "" && d.Status.Active == nil {
			st.Event(nil, corev1.EventTypeWarning, "RunNowRefused",
				"the drill is not Ready (%s): the run asked for with %s was not started", st.NotReadyReason(), v1alpha1.AnnotationRunNow)
			st.clearNow = true
		}
		return nil // runs wait; when they can start, Due reports what was missed
	}
	if !r.jobs.Started() {
		return kit.ErrNotStarted
	}
	if askedNow {
		st.clearNow = true
		t, ok := kit.RunNowTime(d.Annotations[v1alpha1.AnnotationRunNow])
		if !ok {
			st.RunNowRefused(d.Annotations[v1alpha1.AnnotationRunNow])
			return nil
		}
		if id := v1alpha1.DrillRunID(t, v1alpha1.TriggerManual); hasRun(d, id) {
			return nil // done already; only the annotation's removal was lost
		}
		return r.beginRun(ctx, st, t, v1alpha1.TriggerManual)
	}
	switch {
	case due != nil:
		d.Status.LastScheduleTime = &metav1.Time{Time: *due}
		if missed > 1 {
			st.Event(nil, corev1.EventTypeWarning, "MissedRuns",
				"%d earlier scheduled runs were missed (controller down, drill not Ready or a run in flight); started only the most recent, %s",
				missed-1, due.In(st.sched.Location()).Format(time.RFC3339))
		}
		return r.beginRun(ctx, st, *due, v1alpha1.TriggerSchedule)
	case missed > 0:
		r.reportMissed(st)
	}
	return nil
}

// hasRun reports whether run id is active or in the history.
func hasRun(d *v1alpha1.RestoreDrill, id string) bool {
	if a := d.Status.Active; a != nil && a.ID == id {
		return true
	}
	return slices.ContainsFunc(d.Status.History, func(r v1alpha1.DrillRun) bool { return r.ID == id })
}

// reportMissed records, once per such time, that every missed time is past
// the starting deadline.
func (r *Reconciler) reportMissed(st *drillState) {
	o := st.obj
	st.ReportMissed(&o.Status.Conditions, o.Generation, v1alpha1.ConditionLastDrillPassed, *st.sched,
		o.Status.LastScheduleTime, o.CreationTimestamp.Time, o.Spec.StartingDeadlineSeconds)
}

// beginRun picks the backup of the run for time t and records the run as
// active; its job starts once that is written. With no sealed backup to
// drill, the run ends at once (Error, NoSealedBackup).
func (r *Reconciler) beginRun(ctx context.Context, st *drillState, t time.Time, trigger string) error {
	d := st.obj
	id := v1alpha1.DrillRunID(t, trigger)
	ob, err := r.pickBackup(ctx, st)
	if err != nil {
		return err
	}
	if ob == nil {
		now := metav1.NewTime(st.Now)
		run := &v1alpha1.DrillRun{
			ID: id, Trigger: trigger, StartTime: now, EndTime: &now, Result: v1alpha1.DrillRunError,
			Cleanup: v1alpha1.DrillCleanupDeleted,
			Message: fmt.Sprintf("BackupSchedule %s has no sealed backup retained offsite to drill", d.Spec.BackupScheduleRef.Name),
		}
		st.runEnded(run, "", v1alpha1.ReasonNoSealedBackup)
		return nil
	}
	d.Status.Active = &v1alpha1.ActiveDrillRun{
		ID: id, Trigger: trigger, ScheduledTime: metav1.Time{Time: t}, StartTime: metav1.NewTime(st.Now),
		Backup: ob.Spec.VeleroBackupName, StagedName: v1alpha1.DrillStagedName(d.Namespace, d.Name, id),
	}
	spec := r.runSpec(st, ob)
	job := r.runJob(ctx, spec)
	st.submit = &job
	logf.FromContext(ctx).Info("drill run starting", "run", id, "trigger", trigger, "backup", ob.Spec.VeleroBackupName)
	return nil
}

// pickBackup lists the schedule's retained, sealed OffsiteBackups in its
// OffsiteTarget and picks one as spec.backup says; nil when there is none.
func (r *Reconciler) pickBackup(ctx context.Context, st *drillState) (*v1alpha1.OffsiteBackup, error) {
	var list v1alpha1.OffsiteBackupList
	err := r.List(ctx, &list, client.InNamespace(st.obj.Namespace),
		client.MatchingLabels{v1alpha1.LabelSchedule: v1alpha1.ScheduleLabelValue(st.obj.Namespace, st.bs.Name)})
	if err != nil {
		return nil, fmt.Errorf("list OffsiteBackups of %s: %w", st.bs.Name, err)
	}
	return chooseBackup(list.Items, st.bs.Name, st.bs.Spec.OffsiteTargetRef.Name, st.obj.Spec.Backup, r.intN), nil
}

// intN is a random number in [0, n).
func (r *Reconciler) intN(n int) int {
	r.randMu.Lock()
	defer r.randMu.Unlock()
	return r.rand.IntN(n)
}

// chooseBackup picks among items those of schedule in target that are
// sealed and not dropped by retention: the latest or oldest by seal time
// (then name), or one at random (intN(n) in [0, n)). It returns nil when
// none qualifies.
func chooseBackup(items []v1alpha1.OffsiteBackup, schedule, target string, choice v1alpha1.DrillBackupChoice, intN func(int) int) *v1alpha1.OffsiteBackup {
	var ok []*v1alpha1.OffsiteBackup
	for i := range items {
		ob := &items[i]
		if ob.Spec.ScheduleName != schedule || ob.Spec.OffsiteTargetRef.Name != target || !ob.DeletionTimestamp.IsZero() ||
			!meta.IsStatusConditionTrue(ob.Status.Conditions, v1alpha1.ConditionSealed) ||
			meta.IsStatusConditionFalse(ob.Status.Conditions, v1alpha1.ConditionRetained) {
			continue
		}
		ok = append(ok, ob)
	}
	if len(ok) == 0 {
		return nil
	}
	slices.SortFunc(ok, func(a, b *v1alpha1.OffsiteBackup) int {
		return cmp.Or(sealedAt(a).Compare(sealedAt(b)), cmp.Compare(a.Name, b.Name))
	})
	switch choice {
	case v1alpha1.DrillBackupOldest:
		return ok[0]
	case v1alpha1.DrillBackupRandom:
		return ok[intN(len(ok))]
	}
	return ok[len(ok)-1]
}

func sealedAt(ob *v1alpha1.OffsiteBackup) time.Time {
	if ob.Status.SealedAt == nil {
		return time.Time{}
	}
	return ob.Status.SealedAt.Time
}
