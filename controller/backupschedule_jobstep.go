package controller

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// retentionRetryInterval is when a failed retention pass is tried again.
const retentionRetryInterval = 5 * time.Minute

// collectJob looks at the schedule's job: a running seal keeps the run in
// Sealing; a finished one is applied (or retried after a failure); a
// finished retention pass is applied.
func (r *BackupScheduleReconciler) collectJob(ctx context.Context, st *scheduleState) error {
	j := r.jobs.lookup(st.key)
	switch {
	case j == nil:
		return nil
	case !j.done:
		if j.kind == jobSeal {
			st.running(v1alpha1.ReasonSealing, "sealing Velero backup %s to OffsiteTarget %q", j.backup, st.obj.Spec.OffsiteTargetRef.Name)
		}
		st.jobBusy = true
		return nil
	case j.kind == jobSeal && j.backup == st.obj.Status.Active:
		return r.applySeal(ctx, st, j)
	case j.kind == jobRetention:
		return r.applyRetentionJob(ctx, st, j)
	}
	st.taken = j // a seal of a run that ended otherwise: nothing to apply
	return nil
}

// applySeal applies a finished seal job to the active run.
func (r *BackupScheduleReconciler) applySeal(ctx context.Context, st *scheduleState, j *job) error {
	res := j.result
	if res.err != nil {
		return r.sealFailed(st, j)
	}
	if err := r.syncOffsiteBackups(ctx, st, j.backup, res); err != nil {
		return err
	}
	s, sl := st.obj, res.seal
	s.Status.LastSealedBackup = j.backup
	s.Status.LastSealTime = &metav1.Time{Time: sl.SealedAt}
	how := "sealed"
	if !res.copied {
		how = "found already sealed"
	}
	st.runEnded(true, v1alpha1.ReasonSealed, resultSealed, nil,
		"Velero backup %s %s to OffsiteTarget %q: %d objects, %d bytes encrypted, seal %s",
		j.backup, how, st.obj.Spec.OffsiteTargetRef.Name, len(sl.Objects), sl.CiphertextBytes(), sl.Digest())
	ns, name := st.key.Namespace, st.key.Name
	sealedAt, secs, bytes, copied := float64(sl.SealedAt.Unix()), res.duration.Seconds(), float64(sl.CiphertextBytes()), res.copied
	st.count(func() {
		lastSealTimestamp.WithLabelValues(ns, name).Set(sealedAt)
		if copied {
			sealDuration.WithLabelValues(ns, name).Observe(secs)
			sealBytes.WithLabelValues(ns, name).Add(bytes)
		}
	})
	st.taken = j
	return nil
}

// sealFailed handles a failed seal: a permanent failure ends the run; any
// other keeps it active and retries with backoff.
func (r *BackupScheduleReconciler) sealFailed(st *scheduleState, j *job) error {
	err := j.result.err
	if permanentSealError(err) {
		st.countSealFailure(err)
		st.runEnded(false, v1alpha1.ReasonSealFailed, resultSealFailed, nil,
			"sealing Velero backup %s failed and is not retried: %v", j.backup, err)
		st.taken = j
		return nil
	}
	retryAt := j.retryAt
	if retryAt.IsZero() { // first look at this failure
		retryAt = st.now.Add(retryDelay(j.attempts))
		r.jobs.setRetry(st.key, retryAt)
		st.event(nil, corev1.EventTypeWarning, v1alpha1.ReasonSealFailed,
			"sealing Velero backup %s failed (attempt %d), retrying at %s: %v", j.backup, j.attempts, retryAt.Format(time.RFC3339), err)
		st.countRun(resultSealFailed)
		st.countSealFailure(err)
	}
	msg := "sealing Velero backup " + j.backup + " failed, retrying at " + retryAt.Format(time.RFC3339) + ": " + err.Error()
	st.setCondition(v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonSealFailed, msg)
	if st.now.Before(retryAt) {
		st.running(v1alpha1.ReasonSealing, "%s", msg)
		st.jobBusy = true
		st.wakeAt(retryAt)
	}
	// Otherwise followRun submits the seal again.
	return nil
}

// applyRetentionJob applies a finished retention pass.
func (r *BackupScheduleReconciler) applyRetentionJob(ctx context.Context, st *scheduleState, j *job) error {
	if j.result.err != nil {
		st.setCondition(v1alpha1.ConditionRetentionApplied, metav1.ConditionFalse, v1alpha1.ReasonRetentionFailed, j.result.err.Error())
		st.retryRetention(r.jobs, st.now.Add(retentionRetryInterval))
		st.taken = j
		return nil
	}
	if err := r.syncOffsiteBackups(ctx, st, "", j.result); err != nil {
		return err
	}
	st.taken = j
	return nil
}

// retain starts a retention pass when one is due and nothing else runs:
// the policy changed since the last pass (or none ran since a seal),
// dropped backups wait for their object lock to end, or the last pass
// failed. Passes for the last two are spaced by what the last one found
// (the earliest lock end, or a retry interval); after a restart the first
// reconcile runs one at once.
func (r *BackupScheduleReconciler) retain(ctx context.Context, st *scheduleState) error {
	s := st.obj
	if st.jobBusy || st.taken != nil || s.Status.Active != "" || st.target == nil {
		return nil
	}
	c := st.condition(v1alpha1.ConditionRetentionApplied)
	switch {
	case c == nil || c.ObservedGeneration != s.Generation:
		if s.Status.LastSealedBackup == "" {
			return nil // nothing sealed yet: the first seal applies it
		}
	case c.Reason == v1alpha1.ReasonWaitingForLock, c.Reason == v1alpha1.ReasonRetentionFailed:
		if at := r.jobs.notBefore(st.key); st.now.Before(at) {
			st.wakeAt(at)
			return nil
		}
	default:
		return nil
	}
	spec := jobSpec{kind: jobRetention, schedule: s.Name, target: st.target.DeepCopy(), policy: st.retentionPolicy()}
	return r.jobs.submit(st.key, jobRetention, "", r.jobFunc(ctx, spec))
}
