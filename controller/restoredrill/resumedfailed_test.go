package restoredrill

import (
	"context"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/target"
	"github.com/safekeep-dev/safekeep/volume"
)

// A run whose controller was killed after recording a failed verdict ends,
// at the next controller, with the reason it would have had (here
// VolumeCheckFailed, from the reason the entry holds), and what it left
// goes as the drill's cleanup policy says: the staged Backup, its objects,
// what its volume restore staged, and the Restore are deleted, the scratch
// namespace is kept for keepFailedFor, then deleted. Real API server and
// VersityGW.
func TestRestoreDrillResumedFailedRun(t *testing.T) {
	e, ns, d, run, stop := auditedMidRunOf(t, func(s *v1alpha1.RestoreDrillSpec) {
		s.Cleanup = v1alpha1.DrillCleanup{KeepFailedFor: &v1alpha1.Duration{Duration: 2 * time.Hour}}
	})
	stop()
	ctx := t.Context()
	cur := e.getDrill(t, d)
	active := cur.Status.Active
	if active == nil || active.ID != run {
		t.Fatalf("after the stop the run is not active: %+v", active)
	}
	_, staging := e.leaveRun(t, ns, d.Name, run)
	e.leaveVolumes(t, ns, d.Name, run, staging)
	failed := failedVolumeRun(cur, active)
	obj := &v1alpha1.OffsiteTarget{}
	if err := e.CP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "offsite"}, obj); err != nil {
		t.Fatal(err)
	}
	tgt, err := target.Resolve(ctx, e.CP.Client, obj)
	if err != nil {
		t.Fatal(err)
	}
	// The killed controller kept its verdict in the outbox: the bucket
	// refused it.
	e.s3.Stop(t)
	if _, _, err := outboxAuditor(e).RecordDrill(ctx, tgt, runRecord(cur, failed, runReason(failed))); err == nil {
		t.Fatal("verdict written to a stopped server")
	}
	e.s3.Restart(t)

	e.audit = outboxAuditor(e) // the next controller: its own Auditor
	e.startController(t, passingRun, 0)
	got := waitRunEnded(t, e, d, run)
	st := sealtest.OpenStore(t, e.s3.Config("offsite", "audited/safekeep/v1"))
	audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindDrill, ns+"/weekly/"+run, `"reason":"`+v1alpha1.ReasonVolumeCheckFailed+`"`)
	wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionFalse, v1alpha1.ReasonVolumeCheckFailed, "kept as spec.cleanup says")
	l := got.Status.LastRun
	until := failed.EndTime.Add(2 * time.Hour)
	if l.Result != v1alpha1.DrillRunFailed || l.Cleanup != v1alpha1.DrillCleanupKept || l.KeepUntil == nil || !l.KeepUntil.Equal(&metav1.Time{Time: until}) {
		t.Errorf("the resumed run is %s, cleanup %s until %v; want Failed, Kept until %s", l.Result, l.Cleanup, l.KeepUntil, until)
	}
	scratch := e.waitStagedGone(t, ns, d.Name, run, staging)
	if len(scratch) != 1 {
		t.Errorf("kept scratch namespaces %v, want the run's one", scratch)
	}

	// keepFailedFor is up: the namespace goes.
	e.Clock.Step(3 * time.Hour)
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"test.safekeep.dev/poke":"1"}}}`))
	if err := e.CP.Client.Patch(ctx, d, patch); err != nil {
		t.Fatal(err)
	}
	e.waitNothingLeft(t, ns, d.Name, run, staging)
	got = waitRunEnded(t, e, d, run)
	if c := got.Status.LastRun.Cleanup; c != v1alpha1.DrillCleanupDeleted {
		t.Errorf("after keepFailedFor the run's cleanup is %s, want Deleted", c)
	}
}

// waitStagedGone waits (at most 60 s) until the staged Backup, its
// objects, what leaveVolumes left and the Restore of run of drill ns/name are gone, and returns
// the run's scratch namespaces, which must still be there (none
// terminating).
func (e *drillEnv) waitStagedGone(t *testing.T, ns, name, run string, staging storage.Store) []string {
	t.Helper()
	labels := client.MatchingLabels{v1alpha1.LabelDrill: v1alpha1.DrillLabelValue(ns, name), v1alpha1.LabelDrillRun: run}
	staged := v1alpha1.DrillStagedName(ns, name, run)
	var left []string
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		left = nil
		var backups velerov1.BackupList
		var restores velerov1.RestoreList
		var pvbs velerov1.PodVolumeBackupList
		var repos velerov1.BackupRepositoryList
		for _, list := range []client.ObjectList{&backups, &restores, &pvbs, &repos} {
			if err := e.CP.Client.List(ctx, list, client.InNamespace(kittest.VeleroNS), labels); err != nil {
				return false, err
			}
		}
		for _, b := range backups.Items {
			left = append(left, "Backup "+b.Name)
		}
		for _, r := range restores.Items {
			left = append(left, "Restore "+r.Name)
		}
		for _, p := range pvbs.Items {
			left = append(left, "PodVolumeBackup "+p.Name)
		}
		for _, r := range repos.Items {
			left = append(left, "BackupRepository "+r.Name)
		}
		for _, prefix := range []string{"backups/" + staged + "/", volume.RepositoryPrefix("phi-app")} {
			for info, err := range staging.List(ctx, prefix) {
				if err != nil {
					return false, err
				}
				left = append(left, "object "+info.Key)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("what the run staged stayed: %v (%v)", left, err)
	}
	var nss corev1.NamespaceList
	if err := e.CP.Client.List(t.Context(), &nss, labels); err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, n := range nss.Items {
		if !n.DeletionTimestamp.IsZero() {
			t.Errorf("scratch namespace %s is deleted, want it kept for keepFailedFor", n.Name)
		}
		kept = append(kept, n.Name)
	}
	return kept
}

// leaveVolumes creates what a volume restore of run of drill ns/name
// (Level 2) interrupted mid-way leaves: a staged PodVolumeBackup, the
// staged repository of namespace phi-app in the staging bucket, and its
// BackupRepository.
func (e *drillEnv) leaveVolumes(t *testing.T, ns, name, run string, staging storage.Store) {
	t.Helper()
	staged := v1alpha1.DrillStagedName(ns, name, run)
	if len(staged) > 63 {
		t.Fatalf("staged name %s is too long for a label value", staged)
	}
	labels := func(extra string) map[string]string {
		return map[string]string{v1alpha1.LabelDrill: v1alpha1.DrillLabelValue(ns, name), v1alpha1.LabelDrillRun: run,
			drill.LabelStaged: "true", extra: staged}
	}
	objs := []client.Object{
		&velerov1.PodVolumeBackup{ObjectMeta: metav1.ObjectMeta{Name: staged + "-data", Namespace: kittest.VeleroNS, Labels: labels(velerov1.BackupNameLabel)},
			Spec: velerov1.PodVolumeBackupSpec{Volume: "data", BackupStorageLocation: "staging", RepoIdentifier: "-"}},
		&velerov1.BackupRepository{ObjectMeta: metav1.ObjectMeta{Name: "phi-app-staging-kopia", Namespace: kittest.VeleroNS, Labels: labels(drill.LabelStagedBackup)},
			Spec: velerov1.BackupRepositorySpec{VolumeNamespace: "phi-app", BackupStorageLocation: "staging", RepositoryType: "kopia",
				MaintenanceFrequency: metav1.Duration{Duration: 720 * time.Hour}}},
	}
	for _, o := range objs {
		if err := e.CP.Client.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	for _, blob := range []string{"kopia.repository", "p0123456789abcdef"} {
		sealtest.Put(t, staging, volume.RepositoryPrefix("phi-app")+blob, []byte("decrypted volume data"))
	}
}
