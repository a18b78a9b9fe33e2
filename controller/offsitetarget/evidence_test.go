package offsitetarget_test

import (
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// When the bucket refuses audit writes (a proxy answers 403 to every PUT
// under audit/) and the API server refuses the outbox ConfigMap (an
// admission policy), the target-change entry of a new target is held only
// in memory: the OffsiteTarget says so with AuditEvidenceDurable False
// (InMemory), and the gauge counts it. Once the bucket takes writes again
// the next check writes it, once, and the condition turns True (Durable).
// Real API server and VersityGW.
func TestAuditEvidenceInMemory(t *testing.T) {
	b := startTargetBed(t)
	ctx := t.Context()
	refuseOutbox(t, b)
	proxy := testbed.StartFaultProxy(t, b.s3.Endpoint, testbed.FaultOptions{Seed: 1, Rules: []testbed.FaultRule{
		{Kind: testbed.FaultForbidden, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: "/audit/"},
	}})
	key := b.create(t, b.newTarget("held", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.Endpoint = proxy.Endpoint }))
	b.waitReady(t, key, v1alpha1.ReasonVerified)
	c := waitCondition(t, b, key, v1alpha1.ConditionAuditEvidenceDurable, metav1.ConditionFalse)
	if c.Reason != v1alpha1.ReasonInMemory || !strings.Contains(c.Message, "1 audit entries of this target are held only in the controller's memory") {
		t.Fatalf("AuditEvidenceDurable: %s: %s", c.Reason, c.Message)
	}
	b.checkNoSecret(t, "AuditEvidenceDurable message", c.Message)
	if g, _ := gatherMetric(t, "safekeep_audit_entries_in_memory", map[string]string{"namespace": key.Namespace, "target": key.Name}); g != 1 {
		t.Errorf("safekeep_audit_entries_in_memory = %v, want 1", g)
	}
	b.waitEvent(t, key, auditlog.ReasonAuditInMemory)

	proxy.SetRules()
	obj := &v1alpha1.OffsiteTarget{}
	if err := b.c.Get(ctx, key, obj); err != nil {
		t.Fatal(err)
	}
	obj.Annotations = map[string]string{"test/poke": "1"} // look again now
	if err := b.c.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	c = waitCondition(t, b, key, v1alpha1.ConditionAuditEvidenceDurable, metav1.ConditionTrue)
	if c.Reason != v1alpha1.ReasonDurable {
		t.Fatalf("AuditEvidenceDurable once written: %s: %s", c.Reason, c.Message)
	}
	if g, _ := gatherMetric(t, "safekeep_audit_entries_in_memory", map[string]string{"namespace": key.Namespace, "target": key.Name}); g != 0 {
		t.Errorf("safekeep_audit_entries_in_memory = %v once written, want 0", g)
	}
	st := sealtest.OpenStore(t, b.s3.Config("plain", "held/safekeep/v1"))
	e := audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindTargetChange, key.String(), `"change":"created"`)
	if e.Seq != 1 {
		t.Fatalf("the held entry is seq %d, want 1: written once, first", e.Seq)
	}
}

// refuseOutbox makes the API server refuse audit outbox ConfigMaps, for
// every user, with a ValidatingAdmissionPolicy, and waits until it does.
func refuseOutbox(t *testing.T, b *targetBed) {
	t.Helper()
	ctx := t.Context()
	deny := admissionv1.Deny
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-audit-outbox"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: new(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: "!has(object.metadata.labels) || !('" + v1alpha1.LabelAuditOutbox + "' in object.metadata.labels)",
				Message:    "audit outbox refused by test policy",
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-audit-outbox"},
		Spec:       admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name, ValidationActions: []admissionv1.ValidationAction{deny}},
	}
	for _, o := range []client.Object{policy, binding} {
		if err := b.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(targetWaitTimeout)
	for {
		probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: b.ns, Labels: map[string]string{v1alpha1.LabelAuditOutbox: "probe"}}}
		err := b.c.Create(ctx, probe)
		if err != nil && strings.Contains(err.Error(), "audit outbox refused") {
			return
		}
		if err == nil {
			_ = b.c.Delete(ctx, probe) // the policy is not in force yet; a leftover is harmless
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy did not come into force: %v", err)
		}
		time.Sleep(targetPollInterval)
	}
}
