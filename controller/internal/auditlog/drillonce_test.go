package auditlog_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
)

// A run whose verdict is in the log (the controller was killed while it
// cleaned up, after recording it) is not recorded again as interrupted by
// the next controller: RecordDrillOnce finds any entry of the run, a
// verdict or a failure, and returns it. VersityGW.
func TestRecordDrillOnceFindsVerdict(t *testing.T) {
	ctx := t.Context()
	tgt := newSiteTarget(t)
	st := tgt.Store
	started := time.Now().Add(-time.Minute)
	subject := "phi/weekly/20261204010000-m"
	seq, hash, err := auditlog.New("", nil).RecordDrill(ctx, tgt, audit.Record{Kind: audit.KindDrill, Subject: subject,
		Details: audit.DrillDetails{Namespace: "phi", Drill: "weekly", Run: "20261204010000-m", Passed: true}})
	if err != nil {
		t.Fatal(err)
	}
	// The next controller: its own Auditor.
	interrupted := audit.Record{Kind: audit.KindFailure, Subject: subject,
		Details: audit.FailureDetails{Namespace: "phi", Operation: "drill", Reason: v1alpha1.ReasonDrillInterrupted}}
	got, err := auditlog.New("", nil).RecordDrillOnce(ctx, tgt, interrupted, started)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != seq || got.Hash != hash || got.Kind != audit.KindDrill || !strings.Contains(string(got.Details), `"passed":true`) {
		t.Errorf("RecordDrillOnce returned entry %d %s %s %s, want the verdict's, %d %s", got.Seq, got.Hash, got.Kind, got.Details, seq, hash)
	}
	n := 0
	for e, err := range audit.Read(ctx, st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Subject == subject {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d entries record run %s, want 1", n, subject)
	}
}

// A run whose verdict the killed controller kept in the outbox (the bucket
// refused it) is resumed by the next controller: RecordDrillOnce returns
// the kept verdict (seq 0 and the error while the bucket still refuses
// it, recording no failure beside it), then writes it once the bucket is
// back, after the entry kept before it, and returns its seq and hash.
// Real API server and VersityGW.
func TestRecordDrillOnceWritesKeptVerdict(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	ctx := t.Context()
	cp, s3, st, tgt := startOutboxBed(t)
	started := time.Now().Add(-time.Minute)
	key := client.ObjectKey{Namespace: "phi", Name: "weekly"}
	verdict := drillRec(key, "r1")
	subject := verdict.Subject

	// The killed controller: the bucket refused a seal and the verdict,
	// both kept in the outbox.
	s3.Stop(t)
	killed := newAuditor(cp.Client, cp.Client)
	if _, err := killed.Record(ctx, tgt, seal("b1")); err == nil {
		t.Fatal("seal written to a stopped server")
	}
	if _, _, err := killed.RecordDrill(ctx, tgt, verdict); err == nil {
		t.Fatal("verdict written to a stopped server")
	}

	// The next controller resumes the run while the bucket still refuses.
	interrupted := audit.Record{Kind: audit.KindFailure, Subject: subject,
		Details: audit.FailureDetails{Namespace: "phi", Operation: "drill", Reason: v1alpha1.ReasonDrillInterrupted}}
	next := newAuditor(cp.Client, cp.Client)
	got, err := next.RecordDrillOnce(ctx, tgt, interrupted, started)
	if err == nil || got == nil || got.Kind != audit.KindDrill || got.Seq != 0 || !strings.Contains(string(got.Details), `"passed":true`) {
		t.Fatalf("resumed with the bucket down: %+v, %v; want the kept verdict, seq 0 and an error", got, err)
	}
	if n := outboxLen(t, cp.Client); n != 2 {
		t.Fatalf("outbox holds %d entries, want 2 (the seal and the verdict, no failure beside it)", n)
	}

	// The bucket is back: resumed again (a reconcile after the restart).
	s3.Restart(t)
	got, err = next.RecordDrillOnce(ctx, tgt, interrupted, started)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != audit.KindDrill || got.Seq != 2 || got.Hash == "" {
		t.Fatalf("resumed: entry %+v, want the verdict written as seq 2 with a hash", got)
	}
	again, err := newAuditor(cp.Client, cp.Client).RecordDrillOnce(ctx, tgt, interrupted, started)
	if err != nil || again.Seq != got.Seq || again.Hash != got.Hash || again.Kind != audit.KindDrill || string(again.Details) != string(got.Details) {
		t.Fatalf("resumed a third time: %+v, %v; want the same entry %+v", again, err, got)
	}
	if n := outboxLen(t, cp.Client); n != 0 {
		t.Errorf("outbox holds %d entries, want 0", n)
	}
	var log []string
	for e, err := range audit.Read(ctx, st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, fmt.Sprintf("%d %s %s", e.Seq, e.Kind, e.Subject))
		if e.Seq == got.Seq && e.Hash != got.Hash {
			t.Errorf("entry %d has hash %s, RecordDrillOnce returned %s", e.Seq, e.Hash, got.Hash)
		}
	}
	if want := []string{"1 seal phi/nightly/b1", "2 drill " + subject}; fmt.Sprint(log) != fmt.Sprint(want) {
		t.Errorf("log:\n %q\nwant\n %q", log, want)
	}
}
