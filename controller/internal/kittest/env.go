// Package kittest is the test bed of the reconcilers' envtest tests: a
// real API server with Safekeep's and Velero's CRDs, the Velero
// namespace, a real Event recorder and a clock the test moves.
package kittest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/target"
)

// VeleroNS is the Velero namespace of the test bed.
const VeleroNS = "velero"

// Env is a control plane with Safekeep's and Velero's CRDs, the
// Velero namespace, a real event recorder, and a clock the test moves.
type Env struct {
	CP    *testbed.ControlPlane
	Clock *clocktesting.FakeClock
	Rec   events.EventRecorder
	nsSeq atomic.Int32
}

func NewEnv(t *testing.T, start time.Time) *Env {
	t.Helper()
	root := testbed.RepoRoot(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(root, "deploy", "crd")))
	cp.InstallCRDs(t, testbed.VeleroV1CRDPath(t))
	ctx := t.Context()
	// Velero's namespace with its default location, and the namespace the
	// tests' schedules back up: a schedule naming what does not exist is
	// not Ready.
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: VeleroNS}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "phi-app"}},
		&velerov1.BackupStorageLocation{
			ObjectMeta: metav1.ObjectMeta{Namespace: VeleroNS, Name: "default"},
			Spec: velerov1.BackupStorageLocationSpec{Provider: "aws", Default: true,
				StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "velero"}}},
		},
	} {
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
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
	return &Env{CP: cp, Clock: clocktesting.NewFakeClock(start), Rec: b.NewRecorder(cp.Scheme, "safekeep-test")}
}

// Namespace creates a fresh namespace for one test.
func (e *Env) Namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d", e.nsSeq.Add(1))
	if err := e.CP.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// ReadyTarget creates an OffsiteTarget and marks it Ready, as its own
// reconciler would once its checks pass.
func (e *Env) ReadyTarget(t *testing.T, ns, name string, spec v1alpha1.OffsiteTargetSpec) *v1alpha1.OffsiteTarget {
	t.Helper()
	tgt := &v1alpha1.OffsiteTarget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if tgt.Spec.S3.Endpoint == "" {
		tgt.Spec.S3 = v1alpha1.S3Location{Endpoint: "http://127.0.0.1:1", Bucket: "offsite"}
		tgt.Spec.Recipients = []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
		tgt.Spec.SigningKeySecretRef = corev1.LocalObjectReference{Name: "signing"}
	}
	if err := e.CP.Client.Create(t.Context(), tgt); err != nil {
		t.Fatal(err)
	}
	e.SetTargetReady(t, tgt, metav1.ConditionTrue, v1alpha1.ReasonVerified, "all checks passed")
	return tgt
}

// TargetSecrets creates in ns (when not there yet) the Secrets an
// OffsiteTarget on s3 names: creds with the server's static keys and
// signing with key's PEM.
func (e *Env) TargetSecrets(t *testing.T, ns, creds, signing string, s3 *testbed.S3Server, key crypto.SigningKey) {
	t.Helper()
	pem, err := key.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: creds},
			Data: map[string][]byte{target.KeyAccessKeyID: []byte(s3.AccessKey), target.KeySecretAccessKey: []byte(s3.SecretKey)}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: signing}, Data: map[string][]byte{target.KeySigningKey: pem}},
	} {
		if err := e.CP.Client.Create(t.Context(), s); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
}

// SetTargetReady sets the target's Ready condition.
func (e *Env) SetTargetReady(t *testing.T, tgt *v1alpha1.OffsiteTarget, status metav1.ConditionStatus, reason, msg string) {
	t.Helper()
	meta.SetStatusCondition(&tgt.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: tgt.Generation,
	})
	if err := e.CP.Client.Status().Update(t.Context(), tgt); err != nil {
		t.Fatal(err)
	}
}

// Schedule creates a BackupSchedule; last, when set, is written as its
// status.lastScheduleTime (the time it last ran).
func (e *Env) Schedule(t *testing.T, ns, name string, spec v1alpha1.BackupScheduleSpec, last time.Time) *v1alpha1.BackupSchedule {
	t.Helper()
	if spec.OffsiteTargetRef.Name == "" {
		spec.OffsiteTargetRef.Name = "offsite"
	}
	s := &v1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if err := e.CP.Client.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if !last.IsZero() {
		s.Status.LastScheduleTime = &metav1.Time{Time: last}
		if err := e.CP.Client.Status().Update(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// WaitEvent waits (at most 10 s) for an Event with reason on s and returns
// its note.
func (e *Env) WaitEvent(t *testing.T, s client.Object, reason string) string {
	t.Helper()
	var note string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var list eventsv1.EventList
		if err := e.CP.Client.List(ctx, &list, client.InNamespace(s.GetNamespace())); err != nil {
			return false, err
		}
		for _, ev := range list.Items {
			if ev.Regarding.Name == s.GetName() && ev.Reason == reason {
				note = ev.Note
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s event on %s: %v", reason, s.GetName(), err)
	}
	return note
}

// Put creates obj, or replaces the object of that name (such as the
// default BackupStorageLocation NewEnv makes) with it.
func (e *Env) Put(t *testing.T, obj client.Object) {
	t.Helper()
	ctx := t.Context()
	err := e.CP.Client.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		cur := obj.DeepCopyObject().(client.Object) //nolint:forcetypeassert // a copy of a client.Object is one
		if err = e.CP.Client.Get(ctx, client.ObjectKeyFromObject(obj), cur); err == nil {
			obj.SetResourceVersion(cur.GetResourceVersion())
			err = e.CP.Client.Update(ctx, obj)
		}
	}
	if err != nil {
		t.Fatalf("put %T %s: %v", obj, obj.GetName(), err)
	}
}
