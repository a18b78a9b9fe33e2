package restoredrill

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// A drill deleted while a run is in flight leaves an entry in the audit
// log of the drilled target (VersityGW): the run has no verdict, and who
// deleted it is not known to the API, which the entry says.
func TestRestoreDrillDeletedMidRunIsAudited(t *testing.T) {
	e, ns, d, run, _ := auditedMidRun(t)
	if err := e.CP.Client.Delete(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := e.CP.Client.Get(ctx, client.ObjectKeyFromObject(d), &v1alpha1.RestoreDrill{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("the drill deleted mid-run is still there: %v", err)
	}

	st := sealtest.OpenStore(t, e.s3.Config("offsite", "audited/safekeep/v1"))
	entry := audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindFailure, ns+"/weekly/"+run, `"reason":"`+v1alpha1.ReasonDrillDeleted+`"`)
	var det audit.FailureDetails
	if err := json.Unmarshal(entry.Details, &det); err != nil {
		t.Fatal(err)
	}
	if det.Operation != "drill" || det.Schedule != "nightly" || det.Backup == "" ||
		!strings.Contains(det.Message, "deleted while run "+run) || !strings.Contains(det.Message, "Deleted by: unknown: the API does not record who deletes") {
		t.Errorf("the deletion entry: %+v", det)
	}
}

// auditedMidRun starts a controller whose drills' audit log is written
// (target offsite) and whose runs block until canceled (the drill is
// deleted, the controller stops), asks drill weekly for a run, and returns
// once it is in flight.
func auditedMidRun(t *testing.T) (e *drillEnv, ns string, d *v1alpha1.RestoreDrill, run string, stop func()) {
	t.Helper()
	return auditedMidRunOf(t, nil)
}

// auditedMidRunOf is auditedMidRun of a drill whose spec mutate changes.
func auditedMidRunOf(t *testing.T, mutate func(*v1alpha1.RestoreDrillSpec)) (e *drillEnv, ns string, d *v1alpha1.RestoreDrill, run string, stop func()) {
	t.Helper()
	e = newDrillEnv(t, day0)
	ns = e.Namespace(t)
	e.fixtures(t, ns, -3)
	e.auditedTarget(t, ns, "offsite")
	e.audit = auditlog.New("", e.Rec)
	midRun := make(chan string, 1)
	stop = e.startController(t, func(ctx context.Context, spec drillRunSpec) *drillJobResult {
		midRun <- spec.active.ID
		<-ctx.Done()
		return newRunResult(spec)
	}, 0)
	d = e.drill(t, ns, "weekly", mutate)
	run = e.runNowMidRun(t, d, midRun)
	return e, ns, d, run, stop
}

// auditedTarget points the OffsiteTarget ns/name at a bucket of the test's
// S3 server with real credentials and a signing key, so that its audit log
// can be written and read.
func (e *drillEnv) auditedTarget(t *testing.T, ns, name string) {
	t.Helper()
	ctx := t.Context()
	e.s3.CreateBucket(t, "offsite", false)
	e.TargetSecrets(t, ns, "offsite-creds", "signing", e.s3, sealtest.NewSigner(t))
	tgt := &v1alpha1.OffsiteTarget{}
	if err := e.CP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tgt); err != nil {
		t.Fatal(err)
	}
	tgt.Spec.S3 = v1alpha1.S3Location{Endpoint: e.s3.Endpoint, Bucket: "offsite", Prefix: "audited",
		CredentialsSecretRef: &corev1.LocalObjectReference{Name: "offsite-creds"}}
	tgt.Spec.SigningKeySecretRef = corev1.LocalObjectReference{Name: "signing"}
	if err := e.CP.Client.Update(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	e.SetTargetReady(t, tgt, metav1.ConditionTrue, v1alpha1.ReasonVerified, "all checks passed")
}

// runNowMidRun asks for a run of d now and returns its ID once the run's
// job says (on midRun) that it is in flight.
func (e *drillEnv) runNowMidRun(t *testing.T, d *v1alpha1.RestoreDrill, midRun <-chan string) string {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json",
		fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.AnnotationRunNow, day0.Format(time.RFC3339)))
	if err := e.CP.Client.Patch(t.Context(), d, patch); err != nil {
		t.Fatal(err)
	}
	select {
	case run := <-midRun:
		return run
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not start")
	}
	return ""
}
