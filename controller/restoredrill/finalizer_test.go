package restoredrill

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// startController runs the RestoreDrill reconciler in a manager, as
// safekeep-controller does, with runs carried out by carry and the sweep
// of deleted drills' leftovers every sweepEvery (0: none). stop stops it,
// as a controller going down.
func (e *drillEnv) startController(t *testing.T, carry func(context.Context, drillRunSpec) *drillJobResult, sweepEvery time.Duration) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(e.CP.Config, ctrl.Options{Scheme: e.CP.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	r := New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetScheme(), e.Rec, Options{
		Clock: e.Clock, VeleroNamespace: kittest.VeleroNS, ReaderClusterRole: "-", Audit: e.audit,
	})
	r.carry = carry
	if err := mgr.Add(r.jobs); err != nil {
		t.Fatal(err)
	}
	if sweepEvery > 0 {
		if err := mgr.Add(&orphanSweeper{r: r, interval: sweepEvery}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetupWithManager(mgr, crcontroller.Options{SkipNameValidation: ptr.To(true)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// leaveRun creates what a run of drill ns/name interrupted mid-way leaves:
// a scratch namespace, the staged Backup and its objects in the staging
// bucket, and the Restore.
func (e *drillEnv) leaveRun(t *testing.T, ns, name, run string) (staged string, stagingStore storage.Store) {
	t.Helper()
	ctx := t.Context()
	value := v1alpha1.DrillLabelValue(ns, name)
	staged = v1alpha1.DrillStagedName(ns, name, run)
	scratch := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   drill.ScratchNamespace("drill-", name, run, "phi-app"),
		Labels: map[string]string{v1alpha1.LabelDrill: value, v1alpha1.LabelDrillRun: run, drill.LabelScratch: "true"},
	}}
	velero := map[string]string{v1alpha1.LabelDrill: value, v1alpha1.LabelDrillRun: run, drill.LabelStaged: "true"}
	objs := []client.Object{
		scratch,
		&velerov1.Backup{ObjectMeta: metav1.ObjectMeta{Name: staged, Namespace: kittest.VeleroNS, Labels: velero},
			Spec: velerov1.BackupSpec{StorageLocation: "staging"}},
		&velerov1.Restore{ObjectMeta: metav1.ObjectMeta{Name: staged, Namespace: kittest.VeleroNS, Labels: velero},
			Spec: velerov1.RestoreSpec{BackupName: staged}},
	}
	for _, o := range objs {
		if err := e.CP.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	st, _, err := location.Velero{Reader: e.CP.Client, Namespace: kittest.VeleroNS, Credentials: kit.DefaultVeleroCredentialsSecret}.Store(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"velero-backup.json", staged + ".tar.gz"} {
		sealtest.Put(t, st, "backups/"+staged+"/"+key, []byte("decrypted PHI"))
	}
	return staged, st
}

// waitNothingLeft waits (at most 60 s) until nothing of run of drill
// ns/name is left: namespaces gone or terminating, no staged Backup or
// Restore, no staged objects.
func (e *drillEnv) waitNothingLeft(t *testing.T, ns, name, run string, staging storage.Store) {
	t.Helper()
	value := v1alpha1.DrillLabelValue(ns, name)
	staged := v1alpha1.DrillStagedName(ns, name, run)
	var left []string
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		left = nil
		var nss corev1.NamespaceList
		if err := e.CP.Client.List(ctx, &nss, client.MatchingLabels{v1alpha1.LabelDrill: value}); err != nil {
			return false, err
		}
		for _, n := range nss.Items {
			if n.DeletionTimestamp.IsZero() { // no namespace controller runs here: deleted ones stay Terminating
				left = append(left, "namespace "+n.Name)
			}
		}
		for _, list := range []client.ObjectList{&velerov1.BackupList{}, &velerov1.RestoreList{}} {
			if err := e.CP.Client.List(ctx, list, client.InNamespace(kittest.VeleroNS), client.MatchingLabels{v1alpha1.LabelDrill: value}); err != nil {
				return false, err
			}
			switch l := list.(type) {
			case *velerov1.BackupList:
				for _, b := range l.Items {
					left = append(left, "Backup "+b.Name)
				}
			case *velerov1.RestoreList:
				for _, r := range l.Items {
					left = append(left, "Restore "+r.Name)
				}
			}
		}
		for info, err := range staging.List(ctx, "backups/"+staged+"/") {
			if err != nil {
				return false, err
			}
			left = append(left, "object "+info.Key)
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("the run's leftovers stayed: %v (%v)", left, err)
	}
}

// A drill deleted mid-run while the controller is down: when the
// controller is back, nothing of that run is left, and the drill is gone.
func TestRestoreDrillDeletedWhileControllerDown(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns, -3)
	var staging storage.Store
	midRun := make(chan string, 1)
	leaving := func(ctx context.Context, spec drillRunSpec) *drillJobResult {
		_, staging = e.leaveRun(t, ns, spec.drill.Name, spec.active.ID)
		midRun <- spec.active.ID
		<-ctx.Done() // the controller stops mid-run
		return newRunResult(spec)
	}
	stop := e.startController(t, leaving, 0)
	d := e.drill(t, ns, "weekly", nil)
	run := e.runNowMidRun(t, d, midRun)
	if got := e.getDrill(t, d); !slices.Contains(got.Finalizers, v1alpha1.FinalizerDrillCleanup) {
		t.Fatalf("a drill with a run in flight has no %s finalizer: %v", v1alpha1.FinalizerDrillCleanup, got.Finalizers)
	}
	stop()
	if err := e.CP.Client.Delete(t.Context(), d); err != nil {
		t.Fatal(err)
	}

	e.startController(t, passingRun, 0) // the controller is back
	e.waitNothingLeft(t, ns, d.Name, run, staging)
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := e.CP.Client.Get(ctx, client.ObjectKeyFromObject(d), &v1alpha1.RestoreDrill{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("the drill was not deleted once its leftovers were: %v", err)
	}
}

// What runs of drills that no longer exist left (a finalizer removed by
// hand, a drill of a controller without it) is swept; what runs of
// existing drills left is not touched by that sweep.
func TestRestoreDrillOrphanSweep(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns)
	_, staging := e.leaveRun(t, ns, "gone", "20260101040000")
	live := e.drill(t, ns, "live", nil)
	liveStaged, _ := e.leaveRun(t, ns, live.Name, "20260101040000")

	r := e.drillReconciler(t, passingRun)
	if err := r.sweepOrphans(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.waitNothingLeft(t, ns, "gone", "20260101040000", staging)

	// The periodic sweep (what the manager runs): a run left after it
	// started goes at a later tick.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = (&orphanSweeper{r: r, interval: 200 * time.Millisecond}).Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(300 * time.Millisecond) // past the sweep at start
	_, staging = e.leaveRun(t, ns, "gone-later", "20260102040000")
	e.waitNothingLeft(t, ns, "gone-later", "20260102040000", staging)

	b := &velerov1.Backup{}
	if err := e.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: kittest.VeleroNS, Name: liveStaged}, b); err != nil {
		t.Fatalf("the orphan sweep touched an existing drill's staged Backup: %v", err)
	}
}

// A run that panics (a parser meeting bucket contents it cannot handle)
// is a failed run with the reason, never a crashed controller.
func TestRestoreDrillRunPanics(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns, -3)
	r := e.drillReconciler(t, func(context.Context, drillRunSpec) *drillJobResult { panic("tar: invalid header in staged object") })
	d := e.drill(t, ns, "panicky", nil)
	e.reconcileDrill(t, r, d) // the first sweep after start
	waitJob(t, r, d)
	e.reconcileDrill(t, r, d)
	patch := client.RawPatch("application/merge-patch+json",
		fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.AnnotationRunNow, day0.Format(time.RFC3339)))
	if err := e.CP.Client.Patch(t.Context(), d, patch); err != nil {
		t.Fatal(err)
	}
	e.reconcileDrill(t, r, d)
	waitJob(t, r, d)
	e.reconcileDrill(t, r, d)
	got := e.getDrill(t, d)
	l := got.Status.LastRun
	if l == nil || l.Result != v1alpha1.DrillRunError || !strings.Contains(l.Message, "panicked") || !strings.Contains(l.Message, "invalid header") {
		t.Fatalf("last run after a panic: %+v, want Error naming the panic", l)
	}
	if l.Cleanup != v1alpha1.DrillCleanupPending {
		t.Errorf("the panicked run's cleanup is %s, want Pending (its leftovers are swept)", l.Cleanup)
	}
	wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionFalse, v1alpha1.ReasonDrillError, "panicked")
}
