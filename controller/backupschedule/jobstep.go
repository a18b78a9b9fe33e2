package backupschedule

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
)

// retentionRetryInterval is when a failed retention pass is tried again.
const retentionRetryInterval = 5 * time.Minute

// collectJob looks at the schedule's job: a running seal keeps the run in
// Sealing; a finished one is applied (or retried after a failure); a
// finished retention pass is applied.
func (r *Reconciler) collectJob(ctx context.Context, st *scheduleState) error {
	j := r.jobs.Lookup(st.Key)
	switch {
	case j == nil:
		return nil
	case !j.Done:
		if j.Kind == jobSeal {
			st.running(v1alpha1.ReasonSealing, "sealing Velero backup %s to OffsiteTarget %q", j.ID, st.obj.Spec.OffsiteTargetRef.Name)
		}
		st.jobBusy = true
		return nil
	case j.Kind == jobSeal && j.ID == st.obj.Status.Active:
		return r.applySeal(ctx, st, j)
	case j.Kind == jobRetention:
		return r.applyRetentionJob(ctx, st, j)
	}
	st.taken = j // a seal of a run that ended otherwise: nothing to apply
	return nil
}

// applySeal applies a finished seal job to the active run.
func (r *Reconciler) applySeal(ctx context.Context, st *scheduleState, j *kit.Status[*jobResult]) error {
	res := j.Result
	if res.err != nil {
		return r.sealFailed(st, j)
	}
	if err := r.syncOffsiteBackups(ctx, st, j.ID, res); err != nil {
		return err
	}
	s, sl := st.obj, res.seal
	s.Status.LastSealedBackup = j.ID
	s.Status.LastSealTime = &metav1.Time{Time: sl.SealedAt}
	st.setCoverage(j.ID, res.coverage)
	how := "sealed"
	if !res.copied {
		how = "found already sealed"
	}
	st.runEnded(true, v1alpha1.ReasonSealed, resultSealed, nil,
		"Velero backup %s %s to OffsiteTarget %q: %d objects, %d bytes encrypted, seal %s",
		j.ID, how, st.obj.Spec.OffsiteTargetRef.Name, len(sl.Objects), sl.CiphertextBytes(), sl.Digest())
	ns, name := st.Key.Namespace, st.Key.Name
	sealedAt, secs, bytes, copied := float64(sl.SealedAt.Unix()), res.duration.Seconds(), float64(sl.CiphertextBytes()), res.copied
	st.After(func() {
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
func (r *Reconciler) sealFailed(st *scheduleState, j *kit.Status[*jobResult]) error {
	err := j.Result.err
	if permanentSealError(err) {
		st.countSealFailure(err)
		st.runEnded(false, v1alpha1.ReasonSealFailed, resultSealFailed, nil,
			"sealing Velero backup %s failed and is not retried: %v", j.ID, err)
		st.taken = j
		return nil
	}
	retryAt := j.RetryAt
	if retryAt.IsZero() { // first look at this failure
		retryAt = st.Now.Add(kit.RetryDelay(j.Failures))
		r.jobs.SetRetry(st.Key, retryAt)
		st.Event(nil, corev1.EventTypeWarning, v1alpha1.ReasonSealFailed,
			"sealing Velero backup %s failed (attempt %d), retrying at %s: %v", j.ID, j.Failures, retryAt.Format(time.RFC3339), err)
		st.countRun(resultSealFailed)
		st.countSealFailure(err)
	}
	msg := "sealing Velero backup " + j.ID + " failed, retrying at " + retryAt.Format(time.RFC3339) + ": " + err.Error()
	st.setCondition(v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonSealFailed, msg)
	if st.Now.Before(retryAt) {
		st.running(v1alpha1.ReasonSealing, "%s", msg)
		st.jobBusy = true
		st.WakeAt(retryAt)
	}
	// Otherwise followRun submits the seal again.
	return nil
}

// applyRetentionJob applies a finished retention pass.
func (r *Reconciler) applyRetentionJob(ctx context.Context, st *scheduleState, j *kit.Status[*jobResult]) error {
	if j.Result.err != nil {
		st.setCondition(v1alpha1.ConditionRetentionApplied, metav1.ConditionFalse, v1alpha1.ReasonRetentionFailed, j.Result.err.Error())
		st.retryRetention(r.jobs, st.Now.Add(retentionRetryInterval))
		st.taken = j
		return nil
	}
	if err := r.syncOffsiteBackups(ctx, st, "", j.Result); err != nil {
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
func (r *Reconciler) retain(ctx context.Context, st *scheduleState) error {
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
		if at := r.jobs.NotBefore(st.Key); st.Now.Before(at) {
			st.WakeAt(at)
			return nil
		}
	default:
		return nil
	}
	spec := jobSpec{kind: jobRetention, schedule: s.Name, namespace: s.Namespace, target: st.target.DeepCopy(), policy: st.retentionPolicy()}
	return r.jobs.Submit(st.Key, r.job(ctx, spec))
}
