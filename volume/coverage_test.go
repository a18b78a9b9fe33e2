package volume_test

import (
	"errors"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"

	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// Volume info entries as Velero 1.18 encodes its BackupVolumeInfo
// (internal/volume/volumes_information.go: generateVolumeInfo* and, for
// data movement, pkg/backup/backup.go updateVolumeInfos), one per method.
func veleroVolumeInfo() []map[string]any {
	pvInfo := map[string]any{"reclaimPolicy": "Delete", "labels": map[string]string{}}
	return []map[string]any{
		{ // file-system backup, kopia: the PodVolumeBackup below seals it
			"pvcName": "data-db-0", "pvcNamespace": "phi-app", "pvName": "pv-1", "backupMethod": "PodVolumeBackup",
			"snapshotDataMoved": false, "preserveLocalSnapshot": false, "skipped": false, "result": "succeeded",
			"pvbInfo": map[string]any{"snapshotHandle": "kfs1", "size": 100, "uploaderType": "kopia", "volumeName": "data",
				"podName": "db-0", "podNamespace": "phi-app", "nodeName": "node-1", "Phase": "Completed"},
			"pvInfo": pvInfo,
		},
		{ // file-system backup, restic: the PodVolumeBackup below is refused
			"pvcName": "old-0", "pvcNamespace": "phi-app", "pvName": "pv-2", "backupMethod": "PodVolumeBackup",
			"snapshotDataMoved": false, "skipped": false, "result": "succeeded",
			"pvbInfo": map[string]any{"snapshotHandle": "r1", "uploaderType": "restic", "volumeName": "old",
				"podName": "legacy-0", "podNamespace": "phi-app", "Phase": "Completed"},
		},
		{ // CSI snapshot data movement by Velero's data mover: sealed
			"pvcName": "scans", "pvcNamespace": "phi-app", "pvName": "pv-3", "backupMethod": "CSISnapshot",
			"snapshotDataMoved": true, "preserveLocalSnapshot": false, "skipped": false, "result": "succeeded",
			"csiSnapshotInfo": map[string]any{"snapshotHandle": "unknown", "size": 0, "driver": "hostpath.csi.k8s.io",
				"vscName": "unknown", "operationID": "unknown", "ReadyToUse": nil},
			"snapshotDataMovementInfo": map[string]any{"dataMover": "velero", "uploaderType": "kopia",
				"retainedSnapshot": "velero-scans-abcde", "snapshotHandle": "kdm1", "operationID": "du-1", "size": 4096,
				"Phase": string(velerov2alpha1.DataUploadPhaseCompleted)},
		},
		{ // data movement by another data mover
			"pvcName": "vendor", "pvcNamespace": "phi-app", "backupMethod": "CSISnapshot", "snapshotDataMoved": true,
			"result": "succeeded", "snapshotDataMovementInfo": map[string]any{"dataMover": "acme", "uploaderType": "kopia",
				"snapshotHandle": "x1", "operationID": "du-2", "Phase": "Completed"},
		},
		{ // data movement that failed
			"pvcName": "broken", "pvcNamespace": "phi-app", "backupMethod": "CSISnapshot", "snapshotDataMoved": true,
			"result": "failed", "snapshotDataMovementInfo": map[string]any{"dataMover": "", "uploaderType": "kopia",
				"operationID": "du-3", "Phase": string(velerov2alpha1.DataUploadPhaseFailed)},
		},
		{ // CSI snapshot left in the cluster
			"pvcName": "logs", "pvcNamespace": "phi-app", "backupMethod": "CSISnapshot", "snapshotDataMoved": false,
			"preserveLocalSnapshot": true, "result": "succeeded",
			"csiSnapshotInfo": map[string]any{"snapshotHandle": "snap-1", "size": 10, "driver": "ebs.csi.aws.com", "vscName": "vsc-1"},
		},
		{ // native snapshot by a volume snapshotter plugin
			"pvcName": "archive", "pvcNamespace": "billing", "backupMethod": "NativeSnapshot", "snapshotDataMoved": false,
			"result": "succeeded", "nativeSnapshotInfo": map[string]any{"snapshotHandle": "snap-0abc", "volumeType": "gp3",
				"volumeAZ": "us-east-1a", "iops": "3000", "Phase": "Completed"},
		},
		{ // skipped by a volume policy
			"pvcName": "tmp", "pvcNamespace": "billing", "pvName": "pv-9", "snapshotDataMoved": false, "skipped": true,
			"skippedReason": "skipped due to resource policy", "pvInfo": pvInfo,
		},
		{ // a PV with no claim: not in a namespace, not a PVC of the backup
			"pvName": "pv-orphan", "snapshotDataMoved": false, "skipped": true, "skippedReason": "no claim",
		},
	}
}

func veleroPVBs() []velerov1.PodVolumeBackup {
	kopia := pvb("kopia", velerov1.PodVolumeBackupPhaseCompleted, "kfs1")
	restic := pvb("restic", velerov1.PodVolumeBackupPhaseCompleted, "r1")
	restic.Spec.Pod.Name, restic.Spec.Volume = "legacy-0", "old"
	cache := pvb("kopia", velerov1.PodVolumeBackupPhaseCompleted, "kfs2")
	cache.Spec.Pod.Name, cache.Spec.Volume = "scanner-0", "cache" // an emptyDir: no PVC, sealed all the same
	return []velerov1.PodVolumeBackup{kopia, restic, cache}
}

func TestReadCoverage(t *testing.T) {
	st := storage.NewMemBucket(storage.MemOptions{}).Store("")
	dir := "backups/b1/"
	volumetest.PutGzipJSON(t, st, dir+volume.PodVolumeBackupsName("b1"), veleroPVBs())
	volumetest.PutGzipJSON(t, st, dir+volume.VolumeInfoName("b1"), veleroVolumeInfo())
	volumetest.PutGzipJSON(t, st, dir+volume.ResourceListName("b1"), map[string][]string{
		"v1/PersistentVolumeClaim": {"phi-app/data-db-0", "phi-app/scans", "phi-app/logs", "phi-app/unmounted", "billing/tmp", "billing/archive"},
		"v1/ConfigMap":             {"phi-app/settings"},
	})
	c, err := volume.ReadCoverage(t.Context(), st, "b1")
	if err != nil {
		t.Fatal(err)
	}
	wantSealed := []volume.Volume{
		{Namespace: "phi-app", Pod: "scanner-0", Volume: "cache", Method: volume.MethodFSBackup, SnapshotID: "kfs2", BSL: "default"},
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", Method: volume.MethodFSBackup, SnapshotID: "kfs1", BSL: "default"},
		{Namespace: "phi-app", PVC: "scans", Method: volume.MethodDataMover, SnapshotID: "kdm1"},
	}
	if len(c.Sealed) != len(wantSealed) {
		t.Fatalf("sealed = %+v, want %+v", c.Sealed, wantSealed)
	}
	for i, v := range wantSealed {
		if c.Sealed[i] != v {
			t.Errorf("sealed[%d] = %+v, want %+v", i, c.Sealed[i], v)
		}
	}
	wantNot := []struct {
		ns, pvc, pod string
		reason       volume.Reason
	}{
		{"billing", "archive", "", volume.ReasonNativeSnapshot},
		{"billing", "tmp", "", volume.ReasonSkipped},
		{"phi-app", "broken", "", volume.ReasonFailed},
		{"phi-app", "logs", "", volume.ReasonCSISnapshot},
		{"phi-app", "old-0", "legacy-0", volume.ReasonRestic},
		{"phi-app", "unmounted", "", volume.ReasonNotBackedUp},
		{"phi-app", "vendor", "", volume.ReasonOtherDataMover},
	}
	if len(c.NotCovered) != len(wantNot) {
		t.Fatalf("not covered = %+v", c.NotCovered)
	}
	for i, w := range wantNot {
		u := c.NotCovered[i]
		if u.Namespace != w.ns || u.PVC != w.pvc || u.Pod != w.pod || u.Reason != w.reason || u.Message == "" {
			t.Errorf("notCovered[%d] = %+v, want %s/%s (pod %q) %s", i, u, w.ns, w.pvc, w.pod, w.reason)
		}
	}
	if m := c.NotCovered[1].Message; m != "Velero skipped the volume: skipped due to resource policy" {
		t.Errorf("skipped message %q does not give Velero's reason", m)
	}
}

func TestReadCoverageInput(t *testing.T) {
	dm := map[string]any{"pvcName": "scans", "pvcNamespace": "phi-app", "backupMethod": "CSISnapshot", "snapshotDataMoved": true,
		"result": "succeeded"}
	for _, tc := range []struct {
		name  string
		infos any
		want  error
	}{
		{name: "no files"},
		{name: "data moved without its info", infos: []map[string]any{dm}, want: volume.ErrBadBackupFile},
		{name: "not a list", infos: map[string]any{"pvcName": "x"}, want: volume.ErrBadBackupFile},
		{name: "unknown method", infos: []map[string]any{{"pvcName": "a", "pvcNamespace": "n", "backupMethod": "Teleport"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := storage.NewMemBucket(storage.MemOptions{}).Store("")
			if tc.infos != nil {
				volumetest.PutGzipJSON(t, st, "backups/b1/"+volume.VolumeInfoName("b1"), tc.infos)
			}
			c, err := volume.ReadCoverage(t.Context(), st, "b1")
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadCoverage = %+v, %v; want %v", c, err, tc.want)
			}
			if tc.name == "unknown method" && (len(c.NotCovered) != 1 || c.NotCovered[0].Reason != volume.ReasonNotBackedUp) {
				t.Errorf("an unknown method is %+v, want not covered", c.NotCovered)
			}
		})
	}
}
