package restoredrill

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// TestDrillRefusesBackupOutsidePolicy: a backup of namespace phi-app was
// sealed while schedule "nightly" backed up every namespace; since then
// the template was narrowed to billing-a and the target's policy to
// billing-*, so the schedule passes the policy check. A drill run of the
// old backup reaches the engine (the real one: the seal is read from
// VersityGW, the cluster is the real API server), which refuses it for
// phi-app. The run is Error, LastDrillPassed False PolicyViolation naming
// phi-app, with a Warning Event. Before, the engine was not given the
// target's policy and restored the backup's namespaces.
func TestDrillRefusesBackupOutsidePolicy(t *testing.T) {
	e := newDrillEnv(t, day0)
	ctx := t.Context()
	ns := e.Namespace(t)
	e.fixtures(t, ns, -3)
	e.auditedTarget(t, ns, "offsite")
	tgt := &v1alpha1.OffsiteTarget{}
	if err := e.CP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "offsite"}, tgt); err != nil {
		t.Fatal(err)
	}
	tgt.Spec.Policy = &v1alpha1.TargetPolicy{Namespaces: []string{"billing-*"}}
	if err := e.CP.Client.Update(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	e.SetTargetReady(t, tgt, metav1.ConditionTrue, v1alpha1.ReasonVerified, "ok")
	bs := &v1alpha1.BackupSchedule{}
	if err := e.CP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nightly"}, bs); err != nil {
		t.Fatal(err)
	}
	bs.Spec.Template.IncludedNamespaces = []string{"billing-a"}
	if err := e.CP.Client.Update(ctx, bs); err != nil {
		t.Fatal(err)
	}

	backup := v1alpha1.BackupName(ns, "nightly", day0.Add(-3*time.Hour))
	bed := sealtest.NewBed(t, false)
	bed.VeleroBackup(t, backup, "Completed", 1<<10) // of phi-app
	if _, err := bed.Sealer().Seal(ctx, "nightly", backup); err != nil {
		t.Fatal(err)
	}
	pub := bed.Signer.Public()
	r := e.drillReconciler(t, nil)
	r.engine = func(ctx context.Context, opts drill.Options) (*drill.Result, error) {
		// The seal and keys of bed; the rest, the target's policy
		// included, as the controller resolved it.
		opts.Offsite, opts.VerifyKey, opts.TrustedKeys, opts.Binding, opts.Identities = bed.Offsite, &pub, nil, seal.Binding{}, bed.Identities
		opts.RestoreTimeout = 5 * time.Second
		return drill.Run(ctx, opts)
	}
	d := e.drill(t, ns, "old-backup", nil)
	run := e.runNow(t, r, d, day0.Add(10*time.Minute))
	if run.Result != v1alpha1.DrillRunError || !strings.Contains(run.Message, "phi-app") {
		t.Fatalf("run %s: %s, want Error naming phi-app", run.Result, run.Message)
	}
	wantDrillCondition(t, e.getDrill(t, d), v1alpha1.ConditionLastDrillPassed, metav1.ConditionFalse, v1alpha1.ReasonPolicyViolation,
		"phi-app", "billing-*")
	if note := e.WaitEvent(t, d, v1alpha1.ReasonPolicyViolation); !strings.Contains(note, "phi-app") {
		t.Errorf("PolicyViolation event says %q", note)
	}
}
