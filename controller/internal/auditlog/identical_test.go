package auditlog_test

import (
	"fmt"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
)

// The same fact recorded twice within minutes (here the same field of a
// target changed twice, back and forth) is two entries, even when the
// bucket refuses the second one's first write: its retry does not take
// the first entry, written before it was tried, for it. Retried by the
// same controller (held in memory) and by the next one (from the outbox).
// Real API server and VersityGW.
func TestRetryKeepsIdenticalRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	change := audit.Record{Kind: audit.KindTargetChange, Subject: "phi/offsite",
		Details: audit.TargetDetails{Namespace: "phi", Target: "offsite", Change: "updated", Fields: []string{"recipients"}}}
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			ctx := t.Context()
			cp, s3, st, tgt := startOutboxBed(t)
			first := auditlog.New("", nil)
			if restart {
				first = newAuditor(cp.Client, cp.Client)
			}
			if e, err := first.Record(ctx, tgt, change); err != nil || e.Seq != 1 {
				t.Fatalf("first record: %+v, %v", e, err)
			}
			s3.Stop(t)
			if _, err := first.Record(ctx, tgt, change); err == nil {
				t.Fatal("second record written to a stopped server")
			}
			s3.Restart(t)
			retry := first
			if restart {
				if n := outboxLen(t, cp.Client); n != 1 {
					t.Fatalf("outbox holds %d entries, want the refused one", n)
				}
				retry = newAuditor(cp.Client, cp.Client)
			}
			if err := retry.Retry(ctx, tgt); err != nil {
				t.Fatalf("retry: %v", err)
			}
			var got []string
			for e, err := range audit.Read(ctx, st, audit.ReadOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%d %s %s", e.Seq, e.Kind, e.Subject))
			}
			want := []string{"1 target-change phi/offsite", "2 target-change phi/offsite"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("log:\n %q\nwant\n %q", got, want)
			}
			if restart {
				if n := outboxLen(t, cp.Client); n != 0 {
					t.Errorf("outbox holds %d entries after the retry, want 0", n)
				}
			}
			// Nothing left to write: a further retry writes nothing.
			if err := retry.Retry(ctx, tgt); err != nil {
				t.Fatal(err)
			}
			if rep, err := audit.Verify(ctx, st, audit.VerifyOptions{}); err != nil || rep.Entries != 2 {
				t.Fatalf("verify: %d entries, %v", rep.Entries, err)
			}
		})
	}
}
