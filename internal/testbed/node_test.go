package testbed

import (
	"bytes"
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestNodeFSBackupRestore runs Velero's file-system backup of a pod's
// local volume through node-agent and a hosting pod the Node's kubelet runs
// with bin/velero, then a namespace-mapped Restore whose PodVolumeRestore
// writes the files into a new volume: byte for byte the same.
func TestNodeFSBackupRestore(t *testing.T) {
	RequireRoot(t)
	ctx := t.Context()
	s3 := StartS3(t)
	s3.CreateBucket(t, "velero", false)
	cp := StartControlPlane(t)
	v := StartVelero(t, cp, s3, "velero")
	n := StartNode(t, cp, v)

	const ns = "phi-db"
	data := t.TempDir()
	files := map[string][]byte{
		"records/patient-0001.json": []byte(`{"name":"Jane Roe","mrn":"0001"}`),
		"records/patient-0002.json": bytes.Repeat([]byte("scan"), 64<<10),
		"empty":                     {},
	}
	writeTree(t, data, files)
	// The Velero Restore carries the label to the new namespace, where the
	// Node schedules the restored pod and provisions its PVC.
	n.ScheduleIn(map[string]string{"app.example/tier": "db"})
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"app.example/tier": "db"}}}); err != nil {
		t.Fatal(err)
	}
	n.LocalVolume(t, ctx, ns, "data", data)
	n.RunPod(t, ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "db", Image: "postgres:17", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/postgresql"}}}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
		},
	})

	b := v.Backup(t, ctx, "fs-1", velerov1.BackupSpec{IncludedNamespaces: []string{ns}, DefaultVolumesToFsBackup: ptr.To(true)})
	if b.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("backup phase = %s (%s), want Completed\nnode-agent:\n%s", b.Status.Phase, b.Status.FailureReason, tailBytes(n.LogPath, veleroLogTailBytes))
	}
	var pvbs velerov1.PodVolumeBackupList
	if err := cp.Client.List(ctx, &pvbs, client.InNamespace(v.Namespace), client.MatchingLabels{velerov1.BackupNameLabel: "fs-1"}); err != nil {
		t.Fatal(err)
	}
	if len(pvbs.Items) != 1 || pvbs.Items[0].Status.Phase != velerov1.PodVolumeBackupPhaseCompleted || pvbs.Items[0].Status.SnapshotID == "" {
		t.Fatalf("PodVolumeBackups = %+v, want one Completed with a snapshot", pvbs.Items)
	}
	if runs := n.Runs(); len(runs) == 0 || runs[0].ExitCode != 0 {
		t.Errorf("kubelet runs = %+v, want the hosting pod's velero pod-volume backup, exit 0", runs)
	}

	r := v.Restore(t, ctx, "fs-1-restore", velerov1.RestoreSpec{BackupName: "fs-1", NamespaceMapping: map[string]string{ns: ns + "-restored"}})
	if r.Status.Phase != velerov1.RestorePhaseCompleted {
		t.Fatalf("restore phase = %s (%s), want Completed\nnode-agent:\n%s", r.Status.Phase, r.Status.FailureReason, tailBytes(n.LogPath, veleroLogTailBytes))
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns + "-restored", Name: "data"}, pvc); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		t.Fatal(err)
	}
	for _, run := range n.Runs() {
		t.Logf("kubelet ran %s/%s: velero %v: exit %d", run.Namespace, run.Name, run.Args, run.ExitCode)
	}
	if got := readTree(t, pv.Spec.Local.Path); !maps.EqualFunc(got, files, bytes.Equal) {
		t.Errorf("restored volume holds %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(files)))
	}

	t.Run("a Job of an image RunImage names runs for real, its log read through pods/log", func(t *testing.T) {
		testNodeRunsImage(t, cp, n, ns+"-restored", files["records/patient-0001.json"])
	})

	t.Run("repository maintenance Job runs on the node", func(t *testing.T) {
		// A repository never maintained (a staged copy's) is due at once:
		// Velero starts a Job when a spec change makes it reconcile, and
		// its reconcile blocks until the kubelet ends the Job. (The CRD has
		// no status subresource: one update sets both.)
		var repos velerov1.BackupRepositoryList
		if err := cp.Client.List(ctx, &repos, client.InNamespace(v.Namespace)); err != nil || len(repos.Items) != 1 {
			t.Fatalf("BackupRepositories: %d, %v; want one", len(repos.Items), err)
		}
		repo := &repos.Items[0]
		repo.Spec.MaintenanceFrequency = metav1.Duration{Duration: repo.Spec.MaintenanceFrequency.Duration + time.Second}
		repo.Status.LastMaintenanceTime = nil
		if err := cp.Client.Update(ctx, repo); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, pollInterval, operationTimeout, true, func(ctx context.Context) (bool, error) {
			err := cp.Client.Get(ctx, client.ObjectKeyFromObject(repo), repo)
			return repo.Status.LastMaintenanceTime != nil, err
		})
		if err != nil {
			t.Fatalf("BackupRepository %s never maintained (history %+v): %v\nvelero:\n%s", repo.Name, repo.Status.RecentMaintenance, err, v.LogTail())
		}
		if h := repo.Status.RecentMaintenance; len(h) == 0 || h[len(h)-1].Result != velerov1.BackupRepositoryMaintenanceSucceeded {
			t.Errorf("maintenance history = %+v, want a success last", h)
		}
		if !slices.ContainsFunc(n.Runs(), func(r NodeRun) bool { return len(r.Args) > 0 && r.Args[0] == "repo-maintenance" && r.ExitCode == 0 }) {
			t.Errorf("kubelet runs = %+v, want velero repo-maintenance, exit 0", n.Runs())
		}
	})
}

// writeTree writes files (slash-separated name -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree reads every regular file under dir: slash-separated name -> content.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = body
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// testNodeRunsImage: a Job in a namespace the Node schedules in, whose
// image RunImage maps to /bin/cat, runs cat on the file of the PVC "data"
// it mounts (the mount path given as the PV's folder); the API server's
// pods/log reads the output from the Node's kubelet API.
func testNodeRunsImage(t *testing.T, cp *ControlPlane, n *Node, ns string, want []byte) {
	ctx := t.Context()
	n.RunImage("cat:test", "/bin/cat")
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "cat", Namespace: ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "cat", Image: "cat:test", Command: []string{"/bin/cat", "/data/records/patient-0001.json"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", ReadOnly: true}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data", ReadOnly: true}}}},
		}}},
	}
	if err := cp.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, pollInterval, operationTimeout, true, func(ctx context.Context) (bool, error) {
		err := cp.Client.Get(ctx, client.ObjectKeyFromObject(job), job)
		return job.Status.Succeeded > 0 || job.Status.Failed > 0, err
	})
	if err != nil || job.Status.Succeeded != 1 {
		t.Fatalf("Job %+v: %v", job.Status, err)
	}
	var pods corev1.PodList
	if err := cp.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"job-name": "cat"}); err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods of the Job: %d, %v", len(pods.Items), err)
	}
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().Pods(ns).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{Container: "cat"}).DoRaw(ctx)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("pods/log of the Job's pod: %q, %v; want %q", got, err, want)
	}
}
