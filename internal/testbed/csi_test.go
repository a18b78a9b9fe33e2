package testbed

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestNodeDataMover runs Velero's CSI snapshot data mover on the Node: a
// Backup with snapshotMoveData snapshots a CSI volume (the Node's
// snapshotter), and node-agent's DataUpload moves the snapshot into the
// repository through a backup pod the kubelet runs with bin/velero (`velero
// data-mover backup`); a namespace-mapped Restore creates a DataDownload
// whose restore pod (`velero data-mover restore`) writes the files into a
// new volume that Velero then binds to the restored PVC: byte for byte the
// same.
func TestNodeDataMover(t *testing.T) {
	RequireRoot(t)
	ctx := t.Context()
	s3 := StartS3(t)
	s3.CreateBucket(t, "velero", false)
	cp := StartControlPlane(t)
	v := StartVelero(t, cp, s3, "velero", VeleroFeatures("EnableCSI"))
	n := StartNode(t, cp, v)
	n.EnableCSI(t)

	const ns = "phi-scans"
	data := t.TempDir()
	files := map[string][]byte{
		"scans/0001.dcm":       bytes.Repeat([]byte("dicom"), 40<<10),
		"records/patient.json": []byte(`{"name":"Jane Roe","mrn":"0001"}`),
		"empty":                {},
	}
	writeTree(t, data, files)
	n.ScheduleIn(map[string]string{"app.example/tier": "scans"})
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"app.example/tier": "scans"}}}); err != nil {
		t.Fatal(err)
	}
	n.CSIVolume(t, ctx, ns, "scans", data)
	n.RunPod(t, ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pacs", Namespace: ns},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "pacs", Image: "orthanc:1", VolumeMounts: []corev1.VolumeMount{{Name: "scans", MountPath: "/var/lib/orthanc"}}}},
			Volumes:    []corev1.Volume{{Name: "scans", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "scans"}}}},
		},
	})

	b := v.Backup(t, ctx, "dm-1", velerov1.BackupSpec{IncludedNamespaces: []string{ns}, SnapshotMoveData: ptr.To(true)})
	if b.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("backup phase = %s (%s), want Completed\nnode-agent:\n%s\nvelero:\n%s", b.Status.Phase, b.Status.FailureReason, tailBytes(n.LogPath, veleroLogTailBytes), v.LogTail())
	}
	var dus velerov2alpha1.DataUploadList
	if err := cp.Client.List(ctx, &dus, client.InNamespace(v.Namespace), client.MatchingLabels{velerov1.BackupNameLabel: "dm-1"}); err != nil {
		t.Fatal(err)
	}
	if len(dus.Items) != 1 || dus.Items[0].Status.Phase != velerov2alpha1.DataUploadPhaseCompleted || dus.Items[0].Status.SnapshotID == "" {
		t.Fatalf("DataUploads = %+v, want one Completed with a snapshot", dus.Items)
	}
	if !slices.ContainsFunc(n.Runs(), func(r NodeRun) bool { return r.Args[0] == "data-mover" && r.Args[1] == "backup" && r.ExitCode == 0 }) {
		t.Errorf("kubelet runs = %+v, want the backup pod's velero data-mover backup, exit 0", n.Runs())
	}

	r := v.Restore(t, ctx, "dm-1-restore", velerov1.RestoreSpec{BackupName: "dm-1", NamespaceMapping: map[string]string{ns: ns + "-restored"}})
	if r.Status.Phase != velerov1.RestorePhaseCompleted {
		t.Fatalf("restore phase = %s (%s), want Completed\nnode-agent:\n%s\nvelero:\n%s", r.Status.Phase, r.Status.FailureReason, tailBytes(n.LogPath, veleroLogTailBytes), v.LogTail())
	}
	var dds velerov2alpha1.DataDownloadList
	if err := cp.Client.List(ctx, &dds, client.InNamespace(v.Namespace), client.MatchingLabels{velerov1.RestoreNameLabel: "dm-1-restore"}); err != nil {
		t.Fatal(err)
	}
	if len(dds.Items) != 1 || dds.Items[0].Status.Phase != velerov2alpha1.DataDownloadPhaseCompleted {
		t.Fatalf("DataDownloads = %+v, want one Completed", dds.Items)
	}
	for _, run := range n.Runs() {
		t.Logf("kubelet ran %s/%s: velero %v: exit %d", run.Namespace, run.Name, run.Args, run.ExitCode)
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns + "-restored", Name: "scans"}, pvc); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		t.Fatalf("restored PVC %s names no PV: %v", pvc.Name, err)
	}
	dir, err := VolumeDir(pv)
	if err != nil {
		t.Fatal(err)
	}
	if dir == data {
		t.Fatalf("restored PVC is bound to the source volume %s", dir)
	}
	if got := readTree(t, dir); !maps.EqualFunc(got, files, bytes.Equal) {
		t.Errorf("restored volume holds %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(files)))
	}
}
