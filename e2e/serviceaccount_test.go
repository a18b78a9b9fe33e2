package e2e

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// rbacKinds are the kinds of deploy/ that make up the controller's
// identity and rights: everything but the workload and its Service,
// budget and network policy (no kubelet runs them here).
var rbacKinds = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
	"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}

// asServiceAccount installs the shipped RBAC (deploy/, rendered by
// kubectl kustomize) into the bed and returns a kubeconfig that
// impersonates the controller's ServiceAccount: a controller run with it
// has only the rights a cluster install grants.
func asServiceAccount(t *testing.T, b *bed) string {
	t.Helper()
	ctx := t.Context()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	objs := testbed.Kustomize(t, root+"/deploy")
	c := b.cp.Client
	if err := client.IgnoreAlreadyExists(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ctlNamespace}})); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if !slices.Contains(rbacKinds, o.GetKind()) {
			continue
		}
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if err := testbed.AggregateClusterRole(ctx, c, "safekeep-drill-reader"); err != nil {
		t.Fatal(err)
	}
	kubeconfig := b.cp.ImpersonatingKubeconfig(t, ctlNamespace, "safekeep-controller")
	// The control: with this kubeconfig, reading Secrets outside the
	// controller's namespace is refused, so it is not the admin's.
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := client.New(cfg, client.Options{Scheme: b.cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.List(ctx, &corev1.SecretList{}, client.InNamespace("default")); !apierrors.IsForbidden(err) {
		t.Fatalf("as the ServiceAccount, listing Secrets in default: %v, want forbidden", err)
	}
	return kubeconfig
}
