package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	// chaosDrill is the suite's RestoreDrill of the chaos schedule, and
	// chaosStaging its staging bucket and BackupStorageLocation.
	chaosDrill   = "chaos-drill"
	chaosStaging = "chaos-staging"
	// chaosDrillMaxDelay is the latest point after a drill is asked for at
	// which a kill lands: past a whole run (staging, Velero's Restore,
	// checks, cleanup) on this bed.
	chaosDrillMaxDelay = 5 * time.Second
	// chaosConfigMaps more ConfigMaps in the workload keep Velero's
	// Restore running for a few seconds (its client is QPS-bound), so
	// kills land in it.
	chaosConfigMaps = 120
	// chaosDrillEvery: every chaosDrillEvery-th kill lands in a drill.
	chaosDrillEvery = 3
)

// chaosDrills drives the chaos suite's RestoreDrill: it asks for runs,
// says what a run was doing when the controller was killed, and checks
// what must hold once the run has ended and been cleaned up.
type chaosDrills struct {
	c       client.Client
	staging *minio.Client
	chk     *chaosChecker
	key     client.ObjectKey
	// interrupted counts runs recorded as interrupted; passed, runs that
	// passed; failed, runs that failed (killFailingDrills).
	interrupted, passed, failed int
	// resumed counts runs the next controller ended as the entry the
	// killed one had recorded (kept in the outbox or in the log) said.
	resumed int
}

// addChaosFiller adds chaosConfigMaps ConfigMaps to namespace ns.
func addChaosFiller(t *testing.T, c client.Client, ns string) {
	t.Helper()
	for i := range chaosConfigMaps {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("filler-%03d", i), Namespace: ns},
			Data:       map[string]string{"n": fmt.Sprint(i)},
		}
		if err := c.Create(t.Context(), cm); err != nil {
			t.Fatal(err)
		}
	}
}

// newChaosDrills creates the drill (cleanup Always, its identity in a
// Secret) of schedule, staging into chaosStaging.
func newChaosDrills(t *testing.T, c client.Client, mc *minio.Client, chk *chaosChecker, identity []byte) *chaosDrills {
	t.Helper()
	ctx := t.Context()
	d := &v1alpha1.RestoreDrill{
		ObjectMeta: metav1.ObjectMeta{Name: chaosDrill, Namespace: chaosNamespace},
		Spec: v1alpha1.RestoreDrillSpec{
			Schedule:          "0 0 1 1 *", // runs are asked for
			BackupScheduleRef: corev1.LocalObjectReference{Name: chaosSchedule},
			IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "chaos-drill-identity"},
			Staging:           chaosStaging,
			Cleanup:           v1alpha1.DrillCleanup{Policy: v1alpha1.DrillCleanupAlways},
		},
	}
	for _, o := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chaos-drill-identity", Namespace: chaosNamespace}, Data: map[string][]byte{"identity": identity}},
		d,
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	return &chaosDrills{c: c, staging: mc, chk: chk, key: client.ObjectKeyFromObject(d)}
}

func (d *chaosDrills) get(ctx context.Context) (*v1alpha1.RestoreDrill, error) {
	got := &v1alpha1.RestoreDrill{}
	return got, d.c.Get(ctx, d.key, got)
}

// ask asks for a run, as `safekeep drill run` does, and returns the ID of
// the drill's last run before it.
func (d *chaosDrills) ask(t *testing.T) (prev string) {
	t.Helper()
	got, err := d.get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.LastRun != nil {
		prev = got.Status.LastRun.ID
	}
	requested := time.Now().UTC().Truncate(time.Second).Add(time.Second) // distinct per run
	time.Sleep(time.Until(requested))
	runNow(t, d.c, got, requested)
	return prev
}

// phase says what the drill's run was doing just before a kill, as far as
// the cluster tells: starting (asked for, not begun), staging (verifying,
// decrypting, staging, until its Restore exists), restore (Velero's
// Restore running), checks (the Restore ended, its objects are being
// compared), cleanup (the run's leftovers being deleted), after (done).
func (d *chaosDrills) phase(ctx context.Context) string {
	got, err := d.get(ctx)
	if err != nil {
		return "unknown"
	}
	a := got.Status.Active
	if a == nil {
		if _, asked := got.Annotations[v1alpha1.AnnotationRunNow]; asked {
			return "drill starting"
		}
		return "drill after"
	}
	rs := &velerov1.Restore{}
	switch err := d.c.Get(ctx, client.ObjectKey{Namespace: testbed.VeleroNamespace, Name: a.StagedName}, rs); {
	case err != nil:
		return "drill staging"
	case !rs.DeletionTimestamp.IsZero():
		return "drill cleanup"
	case rs.Status.Phase == velerov1.RestorePhaseNew || rs.Status.Phase == velerov1.RestorePhaseInProgress || rs.Status.Phase == "":
		return "drill restore"
	}
	var nss corev1.NamespaceList
	if err := d.c.List(ctx, &nss, client.MatchingLabels{v1alpha1.LabelDrillRun: a.ID}); err == nil {
		for _, ns := range nss.Items {
			if !ns.DeletionTimestamp.IsZero() {
				return "drill cleanup"
			}
		}
	}
	return "drill checks"
}

// waitEnded waits until a run after prev has ended and its leftovers are
// deleted, and returns it.
func (d *chaosDrills) waitEnded(t *testing.T, prev string) v1alpha1.DrillRun {
	t.Helper()
	var run v1alpha1.DrillRun
	waitFor(t, "the drill's run ended and cleaned up", chaosRunTimeout, func(ctx context.Context) (bool, error) {
		got, err := d.get(ctx)
		if err != nil {
			return false, err
		}
		l := got.Status.LastRun
		if _, asked := got.Annotations[v1alpha1.AnnotationRunNow]; asked || got.Status.Active != nil || l == nil || l.ID == prev {
			return false, nil
		}
		run = *l.DeepCopy()
		return l.Cleanup == v1alpha1.DrillCleanupDeleted && l.AuditEntry != nil, nil
	})
	return run
}

// check checks, once run has ended and been cleaned up: the audit chain
// verifies and every backup is sealed once (chaosChecker.check); run has
// exactly one entry in the log, the one its status names (seq and hash),
// recording the verdict its status says; an interrupted run says so in
// its condition and its entry; nothing of any run is left.
func (d *chaosDrills) check(ctx context.Context, runs []string, run v1alpha1.DrillRun) error {
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
	switch run.Result {
	case v1alpha1.DrillRunPassed:
		d.passed++
	case v1alpha1.DrillRunError:
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionLastDrillPassed)
		if c == nil || c.Reason != v1alpha1.ReasonDrillInterrupted || logged.reason != v1alpha1.ReasonDrillInterrupted || !strings.Contains(run.Message, "controller stopped") {
			return fmt.Errorf("run %s ended with no verdict but is not recorded as interrupted: %s (condition %+v, logged reason %s)", run.ID, run.Message, c, logged.reason)
		}
		d.interrupted++
	default:
		return fmt.Errorf("run %s: %s: %s", run.ID, run.Result, run.Message)
	}
	return d.noLeftovers(ctx)
}

// logged checks the audit chain and that every backup is sealed once
// (chaosChecker.check), and returns run's one entry in the log, the one
// its status names, recording the verdict its status says.
func (d *chaosDrills) logged(ctx context.Context, runs []string, run v1alpha1.DrillRun) (chaosDrillEntry, error) {
	if err := d.chk.check(ctx, runs); err != nil {
		return chaosDrillEntry{}, err
	}
	subject := d.key.Namespace + "/" + d.key.Name + "/" + run.ID
	entries := d.chk.drillEntries[subject]
	if len(entries) != 1 {
		return chaosDrillEntry{}, fmt.Errorf("run %s (%s) has audit entries %+v, want exactly one", run.ID, run.Result, entries)
	}
	logged := entries[0]
	if a := run.AuditEntry; a == nil || uint64(a.Seq) != logged.seq || a.Hash != logged.hash { //nolint:gosec // small sequence numbers
		return logged, fmt.Errorf("run %s (%s): its status names audit entry %+v, the log's is %d %s", run.ID, run.Result, a, logged.seq, logged.hash)
	}
	if run.Result != logged.result {
		return logged, fmt.Errorf("run %s: its status says %s (%s), its audit entry %d %s", run.ID, run.Result, run.Message, logged.seq, logged.result)
	}
	return logged, nil
}

// noLeftovers checks that nothing of the drill's runs is left: no scratch
// namespace that is not being deleted (envtest runs no namespace
// controller), no staged Backup, Restore or resource modifiers, and
// nothing in the staging bucket.
func (d *chaosDrills) noLeftovers(ctx context.Context) error {
	return d.leftBut(ctx, nil)
}

// leftBut is noLeftovers but for the scratch namespaces of the runs kept
// holds, which may stay.
func (d *chaosDrills) leftBut(ctx context.Context, kept map[string]bool) error {
	var nss corev1.NamespaceList
	if err := d.c.List(ctx, &nss, client.HasLabels{v1alpha1.LabelDrill}); err != nil {
		return err
	}
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp.IsZero() && !kept[ns.Labels[v1alpha1.LabelDrillRun]] {
			return fmt.Errorf("scratch namespace %s of run %s was not deleted", ns.Name, ns.Labels[v1alpha1.LabelDrillRun])
		}
	}
	for _, list := range []client.ObjectList{&velerov1.BackupList{}, &velerov1.RestoreList{}, &corev1.ConfigMapList{}} {
		if err := d.c.List(ctx, list, client.InNamespace(testbed.VeleroNamespace), client.HasLabels{v1alpha1.LabelDrill}); err != nil {
			return err
		}
		if n := meta.LenList(list); n > 0 {
			return fmt.Errorf("%d staged %T left", n, list)
		}
	}
	var left []string
	for o := range d.staging.ListObjects(ctx, chaosStaging, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return o.Err
		}
		left = append(left, o.Key)
	}
	if len(left) > 0 {
		return fmt.Errorf("staging bucket holds %v after cleanup", left)
	}
	return nil
}

// killDrill is one kill in a drill: the drill is asked for, the
// controller killed after a random delay and restarted; the run is
// recorded (as interrupted when it was cut short) and cleaned up, the
// invariants hold, then the next run passes. It returns where the kill
// landed.
func (d *chaosDrills) killDrill(t *testing.T, ctl **controllerProcess, restart func() *controllerProcess, delay time.Duration, runs []string) string {
	t.Helper()
	ctx := t.Context()
	prev := d.ask(t)
	time.Sleep(delay)
	phase := d.phase(ctx)
	if err := (*ctl).cmd.Process.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-(*ctl).done
	*ctl = restart()
	run := d.waitEnded(t, prev)
	if err := d.check(ctx, runs, run); err != nil {
		t.Fatalf("after a kill %s after the drill was asked for (%s): %v", delay.Round(time.Millisecond), phase, err)
	}
	t.Logf("drill kill %s after the run was asked for (%s): run %s recorded %s, cleaned up", delay.Round(time.Millisecond), phase, run.ID, run.Result)
	next := d.waitEnded(t, d.ask(t))
	if err := d.check(ctx, runs, next); err != nil || next.Result != v1alpha1.DrillRunPassed {
		t.Fatalf("the drill after a kill %s (%s): %s %s: %v", delay.Round(time.Millisecond), phase, next.Result, next.Message, err)
	}
	return phase
}

// leaderKillMidDrill runs a second replica beside leader (which leads),
// asks for a drill run and SIGKILLs the leader while Velero's Restore of
// it runs: the other replica takes the Lease, records the run as
// interrupted (once), deletes what it left, and the drill's next
// scheduled run passes. It returns the replica left leading.
func (d *chaosDrills) leaderKillMidDrill(t *testing.T, leader *controllerProcess, startReplica func() *controllerProcess, runs []string) *controllerProcess {
	t.Helper()
	ctx := t.Context()
	standby := startReplica()
	time.Sleep(time.Second) // both running
	prev := d.ask(t)
	asked := time.Now()
	for phase := ""; phase != "drill restore"; phase = d.phase(ctx) {
		if time.Since(asked) > chaosRunTimeout || phase == "drill checks" || phase == "drill cleanup" || phase == "drill after" {
			t.Fatalf("the drill run was never seen while Velero's Restore ran (last seen: %s)", phase)
		}
		time.Sleep(10 * time.Millisecond)
	}
	killed := time.Since(asked)
	killLeader(t, leader, standby)
	run := d.waitEnded(t, prev)
	if err := d.check(ctx, runs, run); err != nil || run.Result != v1alpha1.DrillRunError {
		t.Fatalf("after the leader was killed mid-restore: run %s %s: %v", run.ID, run.Result, err)
	}
	t.Logf("leader killed while Velero restored drill run %s, %s after it was asked for; the standby recorded it interrupted and cleaned up",
		run.ID, killed.Round(time.Millisecond))
	// The next scheduled run: at the next minute.
	setDrillSchedule(t, d.c, d.key, "* * * * *")
	next := d.waitEnded(t, run.ID)
	setDrillSchedule(t, d.c, d.key, "0 0 1 1 *")
	if err := d.check(ctx, runs, next); err != nil || next.Result != v1alpha1.DrillRunPassed || next.Trigger != v1alpha1.TriggerSchedule {
		t.Fatalf("the next scheduled drill run %s (%s): %s %s: %v", next.ID, next.Trigger, next.Result, next.Message, err)
	}
	return standby
}

// setDrillSchedule sets a drill's cron schedule.
func setDrillSchedule(t *testing.T, c client.Client, key client.ObjectKey, cron string) {
	t.Helper()
	d := &v1alpha1.RestoreDrill{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	patch := fmt.Sprintf(`{"spec":{"schedule":%q}}`, cron)
	if err := c.Patch(t.Context(), d, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatalf("schedule of drill %s: %v", key, err)
	}
}

// killLeader SIGKILLs the leading replica and waits until standby leads.
func killLeader(t *testing.T, leader, standby *controllerProcess) {
	t.Helper()
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	waitFor(t, "the standby replica to lead", time.Minute, func(context.Context) (bool, error) { return leads(t, standby), nil })
}
