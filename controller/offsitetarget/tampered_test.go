package offsitetarget_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// TestAuditTampered: on a versioned, object-locked VersityGW bucket an
// attacker hides the target's newest audit entry and its claim behind
// delete markers. The OffsiteTarget's next check says so: AuditTampered
// True naming both, a Warning Event, and the gauge
// safekeep_audit_tampered_objects at 2 (0 before), whose series goes when
// the target is deleted.
func TestAuditTampered(t *testing.T) {
	b := startTargetBed(t, testbed.S3Versioned())
	ctx := t.Context()
	key := b.create(t, b.newTarget("tampered", func(o *v1alpha1.OffsiteTarget) {
		o.Spec.S3.Bucket = "locked"
		o.Spec.ObjectLock = &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1}
	}))
	obj := waitAudited(t, b, key, 1)
	c := waitTampered(t, b, key, metav1.ConditionFalse)
	if c.Reason != v1alpha1.ReasonUntouched {
		t.Errorf("AuditTampered of an untouched log: %s %s", c.Reason, c.Message)
	}
	tamperedLabels := map[string]string{"namespace": key.Namespace, "target": key.Name}
	waitTamperedGauge(t, tamperedLabels, 0)
	st := sealtest.OpenStore(t, b.s3.Config("locked", "tampered/safekeep/v1"))
	entry := audit.EntryKey(1, obj.Status.AuditHead.Hash)
	sealtest.Hide(t, st, entry)
	sealtest.Hide(t, st, audit.ClaimKey(1))

	// Look again now (an annotation change starts a check).
	obj.Annotations = map[string]string{"test/poke": "1"}
	if err := b.c.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	c = waitTampered(t, b, key, metav1.ConditionTrue)
	if c.Reason != v1alpha1.ReasonAuditDeleteMarkers || !strings.Contains(c.Message, "2 object(s) under audit/") ||
		!strings.Contains(c.Message, "entry "+entry+": 1 delete marker(s), the newest current (hidden)") || !strings.Contains(c.Message, "claim "+audit.ClaimKey(1)) {
		t.Errorf("AuditTampered after hiding the head: %s: %s", c.Reason, c.Message)
	}
	ev := b.waitEvent(t, key, v1alpha1.ReasonAuditDeleteMarkers)
	if ev.Type != "Warning" || !strings.Contains(ev.Note, entry) {
		t.Errorf("Event %s %q, want a Warning naming %s", ev.Type, ev.Note, entry)
	}
	b.checkNoSecret(t, "AuditTampered message", c.Message)
	waitTamperedGauge(t, tamperedLabels, 2)

	if err := b.c.Delete(ctx, obj); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(targetWaitTimeout)
	for _, ok := gatherMetric(t, "safekeep_audit_tampered_objects", tamperedLabels); ok; _, ok = gatherMetric(t, "safekeep_audit_tampered_objects", tamperedLabels) {
		if time.Now().After(deadline) {
			t.Fatal("a deleted target's safekeep_audit_tampered_objects is still exported")
		}
		time.Sleep(targetPollInterval)
	}
}

// waitTamperedGauge waits until safekeep_audit_tampered_objects of labels
// is want (it is set just after the status patch).
func waitTamperedGauge(t *testing.T, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(targetWaitTimeout)
	for {
		got, ok := gatherMetric(t, "safekeep_audit_tampered_objects", labels)
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("safekeep_audit_tampered_objects = %v (exported %v), want %v", got, ok, want)
		}
		time.Sleep(targetPollInterval)
	}
}

// waitTampered waits until the target's AuditTampered condition has status.
func waitTampered(t *testing.T, b *targetBed, key client.ObjectKey, status metav1.ConditionStatus) metav1.Condition {
	t.Helper()
	return waitCondition(t, b, key, v1alpha1.ConditionAuditTampered, status)
}

// waitCondition waits until the target's condition of type typ has status.
func waitCondition(t *testing.T, b *targetBed, key client.ObjectKey, typ string, status metav1.ConditionStatus) metav1.Condition {
	t.Helper()
	deadline := time.Now().Add(targetWaitTimeout)
	for {
		obj := &v1alpha1.OffsiteTarget{}
		if err := b.c.Get(t.Context(), key, obj); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, typ)
		if c != nil && c.Status == status {
			return *c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %+v, want %s", typ, c, status)
		}
		time.Sleep(targetPollInterval)
	}
}
