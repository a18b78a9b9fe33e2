package backupschedule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// TestVolumeCoverage seals, on the real API server and VersityGW, a backup
// with a file-system backup volume, a volume Velero's data mover moved, a
// CSI snapshot left in the cluster and a PVC Velero did not copy: the
// OffsiteBackup lists each with why, the schedule sums it up and names the
// two not covered, and the audit entry counts them without a name.
func TestVolumeCoverage(t *testing.T) {
	env := newSealEnv(t)
	ns := env.Namespace(t)
	env.target(t, ns, "offsite", nil)
	env.Put(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: volume.PasswordSecret, Namespace: kittest.VeleroNS},
		Data: map[string][]byte{volume.PasswordKey: []byte(volumetest.Password)}})
	t0 := env.Clock.Now()
	spec := v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *", Template: v1alpha1.BackupTemplate{StorageLocation: "default"}}
	s := env.Schedule(t, ns, "volumes", spec, t0.Add(-time.Hour))
	r := env.reconciler(Options{})
	startJobs(t, r)
	backup := v1alpha1.BackupName(ns, "volumes", t0)
	env.reconcile(t, r, s)
	env.completeBackup(t, backup, t0)

	repo := volumetest.NewRepo(t, volumetest.Password)
	fsSnap, dmSnap := repo.Snapshot(t, tree(t, "db.sqlite")), repo.Snapshot(t, tree(t, "scan-1.dcm"))
	repo.CopyTo(t, env.bed.Source, "phi-app")
	volumetest.WriteBackupMoved(t, env.bed.Source, backup, "default",
		[]volumetest.PodVolume{{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: fsSnap}},
		[]volumetest.MovedVolume{{Namespace: "phi-app", PVC: "scans", SnapshotID: dmSnap}})
	infos := []map[string]any{ // the three above, and a CSI snapshot not moved
		{"pvcName": "data-db-0", "pvcNamespace": "phi-app", "backupMethod": "PodVolumeBackup",
			"pvbInfo": map[string]any{"snapshotHandle": fsSnap, "uploaderType": "kopia", "volumeName": "data", "podName": "db-0", "podNamespace": "phi-app"}},
		{"pvcName": "scans", "pvcNamespace": "phi-app", "backupMethod": "CSISnapshot", "snapshotDataMoved": true, "result": "succeeded",
			"snapshotDataMovementInfo": map[string]any{"dataMover": "velero", "uploaderType": "kopia", "snapshotHandle": dmSnap, "Phase": "Completed"}},
		{"pvcName": "logs", "pvcNamespace": "phi-app", "backupMethod": "CSISnapshot", "snapshotDataMoved": false, "result": "succeeded",
			"csiSnapshotInfo": map[string]any{"snapshotHandle": "snap-1", "driver": "ebs.csi.aws.com", "vscName": "vsc-1"}},
	}
	volumetest.PutGzipJSON(t, env.bed.Source, seal.SourcePrefix(backup)+volume.VolumeInfoName(backup), infos)
	rl, err := json.Marshal(map[string][]string{"v1/PersistentVolumeClaim": {"phi-app/data-db-0", "phi-app/scans", "phi-app/logs", "phi-app/uploads"}})
	if err != nil {
		t.Fatal(err)
	}
	sealtest.Put(t, env.bed.Source, seal.SourcePrefix(backup)+volume.ResourceListName(backup), sealtest.Gzip(t, rl))

	got := runToSeal(t, env, r, s)
	wantCondition(t, got, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionTrue, v1alpha1.ReasonSealed)

	ob := env.offsiteBackup(t, ns, backup)
	cov := ob.Status.Volumes
	if cov == nil || cov.Sealed != 2 || cov.NotCovered != 2 || len(cov.Volumes) != 4 {
		t.Fatalf("OffsiteBackup status.volumes = %+v, want 2 sealed, 2 not covered", cov)
	}
	want := []v1alpha1.VolumeCoverageItem{
		{Namespace: "phi-app", PVC: "logs", Reason: string(volume.ReasonCSISnapshot)},
		{Namespace: "phi-app", PVC: "uploads", Reason: string(volume.ReasonNotBackedUp)},
		{Namespace: "phi-app", PVC: "data-db-0", Pod: "db-0", Volume: "data", Sealed: true, Method: seal.MethodFSBackup},
		{Namespace: "phi-app", PVC: "scans", Sealed: true, Method: seal.MethodDataMover},
	}
	for i, w := range want {
		g := cov.Volumes[i]
		if w.Sealed == (g.Message != "") {
			t.Errorf("volume %d message %q", i, g.Message)
		}
		g.Message = ""
		if g != w {
			t.Errorf("status.volumes[%d] = %+v, want %+v", i, g, w)
		}
	}
	c := meta.FindStatusCondition(ob.Status.Conditions, v1alpha1.ConditionVolumesCovered)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonVolumesNotCovered ||
		!strings.Contains(c.Message, "phi-app/logs: CSISnapshotNotMoved") || !strings.Contains(c.Message, "phi-app/uploads: NotBackedUp") {
		t.Errorf("OffsiteBackup VolumesCovered = %+v", c)
	}

	sum := got.Status.LastBackupVolumes
	if sum == nil || sum.Backup != backup || sum.Sealed != 2 || sum.NotCovered != 2 ||
		!slices.Equal(sum.NotCoveredVolumes, []string{"phi-app/logs: CSISnapshotNotMoved", "phi-app/uploads: NotBackedUp"}) {
		t.Errorf("schedule status.lastBackupVolumes = %+v", sum)
	}
	wantCondition(t, got, v1alpha1.ConditionVolumesCovered, metav1.ConditionFalse, v1alpha1.ReasonVolumesNotCovered, backup, "phi-app/logs", "phi-app/uploads")
	env.WaitEvent(t, s, v1alpha1.ReasonVolumesNotCovered)

	e := audittest.WantEntry(t, auditlog.DefaultActor, env.offsite(t, "offsite"), audit.KindSeal, ns+"/volumes/"+backup, `"volumes":{"notCovered":`)
	var d audit.SealDetails
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatal(err)
	}
	if v := d.Volumes; v == nil || v.Sealed != 2 || v.NotCovered[string(volume.ReasonCSISnapshot)] != 1 || v.NotCovered[string(volume.ReasonNotBackedUp)] != 1 {
		t.Errorf("audit volumes = %+v", v)
	}
	if strings.Contains(string(e.Details), "uploads") || strings.Contains(string(e.Details), "logs") {
		t.Errorf("the plaintext audit entry names a PVC: %s", e.Details)
	}
}

// tree writes a folder holding one file named name and returns it.
func tree(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("contents of "+name), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
