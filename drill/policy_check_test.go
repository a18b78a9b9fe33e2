package drill

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/scope"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// TestRunRefusesNamespacesOutsidePolicy: a backup of namespace phi-app,
// sealed while the schedule's template and the target's policy allowed it
// (real VersityGW), is drilled after the target's policy narrowed to
// billing-*. The engine refuses it, naming phi-app, with an error wrapping
// scope.ErrPolicy, before staging any plaintext or creating any namespace
// or Velero object (real API server). Before, only the schedule's current
// template was checked (in the controller), so the drill restored it.
func TestRunRefusesNamespacesOutsidePolicy(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(testbed.VeleroCRDPaths(t)...))
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "velero"}}); err != nil {
		t.Fatal(err)
	}
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	if _, err := b.Sealer().Seal(ctx, "nightly", "b1"); err != nil {
		t.Fatal(err)
	}
	b.S3.CreateBucket(t, "staging", false)
	staging := sealtest.OpenStore(t, b.S3.Config("staging", "drills"))
	pub := b.Signer.Public()
	labels := map[string]string{"safekeep.dev/drill-run": "drill-1"}
	_, err := Run(ctx, Options{
		Offsite: b.Offsite, VerifyKey: &pub, Identities: b.Identities, Schedule: "nightly", Backup: "b1", Client: cp.Client,
		StagingLocation: "staging", Staging: staging, StagedName: "drill-1", Labels: labels,
		MapNamespace: func(src string) string { return "drill-1-" + src }, CreateNamespaces: true,
		RestoreTimeout: 5 * time.Second, Policy: &scope.Policy{Namespaces: []string{"billing-*"}},
	})
	if !errors.Is(err, scope.ErrPolicy) || !strings.Contains(err.Error(), "phi-app") || !strings.Contains(err.Error(), "billing-*") {
		t.Fatalf("Run = %v, want a policy refusal naming phi-app and the policy", err)
	}
	if left := sealtest.Snapshot(t, staging, ""); len(left) != 0 {
		t.Errorf("a refused drill staged %v", sealtest.Keys(left))
	}
	var nss corev1.NamespaceList
	if err := cp.Client.List(ctx, &nss, client.MatchingLabels(labels)); err != nil || len(nss.Items) != 0 {
		t.Errorf("a refused drill created %d namespaces (%v)", len(nss.Items), err)
	}
	var backups velerov1.BackupList
	if err := cp.Client.List(ctx, &backups, client.InNamespace("velero")); err != nil || len(backups.Items) != 0 {
		t.Errorf("a refused drill created %d Velero Backups (%v)", len(backups.Items), err)
	}
}
