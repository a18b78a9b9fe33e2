package restoredrill

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/target"
)

// A run whose controller was killed after recording its verdict ends, at
// the next controller, as that verdict says, and its status names the
// entry at once: a verdict the killed controller kept in the outbox (the
// bucket refused it) is written then; one it wrote before it was killed
// while cleaning up is found. The log holds that one entry, no failure
// beside it. Real API server and VersityGW.
func TestRestoreDrillResumesRecordedVerdict(t *testing.T) {
	e, ns, d, run, stop := auditedMidRun(t)
	stop()
	ctx := t.Context()
	active := e.getDrill(t, d).Status.Active
	if active == nil || active.ID != run {
		t.Fatalf("after the stop the run is not active: %+v", active)
	}
	obj := &v1alpha1.OffsiteTarget{}
	if err := e.CP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "offsite"}, obj); err != nil {
		t.Fatal(err)
	}
	tgt, err := target.Resolve(ctx, e.CP.Client, obj)
	if err != nil {
		t.Fatal(err)
	}
	subject := ns + "/weekly/" + run
	started := active.StartTime.UTC()
	verdict := audit.Record{Kind: audit.KindDrill, Subject: subject, Details: audit.DrillDetails{
		Namespace: ns, Drill: "weekly", Run: run, Schedule: "nightly", Backup: active.Backup, Passed: true,
		StartedAt: started, FinishedAt: started.Add(2 * time.Second), RTOSeconds: 1.5,
		Checks: []audit.CheckResult{{Name: "decrypt", Passed: true, Message: "3 objects decrypted"}},
	}}

	// The killed controller kept its verdict in the outbox: the bucket
	// refused it.
	e.s3.Stop(t)
	if _, _, err := outboxAuditor(e).RecordDrill(ctx, tgt, verdict); err == nil {
		t.Fatal("verdict written to a stopped server")
	}
	e.s3.Restart(t)

	st := sealtest.OpenStore(t, e.s3.Config("offsite", "audited/safekeep/v1"))
	resume := func(phase string) {
		t.Helper()
		e.audit = outboxAuditor(e) // the next controller: its own Auditor
		stop := e.startController(t, passingRun, 0)
		defer stop()
		got := waitRunEnded(t, e, d, run)
		entry := audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindDrill, subject, `"passed":true`)
		l := got.Status.LastRun
		if a := l.AuditEntry; a == nil || a.Seq != int64(entry.Seq) || a.Hash != entry.Hash { //nolint:gosec // small seq
			t.Errorf("%s: the run's audit entry in status is %+v, want seq %d %s", phase, a, entry.Seq, entry.Hash)
		}
		if l.Result != v1alpha1.DrillRunPassed || l.RTO == nil || l.RTO.Duration != 1500*time.Millisecond || len(l.Checks) != 1 || !l.Checks[0].Passed {
			t.Errorf("%s: the run's status says %s (RTO %v, checks %+v): %s; the log says it passed with RTO 1.5s", phase, l.Result, l.RTO, l.Checks, l.Message)
		}
		wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionTrue, v1alpha1.ReasonDrillPassed)
		var obs v1alpha1.OffsiteBackupList
		if err := e.CP.Client.List(ctx, &obs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		drilled := 0
		for _, ob := range obs.Items {
			if ob.Spec.VeleroBackupName != active.Backup {
				continue
			}
			drilled++
			want := fmt.Sprintf("%d %s", entry.Seq, entry.Hash)
			if ld := ob.Status.LastDrill; ld == nil || ld.Result != v1alpha1.DrillPassed || ld.AuditEntry != want {
				t.Errorf("%s: OffsiteBackup %s's last drill is %+v, want Passed with entry %s", phase, ob.Name, ld, want)
			}
		}
		if drilled != 1 {
			t.Errorf("%s: %d OffsiteBackups hold backup %s, want 1", phase, drilled, active.Backup)
		}
		n := 0
		for en, err := range audit.Read(ctx, st, audit.ReadOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if en.Subject == subject {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d entries record run %s, want 1", phase, n, run)
		}
		var cms corev1.ConfigMapList
		if err := e.CP.Client.List(ctx, &cms, client.InNamespace(ns), client.HasLabels{v1alpha1.LabelAuditOutbox}); err != nil {
			t.Fatal(err)
		}
		if len(cms.Items) != 0 {
			t.Errorf("%s: the outbox holds %d entries, want none", phase, len(cms.Items))
		}
	}
	resume("verdict kept in the outbox")

	// Killed while cleaning up: the verdict is in the log and the run is
	// active again for the next controller.
	got := e.getDrill(t, d)
	got.Status.Active = active
	got.Status.LastRun, got.Status.History = nil, nil
	if err := e.CP.Client.Status().Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	resume("verdict in the log")
}

// outboxAuditor is a controller's Auditor: entries kept in the cluster
// (the target's namespace), deferred drill entries named in status.
func outboxAuditor(e *drillEnv) *auditlog.Auditor {
	a := auditlog.New("", e.Rec)
	a.UseOutbox(&auditlog.Outbox{Client: e.CP.Client, Reader: e.CP.Client})
	a.OnWritten(auditlog.OwnerRestoreDrill, AuditWritten(e.CP.Client))
	return a
}

// waitRunEnded waits until d records run as ended.
func waitRunEnded(t *testing.T, e *drillEnv, d *v1alpha1.RestoreDrill, run string) *v1alpha1.RestoreDrill {
	t.Helper()
	got := &v1alpha1.RestoreDrill{}
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := e.CP.Client.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
			return false, err
		}
		l := got.Status.LastRun
		return got.Status.Active == nil && l != nil && l.ID == run, nil
	})
	if err != nil {
		t.Fatalf("run %s not recorded as ended: %v (%+v)", run, err, got.Status)
	}
	return got
}
