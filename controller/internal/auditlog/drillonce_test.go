package auditlog_test

import (
	"testing"
	"time"

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
	gotSeq, gotHash, err := auditlog.New("", nil).RecordDrillOnce(ctx, tgt, interrupted, started)
	if err != nil {
		t.Fatal(err)
	}
	if gotSeq != seq || gotHash != hash {
		t.Errorf("RecordDrillOnce returned entry %d %s, want the verdict's, %d %s", gotSeq, gotHash, seq, hash)
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
