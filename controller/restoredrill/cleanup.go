package restoredrill

import (
	"cmp"
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
)

// collectJob looks at the drill's job: a running one keeps others from
// starting; a finished run is recorded; a finished cleanup marks the runs
// it cleaned.
func (r *Reconciler) collectJob(_ context.Context, st *drillState) error {
	j := r.jobs.Lookup(st.Key)
	switch {
	case j == nil:
		return nil
	case !j.Done:
		st.jobBusy = true
		// The job's end wakes the drill; this is the safety net should
		// that wake-up be lost.
		st.WakeAt(st.Now.Add(drillJobPollInterval))
		return nil
	}
	st.taken = j
	if j.Kind == drillJobCleanup {
		st.applyCleanup(j.Result, r.jobs)
		return nil
	}
	if a := st.obj.Status.Active; a == nil || a.ID != j.ID {
		return nil // recorded otherwise (as interrupted, before a restart of this reconciler)
	}
	st.runEnded(j.Result.run, j.Result.offsiteBackup, cmp.Or(j.Result.reason, runReason(j.Result.run)))
	return nil
}

// applyCleanup marks the runs a cleanup job cleaned, and on a failure asks
// for another try later.
func (st *drillState) applyCleanup(res *drillJobResult, jobs *drillJobs) {
	h := st.obj.Status.History
	for i := range h {
		if slices.Contains(res.cleaned, h[i].ID) {
			h[i].Cleanup, h[i].KeepUntil = v1alpha1.DrillCleanupDeleted, nil
		}
	}
	if l := st.obj.Status.LastRun; l != nil && slices.Contains(res.cleaned, l.ID) {
		l.Cleanup, l.KeepUntil = v1alpha1.DrillCleanupDeleted, nil
	}
	st.obj.Status.History = trimHistory(h, historyLimit(st.obj))
	if res.cleanupErr != nil {
		at := st.Now.Add(drillCleanupRetryInterval)
		jobs.SetNotBefore(st.Key, at)
		jobs.unsweep(st.Key)
		st.WakeAt(at)
		st.Event(nil, corev1.EventTypeWarning, "CleanupFailed", "deleting what earlier runs left failed, retried at %s: %v",
			at.UTC().Format("15:04:05Z"), res.cleanupErr)
		return
	}
	jobs.SetNotBefore(st.Key, time.Time{})
}

// recoverInterrupted ends an active run that no job of this process
// carries: the controller stopped (or lost its lease) mid-run. The run is
// recorded as interrupted (Error), in status and, before that, in the
// audit log (once, whatever restarts come between), and its leftovers
// are deleted; the next run starts on schedule. It is never repeated: a
// run must not be done twice. A run whose entry was recorded before the
// stop (its verdict, kept in the outbox or in the log while it cleaned
// up) ends as that entry says, with the reason an uninterrupted run
// would have, its status names it, and what it left goes as the drill's
// cleanup policy says.
func (r *Reconciler) recoverInterrupted(ctx context.Context, st *drillState) error {
	a := st.obj.Status.Active
	if a == nil || st.jobBusy || st.taken != nil {
		return nil
	}
	now := metav1.NewTime(st.Now)
	run := &v1alpha1.DrillRun{
		ID: a.ID, Trigger: a.Trigger, Backup: a.Backup, StagedName: a.StagedName, StartTime: a.StartTime, EndTime: &now,
		Result: v1alpha1.DrillRunError, Cleanup: v1alpha1.DrillCleanupPending,
		Message: "the controller stopped while the run was in flight: it has no verdict; what it left is deleted, and the next run starts on schedule",
	}
	reason, offsiteBackup := v1alpha1.ReasonDrillInterrupted, ""
	if e := r.auditInterruptedRun(ctx, st.obj, a); e != nil {
		reason = endAsLogged(run, e)
	}
	if reason != v1alpha1.ReasonDrillInterrupted {
		r.keepAsLogged(st, run)
	}
	if run.Result != v1alpha1.DrillRunError {
		offsiteBackup = r.drilledBackup(ctx, st, a.Backup)
	}
	st.runEnded(run, offsiteBackup, reason)
	return nil
}

// keepAsLogged applies the drill's cleanup policy to run, which ended as
// its audit entry says: as after an uninterrupted run, a failed run's
// scratch namespaces are kept when the policy keeps them (cleanup Kept,
// until keepUntil). The sweep this asks for deletes the rest of what the
// run left (its staged Backup and objects, its Restore) and keeps them.
func (r *Reconciler) keepAsLogged(st *drillState, run *v1alpha1.DrillRun) {
	end := st.Now
	if run.EndTime != nil {
		end = run.EndTime.Time
	}
	keep, until := keepsNamespaces(st.obj.Spec.Cleanup, run.Result == v1alpha1.DrillRunPassed, end)
	if !keep {
		run.Message = kit.Truncate(run.Message+"; what the run left is deleted", maxRunMessage)
		return
	}
	run.Cleanup, run.KeepUntil = v1alpha1.DrillCleanupKept, until
	run.Message = kit.Truncate(run.Message+"; its scratch namespaces are kept as spec.cleanup says, the rest of what it left is deleted", maxRunMessage)
	r.jobs.unsweep(st.Key)
}

// cleanupDue starts a cleanup job when nothing else runs and there is
// something to clean: runs whose leftovers are pending deletion, kept
// namespaces whose time is up, or (once per drill after the controller
// starts) anything labelled with the drill that status does not account
// for. It asks to be woken when kept namespaces are due.
func (r *Reconciler) cleanupDue(ctx context.Context, st *drillState) error {
	d := st.obj
	if st.jobBusy || st.submit != nil {
		return nil
	}
	plan := &sweepPlan{keep: map[string]bool{}, staging: d.Spec.Staging}
	if a := d.Status.Active; a != nil {
		plan.active = a.ID
		plan.keep[a.ID] = true
	}
	for _, h := range d.Status.History {
		switch {
		case h.Cleanup == v1alpha1.DrillCleanupPending:
			plan.due = append(plan.due, h.ID)
		case h.Cleanup == v1alpha1.DrillCleanupKept && (h.KeepUntil == nil || st.Now.Before(h.KeepUntil.Time)):
			plan.keep[h.ID] = true
			if h.KeepUntil != nil {
				st.WakeAt(h.KeepUntil.Time)
			}
		case h.Cleanup == v1alpha1.DrillCleanupKept:
			plan.due = append(plan.due, h.ID)
		}
	}
	if len(plan.due) == 0 && r.jobs.wasSwept(st.Key) {
		return nil
	}
	if at := r.jobs.NotBefore(st.Key); st.Now.Before(at) {
		st.WakeAt(at)
		return nil
	}
	if !r.jobs.Started() {
		return kit.ErrNotStarted
	}
	log := logf.FromContext(ctx).WithValues("job", drillJobCleanup)
	ns, name := d.Namespace, d.Name
	st.submit = &kit.Job[*drillJobResult]{Kind: drillJobCleanup, Run: func(ctx context.Context) *drillJobResult {
		cleaned, err := r.sweep(logf.IntoContext(ctx, log), ns, name, plan)
		if err != nil {
			log.Error(err, "drill cleanup failed")
		}
		return &drillJobResult{cleaned: cleaned, cleanupErr: err}
	}, Failed: func(err error) *drillJobResult { return &drillJobResult{cleanupErr: err} }}
	r.jobs.markSwept(st.Key, true)
	return nil
}
