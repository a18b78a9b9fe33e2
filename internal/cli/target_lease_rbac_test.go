package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestTargetReleaseUnreadableLease: on a real API server, a user whose
// RBAC lets it release an OffsiteTarget (read and patch it) but not read
// the controller's Lease is refused: 'safekeep target release' cannot
// tell whether the controller runs, says so in one line naming the Lease,
// the API server's refusal and the ways on (--controller-namespace,
// --ignore-lease), and releases nothing (the target keeps its
// finalizer). The same user with --ignore-lease releases it: the Lease
// was the only thing missing.
func TestTargetReleaseUnreadableLease(t *testing.T) {
	crlog.SetLogger(logr.Discard()) // envtest logs through controller-runtime's logger
	b := newBed(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(t), "deploy", "crd")))
	c := cp.Client
	ctx := t.Context()
	const ns, operator = "ops", "releaser"
	for _, name := range []string{ns, v1alpha1.DefaultControllerNamespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	// The operator may read and patch OffsiteTargets in ns, nothing else.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"offsitetargets"},
		Verbs: []string{"get", "list", "watch", "patch", "update"},
	}}}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: operator},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: operator}},
	}
	// The controller holds its Lease: a user who could read it would be
	// refused for that.
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: v1alpha1.DefaultControllerNamespace, Name: v1alpha1.ControllerLeaseName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("safekeep-controller-7d9f_5b1e"), LeaseDurationSeconds: ptr.To[int32](3600),
			RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	target := &v1alpha1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "offsite", Finalizers: []string{v1alpha1.FinalizerTargetAudit}},
		Spec: v1alpha1.OffsiteTargetSpec{
			S3:                  v1alpha1.S3Location{Endpoint: b.s3.Endpoint, Bucket: plainBucket, Prefix: "offsite"},
			Recipients:          []string{"age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsq5lq8c"},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: "safekeep-signing"},
		},
	}
	for _, o := range []client.Object{role, binding, lease, target} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, target); err != nil {
		t.Fatal(err)
	}
	kubeconfig := cp.ImpersonatingKubeconfig(t, ns, operator)
	release := func(args ...string) result {
		t.Helper()
		return b.run(t, append([]string{"target", "release", "offsite", "-n", ns, "--kubeconfig", kubeconfig}, args...)...)
	}

	r := release()
	msg := strings.TrimSpace(r.err)
	for _, want := range []string{
		"cannot tell whether the controller is running",
		"read the controller's Lease " + v1alpha1.DefaultControllerNamespace + "/" + v1alpha1.ControllerLeaseName,
		"forbidden", "--controller-namespace", "--ignore-lease", "OffsiteTarget " + ns + "/offsite",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("release with an unreadable Lease: stderr %q lacks %q", msg, want)
		}
	}
	if r.code != exitFailure || strings.Count(msg, "\n") != 0 || r.out != "" {
		t.Errorf("release with an unreadable Lease: exit %d, stdout %q, stderr %q; want exit 1, one line on stderr", r.code, r.out, r.err)
	}
	got := &v1alpha1.OffsiteTarget{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(target), got); err != nil {
		t.Fatalf("the target is gone after a refused release: %v", err)
	}
	if !controllerutil.ContainsFinalizer(got, v1alpha1.FinalizerTargetAudit) {
		t.Fatal("the refused release removed the finalizer")
	}

	// --ignore-lease: the operator's RBAC is enough for the rest.
	if r := release("--ignore-lease"); r.code != 0 {
		t.Fatalf("release --ignore-lease: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(target), got); !apierrors.IsNotFound(err) {
		t.Fatalf("the target is still there after release --ignore-lease: %v", err)
	}
}
