package testbed

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
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
