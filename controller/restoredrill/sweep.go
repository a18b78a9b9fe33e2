package restoredrill

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/storage"
)

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

// runRef names one run's leftovers: its drill's LabelDrill value and the
// run's ID.
type runRef struct{ drill, run string }

// runLeft is what is known of where a run's leftovers are: the staging
// location of its staged Backup and the staged name ("" when unknown).
type runLeft struct{ loc, staged string }

// sweep deletes what runs of drill namespace/name left, but what plan
// keeps: their scratch namespaces (by label), Velero Restores and staged
// Backups, and the staged objects in the staging location. It returns the
// runs of plan.due cleaned completely.
func (r *Reconciler) sweep(ctx context.Context, namespace, name string, plan *sweepPlan) ([]string, error) {
	value := v1alpha1.DrillLabelValue(namespace, name)
	runs, err := r.leftovers(ctx, value, plan)
	if err != nil {
		return nil, err
	}
	if plan != nil {
		for _, id := range plan.due {
			ref := runRef{value, id}
			runs[ref] = runLeft{loc: cmp.Or(runs[ref].loc, plan.staging)}
		}
	}
	stores := map[string]storage.Store{}
	var cleaned []string
	var errs []error
	for _, ref := range slices.SortedFunc(maps.Keys(runs), compareRuns) {
		left := runs[ref]
		left.staged = v1alpha1.DrillStagedName(namespace, name, ref.run)
		if left.loc == "" && plan != nil {
			left.loc = plan.staging
		}
		if err := r.cleanRun(ctx, ref, left, plan == nil || !plan.keep[ref.run], stores); err != nil {
			errs = append(errs, fmt.Errorf("run %s: %w", ref.run, err))
			continue
		}
		if plan != nil && slices.Contains(plan.due, ref.run) {
			cleaned = append(cleaned, ref.run)
		}
	}
	return cleaned, errors.Join(errs...)
}

func compareRuns(a, b runRef) int {
	return cmp.Or(cmp.Compare(a.drill, b.drill), cmp.Compare(a.run, b.run))
}

// leftovers finds the runs with something to delete of the drill labelled
// value ("" for every drill): runs with scratch namespaces plan does not
// keep, and runs other than the active one with a staged Backup or a
// Restore.
func (r *Reconciler) leftovers(ctx context.Context, value string, plan *sweepPlan) (map[runRef]runLeft, error) {
	runs := map[runRef]runLeft{}
	sel := client.ListOption(client.MatchingLabels{v1alpha1.LabelDrill: value})
	if value == "" {
		sel = client.HasLabels{v1alpha1.LabelDrill}
	}
	add := func(labels map[string]string, left runLeft, keep bool) {
		ref := runRef{labels[v1alpha1.LabelDrill], labels[v1alpha1.LabelDrillRun]}
		if ref.run == "" || keep {
			return
		}
		cur := runs[ref]
		runs[ref] = runLeft{loc: cmp.Or(left.loc, cur.loc), staged: cmp.Or(left.staged, cur.staged)}
	}
	var nsList corev1.NamespaceList
	if err := r.APIReader.List(ctx, &nsList, sel, client.MatchingLabels{drill.LabelScratch: "true"}); err != nil {
		return nil, fmt.Errorf("list scratch namespaces: %w", err)
	}
	for _, ns := range nsList.Items {
		add(ns.Labels, runLeft{}, plan != nil && plan.keep[ns.Labels[v1alpha1.LabelDrillRun]])
	}
	var backups velerov1.BackupList
	if err := r.APIReader.List(ctx, &backups, client.InNamespace(r.VeleroNamespace), sel); err != nil {
		return nil, fmt.Errorf("list staged backups: %w", err)
	}
	for _, b := range backups.Items {
		add(b.Labels, runLeft{loc: b.Spec.StorageLocation, staged: b.Name}, plan != nil && b.Labels[v1alpha1.LabelDrillRun] == plan.active)
	}
	var restores velerov1.RestoreList
	if err := r.APIReader.List(ctx, &restores, client.InNamespace(r.VeleroNamespace), sel); err != nil {
		return nil, fmt.Errorf("list drill restores: %w", err)
	}
	for _, rs := range restores.Items {
		add(rs.Labels, runLeft{staged: rs.Name}, plan != nil && rs.Labels[v1alpha1.LabelDrillRun] == plan.active)
	}
	return runs, nil
}

// cleanRun deletes the leftovers of one run: its namespaces (when
// withNamespaces), its Restore, its resource modifiers ConfigMap, what a
// volume restore staged (PodVolumeBackups, repositories and their
// BackupRepositories: found by the staged name, whatever the drill asks
// for now), and its staged objects and Backup in the location left.loc
// (when it can be opened; else they are left for a retry, as deleting the
// Backup alone would let Velero's sync bring it back).
func (r *Reconciler) cleanRun(ctx context.Context, ref runRef, left runLeft, withNamespaces bool, stores map[string]storage.Store) error {
	co := drill.CleanupOptions{Client: r.scratchClient(), VeleroNamespace: r.VeleroNamespace, StagedName: left.staged, Restore: left.staged, Modifiers: left.staged,
		Volumes: true}
	if withNamespaces {
		co.Labels = map[string]string{v1alpha1.LabelDrill: ref.drill, v1alpha1.LabelDrillRun: ref.run}
	}
	var openErr error
	if left.loc != "" {
		st, ok := stores[left.loc]
		if !ok {
			st, _, openErr = r.locations().Store(ctx, left.loc)
			stores[left.loc] = st
		}
		co.Staging = st
	}
	if co.Staging == nil {
		co.StagedName = "" // see above
		err := drill.Cleanup(ctx, co)
		if openErr != nil {
			err = errors.Join(err, fmt.Errorf("staged backup %s left for a retry: %w", left.staged, openErr))
		}
		return err
	}
	return drill.Cleanup(ctx, co)
}

// sweepOrphans deletes what runs left of drills that no longer exist:
// their scratch namespaces, staged Backups and objects, and Restores. The
// finalizer covers drills deleted while the controller runs or is down;
// this covers what escaped it (a finalizer removed by hand, a drill of a
// controller version without it). Leftovers are listed before the drills,
// so a drill created meanwhile is seen as existing.
func (r *Reconciler) sweepOrphans(ctx context.Context) error {
	found, err := r.leftovers(ctx, "", nil)
	if err != nil || len(found) == 0 {
		return err
	}
	var drills v1alpha1.RestoreDrillList
	if err := r.APIReader.List(ctx, &drills); err != nil {
		return fmt.Errorf("list restore drills: %w", err)
	}
	live := map[string]bool{}
	for _, d := range drills.Items {
		live[v1alpha1.DrillLabelValue(d.Namespace, d.Name)] = true
	}
	stores := map[string]storage.Store{}
	var errs []error
	for _, ref := range slices.SortedFunc(maps.Keys(found), compareRuns) {
		if live[ref.drill] {
			continue
		}
		logf.FromContext(ctx).Info("deleting what a run of a deleted drill left", "drill", ref.drill, "run", ref.run)
		if err := r.cleanRun(ctx, ref, found[ref], true, stores); err != nil {
			errs = append(errs, fmt.Errorf("drill %s run %s: %w", ref.drill, ref.run, err))
		}
	}
	return errors.Join(errs...)
}

// orphanSweeper runs sweepOrphans at start and every interval, on the
// leader only.
type orphanSweeper struct {
	r        *Reconciler
	interval time.Duration
}

var _ manager.LeaderElectionRunnable = (*orphanSweeper)(nil)

// Start sweeps until ctx ends.
func (s *orphanSweeper) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("drill-orphan-sweep")
	ctx = logf.IntoContext(ctx, log)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, drillSweepTimeout)
		if err := s.r.sweepOrphans(sctx); err != nil {
			log.Error(err, "sweep of deleted drills' leftovers failed; retried at the next interval")
		}
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection: only the leader deletes.
func (s *orphanSweeper) NeedLeaderElection() bool { return true }
