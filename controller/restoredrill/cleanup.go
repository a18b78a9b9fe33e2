package restoredrill

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/storage"
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
	st.runEnded(j.Result.run, j.Result.offsiteBackup, runReason(j.Result.run))
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
// recorded as interrupted (Error) and its leftovers are deleted; the next
// run starts on schedule. It is never repeated: a run must not be done
// twice.
func (r *Reconciler) recoverInterrupted(_ context.Context, st *drillState) error {
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
	st.runEnded(run, "", v1alpha1.ReasonDrillInterrupted)
	return nil
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

// sweepPlan says what a sweep keeps: nil means the drill is gone and
// everything labelled with it goes.
type sweepPlan struct {
	// keep holds the runs whose scratch namespaces stay (kept by policy,
	// or active); active is the run in flight, whose Velero objects stay
	// too.
	keep   map[string]bool
	active string
	// due lists the runs of the history whose leftovers are to be deleted.
	due []string
	// staging is the drill's staging location, for runs whose staged
	// Backup object is gone (or was never made).
	staging string
}

// sweep deletes what runs of drill namespace/name left, but what plan
// keeps: their scratch namespaces (by label), Velero Restores and staged
// Backups, and the staged objects in the staging location. It returns the
// runs of plan.due cleaned completely.
func (r *Reconciler) sweep(ctx context.Context, namespace, name string, plan *sweepPlan) ([]string, error) {
	runs, err := r.leftovers(ctx, v1alpha1.DrillLabelValue(namespace, name), plan)
	if err != nil {
		return nil, err
	}
	stores := map[string]storage.Store{}
	var cleaned []string
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(runs)) {
		loc := runs[id]
		if loc == "" && plan != nil {
			loc = plan.staging
		}
		err := r.cleanRun(ctx, namespace, name, id, loc, plan == nil || !plan.keep[id], stores)
		if err != nil {
			errs = append(errs, fmt.Errorf("run %s: %w", id, err))
			continue
		}
		if plan != nil && slices.Contains(plan.due, id) {
			cleaned = append(cleaned, id)
		}
	}
	return cleaned, errors.Join(errs...)
}

// leftovers finds the runs of the drill labelled value with something to
// delete: the runs plan.due names, runs with scratch namespaces plan does
// not keep, and runs other than the active one with a staged Backup or a
// Restore. It maps each to its staging location ("" when unknown).
func (r *Reconciler) leftovers(ctx context.Context, value string, plan *sweepPlan) (map[string]string, error) {
	runs := map[string]string{}
	add := func(id, loc string) {
		if cur, ok := runs[id]; !ok || cur == "" {
			runs[id] = loc
		}
	}
	if plan != nil {
		for _, id := range plan.due {
			add(id, plan.staging)
		}
	}
	var nsList corev1.NamespaceList
	if err := r.APIReader.List(ctx, &nsList, client.MatchingLabels{v1alpha1.LabelDrill: value, drill.LabelScratch: "true"}); err != nil {
		return nil, fmt.Errorf("list scratch namespaces: %w", err)
	}
	for _, ns := range nsList.Items {
		if id := ns.Labels[v1alpha1.LabelDrillRun]; id != "" && (plan == nil || !plan.keep[id]) {
			add(id, "")
		}
	}
	var backups velerov1.BackupList
	if err := r.APIReader.List(ctx, &backups, client.InNamespace(r.VeleroNamespace), client.MatchingLabels{v1alpha1.LabelDrill: value}); err != nil {
		return nil, fmt.Errorf("list staged backups: %w", err)
	}
	for _, b := range backups.Items {
		if id := b.Labels[v1alpha1.LabelDrillRun]; id != "" && (plan == nil || id != plan.active) {
			runs[id] = b.Spec.StorageLocation
		}
	}
	var restores velerov1.RestoreList
	if err := r.APIReader.List(ctx, &restores, client.InNamespace(r.VeleroNamespace), client.MatchingLabels{v1alpha1.LabelDrill: value}); err != nil {
		return nil, fmt.Errorf("list drill restores: %w", err)
	}
	for _, rs := range restores.Items {
		if id := rs.Labels[v1alpha1.LabelDrillRun]; id != "" && (plan == nil || id != plan.active) {
			add(id, "")
		}
	}
	return runs, nil
}

// cleanRun deletes the leftovers of one run: its namespaces (when
// withNamespaces), its Restore, and its staged objects and Backup in the
// location loc (when it can be opened; else they are left for a retry, as
// deleting the Backup alone would let Velero's sync bring it back).
func (r *Reconciler) cleanRun(ctx context.Context, namespace, name, run, loc string, withNamespaces bool, stores map[string]storage.Store) error {
	staged := v1alpha1.DrillStagedName(namespace, name, run)
	co := drill.CleanupOptions{Client: r.scratchClient(), VeleroNamespace: r.VeleroNamespace, StagedName: staged, Restore: staged}
	if withNamespaces {
		co.Labels = map[string]string{v1alpha1.LabelDrill: v1alpha1.DrillLabelValue(namespace, name), v1alpha1.LabelDrillRun: run}
	}
	var openErr error
	if loc != "" {
		st, ok := stores[loc]
		if !ok {
			st, _, openErr = r.locations().Store(ctx, loc)
			stores[loc] = st
		}
		co.Staging = st
	}
	if co.Staging == nil {
		co.StagedName = "" // see above
		err := drill.Cleanup(ctx, co)
		if openErr != nil {
			err = errors.Join(err, fmt.Errorf("staged backup %s left for a retry: %w", staged, openErr))
		}
		return err
	}
	return drill.Cleanup(ctx, co)
}
