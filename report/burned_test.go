package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/report"
)

// TestReportBurned: a log with a burned seq (its claim stored cut short;
// the next append burned it) verifies, and the report names the burned
// seq in every format: a finding to show, never silent.
func TestReportBurned(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	l := audit.New(b.Plain, b.Signer, audit.Options{NoLock: true})
	audittest.AppendRecords(t, l, 1, audittest.Record)
	audittest.PlantBrokenClaim(t, b.Plain, 2)
	audittest.AppendRecords(t, l, 2, audittest.Record)
	rep, err := report.Build(ctx, b.Plain, report.BuildOptions{Options: report.Options{Now: time.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Integrity.Chain
	if !c.Verified || c.Entries != 3 || c.HeadSeq != 4 || len(c.Burned) != 1 || c.Burned[0].Seq != 2 || c.Burned[0].NamedBy != 3 {
		t.Fatalf("report of a log with seq 2 burned: verified %v, %d entries, head %d, burned %+v; want verified, 3 entries, head 4, seq 2 burned named by 3 (problem %q)",
			c.Verified, c.Entries, c.HeadSeq, c.Burned, c.Problem)
	}
	if md := render(t, rep, report.FormatMarkdown); !strings.Contains(md, "- Burned: seq 2: "+audit.BurnClaimUnreadable) {
		t.Errorf("markdown does not name the burned seq:\n%s", md)
	}
	if page := render(t, rep, report.FormatHTML); !strings.Contains(page, `class="warn burned" data-seq="2"`) {
		t.Errorf("HTML does not name the burned seq")
	}
	var js bytes.Buffer
	if err := report.WriteJSON(&js, rep); err != nil || !strings.Contains(js.String(), "\"burned\": [\n        {\n          \"seq\": 2,") {
		t.Errorf("JSON does not name the burned seq (%v)", err)
	}
}
