package drill

import (
	"context"
	"errors"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestCleanupWaitsForRunningRestore: cleanup deletes nothing of a run
// while Velero still runs its Restore (Velero would go on, create the
// deleted scratch namespace again without the drill's labels and restore
// into it); once the Restore has ended it deletes the Restore and the
// namespace. A Restore that does not end in time leaves everything for a
// later cleanup, saying why. Real API server with Velero's CRDs.
func TestCleanupWaitsForRunningRestore(t *testing.T) {
	ctx := t.Context()
	c := testbed.StartControlPlane(t, testbed.WithCRDs(testbed.VeleroCRDPaths(t)...)).Client
	labels := map[string]string{"safekeep.dev/drill-run": "r1"}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "velero"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "drill-r1-phi", Labels: map[string]string{LabelScratch: "true", "safekeep.dev/drill-run": "r1"}}},
		&velerov1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "drill-r1", Namespace: "velero", Labels: map[string]string{LabelStaged: "true"}},
			Status: velerov1.RestoreStatus{Phase: velerov1.RestorePhaseInProgress}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	opts := CleanupOptions{Client: c, Restore: "drill-r1", Labels: labels}
	deleted := func() (ns, restore bool) {
		t.Helper()
		n := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: "drill-r1-phi"}, n); err != nil {
			t.Fatal(err)
		}
		err := c.Get(ctx, client.ObjectKey{Namespace: "velero", Name: "drill-r1"}, &velerov1.Restore{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return !n.DeletionTimestamp.IsZero(), err != nil
	}

	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := Cleanup(short, opts); !errors.Is(err, ErrRestoreRunning) {
		t.Fatalf("cleanup while the Restore runs: %v, want ErrRestoreRunning", err)
	}
	if ns, rs := deleted(); ns || rs {
		t.Fatalf("cleanup deleted (namespace %v, restore %v) while Velero ran the Restore", ns, rs)
	}

	done := make(chan error, 1)
	go func() { done <- Cleanup(ctx, opts) }()
	time.Sleep(time.Second)
	if ns, rs := deleted(); ns || rs {
		t.Fatalf("cleanup deleted (namespace %v, restore %v) while Velero ran the Restore", ns, rs)
	}
	rs := &velerov1.Restore{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "velero", Name: "drill-r1"}, rs); err != nil {
		t.Fatal(err)
	}
	rs.Status.Phase = velerov1.RestorePhaseCompleted // no status subresource
	if err := c.Update(ctx, rs); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cleanup did not end after the Restore did")
	}
	if ns, rs := deleted(); !ns || !rs {
		t.Errorf("after the Restore ended: namespace deleted %v, restore deleted %v, want both", ns, rs)
	}
}
