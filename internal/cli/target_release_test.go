package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/target"
)

// TestTargetRelease: with no controller running (a real API server, real
// VersityGW), a deleted OffsiteTarget waits on its audit finalizer, as
// 'kubectl delete' does. 'safekeep target release' refuses a target that
// is not being deleted, and one whose deletion it cannot record; with a
// trusted restore key it writes the deletion entry the controller would
// have written and the target goes; --unrecorded lets a target whose
// Secrets are gone go without it; a target never recorded goes at once.
func TestTargetRelease(t *testing.T) {
	crlog.SetLogger(logr.Discard()) // envtest logs through controller-runtime's logger
	b := newBed(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(t), "deploy", "crd")))
	c := cp.Client
	ctx := t.Context()
	const ns = "ops"
	k := keygenStep(t, b)
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "offsite-credentials"},
			StringData: map[string]string{target.KeyAccessKeyID: b.s3.AccessKey, target.KeySecretAccessKey: b.s3.SecretKey}},
		&v1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
			Spec: v1alpha1.BackupScheduleSpec{Schedule: "0 2 * * *", OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// newTarget creates a target holding the finalizer, as the controller
	// leaves it, recorded in its log (status.audited) when audited.
	newTarget := func(name, creds string, audited bool) *v1alpha1.OffsiteTarget {
		t.Helper()
		o := &v1alpha1.OffsiteTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: []string{v1alpha1.FinalizerTargetAudit}},
			Spec: v1alpha1.OffsiteTargetSpec{
				S3: v1alpha1.S3Location{Endpoint: b.s3.Endpoint, Bucket: plainBucket, Prefix: name, Region: "us-east-1",
					CredentialsSecretRef: &corev1.LocalObjectReference{Name: creds}},
				Recipients:          []string{k.recipient},
				SigningKeySecretRef: corev1.LocalObjectReference{Name: "safekeep-signing"},
				SigningPublicKey:    k.verifyKey, // the restore key below is trusted for audit entries
			},
		}
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		if audited {
			o.Status.Audited = &v1alpha1.AuditedTarget{Endpoint: b.s3.Endpoint, Bucket: plainBucket, Prefix: name, Entry: 1}
			if err := c.Status().Update(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		return o
	}
	release := func(args ...string) result {
		t.Helper()
		return b.run(t, append([]string{"target", "release", "-n", ns, "--kubeconfig", cp.Kubeconfig}, args...)...)
	}
	// waiting wants obj still there, held by the finalizer; gone wants it gone.
	waiting := func(obj *v1alpha1.OffsiteTarget) {
		t.Helper()
		got := &v1alpha1.OffsiteTarget{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
			t.Fatalf("OffsiteTarget %s: %v, want it waiting on its finalizer", obj.Name, err)
		}
		if !slices.Contains(got.Finalizers, v1alpha1.FinalizerTargetAudit) {
			t.Fatalf("OffsiteTarget %s finalizers %v, want %s kept", obj.Name, got.Finalizers, v1alpha1.FinalizerTargetAudit)
		}
	}
	gone := func(obj *v1alpha1.OffsiteTarget) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), &v1alpha1.OffsiteTarget{}); !apierrors.IsNotFound(err) {
			t.Fatalf("OffsiteTarget %s: %v, want it deleted", obj.Name, err)
		}
	}
	del := func(obj *v1alpha1.OffsiteTarget) {
		t.Helper()
		if err := c.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
		waiting(obj) // what 'kubectl delete' waits on while the controller is down
	}

	offsite := newTarget("offsite", "offsite-credentials", true)
	if r := release("offsite"); r.code != exitFailure || !strings.Contains(r.err, "is not being deleted") {
		t.Fatalf("release of a live target: exit %d %q, want 1 and 'is not being deleted'", r.code, r.err)
	}
	waiting(offsite)
	del(offsite)
	r := release("offsite")
	if r.code != exitFailure || !strings.Contains(r.err, "cannot be recorded in its audit log: no restore key") || !strings.Contains(r.err, "--unrecorded") {
		t.Fatalf("release with no key: exit %d %q, want 1, the reason and --unrecorded", r.code, r.err)
	}
	waiting(offsite)
	out := b.ok(t, "target", "release", "offsite", "-n", ns, "--kubeconfig", cp.Kubeconfig, "--signing-key", k.signing)
	if !strings.Contains(out, "audit entry 1 recorded") || !strings.Contains(out, "released OffsiteTarget ops/offsite") {
		t.Errorf("release printed:\n%s", out)
	}
	gone(offsite)
	e := onlyEntry(t, b, "offsite")
	var det audit.TargetDetails
	if err := json.Unmarshal(e.Details, &det); err != nil {
		t.Fatal(err)
	}
	usr, host := whoAmI()
	if e.Kind != audit.KindTargetChange || e.Subject != "ops/offsite" || e.Actor != usr+"@"+host || e.Signature.KeyID != verifyKeyID(t, k.verifyKey) ||
		det.Change != "deleted" || !slices.Equal(det.UsedBy, []string{"nightly"}) || det.Bucket != plainBucket ||
		!strings.HasPrefix(det.ChangedBy, "unknown: the API does not record who deletes") {
		t.Errorf("the deletion entry: %+v, details %+v", e, det)
	}

	// Its credentials Secret went with it (as in a namespace's deletion).
	orphan := newTarget("orphan", "deleted-credentials", true)
	del(orphan)
	if r := release("orphan", "--signing-key", k.signing); r.code != exitFailure || !strings.Contains(r.err, "cannot be recorded") {
		t.Fatalf("release with no credentials: exit %d %q, want 1", r.code, r.err)
	}
	waiting(orphan)
	r = release("orphan", "--signing-key", k.signing, "--unrecorded")
	if r.code != 0 || !strings.Contains(r.err, noAuditEntry+" the deletion of OffsiteTarget ops/orphan") || !strings.Contains(r.out, "released") {
		t.Fatalf("release --unrecorded: exit %d\n%s%s", r.code, r.out, r.err)
	}
	gone(orphan)

	fresh := newTarget("fresh", "offsite-credentials", false)
	del(fresh)
	if out := b.ok(t, "target", "release", "fresh", "-n", ns, "--kubeconfig", cp.Kubeconfig); !strings.Contains(out, "never recorded") {
		t.Errorf("release of a target never recorded printed:\n%s", out)
	}
	gone(fresh)

	if r := release("nope"); r.code != exitFailure || !strings.Contains(r.err, "OffsiteTarget ops/nope not found") {
		t.Errorf("release of a missing target: exit %d %q", r.code, r.err)
	}
	if r := release(); r.code != exitUsage {
		t.Errorf("release with no name: exit %d, want %d", r.code, exitUsage)
	}
}

// onlyEntry reads the one entry of the audit log under prefix in the plain
// bucket.
func onlyEntry(t *testing.T, b *bed, prefix string) *audit.Entry {
	t.Helper()
	st, err := openStore(t.Context(), b.s3.Config(plainBucket, prefix+"/safekeep/v1"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []*audit.Entry
	for e, err := range audit.Read(t.Context(), st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if len(entries) != 1 {
		t.Fatalf("%d audit entries under %s, want 1", len(entries), prefix)
	}
	return entries[0]
}
