package report_test

import (
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestBuildSealUnreadable: every GET of one backup's seal.json fails
// (500, through the fault proxy in front of VersityGW) while the report
// lists the seals. The read is retried, then that backup is reported
// unreadable, named, as a transient failure and not a finding; the report
// goes on and verifies every other backup. Before, the listing's error
// stopped the whole report.
func TestBuildSealUnreadable(t *testing.T) {
	ctx := t.Context()
	bed := sealtest.NewBed(t, false)
	reporttest.WriteSample(t, bed)
	list, err := seal.List(ctx, bed.Offsite)
	must(t, err)
	stuck := ""
	for _, e := range list {
		if e.Schedule == reporttest.Schedule && e.State == seal.StateSealed {
			stuck = e.Backup
		}
	}
	proxy := testbed.StartFaultProxy(t, bed.S3.Endpoint, testbed.FaultOptions{Seed: 11})
	cfg := bed.S3.Config(bed.OffsiteBucket, "cluster-a/safekeep/v1")
	cfg.Endpoint = proxy.Endpoint
	store, err := storage.New(cfg)
	must(t, err)
	proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultInternalError, Ops: []testbed.S3Op{testbed.OpGet}, Rate: 1, Under: "/" + stuck + "/seal.json"})
	r, err := report.Build(ctx, store, report.BuildOptions{Options: report.Options{Now: sampleNow}})
	if err != nil {
		t.Fatalf("Build stopped: %v", err)
	}
	if n := proxy.Injected()[testbed.FaultInternalError]; n < 3 {
		t.Errorf("%d reads of %s's seal.json failed: it was not retried", n, stuck)
	}
	s := r.Integrity.Seals
	if s.Unreadable != 1 || s.Damaged != 0 || s.Failed != 0 || s.Mismatch != 0 {
		t.Errorf("unreadable %d damaged %d failed %d mismatch %d, want 1, 0, 0, 0; problems %+v", s.Unreadable, s.Damaged, s.Failed, s.Mismatch, s.Problems)
	}
	if want := s.Logged - reporttest.Deletions - 1; s.Verified != want {
		t.Errorf("%d verified, want the %d others", s.Verified, want)
	}
	if len(s.Problems) != 1 {
		t.Fatalf("problems %+v, want one about %s", s.Problems, stuck)
	}
	p := s.Problems[0]
	if p.Backup != stuck || p.State != report.OffsiteUnreadable || len(p.Damaged) > 0 ||
		!strings.Contains(p.Problem, "transient") || !strings.Contains(p.Problem, "seal.json") {
		t.Errorf("%+v: want %s unreadable, a transient failure naming seal.json, no damage", p, stuck)
	}
	t.Logf("%s %s: %s", p.Backup, p.State, p.Problem)
}
