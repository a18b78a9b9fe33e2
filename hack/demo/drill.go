package main

import (
	"context"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	drillName    = "phi-app-weekly"
	drillStaging = "drill-staging" // bucket and BackupStorageLocation
)

// runDrill sets up a RestoreDrill of the schedule (a staging location, the
// drill identity in a Secret) and runs it now with `safekeep drill run`:
// the sealed backup is verified, decrypted, restored by Velero into a
// scratch namespace and checked, and the namespace is deleted.
func runDrill(r *runner, c client.Client, s3 *testbed.S3Server, velero *testbed.Velero, identityFile string) {
	s3.CreateBucket(r, drillStaging, false)
	velero.AddLocation(r, r.Context(), drillStaging, drillStaging, "")
	identity, err := os.ReadFile(identityFile)
	if err != nil {
		r.Fatalf("identity: %v", err)
	}
	create(r, c,
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "drill-identity", Namespace: ctlNamespace},
			Data:       map[string][]byte{"identity": identity},
		},
		&v1alpha1.RestoreDrill{
			ObjectMeta: metav1.ObjectMeta{Name: drillName, Namespace: ctlNamespace},
			Spec: v1alpha1.RestoreDrillSpec{
				Schedule:          "0 4 * * 0",
				BackupScheduleRef: corev1.LocalObjectReference{Name: scheduleName},
				IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"},
				Staging:           drillStaging,
				Checks:            v1alpha1.DrillChecks{MaxRTO: &v1alpha1.Duration{Duration: 5 * time.Minute}},
			},
		})
	poll(r, "the RestoreDrill to be Ready", time.Minute, func(ctx context.Context) (bool, error) {
		d := &v1alpha1.RestoreDrill{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: drillName}, d)
		return err == nil && meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady), err
	})
	safekeep(r, "drill", "run", drillName, "-n", ctlNamespace, "--timeout", "5m")
}
