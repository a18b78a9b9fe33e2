package backupschedule

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/seal"
)

// offsiteBackups lists the OffsiteBackups of schedule s (by v1alpha1.LabelSchedule).
func (r *Reconciler) offsiteBackups(ctx context.Context, s *v1alpha1.BackupSchedule) ([]v1alpha1.OffsiteBackup, error) {
	var list v1alpha1.OffsiteBackupList
	err := r.List(ctx, &list, client.InNamespace(s.Namespace),
		client.MatchingLabels{v1alpha1.LabelSchedule: v1alpha1.ScheduleLabelValue(s.Namespace, s.Name)})
	if err != nil {
		return nil, fmt.Errorf("list OffsiteBackups of %s: %w", s.Name, err)
	}
	return list.Items, nil
}

// recordedBackups names the backups spec's schedule has OffsiteBackups of
// in spec's target: those it knows were sealed.
func (r *Reconciler) recordedBackups(ctx context.Context, spec jobSpec) (map[string]bool, error) {
	var list v1alpha1.OffsiteBackupList
	err := r.List(ctx, &list, client.InNamespace(spec.namespace),
		client.MatchingLabels{v1alpha1.LabelSchedule: v1alpha1.ScheduleLabelValue(spec.namespace, spec.schedule)})
	if err != nil {
		return nil, fmt.Errorf("list OffsiteBackups of %s: %w", spec.schedule, err)
	}
	out := make(map[string]bool, len(list.Items))
	for _, ob := range list.Items {
		if ob.Spec.OffsiteTargetRef.Name == spec.target.Name && ob.Spec.ScheduleName == spec.schedule {
			out[ob.Spec.VeleroBackupName] = true
		}
	}
	return out, nil
}

// syncOffsiteBackups makes the schedule's OffsiteBackups match a job's
// outcome: one per sealed backup of the schedule in the bucket (created
// when missing, which rebuilds records from the bucket), Retained set from
// the retention decision, and records of backups no longer in the bucket
// deleted. sealed names the backup the job sealed (empty for a retention
// pass), whose record also gets the seal's duration and plaintext size. It
// sets RetentionApplied and the time of the next retention pass.
func (r *Reconciler) syncOffsiteBackups(ctx context.Context, st *scheduleState, sealed string, res *jobResult) error {
	s, out := st.obj, res.retention
	targetName := s.Spec.OffsiteTargetRef.Name
	policy := st.retentionPolicy()
	for name, e := range out.Entries {
		var extra func(*v1alpha1.OffsiteBackupStatus)
		var covered *metav1.Condition
		if name == sealed {
			extra, covered = res.sealFacts, coveredCondition(res.coverage)
		}
		err := r.upsertOffsiteBackup(ctx, st, targetName, e.Seal, extra, retainedCondition(out, name, policy.String()), hiddenCondition(e, out.Volumes.HiddenBlobs(e.Seal)), covered)
		if err != nil {
			return err
		}
	}
	if _, listed := out.Entries[sealed]; sealed != "" && !out.Listed && !listed {
		if err := r.upsertOffsiteBackup(ctx, st, targetName, res.seal, res.sealFacts, coveredCondition(res.coverage)); err != nil {
			return err
		}
	}
	if out.Listed {
		if err := r.syncGoneRecords(ctx, st, targetName, out); err != nil {
			return err
		}
		st.countUntrusted(out.Untrusted)
		st.countHidden(targetName, out.TargetHidden)
	}
	st.countVolumeDeletes(targetName, out.Volumes)
	if len(out.Deleted) > 0 {
		slices.Sort(out.Deleted)
		st.Event(nil, corev1.EventTypeNormal, v1alpha1.ReasonRetentionApplied,
			"deleted %d offsite backups dropped by retention (%s): %s", len(out.Deleted), policy, strings.Join(out.Deleted, ", "))
	}
	switch {
	case out.Err != nil:
		st.setCondition(v1alpha1.ConditionRetentionApplied, metav1.ConditionFalse, v1alpha1.ReasonRetentionFailed,
			fmt.Sprintf("retention (%s) is retried: %v", policy, out.Err))
		st.retryRetention(r.jobs, st.Now.Add(retentionRetryInterval))
	case len(out.Waiting) > 0 || out.Leftovers > 0 || out.Volumes.Locked > 0:
		next := out.nextRetry(st.Now)
		st.setCondition(v1alpha1.ConditionRetentionApplied, metav1.ConditionTrue, v1alpha1.ReasonWaitingForLock,
			fmt.Sprintf("retention (%s) keeps %d; %d dropped backups, %d incomplete copies and %d unneeded volume blobs wait for their object lock, next try at %s",
				policy, len(out.Kept), len(out.Waiting), out.Leftovers, out.Volumes.Locked, next.UTC().Format(time.RFC3339)))
		st.retryRetention(r.jobs, next)
	default:
		st.setCondition(v1alpha1.ConditionRetentionApplied, metav1.ConditionTrue, v1alpha1.ReasonRetentionApplied,
			fmt.Sprintf("retention (%s) keeps %d offsite backups; deleted %d", policy, len(out.Kept), len(out.Deleted)))
		r.jobs.SetNotBefore(st.Key, time.Time{})
	}
	return nil
}

// countVolumeDeletes queues the volume blobs the pass deleted on the
// target's metrics and, when there are any, a Normal Event counting them.
func (st *scheduleState) countVolumeDeletes(target string, gc seal.VolumeGC) {
	if gc.Deleted == 0 {
		return
	}
	ns := st.Key.Namespace
	st.After(func() {
		kit.VolumeBlobsDeleted.WithLabelValues(ns, target).Add(float64(gc.Deleted))
		kit.VolumeBytesDeleted.WithLabelValues(ns, target).Add(float64(gc.DeletedBytes))
	})
	st.Event(nil, corev1.EventTypeNormal, v1alpha1.ReasonRetentionApplied,
		"deleted %d sealed volume blobs (%d bytes) that no retained seal needs", gc.Deleted, gc.DeletedBytes)
}

// countUntrusted queues the number of untrusted seals the pass found and,
// when there are any, a Warning Event naming them.
func (st *scheduleState) countUntrusted(names []string) {
	ns, name, n := st.Key.Namespace, st.Key.Name, float64(len(names))
	st.After(func() { untrustedSeals.WithLabelValues(ns, name).Set(n) })
	if len(names) > 0 {
		slices.Sort(names)
		st.Event(nil, corev1.EventTypeWarning, v1alpha1.ReasonUntrustedSeal,
			"ignored %d seals in the offsite bucket not signed by a key the OffsiteTarget trusts (someone wrote to the bucket without its keys): %s",
			len(names), strings.Join(names, ", "))
	}
}

// sealFacts sets what only the job that sealed knows.
func (res *jobResult) sealFacts(st *v1alpha1.OffsiteBackupStatus) {
	if res.plaintextBytes > 0 {
		st.PlaintextBytes = res.plaintextBytes
	}
	if res.copied {
		st.SealDuration = &v1alpha1.Duration{Duration: res.duration.Round(time.Millisecond)}
	}
	if res.coverage != nil {
		st.Volumes = res.coverage.DeepCopy()
	}
}

// retainedCondition is the Retained condition of backup after a pass, or
// nil when the pass decided nothing about it.
func retainedCondition(out retentionOutcome, backup, policy string) *metav1.Condition {
	if until, ok := out.Waiting[backup]; ok {
		msg := fmt.Sprintf("dropped by retention (%s); object lock refused deleting it, retried later", policy)
		if !until.IsZero() {
			msg = fmt.Sprintf("dropped by retention (%s); object lock keeps it until %s", policy, until.UTC().Format(time.RFC3339))
		}
		return &metav1.Condition{Type: v1alpha1.ConditionRetained, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonWaitingForLock, Message: msg}
	}
	if reasons, ok := out.Kept[backup]; ok {
		return &metav1.Condition{Type: v1alpha1.ConditionRetained, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonKeptByPolicy,
			Message: "kept by " + describeReasons(reasons)}
	}
	return nil
}

// upsertOffsiteBackup creates the record of sl when missing and brings its
// status up to date (conds, those not nil, are set: Retained, Hidden;
// extra, when given, adds what only the sealing job knows). A name taken by
// a record of something else is left alone and logged. A Hidden condition
// that turns True queues a Warning Event on the record.
func (r *Reconciler) upsertOffsiteBackup(ctx context.Context, st *scheduleState, targetName string, sl *seal.Seal,
	extra func(*v1alpha1.OffsiteBackupStatus), conds ...*metav1.Condition) error {
	ob := &v1alpha1.OffsiteBackup{}
	key := client.ObjectKey{Namespace: st.obj.Namespace, Name: sl.Backup}
	err := r.Get(ctx, key, ob)
	if apierrors.IsNotFound(err) {
		ob = newOffsiteBackup(st.obj, targetName, sl)
		if err := controllerutil.SetControllerReference(st.obj, ob, r.Scheme); err != nil {
			return err
		}
		err = r.Create(ctx, ob)
		if apierrors.IsAlreadyExists(err) { // the cache lagged
			err = r.APIReader.Get(ctx, key, ob)
		}
	}
	if err != nil {
		return fmt.Errorf("record OffsiteBackup %s: %w", key, err)
	}
	if !recordsSeal(ob, targetName, sl) {
		logf.FromContext(ctx).Info("an offsitebackup of another backup has the name; not recording", "offsiteBackup", key)
		return nil
	}
	before := ob.DeepCopy()
	sealedStatus(ob, sl, st.Now)
	if extra != nil {
		extra(&ob.Status)
	}
	for _, c := range conds {
		if c != nil {
			kit.SetCondition(&ob.Status.Conditions, ob.Generation, st.Now, c.Type, c.Status, c.Reason, c.Message)
		}
	}
	if equality.Semantic.DeepEqual(before.Status, ob.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, ob, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("update status of OffsiteBackup %s: %w", key, err)
	}
	r.hiddenEvent(st, before, ob)
	return nil
}

// syncGoneRecords handles the schedule's records, in the target named
// targetName, whose backups are not among out.Entries (the bucket no
// longer holds them sealed). Those retention dropped are deleted; any
// other is a sealed backup that disappeared: it is never cleaned up
// silently, its record stays with Gone True, a Warning Event and an audit
// entry say so once, and the schedule's gone gauge counts it. A record
// whose seal is back gets Gone False. Records of other targets are left
// alone.
func (r *Reconciler) syncGoneRecords(ctx context.Context, st *scheduleState, targetName string, out retentionOutcome) error {
	list, err := r.offsiteBackups(ctx, st.obj)
	if err != nil {
		return err
	}
	gone := 0
	for i := range list {
		ob := &list[i]
		if ob.Spec.OffsiteTargetRef.Name != targetName || ob.Spec.ScheduleName != st.obj.Name {
			continue
		}
		_, present := out.Entries[ob.Spec.VeleroBackupName]
		switch {
		case present:
			err = r.setGone(ctx, st, ob, false)
		case droppedByRetention(ob, out):
			if err := r.Delete(ctx, ob); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("delete OffsiteBackup %s: %w", client.ObjectKeyFromObject(ob), err)
			}
		default:
			gone++
			err = r.setGone(ctx, st, ob, true)
		}
		if err != nil {
			return err
		}
	}
	ns, name, n := st.Key.Namespace, st.Key.Name, float64(gone)
	st.After(func() { goneBackups.WithLabelValues(ns, name).Set(n) })
	return nil
}

// droppedByRetention says retention deleted ob's backup: in this pass, or
// in an earlier one that dropped it (Retained False) before its record
// could be deleted.
func droppedByRetention(ob *v1alpha1.OffsiteBackup, out retentionOutcome) bool {
	if slices.Contains(out.Deleted, ob.Spec.VeleroBackupName) {
		return true
	}
	c := meta.FindStatusCondition(ob.Status.Conditions, v1alpha1.ConditionRetained)
	return c != nil && c.Status == metav1.ConditionFalse
}

// setGone sets ob's Gone condition: True (with a Warning Event and an
// audit entry, when it turns True) or, only when it was set, False.
func (r *Reconciler) setGone(ctx context.Context, st *scheduleState, ob *v1alpha1.OffsiteBackup, gone bool) error {
	c := meta.FindStatusCondition(ob.Status.Conditions, v1alpha1.ConditionGone)
	was := c != nil && c.Status == metav1.ConditionTrue
	if gone == was || (!gone && c == nil) {
		return nil
	}
	before := ob.DeepCopy()
	backup := ob.Spec.VeleroBackupName
	status, reason := metav1.ConditionFalse, v1alpha1.ReasonSealPresent
	msg := "the trusted seal is in the offsite bucket again"
	if gone {
		status, reason = metav1.ConditionTrue, v1alpha1.ReasonSealGone
		msg = fmt.Sprintf("the offsite bucket no longer holds a trusted seal of %s/%s (seal %s), and retention did not delete it: someone deleted or replaced it; the record is kept as evidence",
			ob.Spec.ScheduleName, backup, ob.Status.SealDigest)
	}
	kit.SetCondition(&ob.Status.Conditions, ob.Generation, st.Now, v1alpha1.ConditionGone, status, reason, msg)
	if err := r.Status().Patch(ctx, ob, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("update status of OffsiteBackup %s: %w", client.ObjectKeyFromObject(ob), err)
	}
	if gone {
		st.After(func() {
			r.Recorder.Eventf(ob, nil, corev1.EventTypeWarning, v1alpha1.ReasonSealGone, "Check", "%s", kit.Note(msg))
		})
		r.auditScheduleFailure(ctx, st, backup, "seal-gone", v1alpha1.ReasonSealGone, msg)
	}
	return nil
}
