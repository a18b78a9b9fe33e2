package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestTargetReleaseLease: on a real API server, 'safekeep target release'
// refuses while the controller's leader-election Lease is held (renewed
// less than its duration ago), in the default namespace and in the one
// --controller-namespace names, saying who holds it and how to go on; the
// target keeps its finalizer. --ignore-lease releases anyway, saying so. A
// Lease that expired (its holder stopped without releasing it) or that was
// released on shutdown (no holder) does not stop a release.
func TestTargetReleaseLease(t *testing.T) {
	crlog.SetLogger(logr.Discard()) // envtest logs through controller-runtime's logger
	b := newBed(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(t), "deploy", "crd")))
	c := cp.Client
	ctx := t.Context()
	const ns, elsewhere = "ops", "ctl-elsewhere"
	for _, name := range []string{ns, v1alpha1.DefaultControllerNamespace, elsewhere} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	// deleted creates a target never recorded in a log (no entry to write:
	// only the Lease decides), holding the finalizer, and deletes it.
	deleted := func(name string) *v1alpha1.OffsiteTarget {
		t.Helper()
		o := &v1alpha1.OffsiteTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: []string{v1alpha1.FinalizerTargetAudit}},
			Spec: v1alpha1.OffsiteTargetSpec{
				S3:                  v1alpha1.S3Location{Endpoint: b.s3.Endpoint, Bucket: plainBucket, Prefix: name},
				Recipients:          []string{"age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsq5lq8c"},
				SigningKeySecretRef: corev1.LocalObjectReference{Name: "safekeep-signing"},
			},
		}
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	present := func(o *v1alpha1.OffsiteTarget) bool {
		t.Helper()
		err := c.Get(ctx, client.ObjectKeyFromObject(o), &v1alpha1.OffsiteTarget{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	release := func(name string, args ...string) result {
		t.Helper()
		return b.run(t, append([]string{"target", "release", name, "-n", ns, "--kubeconfig", cp.Kubeconfig}, args...)...)
	}
	// setLease writes the Lease in leaseNS as a replica named holder would,
	// last renewed at renewed, for 15 s (controller-runtime's default).
	setLease := func(leaseNS, holder string, renewed time.Time) {
		t.Helper()
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: leaseNS, Name: v1alpha1.ControllerLeaseName}}
		err := c.Get(ctx, client.ObjectKeyFromObject(l), l)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		l.Spec = coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(holder),
			LeaseDurationSeconds: ptr.To[int32](15),
			AcquireTime:          &metav1.MicroTime{Time: renewed.Add(-time.Hour)},
			RenewTime:            &metav1.MicroTime{Time: renewed},
		}
		if apierrors.IsNotFound(err) {
			err = c.Create(ctx, l)
		} else {
			err = c.Update(ctx, l)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	const holder = "safekeep-controller-7d9f_5b1e"

	setLease(v1alpha1.DefaultControllerNamespace, holder, time.Now())
	held := deleted("held")
	r := release("held")
	if r.code != exitFailure || !strings.Contains(r.err, "the controller is running: "+holder+" holds the Lease "+v1alpha1.DefaultControllerNamespace+"/") ||
		!strings.Contains(r.err, "--ignore-lease") || strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		t.Fatalf("release while the Lease is held: exit %d %q, want 1, one line naming the holder and --ignore-lease", r.code, r.err)
	}
	if !present(held) {
		t.Fatal("the target went although the controller holds its Lease")
	}

	// The Lease in another namespace, named by --controller-namespace.
	setLease(elsewhere, holder, time.Now())
	setLease(v1alpha1.DefaultControllerNamespace, "", time.Now()) // released on shutdown
	if r := release("held", "--controller-namespace", elsewhere); r.code != exitFailure || !strings.Contains(r.err, "holds the Lease "+elsewhere+"/") {
		t.Fatalf("release while the Lease in %s is held: exit %d %q, want 1", elsewhere, r.code, r.err)
	}
	if !present(held) {
		t.Fatal("the target went although the controller holds its Lease")
	}
	// Released Lease in the default namespace: the release goes on.
	if r := release("held"); r.code != 0 || !strings.Contains(r.out, "released") && !strings.Contains(r.out, "never recorded") {
		t.Fatalf("release with the Lease released: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if present(held) {
		t.Fatal("the target is still there after a release with the Lease released")
	}

	// Expired: renewed 20 s ago for 15 s (its holder was killed).
	setLease(v1alpha1.DefaultControllerNamespace, holder, time.Now().Add(-20*time.Second))
	expired := deleted("expired")
	if r := release("expired"); r.code != 0 {
		t.Fatalf("release with an expired Lease: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if present(expired) {
		t.Fatal("the target is still there after a release with an expired Lease")
	}

	// Held, and --ignore-lease: released, saying so.
	setLease(v1alpha1.DefaultControllerNamespace, holder, time.Now())
	forced := deleted("forced")
	if r := release("forced", "--ignore-lease"); r.code != 0 || !strings.Contains(r.err, holder+" holds its Lease; releasing OffsiteTarget ops/forced anyway (--ignore-lease)") {
		t.Fatalf("release --ignore-lease: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if present(forced) {
		t.Fatal("the target is still there after release --ignore-lease")
	}
}
