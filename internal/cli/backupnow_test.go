package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/backupschedule"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestBackupNow runs `safekeep backup now` against a real API server with
// the BackupSchedule reconciler running in-process (no Velero server: the
// test sets the Velero Backup's phase, as Velero would). The successful,
// sealed path runs in the e2e tests.
func TestBackupNow(t *testing.T) {
	root := testbed.RepoRoot(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(root, "deploy", "crd")))
	cp.InstallCRDs(t, testbed.VeleroV1CRDPath(t))
	ctx := t.Context()
	for _, ns := range []string{"velero", "apps"} {
		if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	// Velero's default location: a schedule whose location does not exist
	// is not Ready.
	bsl := &velerov1.BackupStorageLocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: "default"},
		Spec: velerov1.BackupStorageLocationSpec{Provider: "aws", Default: true,
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "velero"}}},
	}
	if err := cp.Client.Create(ctx, bsl); err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{Scheme: cp.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := backupschedule.Setup(mgr, backupschedule.Options{SkipNameValidation: true}); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	tgt := &v1alpha1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Name: "offsite", Namespace: "apps"},
		Spec: v1alpha1.OffsiteTargetSpec{
			S3:                  v1alpha1.S3Location{Endpoint: "http://127.0.0.1:1", Bucket: "offsite"},
			Recipients:          []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: "signing"},
		},
	}
	if err := cp.Client.Create(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&tgt.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonVerified, Message: "ok"})
	if err := cp.Client.Status().Update(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	schedule := func(name, target string, suspend bool) {
		t.Helper()
		s := &v1alpha1.BackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps"},
			Spec: v1alpha1.BackupScheduleSpec{Schedule: "0 0 1 1 *", Suspend: suspend,
				OffsiteTargetRef: corev1.LocalObjectReference{Name: target}},
		}
		if err := cp.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		// Wait for the controller's first look.
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			err := cp.Client.Get(ctx, client.ObjectKeyFromObject(s), s)
			return err == nil && meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady) != nil, err
		})
		if err != nil {
			t.Fatalf("the controller did not reconcile %s: %v", name, err)
		}
	}
	schedule("yearly", "offsite", false)
	schedule("paused", "offsite", true)
	schedule("orphan", "missing", false)

	run := func(args ...string) result {
		t.Helper()
		return runCLI(t, ctx, append(args, "--kubeconfig", cp.Kubeconfig, "--poll-interval", "100ms")...)
	}
	lastLine := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return lines[len(lines)-1]
	}

	tests := []struct {
		name string
		args []string
		code int
		want string // in the last line of stderr
	}{
		{"no schedule named", []string{"backup", "now"}, exitUsage, "want one BackupSchedule name"},
		{"bad name", []string{"backup", "now", "Not_A_Name", "-n", "apps"}, exitUsage, "invalid schedule name"},
		{"not found", []string{"backup", "now", "nope", "-n", "apps"}, exitFailure, "BackupSchedule apps/nope not found"},
		{"suspended", []string{"backup", "now", "paused", "-n", "apps"}, exitFailure, "is suspended"},
		{"target missing", []string{"backup", "now", "orphan", "-n", "apps"}, exitFailure, "not Ready (TargetNotFound)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(tt.args...)
			if r.code != tt.code || !strings.Contains(lastLine(r.err), tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.err, tt.code, tt.want)
			}
		})
	}

	t.Run("no-wait asks and returns the Velero backup's name", func(t *testing.T) {
		r := run("backup", "now", "yearly", "-n", "apps", "--no-wait")
		name := strings.TrimSpace(r.out)
		if r.code != 0 || !strings.HasPrefix(name, "apps.yearly-") || !strings.HasSuffix(name, "-manual") {
			t.Fatalf("exit %d, stdout %q", r.code, r.out)
		}
		b := &velerov1.Backup{}
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			return cp.Client.Get(ctx, client.ObjectKey{Namespace: "velero", Name: name}, b) == nil, nil
		})
		if err != nil {
			t.Fatalf("the controller made no Velero backup %s: %v", name, err)
		}
		b.Status.Phase = velerov1.BackupPhaseFailed
		if err := cp.Client.Update(ctx, b); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("waits and reports a failed run", func(t *testing.T) {
		// The previous run is still being ended by the controller; this one
		// waits for it, then Velero reports PartiallyFailed.
		go func() {
			_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				var list velerov1.BackupList
				if err := cp.Client.List(ctx, &list, client.InNamespace("velero")); err != nil {
					return false, nil
				}
				for _, b := range list.Items {
					if b.Status.Phase == "" {
						b.Status.Phase = velerov1.BackupPhasePartiallyFailed
						b.Status.Errors = 3
						return cp.Client.Update(ctx, &b) == nil, nil
					}
				}
				return false, nil
			})
		}()
		time.Sleep(1100 * time.Millisecond) // a new second: a new run name
		r := run("backup", "now", "yearly", "-n", "apps", "--timeout", "1m")
		if r.code != exitFailure || !strings.Contains(lastLine(r.err), "PartiallyFailed") || !strings.Contains(lastLine(r.err), "3 errors") {
			t.Errorf("exit %d, stderr %q; want a failure naming PartiallyFailed and 3 errors", r.code, r.err)
		}
		if !strings.Contains(r.err, "asked for a run") {
			t.Errorf("no progress shown: %q", r.err)
		}
	})
}
