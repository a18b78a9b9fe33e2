package report_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestBuildDamaged: the report's seal check over a bucket where objects
// are damaged at rest under VersityGW (a GET fails the checksum stored
// with them) and reads of others fail on the way. Each damaged object is
// named and its backup counted as damaged, not as a failure about another
// object; the check goes on with the other backups; a read that fails a
// few times is retried and the backup verifies; one that keeps failing is
// reported as unreadable (transient), never as a finding.
func TestBuildDamaged(t *testing.T) {
	ctx := t.Context()
	bed := sealtest.NewBed(t, false)
	reporttest.WriteSample(t, bed)
	list, err := seal.List(ctx, bed.Offsite)
	must(t, err)
	var names []string
	for _, e := range list {
		if e.Schedule == reporttest.Schedule && e.State == seal.StateSealed {
			names = append(names, e.Backup)
		}
	}
	if len(names) < 4 {
		t.Fatalf("%d sealed backups in the sample, want 4", len(names))
	}
	const sch = reporttest.Schedule
	objs, sealOnly, stuck, flaky := names[0], names[1], names[2], names[3]
	bed.Damage(t, seal.ObjectKey(sch, objs, objs+".tar.gz"))
	bed.Damage(t, seal.ObjectKey(sch, objs, objs+"-logs.gz"))
	bed.Damage(t, seal.SealKey(sch, sealOnly))

	proxy := testbed.StartFaultProxy(t, bed.S3.Endpoint, testbed.FaultOptions{Seed: 11})
	cfg := bed.S3.Config(bed.OffsiteBucket, "cluster-a/safekeep/v1")
	cfg.Endpoint = proxy.Endpoint
	store, err := storage.New(cfg)
	must(t, err)
	get := []testbed.S3Op{testbed.OpGet}

	for _, tc := range []struct {
		full               bool
		flakyAt            string // what of flaky fails twice
		damaged, transient int
		state              map[string]string // backup -> Offsite state
	}{
		// The quick check reads seal.json, not the objects' bytes.
		{false, "/seal.json", 1, 0, map[string]string{objs: report.OffsiteVerified, sealOnly: report.OffsiteDamaged,
			stuck: report.OffsiteVerified, flaky: report.OffsiteVerified}},
		{true, "/objects/", 2, 1, map[string]string{objs: report.OffsiteDamaged, sealOnly: report.OffsiteDamaged,
			stuck: report.OffsiteUnreadable, flaky: report.OffsiteVerified}},
	} {
		// Every read of stuck's objects fails; the first two reads of
		// flaky's fail, then they read.
		proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultInternalError, Ops: get, Rate: 1, Under: "/" + stuck + "/objects/"},
			testbed.FaultRule{Kind: testbed.FaultReset, Ops: get, Rate: 1, Under: "/" + flaky + tc.flakyAt, Times: 2})
		before := proxy.Injected()
		r, err := report.Build(ctx, store, report.BuildOptions{Options: report.Options{Now: sampleNow, FullSealCheck: tc.full}})
		if err != nil {
			t.Fatalf("full=%v: Build stopped: %v", tc.full, err)
		}
		after := proxy.Injected()
		if n := after[testbed.FaultReset] - before[testbed.FaultReset]; n != 2 {
			t.Errorf("full=%v: %d resets injected into %s's reads, want 2", tc.full, n, flaky)
		}
		s := r.Integrity.Seals
		states := map[string]string{}
		for _, sc := range r.Schedules {
			for _, bk := range sc.Backups {
				if _, ok := tc.state[bk.Name]; ok {
					states[bk.Name] = bk.Offsite
				}
			}
		}
		for name, want := range tc.state {
			if states[name] != want {
				t.Errorf("full=%v: %s is %q, want %q", tc.full, name, states[name], want)
			}
		}
		if s.Damaged != tc.damaged || s.Unreadable != tc.transient || s.Failed != 0 || s.Mismatch != 0 {
			t.Errorf("full=%v: damaged %d unreadable %d failed %d mismatch %d, want %d, %d, 0, 0; problems %+v",
				tc.full, s.Damaged, s.Unreadable, s.Failed, s.Mismatch, tc.damaged, tc.transient, s.Problems)
		}
		if want := s.Logged - reporttest.Deletions - tc.damaged - tc.transient; s.Verified != want {
			t.Errorf("full=%v: %d verified, want the %d others", tc.full, s.Verified, want)
		}
		for _, p := range s.Problems {
			switch p.Backup {
			case objs:
				wantDamaged(t, p, objs+"-logs.gz", objs+".tar.gz") // by name
			case sealOnly:
				wantDamaged(t, p, "seal.json")
			case stuck:
				if p.State != report.OffsiteUnreadable || len(p.Damaged) > 0 || !strings.Contains(p.Problem, "transient") || !strings.Contains(p.Problem, stuck+".tar.gz") {
					t.Errorf("full=%v: %s: %+v, want a transient failure naming what could not be read, no damage", tc.full, stuck, p)
				}
			default:
				t.Errorf("full=%v: problem about %s: %+v", tc.full, p.Backup, p)
			}
			t.Logf("full=%v: %s %s: %s", tc.full, p.Backup, p.State, p.Problem)
		}
	}
	proxy.SetRules()
}

// wantDamaged: p names exactly the damaged objects, in its list and its
// text, and blames nothing else.
func wantDamaged(t *testing.T, p report.SealProblem, objects ...string) {
	t.Helper()
	if p.State != report.OffsiteDamaged || !slices.Equal(p.Damaged, objects) {
		t.Errorf("%s: %s, damaged %v; want damaged %v", p.Backup, p.State, p.Damaged, objects)
	}
	for _, o := range objects {
		if !strings.Contains(p.Problem, o) {
			t.Errorf("%s: %q does not name %s", p.Backup, p.Problem, o)
		}
	}
	if len(objects) == 1 && objects[0] != "seal.json" && strings.Contains(p.Problem, "seal.json") {
		t.Errorf("%s: %q blames seal.json", p.Backup, p.Problem)
	}
}
