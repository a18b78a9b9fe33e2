package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	// chaosFailingKills land in runs of the chaos drill made to fail
	// (its maxRTO is 1ms: the rto check fails once everything else
	// passed), whose namespaces are kept for chaosKeepFailedFor.
	chaosFailingKills  = 3
	chaosKeepFailedFor = 30 * time.Second
)

// killFailingDrills makes the drill fail every run and keep a failed
// run's scratch namespaces for chaosKeepFailedFor, then kills the
// controller chaosFailingKills times at seeded points of its runs. After
// each restart the run is recorded once; a failed run (ended by the
// killed controller, or by the next one as its entry said) has the
// reason its entry records and the cleanup an uninterrupted one has:
// its namespaces kept until keepUntil, its staged backup, Restore and
// staged objects deleted; an interrupted one is deleted whole. Then the
// drill passes again, and once keepUntil is past nothing is left. It
// returns the figures.
func (d *chaosDrills) killFailingDrills(t *testing.T, ctl **controllerProcess, restart func() *controllerProcess, rng *rand.Rand, runs []string) string {
	t.Helper()
	ctx := t.Context()
	d.setFailing(t, true)
	kept, phases := map[string]bool{}, map[string]int{}
	for range chaosFailingKills {
		prev := d.ask(t)
		delay := time.Duration(rng.Int64N(int64(chaosDrillMaxDelay)))
		time.Sleep(delay)
		phase := d.phase(ctx)
		phases[phase]++
		if err := (*ctl).cmd.Process.Kill(); err != nil {
			t.Fatalf("kill: %v", err)
		}
		<-(*ctl).done
		*ctl = restart()
		run := d.waitRecorded(t, prev)
		if err := d.checkFailing(ctx, runs, run, kept); err != nil {
			t.Fatalf("after a kill %s after the failing drill was asked for (%s): %v", delay.Round(time.Millisecond), phase, err)
		}
		t.Logf("failing drill kill %s after the run was asked for (%s): run %s recorded %s, cleanup %s", delay.Round(time.Millisecond), phase, run.ID, run.Result, run.Cleanup)
	}
	d.setFailing(t, false)
	waitFor(t, "the kept scratch namespaces deleted after keepFailedFor", chaosKeepFailedFor+chaosRunTimeout, func(ctx context.Context) (bool, error) {
		return d.noLeftovers(ctx) == nil, nil
	})
	next := d.waitEnded(t, d.ask(t))
	if err := d.check(ctx, runs, next); err != nil || next.Result != v1alpha1.DrillRunPassed {
		t.Fatalf("the drill after the failing runs: %s %s: %v", next.Result, next.Message, err)
	}
	return fmt.Sprintf("%d kills (killed while %v), %d failed runs kept %s then deleted", chaosFailingKills, phases, len(kept), chaosKeepFailedFor)
}

// setFailing makes every run of the drill fail (maxRTO 1ms) and keep its
// namespaces for chaosKeepFailedFor, or (false) undoes it.
func (d *chaosDrills) setFailing(t *testing.T, failing bool) {
	t.Helper()
	got, err := d.get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Checks.MaxRTO, got.Spec.Cleanup.KeepFailedFor = nil, nil
	if failing {
		got.Spec.Checks.MaxRTO = &v1alpha1.Duration{Duration: time.Millisecond}
		got.Spec.Cleanup.KeepFailedFor = &v1alpha1.Duration{Duration: chaosKeepFailedFor}
	}
	if err := d.c.Update(t.Context(), got); err != nil {
		t.Fatalf("drill failing %v: %v", failing, err)
	}
}

// waitRecorded waits until a run after prev has ended, been named in
// the log, and its cleanup is done or kept, and returns it.
func (d *chaosDrills) waitRecorded(t *testing.T, prev string) v1alpha1.DrillRun {
	t.Helper()
	var run v1alpha1.DrillRun
	waitFor(t, "the failing drill's run recorded and cleaned up or kept", chaosRunTimeout, func(ctx context.Context) (bool, error) {
		got, err := d.get(ctx)
		if err != nil {
			return false, err
		}
		l := got.Status.LastRun
		if _, asked := got.Annotations[v1alpha1.AnnotationRunNow]; asked || got.Status.Active != nil || l == nil || l.ID == prev {
			return false, nil
		}
		run = *l.DeepCopy()
		return l.Cleanup != v1alpha1.DrillCleanupPending && l.AuditEntry != nil, nil
	})
	return run
}

// checkFailing checks a run of the failing drill (see killFailingDrills)
// and adds a failed one to kept.
func (d *chaosDrills) checkFailing(ctx context.Context, runs []string, run v1alpha1.DrillRun, kept map[string]bool) error {
	logged, err := d.logged(ctx, runs, run)
	if err != nil {
		return err
	}
	got, err := d.get(ctx)
	if err != nil {
		return err
	}
	if strings.Contains(run.Message, "controller stopped after recording") {
		d.resumed++
	}
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionLastDrillPassed)
	switch run.Result {
	case v1alpha1.DrillRunError:
		if c == nil || c.Reason != v1alpha1.ReasonDrillInterrupted || logged.reason != v1alpha1.ReasonDrillInterrupted || run.Cleanup != v1alpha1.DrillCleanupDeleted {
			return fmt.Errorf("run %s ended with no verdict but is not recorded as interrupted and deleted: %s (cleanup %s, condition %+v, logged reason %s)", run.ID, run.Message, run.Cleanup, c, logged.reason)
		}
		d.interrupted++
		return d.leftBut(ctx, kept)
	case v1alpha1.DrillRunFailed:
	default:
		return fmt.Errorf("run %s of the failing drill: %s: %s", run.ID, run.Result, run.Message)
	}
	if c == nil || c.Reason != v1alpha1.ReasonDrillFailed || logged.reason != v1alpha1.ReasonDrillFailed {
		return fmt.Errorf("failed run %s: condition %+v, logged reason %q; want %s in both", run.ID, c, logged.reason, v1alpha1.ReasonDrillFailed)
	}
	if run.Cleanup != v1alpha1.DrillCleanupKept || run.KeepUntil == nil || run.EndTime == nil || !run.KeepUntil.Time.Equal(run.EndTime.Add(chaosKeepFailedFor)) {
		return fmt.Errorf("failed run %s: cleanup %s until %v (ended %v), want Kept for %s", run.ID, run.Cleanup, run.KeepUntil, run.EndTime, chaosKeepFailedFor)
	}
	d.failed++
	kept[run.ID] = true
	return d.keptOnly(ctx, run, kept)
}

// keptOnly waits (at most a minute: the sweep after a restart runs on its
// own) until nothing of the drill's runs is left but the namespaces of
// the runs kept holds, and checks that run's are there while keepUntil is
// ahead.
func (d *chaosDrills) keptOnly(ctx context.Context, run v1alpha1.DrillRun, kept map[string]bool) error {
	var last error
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(500 * time.Millisecond) {
		if last = d.leftBut(ctx, kept); last == nil {
			break
		}
	}
	if last != nil {
		return fmt.Errorf("failed run %s kept: %w", run.ID, last)
	}
	if time.Until(run.KeepUntil.Time) < 5*time.Second {
		return nil // too late to tell kept from deleted
	}
	var nss corev1.NamespaceList
	if err := d.c.List(ctx, &nss, client.MatchingLabels{v1alpha1.LabelDrillRun: run.ID}); err != nil {
		return err
	}
	n := 0
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp.IsZero() {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("failed run %s: its scratch namespaces are gone before keepUntil %s", run.ID, run.KeepUntil.UTC().Format(time.RFC3339))
	}
	var restores velerov1.RestoreList
	if err := d.c.List(ctx, &restores, client.InNamespace(testbed.VeleroNamespace), client.MatchingLabels{v1alpha1.LabelDrillRun: run.ID}); err != nil {
		return err
	}
	if len(restores.Items) != 0 {
		return fmt.Errorf("failed run %s: its Restore is kept with its namespaces", run.ID)
	}
	return nil
}
