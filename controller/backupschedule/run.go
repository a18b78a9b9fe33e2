package backupschedule

import (
	"context"
	"fmt"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/scope"
)

// parseSpec parses the cron expression and time zone. An invalid spec is
// terminal (kit.ParseSchedule); a run in flight is still followed.
func (r *Reconciler) parseSpec(_ context.Context, st *scheduleState) error {
	st.sched = kit.ParseSchedule(&st.State, st.obj.Spec.Schedule, st.obj.Spec.TimeZone, &st.obj.Status.NextScheduleTime)
	kit.CheckDurations(&st.State, st.obj)
	return nil
}

// followRun follows the Velero Backup of the run in flight, unless its
// seal job already accounts for it: a finished backup ends the run (Failed,
// PartiallyFailed) or is handed to a seal job (Completed).
func (r *Reconciler) followRun(ctx context.Context, st *scheduleState) error {
	s := st.obj
	name := s.Status.Active
	if name == "" || st.runningReason != "" {
		return nil
	}
	b, err := r.veleroBackup(ctx, name)
	if apierrors.IsNotFound(err) {
		st.runEnded(false, v1alpha1.ReasonBackupDeleted, resultBackupDeleted, nil,
			"Velero backup %s/%s was deleted before it was sealed; nothing was sealed", r.VeleroNamespace, name)
		return nil
	}
	if err != nil {
		return err
	}
	switch b.Status.Phase {
	case velerov1.BackupPhaseCompleted:
		return r.submitSeal(ctx, st, b)
	case velerov1.BackupPhaseFailed, velerov1.BackupPhaseFailedValidation:
		st.runEnded(false, v1alpha1.ReasonBackupFailed, resultFailed, b,
			"Velero backup %s/%s %s%s; nothing was sealed", r.VeleroNamespace, name, b.Status.Phase, failureDetail(b))
	case velerov1.BackupPhasePartiallyFailed:
		st.runEnded(false, v1alpha1.ReasonBackupPartiallyFailed, resultPartiallyFailed, b,
			"Velero backup %s/%s PartiallyFailed with %d errors and %d warnings (see `velero backup logs %s`); nothing was sealed",
			r.VeleroNamespace, name, b.Status.Errors, b.Status.Warnings, name)
	case velerov1.BackupPhaseDeleting:
		st.runEnded(false, v1alpha1.ReasonBackupDeleted, resultBackupDeleted, b,
			"Velero backup %s/%s is being deleted; nothing was sealed", r.VeleroNamespace, name)
	default:
		r.inProgress(st, b)
	}
	if c := st.condition(v1alpha1.ConditionLastRunSucceeded); s.Status.Active == "" && c != nil && c.Status == metav1.ConditionFalse {
		r.auditRunFailure(ctx, st, name, c.Reason, c.Message) // the run ended here, unsealed
	}
	return nil
}

// inProgress reports a Velero Backup not yet in a terminal phase, or ends
// the run when it has not reached one within the backup deadline (Velero
// down, the Backup never picked up): the run failed, and the next due run
// goes ahead. The Backup is left to Velero; a run that ended does not seal
// it.
func (r *Reconciler) inProgress(st *scheduleState, b *velerov1.Backup) {
	phase := string(b.Status.Phase)
	if phase == "" {
		phase = string(velerov1.BackupPhaseNew)
	}
	deadline := runStart(b).Add(r.BackupDeadline)
	if !st.Now.Before(deadline) {
		st.runEnded(false, v1alpha1.ReasonBackupTimedOut, resultTimedOut, b,
			"Velero backup %s/%s still %s after the backup deadline of %s (is Velero running?); nothing was sealed, the next run goes ahead",
			r.VeleroNamespace, b.Name, phase, r.BackupDeadline)
		return
	}
	st.WakeAt(deadline)
	msg := fmt.Sprintf("Velero backup %s is %s", b.Name, phase)
	if p := b.Status.Progress; p != nil && p.TotalItems > 0 {
		msg += fmt.Sprintf(" (%d of %d items)", p.ItemsBackedUp, p.TotalItems)
	}
	st.running(v1alpha1.ReasonBackupInProgress, "%s", msg)
}

// runStart is when b's run was scheduled or asked for (its
// AnnotationScheduledTime), else when b was created.
func runStart(b *velerov1.Backup) time.Time {
	if t, err := time.Parse(time.RFC3339, b.Annotations[v1alpha1.AnnotationScheduledTime]); err == nil {
		return t
	}
	return b.CreationTimestamp.Time
}

// veleroBackup reads a Velero Backup from the cache, and from the API
// server when the cache has not seen it (yet).
func (r *Reconciler) veleroBackup(ctx context.Context, name string) (*velerov1.Backup, error) {
	key := client.ObjectKey{Namespace: r.VeleroNamespace, Name: name}
	b := &velerov1.Backup{}
	err := r.Velero.Get(ctx, key, b)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, b)
	}
	return b, err
}

// failureDetail says why Velero failed a backup.
func failureDetail(b *velerov1.Backup) string {
	switch {
	case b.Status.FailureReason != "":
		return ": " + b.Status.FailureReason
	case len(b.Status.ValidationErrors) > 0:
		return ": " + fmt.Sprint(b.Status.ValidationErrors)
	}
	return ""
}

// submitSeal hands a Completed backup to a seal job, once the target is
// Ready.
func (r *Reconciler) submitSeal(ctx context.Context, st *scheduleState, b *velerov1.Backup) error {
	s := st.obj
	if st.target == nil {
		st.running(v1alpha1.ReasonSealing, "Velero backup %s completed; sealing waits for OffsiteTarget %q to be Ready",
			b.Name, s.Spec.OffsiteTargetRef.Name)
		return nil
	}
	spec := jobSpec{
		kind: jobSeal, schedule: s.Name, backup: b.Name, location: b.Spec.StorageLocation, active: b.Name,
		namespace: s.Namespace, target: st.target.DeepCopy(), policy: st.retentionPolicy(),
	}
	if err := r.jobs.Submit(st.Key, r.job(ctx, spec)); err != nil {
		return err
	}
	st.running(v1alpha1.ReasonSealing, "sealing Velero backup %s to OffsiteTarget %q", b.Name, st.target.Name)
	return nil
}

// startRun starts the run that is due, if any: a run asked for with
// v1alpha1.AnnotationRunNow first, else the most recent scheduled time missed
// (within the starting deadline). One run at a time: nothing starts while
// one is in flight. It sets the next schedule time and asks to be woken
// then.
func (r *Reconciler) startRun(ctx context.Context, st *scheduleState) error {
	s := st.obj
	if st.sched == nil {
		return nil
	}
	if s.Spec.Suspend {
		s.Status.NextScheduleTime = nil
		st.observeSchedule(time.Time{})
		if _, ok := s.Annotations[v1alpha1.AnnotationRunNow]; ok {
			st.Event(nil, corev1.EventTypeWarning, "RunNowRefused",
				"spec.suspend is set: the run asked for with %s was not started", v1alpha1.AnnotationRunNow)
			st.clearNow = true
		}
		return nil
	}
	due, missed, next := kit.DueRun(*st.sched, st.Now, s.Status.LastScheduleTime, s.CreationTimestamp.Time, s.Spec.StartingDeadlineSeconds)
	st.observeSchedule(next)
	s.Status.NextScheduleTime = nil
	if !next.IsZero() {
		s.Status.NextScheduleTime = &metav1.Time{Time: next}
		st.WakeAt(next)
	}
	if s.Status.Active != "" || st.target == nil || st.NotReadyReason() != "" {
		// Runs wait; when they can start, Due reports what was missed.
		return nil
	}
	if v, ok := s.Annotations[v1alpha1.AnnotationRunNow]; ok {
		st.clearNow = true
		t, valid := kit.RunNowTime(v)
		if !valid {
			st.RunNowRefused(v)
			return nil
		}
		if v1alpha1.ManualBackupName(s.Namespace, s.Name, t) == s.Status.LastSealedBackup {
			return nil // done already; only the annotation's removal was lost
		}
		return r.startBackup(ctx, st, t, v1alpha1.TriggerManual)
	}
	switch {
	case due != nil:
		if err := r.startBackup(ctx, st, *due, v1alpha1.TriggerSchedule); err != nil {
			return err
		}
		s.Status.LastScheduleTime = &metav1.Time{Time: *due}
		if missed > 1 {
			st.Event(nil, corev1.EventTypeWarning, "MissedRuns",
				"%d earlier scheduled runs were missed (controller down, target not Ready or a run in flight); started only the most recent, %s",
				missed-1, due.In(st.sched.Location()).Format(time.RFC3339))
			n := float64(missed - 1)
			ns, name := st.Key.Namespace, st.Key.Name
			st.After(func() { scheduleRuns.WithLabelValues(ns, name, resultMissed).Add(n) })
		}
	case missed > 0:
		r.reportMissed(st)
	}
	return nil
}

// reportMissed records that every missed time is past the starting
// deadline, once per such time, and counts it.
func (r *Reconciler) reportMissed(st *scheduleState) {
	o := st.obj
	if st.ReportMissed(&o.Status.Conditions, o.Generation, v1alpha1.ConditionLastRunSucceeded, *st.sched,
		o.Status.LastScheduleTime, o.CreationTimestamp.Time, o.Spec.StartingDeadlineSeconds) {
		st.countRun(resultMissed)
	}
}

// startBackup creates the Velero Backup of the run for time t. Its name is
// fixed by the schedule and t, so after a restart the Backup made before is
// found rather than made again.
func (r *Reconciler) startBackup(ctx context.Context, st *scheduleState, t time.Time, trigger string) error {
	s := st.obj
	name := v1alpha1.BackupName(s.Namespace, s.Name, t)
	if trigger == v1alpha1.TriggerManual {
		name = v1alpha1.ManualBackupName(s.Namespace, s.Name, t)
	}
	b := &velerov1.Backup{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: r.VeleroNamespace,
			Labels:    map[string]string{v1alpha1.LabelSchedule: v1alpha1.ScheduleLabelValue(s.Namespace, s.Name)},
			Annotations: map[string]string{
				v1alpha1.AnnotationScheduleNamespace: s.Namespace,
				v1alpha1.AnnotationScheduleName:      s.Name,
				v1alpha1.AnnotationScheduledTime:     t.UTC().Format(time.RFC3339),
				v1alpha1.AnnotationTrigger:           trigger,
			},
		},
		Spec: veleroBackupSpec(s.Spec.Template, st.scope),
	}
	err := r.Create(ctx, b)
	switch {
	case apierrors.IsAlreadyExists(err):
		if ours, err := r.existingBackup(ctx, st, name); err != nil || !ours {
			return err
		}
	case err != nil:
		return fmt.Errorf("create Velero backup %s/%s: %w", r.VeleroNamespace, name, err)
	default:
		r.created.add(name, r.Clock.Now())
	}
	s.Status.Active = name
	st.running(v1alpha1.ReasonBackupInProgress, "Velero backup %s is %s", name, velerov1.BackupPhaseNew)
	// No Event for a start (outcomes have one): when hundreds of schedules
	// are due at once, the Events would slow the Backups down (about 2x).
	logf.FromContext(ctx).Info("run started", "backup", name, "trigger", trigger, "time", t.UTC())
	return nil
}

// existingBackup looks at the Velero Backup name that a create found
// already there: ours when this schedule made it (by this process, its
// status not yet read back, or before a restart), else the run is not
// started and the schedule says why.
func (r *Reconciler) existingBackup(ctx context.Context, st *scheduleState, name string) (ours bool, err error) {
	s := st.obj
	b, err := r.veleroBackup(ctx, name)
	if err != nil {
		return false, fmt.Errorf("read Velero backup %s/%s: %w", r.VeleroNamespace, name, err)
	}
	if b.Annotations[v1alpha1.AnnotationScheduleNamespace] != s.Namespace || b.Annotations[v1alpha1.AnnotationScheduleName] != s.Name {
		msg := fmt.Sprintf("Velero backup %s/%s exists and was not made by this schedule: the run was not started", r.VeleroNamespace, name)
		st.setCondition(v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonBackupFailed, msg)
		st.Event(nil, corev1.EventTypeWarning, v1alpha1.ReasonBackupFailed, "%s", msg)
		return false, nil
	}
	if r.created.has(name) {
		logf.FromContext(ctx).V(1).Info("found the velero backup this process created for the run; its status was not yet read back", "backup", name)
	} else {
		logf.FromContext(ctx).Info("found the velero backup of the run made before a restart (or by an earlier leader)", "backup", name)
	}
	return true, nil
}

// veleroBackupSpec is the Velero BackupSpec of a template, with the
// namespaces of ns (the template's, protected namespaces kept out).
func veleroBackupSpec(t v1alpha1.BackupTemplate, ns scope.Namespaces) velerov1.BackupSpec {
	t = *t.DeepCopy()
	spec := velerov1.BackupSpec{
		IncludedNamespaces:       ns.Included,
		ExcludedNamespaces:       ns.Excluded,
		IncludedResources:        t.IncludedResources,
		ExcludedResources:        t.ExcludedResources,
		LabelSelector:            t.LabelSelector,
		SnapshotVolumes:          t.SnapshotVolumes,
		SnapshotMoveData:         t.SnapshotMoveData,
		DataMover:                t.DataMover,
		DefaultVolumesToFsBackup: t.DefaultVolumesToFsBackup,
		StorageLocation:          t.StorageLocation,
	}
	if t.TTL != nil {
		spec.TTL = metav1.Duration{Duration: t.TTL.Duration}
	}
	if t.Hooks != nil {
		spec.Hooks = t.Hooks.Velero()
	}
	return spec
}
