package auditlog_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/restoredrill"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/target"
)

// outboxNS holds the outbox ConfigMaps, as the controller's namespace does.
const outboxNS = "safekeep-system"

// Entries the bucket refused survive a controller restart: they are kept
// in the cluster, written once the bucket is back by the next controller,
// exactly once and in order (one of them was in the log already: its
// writer stopped before removing it from the outbox), and the deferred
// drill entry's seq and hash reach the drill's status. Real API server and
// VersityGW.
func TestOutboxSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	ctx := t.Context()
	cp, s3, st, tgt := startOutboxBed(t)
	drillKey := createFinishedDrill(t, cp.Client, "r1")

	// The first controller: its deletes of outbox items fail, as if it
	// stopped right after writing an entry.
	first := newAuditor(noDeletes{cp.Client}, cp.Client)
	e, err := first.Record(ctx, tgt, seal("b1"))
	if err != nil || e.Seq != 1 {
		t.Fatalf("first entry: %+v, %v", e, err)
	}
	s3.Stop(t)
	for _, rec := range []audit.Record{seal("b2"), drillRec(drillKey, "r1"), seal("b3")} {
		var err error
		if rec.Kind == audit.KindDrill {
			_, _, err = first.RecordDrill(ctx, tgt, rec)
		} else {
			_, err = first.Record(ctx, tgt, rec)
		}
		if err == nil {
			t.Fatalf("%s %s written to a stopped server", rec.Kind, rec.Subject)
		}
	}
	if n := outboxLen(t, cp.Client); n != 4 {
		t.Fatalf("outbox holds %d entries, want 4 (one written, three refused)", n)
	}

	// The first controller is gone; the bucket comes back; the next one
	// retries what the cluster kept.
	s3.Restart(t)
	next := newAuditor(cp.Client, cp.Client)
	if err := next.Retry(ctx, tgt); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := outboxLen(t, cp.Client); n != 0 {
		t.Errorf("outbox holds %d entries after the retry, want 0", n)
	}
	var got []string
	for e, err := range audit.Read(ctx, st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %s", e.Seq, e.Kind, e.Subject))
	}
	want := []string{"1 seal phi/nightly/b1", "2 seal phi/nightly/b2", "3 drill phi/roundtrip/r1", "4 seal phi/nightly/b3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log:\n %q\nwant\n %q", got, want)
	}
	if rep, err := audit.Verify(ctx, st, audit.VerifyOptions{}); err != nil || rep.Entries != 4 {
		t.Fatalf("verify: %d entries, %v", rep.Entries, err)
	}
	d := &v1alpha1.RestoreDrill{}
	if err := cp.Client.Get(ctx, drillKey, d); err != nil {
		t.Fatal(err)
	}
	if a := d.Status.History[0].AuditEntry; a == nil || a.Seq != 3 || a.Hash == "" {
		t.Errorf("drill history entry %+v, want seq 3 and a hash", a)
	}
	if a := d.Status.LastRun.AuditEntry; a == nil || a.Seq != 3 {
		t.Errorf("drill last run entry %+v, want seq 3", a)
	}
}

// startOutboxBed starts the API server (namespaces outboxNS and phi) and
// VersityGW, and returns target phi/offsite's store (no retries: a
// stopped server fails at once) and target.
func startOutboxBed(t *testing.T) (*testbed.ControlPlane, *testbed.S3Server, storage.Store, *target.Target) {
	t.Helper()
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(t), "deploy", "crd")))
	s3 := testbed.StartS3(t)
	s3.CreateBucket(t, "offsite", false)
	st, err := storage.New(s3.Config("offsite", "site/safekeep/v1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{outboxNS, "phi"} {
		if err := cp.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	tgt := &target.Target{
		Object: &v1alpha1.OffsiteTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "phi", Name: "offsite"}},
		Store:  st, Signer: sealtest.NewSigner(t), HasSigner: true,
	}
	return cp, s3, st, tgt
}

func newAuditor(c client.Client, r client.Reader) *auditlog.Auditor {
	a := auditlog.New("", nil)
	a.UseOutbox(&auditlog.Outbox{Client: c, Reader: r, Namespace: outboxNS})
	a.OnWritten(auditlog.OwnerRestoreDrill, restoredrill.AuditWritten(c))
	return a
}

func seal(backup string) audit.Record {
	return audit.Record{Kind: audit.KindSeal, Subject: "phi/nightly/" + backup,
		Details: audit.SealDetails{Namespace: "phi", Schedule: "nightly", Backup: backup, Objects: 3, SealDigest: "sha256:00"}}
}

func drillRec(key client.ObjectKey, run string) audit.Record {
	return audit.Record{Kind: audit.KindDrill, Subject: key.Namespace + "/" + key.Name + "/" + run,
		Details: audit.DrillDetails{Namespace: key.Namespace, Drill: key.Name, Run: run, Schedule: "nightly", Backup: "b1", Passed: true}}
}

// createFinishedDrill creates a RestoreDrill whose status records run id
// as finished, with no audit entry yet.
func createFinishedDrill(t *testing.T, c client.Client, id string) client.ObjectKey {
	t.Helper()
	d := &v1alpha1.RestoreDrill{
		ObjectMeta: metav1.ObjectMeta{Name: "roundtrip", Namespace: "phi"},
		Spec: v1alpha1.RestoreDrillSpec{
			Schedule: "@weekly", BackupScheduleRef: corev1.LocalObjectReference{Name: "nightly"},
			IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "id"}, Staging: "staging",
		},
	}
	if err := c.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	run := v1alpha1.DrillRun{ID: id, StartTime: now, EndTime: &now, Result: v1alpha1.DrillRunPassed}
	d.Status = v1alpha1.RestoreDrillStatus{LastRun: run.DeepCopy(), History: []v1alpha1.DrillRun{run}}
	if err := c.Status().Update(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	return client.ObjectKeyFromObject(d)
}

func outboxLen(t *testing.T, c client.Client) int {
	t.Helper()
	var cms corev1.ConfigMapList
	if err := c.List(t.Context(), &cms, client.InNamespace(outboxNS), client.HasLabels{v1alpha1.LabelAuditOutbox}); err != nil {
		t.Fatal(err)
	}
	return len(cms.Items)
}

// noDeletes is a client whose deletes fail: a controller that stops
// before it removes what it wrote from the outbox.
type noDeletes struct{ client.Client }

func (noDeletes) Delete(context.Context, client.Object, ...client.DeleteOption) error {
	return errors.New("stopped before the delete")
}
