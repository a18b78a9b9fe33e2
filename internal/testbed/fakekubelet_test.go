package testbed

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestIsolated(t *testing.T) {
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	denyAll := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny"}, Spec: networkingv1.NetworkPolicySpec{PolicyTypes: both}}
	dns := denyAll
	dns.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))}}}}
	egressOnly := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "egress"}, Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}}
	allowWeb := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes: both, Ingress: []networkingv1.NetworkPolicyIngressRule{{}},
	}}
	otherPods := denyAll
	otherPods.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	web := map[string]string{"app": "web"}
	for _, tc := range []struct {
		name     string
		policies []networkingv1.NetworkPolicy
		want     bool
	}{
		{"deny all", []networkingv1.NetworkPolicy{denyAll}, true},
		{"deny all but DNS", []networkingv1.NetworkPolicy{dns}, true},
		{"no policy", nil, false},
		{"egress only", []networkingv1.NetworkPolicy{egressOnly}, false},
		{"another policy allows ingress", []networkingv1.NetworkPolicy{denyAll, allowWeb}, false},
		{"selects other pods", []networkingv1.NetworkPolicy{otherPods}, false},
	} {
		if got, why := Isolated(tc.policies, web); got != tc.want {
			t.Errorf("%s: isolated %v (%s), want %v", tc.name, got, why, tc.want)
		}
	}
}

// TestFakeKubelet runs a Job on the real API server in a namespace with a
// deny-all NetworkPolicy, a ResourceQuota and PodSecurity restricted (it
// completes), and in one without the policy (its pod is refused: the Job
// fails).
func TestFakeKubelet(t *testing.T) {
	cp := StartControlPlane(t)
	ctx := t.Context()
	c := cp.Client
	k := StartFakeKubelet(t, cp, map[string]string{"fake-kubelet": "yes"})
	job := func(ns string) *batchv1.Job {
		return &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "verify", Namespace: ns},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "verify"}},
				Spec: corev1.PodSpec{
					RestartPolicy:   corev1.RestartPolicyNever,
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name: "verify", Image: "registry.example/verify:1",
						Resources:       corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			}},
		}
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "isolated", Labels: map[string]string{"fake-kubelet": "yes", "pod-security.kubernetes.io/enforce": "restricted"}}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-all", Namespace: "isolated"}, Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "isolated"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2"), corev1.ResourceLimitsCPU: resource.MustParse("1")}}},
		job("isolated"),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "open", Labels: map[string]string{"fake-kubelet": "yes"}}},
		job("open"),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ignored"}},
		job("ignored"),
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	want := map[string]batchv1.JobConditionType{"isolated": batchv1.JobComplete, "open": batchv1.JobFailed}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for ns, cond := range want {
			j := &batchv1.Job{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "verify"}, j); err != nil {
				return false, err
			}
			if !slices.ContainsFunc(j.Status.Conditions, func(c batchv1.JobCondition) bool { return c.Type == cond && c.Status == corev1.ConditionTrue }) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("jobs did not end as expected: %v (runs %+v)", err, k.Runs())
	}
	runs := k.Runs()
	if len(runs) != 2 || !runs[0].Isolated || runs[0].Namespace != "isolated" || runs[1].Isolated || runs[1].Namespace != "open" {
		t.Errorf("runs %+v, want isolated/verify-fake isolated and open/verify-fake refused", runs)
	}
	j := &batchv1.Job{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ignored", Name: "verify"}, j); err != nil || j.Status.StartTime != nil {
		t.Errorf("a Job outside the kubelet's namespaces was started: %v %+v", err, j.Status)
	}
}
