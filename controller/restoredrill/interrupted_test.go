package restoredrill

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// A run whose controller stopped mid-run is recorded as interrupted by the
// next one, in status and in the drilled target's audit log (VersityGW),
// once: a controller that stopped after writing the entry but before the
// status said so writes no second entry.
func TestRestoreDrillInterruptedIsAudited(t *testing.T) {
	e, ns, d, run, stop := auditedMidRun(t)
	stop()
	active := e.getDrill(t, d).Status.Active
	if active == nil || active.ID != run {
		t.Fatalf("after the stop the run is not active: %+v", active)
	}

	// The next controller (another process: its own Auditor).
	e.audit = auditlog.New("", e.Rec)
	stop = e.startController(t, passingRun, 0)
	got := waitInterrupted(t, e, d, run)
	st := sealtest.OpenStore(t, e.s3.Config("offsite", "audited/safekeep/v1"))
	subject := ns + "/weekly/" + run
	entry := audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindFailure, subject, `"reason":"`+v1alpha1.ReasonDrillInterrupted+`"`)
	if a := got.Status.LastRun.AuditEntry; a == nil || a.Seq != int64(entry.Seq) || a.Hash != entry.Hash { //nolint:gosec // small seq
		t.Errorf("the interrupted run's audit entry in status is %+v, want seq %d", a, entry.Seq)
	}
	stop()

	// A controller that stopped after the entry and before the status
	// patch: the run is active again for the next one, which writes no
	// second entry.
	got.Status.Active = active
	got.Status.LastRun, got.Status.History = nil, nil
	if err := e.CP.Client.Status().Update(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	e.audit = auditlog.New("", e.Rec)
	e.startController(t, passingRun, 0)
	waitInterrupted(t, e, d, run)
	n := 0
	for en, err := range audit.Read(t.Context(), st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if en.Kind == audit.KindFailure && en.Subject == subject {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d entries record the interrupted run, want 1", n)
	}
}

// waitInterrupted waits until d records run as interrupted.
func waitInterrupted(t *testing.T, e *drillEnv, d *v1alpha1.RestoreDrill, run string) *v1alpha1.RestoreDrill {
	t.Helper()
	got := &v1alpha1.RestoreDrill{}
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := e.CP.Client.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
			return false, err
		}
		l := got.Status.LastRun
		return got.Status.Active == nil && l != nil && l.ID == run, nil
	})
	if err != nil {
		t.Fatalf("run %s not recorded as interrupted: %v (%+v)", run, err, got.Status)
	}
	wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionFalse, v1alpha1.ReasonDrillInterrupted)
	return got
}
