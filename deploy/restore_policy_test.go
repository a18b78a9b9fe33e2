package deploy

import (
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// asController is a client that impersonates the controller's
// ServiceAccount: the API server authorizes and admits its requests as
// that account's.
func asController(t *testing.T, cp *testbed.ControlPlane) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccount, Groups: testbed.ServiceAccountGroups(controllerNS)}
	sa, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

// testDrillRestores acts as the controller's ServiceAccount and checks the
// admission policy safekeep-drill-restores: a Velero Restore is admitted
// only when every namespace it writes to is one of the controller's own
// scratch namespaces (labelled, and with the reader role bound to it
// there), and RoleBindings only bind the reader role to the controller
// itself.
func testDrillRestores(t *testing.T, cp *testbed.ControlPlane, admin client.Client) {
	ctx := t.Context()
	cp.InstallCRDs(t, testbed.VeleroCRDPaths(t)...)
	sa := asController(t, cp)
	if err := testbed.AggregateClusterRole(ctx, admin, "safekeep-drill-reader"); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"safekeep.dev/scratch": "true", "safekeep.dev/drill": "safekeep-system.monthly", "safekeep.dev/drill-run": "2"}
	scratch := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "drill-monthly-2-phi", Labels: labels}}
	if err := sa.Create(ctx, scratch); err != nil {
		t.Fatalf("create a scratch namespace: %v", err)
	}
	// A labelled namespace where the reader role is not bound to the
	// controller (an admin made it): not the controller's scratch namespace.
	unbound := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "drill-monthly-2-unbound", Labels: labels}}
	for _, ns := range []string{"phi", "prod", unbound.Name} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if ns == unbound.Name {
			n = unbound
		}
		if err := admin.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	binding := func(ns string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "safekeep-drill-reader-", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "safekeep-drill-reader"},
			Subjects:   subjects,
		}
	}
	self := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: controllerNS, Name: "safekeep-controller"}
	other := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "phi", Name: "default"}
	user := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}
	if err := sa.Create(ctx, binding(scratch.Name, self)); err != nil {
		t.Fatalf("bind the reader role to itself in its scratch namespace: %v", err)
	}

	restore := func(name string, mutate func(*velerov1.RestoreSpec)) *velerov1.Restore {
		rs := &velerov1.Restore{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: veleroNS},
			Spec: velerov1.RestoreSpec{
				BackupName:         "drill-staged",
				IncludedNamespaces: []string{"phi"},
				NamespaceMapping:   map[string]string{"phi": scratch.Name},
			},
		}
		if mutate != nil {
			mutate(&rs.Spec)
		}
		return rs
	}
	// The policy and the new binding take effect asynchronously: wait
	// until a Restore into another namespace is refused by the policy and
	// one into the scratch namespace admitted.
	deadline := time.Now().Add(20 * time.Second)
	for {
		errOut := sa.Create(ctx, restore("probe", func(s *velerov1.RestoreSpec) { s.NamespaceMapping["phi"] = "prod" }), client.DryRunAll)
		errIn := sa.Create(ctx, restore("probe", nil), client.DryRunAll)
		if errOut != nil && strings.Contains(errOut.Error(), "safekeep-drill-restores") && errIn == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("policy not in force after 20s: into prod: %v; into the scratch namespace: %v", errOut, errIn)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, tt := range []struct {
		what string
		do   func() error
		want string // "" admitted; else a word of the refusal
	}{
		{"a Restore into its scratch namespace", func() error { return sa.Create(ctx, restore("into-scratch", nil)) }, ""},
		{"bind the reader role to itself again", func() error { return sa.Create(ctx, binding(scratch.Name, self)) }, ""},
		{"a Restore in place (no mapping)", func() error {
			return sa.Create(ctx, restore("in-place", func(s *velerov1.RestoreSpec) { s.NamespaceMapping = nil }))
		}, "map each one"},
		{"a Restore of every namespace", func() error {
			return sa.Create(ctx, restore("all", func(s *velerov1.RestoreSpec) { s.IncludedNamespaces = nil }))
		}, "name every namespace"},
		{"a Restore of \"*\"", func() error {
			return sa.Create(ctx, restore("star", func(s *velerov1.RestoreSpec) { s.IncludedNamespaces = []string{"*"} }))
		}, "no \"*\" or glob"},
		{"a Restore of a glob", func() error {
			return sa.Create(ctx, restore("glob", func(s *velerov1.RestoreSpec) {
				s.IncludedNamespaces = []string{"ph?"}
				s.NamespaceMapping = map[string]string{"ph?": scratch.Name}
			}))
		}, "no \"*\" or glob"},
		{"a Restore into an application namespace", func() error {
			return sa.Create(ctx, restore("into-prod", func(s *velerov1.RestoreSpec) { s.NamespaceMapping["phi"] = "prod" }))
		}, "writes to prod"},
		{"a Restore into a namespace that does not exist", func() error {
			return sa.Create(ctx, restore("into-new", func(s *velerov1.RestoreSpec) { s.NamespaceMapping["phi"] = "brand-new" }))
		}, "writes to brand-new"},
		{"a Restore into a labelled namespace it is not bound in", func() error {
			return sa.Create(ctx, restore("into-unbound", func(s *velerov1.RestoreSpec) { s.NamespaceMapping["phi"] = unbound.Name }))
		}, "writes to " + unbound.Name},
		{"a Restore writing one namespace of two outside", func() error {
			return sa.Create(ctx, restore("half", func(s *velerov1.RestoreSpec) {
				s.IncludedNamespaces = []string{"phi", "billing"}
				s.NamespaceMapping["billing"] = "prod"
			}))
		}, "writes to drill-monthly-2-phi, prod"},
		{"a Restore of cluster-wide resources", func() error {
			return sa.Create(ctx, restore("cluster", func(s *velerov1.RestoreSpec) { s.IncludeClusterResources = ptr.To(true) }))
		}, "includeClusterResources"},
		{"bind the reader role to another ServiceAccount", func() error { return sa.Create(ctx, binding(scratch.Name, other)) }, "its own ServiceAccount"},
		{"bind the reader role to a user", func() error { return sa.Create(ctx, binding(scratch.Name, user)) }, "its own ServiceAccount"},
		{"bind the reader role to itself and another", func() error { return sa.Create(ctx, binding(scratch.Name, self, other)) }, "its own ServiceAccount"},
	} {
		err := tt.do()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want it admitted", tt.what, err)
		case tt.want == "":
		case err == nil || !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
			t.Errorf("%s: %v, want a refusal", tt.what, err)
		case !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: refused with %q, want it to say %q", tt.what, err, tt.want)
		default:
			t.Logf("%s: refused: %v", tt.what, err)
		}
	}

	// The policy binds only the controller: an administrator may restore
	// anywhere (the control that the refusals above are the policy's).
	if err := admin.Create(ctx, restore("admin-into-prod", func(s *velerov1.RestoreSpec) { s.NamespaceMapping["phi"] = "prod" })); err != nil {
		t.Errorf("an administrator's Restore into prod: %v, want it admitted", err)
	}
}
