package cli

import (
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestDrillRunRefusals runs `safekeep drill run` against a real API server
// with no controller: what it refuses, and a run that gets no verdict in
// time. Runs that the controller carries out are in the e2e tests.
func TestDrillRunRefusals(t *testing.T) {
	root := testbed.RepoRoot(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(root, "deploy", "crd")))
	ctx := t.Context()
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}); err != nil {
		t.Fatal(err)
	}
	drill := func(name string, suspend bool, ready *metav1.Condition) {
		t.Helper()
		d := &v1alpha1.RestoreDrill{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps"},
			Spec: v1alpha1.RestoreDrillSpec{
				Schedule: "0 4 * * 0", Suspend: suspend, BackupScheduleRef: corev1.LocalObjectReference{Name: "nightly"},
				IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "id"}, Staging: "staging",
			},
		}
		if err := cp.Client.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		if ready != nil {
			ready.LastTransitionTime = metav1.Now()
			meta.SetStatusCondition(&d.Status.Conditions, *ready)
			if err := cp.Client.Status().Update(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	drill("paused", true, nil)
	drill("broken", false, &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ReasonIdentityMissing, Message: "Secret apps/id (spec.identitySecretRef) not found"})
	drill("weekly", false, &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonScheduled, Message: "ok"})

	run := func(args ...string) result {
		t.Helper()
		return runCLI(t, ctx, append(args, "--kubeconfig", cp.Kubeconfig, "--poll-interval", "100ms")...)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no drill named", []string{"drill", "run"}, exitUsage, "want one RestoreDrill name"},
		{"bad name", []string{"drill", "run", "Not_A_Name", "-n", "apps"}, exitUsage, "invalid drill name"},
		{"not found", []string{"drill", "run", "nope", "-n", "apps"}, exitFailure, "RestoreDrill apps/nope not found"},
		{"suspended", []string{"drill", "run", "paused", "-n", "apps"}, exitFailure, "is suspended"},
		{"not Ready", []string{"drill", "run", "broken", "-n", "apps"}, exitFailure, "not Ready (IdentityMissing)"},
	} {
		t.Run(tt.name, func(t *testing.T) { checkOneLine(t, run(tt.args...), tt.code, tt.want) })
	}

	t.Run("no verdict before the timeout", func(t *testing.T) {
		r := run("drill", "run", "weekly", "-n", "apps", "--timeout", "1s")
		if r.code != exitFailure || !strings.Contains(r.err, "no verdict for run") || !strings.Contains(r.err, "asked for run") {
			t.Errorf("exit %d, stderr %q; want the timeout named", r.code, r.err)
		}
		d := &v1alpha1.RestoreDrill{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "weekly"}, d); err != nil {
			t.Fatal(err)
		}
		if _, ok := d.Annotations[v1alpha1.AnnotationRunNow]; !ok {
			t.Errorf("the drill was not annotated with %s", v1alpha1.AnnotationRunNow)
		}
	})
}
