package controller

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const veleroNS = "velero"

// scheduleEnv is a control plane with Safekeep's and Velero's CRDs, the
// Velero namespace, a real event recorder, and a clock the test moves.
// Tests drive Reconcile by hand: no manager, every read goes to the API
// server.
type scheduleEnv struct {
	cp    *testbed.ControlPlane
	clock *clocktesting.FakeClock
	rec   events.EventRecorder
	nsSeq atomic.Int32
}

func newScheduleEnv(t *testing.T, start time.Time) *scheduleEnv {
	t.Helper()
	root := testbed.RepoRoot(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(root, "deploy", "crd")))
	cp.InstallCRDs(t, veleroCRDs(t, root)...)
	ctx := t.Context()
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: veleroNS}}); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	return &scheduleEnv{cp: cp, clock: clocktesting.NewFakeClock(start), rec: b.NewRecorder(cp.Scheme, "safekeep-test")}
}

// veleroCRDs returns Velero's CRD folders from the module cache (as
// testbed.StartVelero installs them).
func veleroCRDs(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Dir}}", "github.com/vmware-tanzu/velero")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("find the velero module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	return []string{filepath.Join(dir, "config", "crd", "v1", "bases")}
}

// reconciler returns a new reconciler (as after a controller restart).
func (e *scheduleEnv) reconciler(opts BackupScheduleOptions) *BackupScheduleReconciler {
	opts.Clock = e.clock
	if opts.VeleroNamespace == "" {
		opts.VeleroNamespace = veleroNS
	}
	return NewBackupScheduleReconciler(e.cp.Client, e.cp.Client, e.cp.Scheme, e.rec, opts)
}

// namespace creates a fresh namespace for one test.
func (e *scheduleEnv) namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d", e.nsSeq.Add(1))
	if err := e.cp.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// readyTarget creates an OffsiteTarget and marks it Ready, as its own
// reconciler would once its checks pass.
func (e *scheduleEnv) readyTarget(t *testing.T, ns, name string, spec v1alpha1.OffsiteTargetSpec) *v1alpha1.OffsiteTarget {
	t.Helper()
	tgt := &v1alpha1.OffsiteTarget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if tgt.Spec.S3.Endpoint == "" {
		tgt.Spec.S3 = v1alpha1.S3Location{Endpoint: "http://127.0.0.1:1", Bucket: "offsite"}
		tgt.Spec.Recipients = []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
		tgt.Spec.SigningKeySecretRef = corev1.LocalObjectReference{Name: "signing"}
	}
	if err := e.cp.Client.Create(t.Context(), tgt); err != nil {
		t.Fatal(err)
	}
	e.setTargetReady(t, tgt, metav1.ConditionTrue, v1alpha1.ReasonVerified, "all checks passed")
	return tgt
}

// setTargetReady sets the target's Ready condition.
func (e *scheduleEnv) setTargetReady(t *testing.T, tgt *v1alpha1.OffsiteTarget, status metav1.ConditionStatus, reason, msg string) {
	t.Helper()
	meta.SetStatusCondition(&tgt.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: tgt.Generation,
	})
	if err := e.cp.Client.Status().Update(t.Context(), tgt); err != nil {
		t.Fatal(err)
	}
}

// schedule creates a BackupSchedule; last, when set, is written as its
// status.lastScheduleTime (the time it last ran).
func (e *scheduleEnv) schedule(t *testing.T, ns, name string, spec v1alpha1.BackupScheduleSpec, last time.Time) *v1alpha1.BackupSchedule {
	t.Helper()
	if spec.OffsiteTargetRef.Name == "" {
		spec.OffsiteTargetRef.Name = "offsite"
	}
	s := &v1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if err := e.cp.Client.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if !last.IsZero() {
		s.Status.LastScheduleTime = &metav1.Time{Time: last}
		if err := e.cp.Client.Status().Update(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// reconcile runs one reconcile of s and fails the test on an error.
func (e *scheduleEnv) reconcile(t *testing.T, r *BackupScheduleReconciler, s *v1alpha1.BackupSchedule) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(s)})
	if err != nil {
		t.Fatalf("reconcile %s: %v", s.Name, err)
	}
	return res
}

// get reads s afresh.
func (e *scheduleEnv) get(t *testing.T, s *v1alpha1.BackupSchedule) *v1alpha1.BackupSchedule {
	t.Helper()
	out := &v1alpha1.BackupSchedule{}
	if err := e.cp.Client.Get(t.Context(), client.ObjectKeyFromObject(s), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// backups lists the Velero Backups of s.
func (e *scheduleEnv) backups(t *testing.T, s *v1alpha1.BackupSchedule) []velerov1.Backup {
	t.Helper()
	var list velerov1.BackupList
	err := e.cp.Client.List(t.Context(), &list, client.InNamespace(veleroNS),
		client.MatchingLabels{LabelSchedule: ScheduleLabelValue(s.Namespace, s.Name)})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// setPhase sets a Velero Backup's status.phase, as the Velero server would
// (Backup has no status subresource: a plain update).
func (e *scheduleEnv) setPhase(t *testing.T, name string, phase velerov1.BackupPhase, mutate func(*velerov1.BackupStatus)) {
	t.Helper()
	b := &velerov1.Backup{}
	if err := e.cp.Client.Get(t.Context(), client.ObjectKey{Namespace: veleroNS, Name: name}, b); err != nil {
		t.Fatal(err)
	}
	b.Status.Phase = phase
	if mutate != nil {
		mutate(&b.Status)
	}
	if err := e.cp.Client.Update(t.Context(), b); err != nil {
		t.Fatal(err)
	}
}

// condition returns s's condition of condType, failing the test when absent.
func condition(t *testing.T, s *v1alpha1.BackupSchedule, condType string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(s.Status.Conditions, condType)
	if c == nil {
		t.Fatalf("%s has no %s condition; conditions: %+v", s.Name, condType, s.Status.Conditions)
	}
	return *c
}

// wantCondition checks a condition's status and reason, and that its
// message holds each of words.
func wantCondition(t *testing.T, s *v1alpha1.BackupSchedule, condType string, status metav1.ConditionStatus, reason string, words ...string) {
	t.Helper()
	c := condition(t, s, condType)
	if c.Status != status || c.Reason != reason {
		t.Errorf("%s %s = %s/%s (%q), want %s/%s", s.Name, condType, c.Status, c.Reason, c.Message, status, reason)
	}
	for _, w := range words {
		if !strings.Contains(c.Message, w) {
			t.Errorf("%s %s message %q lacks %q", s.Name, condType, c.Message, w)
		}
	}
}

// waitEvent waits (at most 10 s) for an Event with reason on s and returns
// its note.
func (e *scheduleEnv) waitEvent(t *testing.T, s *v1alpha1.BackupSchedule, reason string) string {
	t.Helper()
	var note string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var list eventsv1.EventList
		if err := e.cp.Client.List(ctx, &list, client.InNamespace(s.Namespace)); err != nil {
			return false, err
		}
		for _, ev := range list.Items {
			if ev.Regarding.Name == s.Name && ev.Reason == reason {
				note = ev.Note
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s event on %s: %v", reason, s.Name, err)
	}
	return note
}

// at parses an RFC 3339 time.
func at(t *testing.T, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// waitWake waits (at most 2 minutes) for r's job on s to end.
func waitWake(t *testing.T, r *BackupScheduleReconciler, s *v1alpha1.BackupSchedule) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case ev := <-r.Wakeups():
			if ev.Object.Name == s.Name && ev.Object.Namespace == s.Namespace {
				return
			}
		case <-timeout:
			t.Fatalf("the job of %s did not end within 2 minutes", s.Name)
		case <-t.Context().Done():
			t.Fatal(errors.New("test context ended"))
		}
	}
}
