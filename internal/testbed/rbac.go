package testbed

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AggregateClusterRole does, once, what kube-controller-manager's
// ClusterRole aggregation controller does for the ClusterRole name: sets
// its rules to those of every ClusterRole its aggregationRule selects.
// envtest runs no controller manager, so an aggregated role stays empty.
func AggregateClusterRole(ctx context.Context, c client.Client, name string) error {
	var role rbacv1.ClusterRole
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &role); err != nil {
		return fmt.Errorf("aggregate %s: %w", name, err)
	}
	if role.AggregationRule == nil {
		return fmt.Errorf("aggregate %s: no aggregationRule", name)
	}
	var all rbacv1.ClusterRoleList
	if err := c.List(ctx, &all); err != nil {
		return fmt.Errorf("aggregate %s: %w", name, err)
	}
	role.Rules = nil
	for _, sel := range role.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			return fmt.Errorf("aggregate %s: %w", name, err)
		}
		for _, cr := range all.Items {
			if cr.Name != name && s.Matches(labels.Set(cr.Labels)) {
				role.Rules = append(role.Rules, cr.Rules...)
			}
		}
	}
	if len(role.Rules) == 0 {
		return fmt.Errorf("aggregate %s: no ClusterRole matches its aggregationRule", name)
	}
	if err := c.Update(ctx, &role); err != nil {
		return fmt.Errorf("aggregate %s: %w", name, err)
	}
	return nil
}

// ServiceAccountGroups are the groups a ServiceAccount's token carries.
func ServiceAccountGroups(namespace string) []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
}

// ImpersonatingKubeconfig writes, next to the control plane's kubeconfig, one
// that acts as the ServiceAccount namespace/name: the API server
// authorizes every request as that account, with only its RBAC.
func (cp *ControlPlane) ImpersonatingKubeconfig(tb TB, namespace, name string) string {
	tb.Helper()
	cfg, err := clientcmd.LoadFromFile(cp.Kubeconfig)
	if err != nil {
		tb.Fatalf("testbed: kubeconfig: %v", err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + namespace + ":" + name
		ai.ImpersonateGroups = ServiceAccountGroups(namespace)
	}
	path := cp.Kubeconfig + "." + namespace + "." + name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		tb.Fatalf("testbed: kubeconfig: %v", err)
	}
	return path
}
