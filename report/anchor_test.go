package report_test

import (
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestReportAnchor: on a versioned VersityGW bucket an attacker hides the
// newest audit entry and its claim behind delete markers. The report's
// chain check reads through the markers, names them and is not verified;
// checked against an anchor past the head it says the anchor is not
// reached. The head it records is the anchor for the next report.
func TestReportAnchor(t *testing.T) {
	st, l := audittest.NewVersionedLog(t, audit.Options{})
	ctx := t.Context()
	last := audittest.AppendRecords(t, l, 3, audittest.Record)
	head := audit.Anchor{Seq: last.Seq, Hash: last.Hash}
	build := func(a *audit.Anchor) *report.Report {
		t.Helper()
		rep, err := report.Build(ctx, st, report.BuildOptions{Options: report.Options{Now: audittest.Time(100)}, Anchor: a, AnchorFrom: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	c := build(&head).Integrity.Chain
	if !c.Verified || c.Anchor == nil || !c.Anchor.Reached || c.HeadSeq != head.Seq || c.HeadHash != head.Hash || len(c.Tampered) != 0 {
		t.Fatalf("report of an untouched log: %+v (anchor %+v)", c, c.Anchor)
	}

	// The attack: hide entry 3 and its claim.
	sealtest.Hide(t, st, audit.EntryKey(last.Seq, last.Hash))
	sealtest.Hide(t, st, audit.ClaimKey(last.Seq))
	rep := build(&head)
	c = rep.Integrity.Chain
	if c.Verified || len(c.Tampered) != 2 || !strings.Contains(c.Problem, "written outside the claim protocol") {
		t.Errorf("report after hiding the head: verified %v, tampered %v, problem %q; want not verified, the entry and its claim named", c.Verified, c.Tampered, c.Problem)
	}
	md := render(t, rep, report.FormatMarkdown)
	if !strings.Contains(md, "Tampered: entry "+audit.EntryKey(last.Seq, last.Hash)) || !strings.Contains(md, "Anchor (kept outside the bucket, from test): entry #3") {
		t.Errorf("markdown does not name the tampered objects and the anchor:\n%s", md)
	}
	page := render(t, rep, report.FormatHTML)
	if !strings.Contains(page, `id="anchor" data-seq="3" data-reached="true"`) || strings.Count(page, `class="bad tampered"`) != 2 {
		t.Errorf("HTML does not show the anchor and the two tampered objects")
	}

	// Deleting the hidden versions for good (possible where no lock holds
	// them) leaves a shorter log; the anchor catches it.
	for _, key := range []string{audit.EntryKey(last.Seq, last.Hash), audit.ClaimKey(last.Seq)} {
		if _, err := storage.PurgeKey(ctx, st, key); err != nil {
			t.Fatal(err)
		}
	}
	c = build(&head).Integrity.Chain
	if c.Verified || c.HeadSeq != 2 || c.Anchor == nil || c.Anchor.Reached || !strings.Contains(c.Anchor.Problem, "the log ends at entry 2, the anchor is entry 3") {
		t.Errorf("report of a log cut short: verified %v, head %d, anchor %+v; want the anchor not reached", c.Verified, c.HeadSeq, c.Anchor)
	}
	if c := build(nil).Integrity.Chain; !c.Verified || c.Anchor != nil {
		t.Errorf("without an anchor the shorter log verifies (the attack): %+v", c)
	}
}
