package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"slices"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/volume"
)

const (
	dmNamespace = "phi-scans"
	dmPVC       = "scans"
	dmBackup    = "scans-1"
	dmSchedule  = "nightly-scans"
	dmBucket    = "offsite-moved"
	dmPrefix    = "cluster-m"
)

// TestVolumeDataMover: Velero's CSI snapshot data mover on the test bed's
// CSI node (a Backup with snapshotMoveData: the node's snapshotter
// snapshots the PHI volume, node-agent's DataUpload moves it into the
// kopia repository through a backup pod running `velero data-mover
// backup`) writes the DataUpload and volume info that `safekeep seal`
// seals the volume from; verify and `restore --to-dir` give back the files;
// a Level 2 drill and `restore --namespace-mapping` restore the volume
// through Velero (a DataDownload, `velero data-mover restore`) and compare
// it with the snapshot. Then a BackupSchedule asks for the same through
// safekeep-controller (testScheduledDataMover).
func TestVolumeDataMover(t *testing.T) {
	b := startBed(t, bedSpec{node: true, csi: true, crds: true, buckets: map[string]bool{dmBucket: true, dmcBucket: true}, staging: []string{l2Staging}})
	ctx := t.Context()
	c := b.cp.Client
	scan := make([]byte, 200<<10) // incompressible, several kopia chunks
	if _, err := rand.Read(scan); err != nil {
		t.Fatal(err)
	}
	files := map[string]volumeFile{
		"studies/0001/ct-chest.dcm": {scan, 0o640},
		"index.json":                {[]byte(`{"mrn":"0001","name":"Jane Roe","study":"ct-chest"}`), 0o600},
		"empty":                     {nil, 0o644},
	}
	data := t.TempDir()
	writeVolume(t, data, files)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dmNamespace}}); err != nil {
		t.Fatal(err)
	}
	b.node.CSIVolume(t, ctx, dmNamespace, dmPVC, data)
	b.node.RunPod(t, ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pacs", Namespace: dmNamespace},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "pacs", Image: "orthanc:1", VolumeMounts: []corev1.VolumeMount{{Name: "scans", MountPath: "/var/lib/orthanc"}}}},
			Volumes:    []corev1.Volume{{Name: "scans", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: dmPVC}}}},
		},
	})

	backup := b.velero.Backup(t, ctx, dmBackup, velerov1.BackupSpec{IncludedNamespaces: []string{dmNamespace}, SnapshotMoveData: ptr.To(true)})
	if backup.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("Velero backup phase = %s (%s), want Completed", backup.Status.Phase, backup.Status.FailureReason)
	}
	var dus velerov2alpha1.DataUploadList
	if err := c.List(ctx, &dus, client.InNamespace(b.velero.Namespace), client.MatchingLabels{velerov1.BackupNameLabel: dmBackup}); err != nil {
		t.Fatal(err)
	}
	if len(dus.Items) != 1 || dus.Items[0].Status.Phase != velerov2alpha1.DataUploadPhaseCompleted || dus.Items[0].Status.SnapshotID == "" {
		t.Fatalf("DataUploads of %s = %+v, want one Completed with a snapshot ID", dmBackup, dus.Items)
	}
	if runs := b.node.Runs(); !slices.ContainsFunc(runs, func(r testbed.NodeRun) bool {
		return len(r.Args) > 1 && r.Args[0] == "data-mover" && r.Args[1] == "backup" && r.ExitCode == 0
	}) {
		t.Fatalf("the node ran no successful velero data-mover backup: %+v", runs)
	}
	// The volume info is Velero's own: the moved snapshot's entry names the
	// DataUpload's snapshot.
	infoKey := "backups/" + dmBackup + "/" + volume.VolumeInfoName(dmBackup)
	if got := movedSnapshots(t, readObjects(t, b.s3.Minio(t), veleroBucket, "backups/"+dmBackup+"/")[infoKey]); !slices.Equal(got, []string{dus.Items[0].Status.SnapshotID}) {
		t.Fatalf("Velero's volume info names moved snapshots %v, want the DataUpload's %s", got, dus.Items[0].Status.SnapshotID)
	}

	kit, _ := sealVolumes(t, b, dmBucket, dmPrefix, dmSchedule, dmBackup, dmNamespace)
	t.Run("verify, and restore --to-dir writes the volume's files byte for byte", func(t *testing.T) {
		testVolumeToDir(t, kit, dmSchedule+"/"+dmBackup, dmNamespace+"/"+volume.DataMoverDir+"/"+dmPVC, files)
	})
	lc := level2Case{name: "dm", kit: kit, bucket: dmBucket, prefix: dmPrefix, schedule: dmSchedule, backup: dmBackup,
		source: dmNamespace, claim: dmPVC, files: files, restoredBy: "DataDownloads"}
	t.Run("level 2 drill restores the volume through a DataDownload", func(t *testing.T) { testLevel2Drill(t, b, lc) })
	t.Run("restore --namespace-mapping restores the volume through a DataDownload", func(t *testing.T) { testLevel2RestoreCLI(t, b, lc) })
	t.Run("schedules asking for snapshotMoveData, and for snapshots kept in the cluster", func(t *testing.T) {
		testScheduledDataMover(t, b, files)
	})
}

// movedSnapshots returns the snapshot handles of the data-moved entries of
// a gzipped volume info file.
func movedSnapshots(t *testing.T, gz []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("volume info: %v", err)
	}
	var infos []struct {
		SnapshotDataMoved bool `json:"snapshotDataMoved"`
		Movement          *struct {
			SnapshotHandle string `json:"snapshotHandle"`
		} `json:"snapshotDataMovementInfo"`
	}
	if err := json.NewDecoder(zr).Decode(&infos); err != nil {
		t.Fatalf("volume info: %v", err)
	}
	var out []string
	for _, vi := range infos {
		if vi.SnapshotDataMoved && vi.Movement != nil {
			out = append(out, vi.Movement.SnapshotHandle)
		}
	}
	return out
}
