package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	// leaseName is the Lease safekeep-controller replicas compete for.
	leaseName = "safekeep-controller.safekeep.dev"
	// leaderMetric is controller-runtime's gauge of leadership, per process.
	leaderMetric = `leader_election_master_status{name="` + leaseName + `"}`
)

// TestControllerReplicas runs two safekeep-controller processes with leader
// election, as the Deployment does: exactly one leads while both run; when
// the leader stops, the other takes the Lease and does the work.
func TestControllerReplicas(t *testing.T) {
	ctx := t.Context()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(root+"/deploy/crd"))
	cp.InstallCRDs(t, testbed.VeleroCRDPaths(t)...)
	c := cp.Client
	for _, ns := range []string{ctlNamespace, testbed.VeleroNamespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	bin := buildController(t, t.TempDir())
	args := []string{"--leader-elect", "--namespace", ctlNamespace}
	first := startController(t, bin, cp.Kubeconfig, args...)
	waitFor(t, "the first replica to lead", time.Minute, func(context.Context) (bool, error) {
		return leads(t, first), nil
	})
	holder := leaseHolder(t, c)
	second := startController(t, bin, cp.Kubeconfig, args...)

	// Both running for several renewals: the Lease does not move and the
	// second replica does not lead.
	for range 10 {
		if leads(t, second) || leaseHolder(t, c) != holder {
			t.Fatalf("the second replica took the Lease while the first still held it (holder %s)", leaseHolder(t, c))
		}
		time.Sleep(500 * time.Millisecond)
	}

	first.stop(t)
	waitFor(t, "the second replica to take over", time.Minute, func(context.Context) (bool, error) {
		return leads(t, second), nil
	})
	if h := leaseHolder(t, c); h == holder || h == "" {
		t.Fatalf("Lease holder after the handover = %q, want the second replica (was %q)", h, holder)
	}

	// The new leader reconciles: a target with a bad recipient gets its verdict.
	tgt := &v1alpha1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ctlNamespace, Name: "after-handover"},
		Spec: v1alpha1.OffsiteTargetSpec{
			S3:                  v1alpha1.S3Location{Endpoint: "http://127.0.0.1:1", Bucket: "offsite"},
			Recipients:          []string{"age1bogus"},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: "signing"},
		},
	}
	if err := c.Create(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new leader to reconcile the target", time.Minute, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(tgt), tgt); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(tgt.Status.Conditions, v1alpha1.ConditionReady)
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == v1alpha1.ReasonRecipientInvalid, nil
	})
}

// leads reports whether the process says it holds the Lease.
func leads(t *testing.T, p *controllerProcess) bool {
	t.Helper()
	for line := range strings.Lines(p.metrics(t)) {
		if strings.HasPrefix(line, leaderMetric) {
			return strings.TrimSpace(strings.TrimPrefix(line, leaderMetric)) == "1"
		}
	}
	return false
}

func leaseHolder(t *testing.T, c client.Client) string {
	t.Helper()
	lease := &coordinationv1.Lease{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ctlNamespace, Name: leaseName}, lease); err != nil {
		t.Fatalf("lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}
