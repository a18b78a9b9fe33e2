package drill

import (
	"strings"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
)

// TestCheckRestoresWithoutReader: with no reader of the restored volumes
// (restore --namespace-mapping), volume-files passes only when Velero
// completed a PodVolumeRestore of each pod volume and a DataDownload into
// each data mover volume's PVC, in the destination namespace, on the real
// API server with Velero's CRDs.
func TestCheckRestoresWithoutReader(t *testing.T) {
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(testbed.VeleroCRDPaths(t)...))
	ctx := t.Context()
	c := cp.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "velero"}}); err != nil {
		t.Fatal(err)
	}
	const staged = "restore-1"
	r := &runner{opts: Options{Client: c, VeleroNamespace: "velero", StagedName: staged}, checks: map[string]*audit.CheckResult{}}
	r.checks[CheckVolumeFiles] = &audit.CheckResult{Name: CheckVolumeFiles, Message: "not run"}
	vs := &volumeStage{volumes: []seal.VolumeRecord{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0"},
		{Namespace: "phi-app", PVC: "scans", Method: seal.MethodDataMover},
	}}
	mapping := map[string]string{"phi-app": "phi-app-restored"}
	labels := map[string]string{velerov1.RestoreNameLabel: staged}
	pvr := &velerov1.PodVolumeRestore{
		ObjectMeta: metav1.ObjectMeta{Name: staged + "-pvr", Namespace: "velero", Labels: labels},
		Spec: velerov1.PodVolumeRestoreSpec{Pod: corev1.ObjectReference{Namespace: "phi-app-restored", Name: "db-0"}, Volume: "data",
			BackupStorageLocation: "staging", SnapshotID: "s1", RepoIdentifier: "r"},
		Status: velerov1.PodVolumeRestoreStatus{Phase: velerov1.PodVolumeRestorePhaseCompleted},
	}
	dd := &velerov2alpha1.DataDownload{
		ObjectMeta: metav1.ObjectMeta{Name: staged + "-dd", Namespace: "velero", Labels: labels},
		Spec: velerov2alpha1.DataDownloadSpec{TargetVolume: velerov2alpha1.TargetVolumeSpec{PVC: "scans", Namespace: "phi-app-restored"},
			BackupStorageLocation: "staging", SnapshotID: "s2", SourceNamespace: "phi-app"},
	}
	if err := c.Create(ctx, pvr); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, dd); err != nil {
		t.Fatal(err)
	}
	check := func(wantPassed bool, want string) {
		t.Helper()
		if err := r.checkPodVolumeRestores(ctx, vs, mapping); err != nil {
			t.Fatal(err)
		}
		got := r.checks[CheckVolumeFiles]
		if got.Passed != wantPassed || !strings.Contains(got.Message, want) {
			t.Errorf("volume-files = %v %q, want %v and %q", got.Passed, got.Message, wantPassed, want)
		}
	}
	// The DataDownload is still running.
	check(false, "1 of 2 volumes have no Completed PodVolumeRestores and DataDownloads")
	dd.Status.Phase = velerov2alpha1.DataDownloadPhaseCompleted
	if err := c.Update(ctx, dd); err != nil { // the CRD has no status subresource
		t.Fatal(err)
	}
	check(true, "2 volumes restored by Velero (PodVolumeRestores and DataDownloads Completed)")
}
