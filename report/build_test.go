package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestBuild builds reports from a real log and real seals on VersityGW,
// with the bucket tampered with in each way the report must show.
func TestBuild(t *testing.T) {
	ctx := t.Context()
	bed := sealtest.NewBed(t, false)
	n := reporttest.WriteSample(t, bed)

	// Day 5's backup loses an object, day 6's disappears with no deletion
	// logged, day 7's has an object rewritten with the same size, and a
	// backup is sealed in the period that no entry records.
	firstObject := func(day int) storage.ObjectInfo {
		for info, err := range bed.Offsite.List(ctx, seal.ObjectsPrefix(reporttest.Schedule, reporttest.BackupName(day))) {
			if err != nil {
				t.Fatal(err)
			}
			return info
		}
		t.Fatalf("day %d has no objects", day)
		return storage.ObjectInfo{}
	}
	must(t, bed.Offsite.Delete(ctx, firstObject(5).Key))
	for info, err := range bed.Offsite.List(ctx, seal.BackupPrefix(reporttest.Schedule, reporttest.BackupName(6))) {
		must(t, err)
		must(t, bed.Offsite.Delete(ctx, info.Key))
	}
	obj := firstObject(7)
	sealtest.Put(t, bed.Offsite, obj.Key, bytes.Repeat([]byte{'x'}, int(obj.Size)))
	sealer := bed.Sealer()
	sealer.Now = func() time.Time { return reporttest.Start.AddDate(0, 0, 2) }
	bed.VeleroBackup(t, "adhoc", "Completed", 4<<10)
	if _, err := sealer.Seal(ctx, "manual", "adhoc"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		full                                         bool
		verified, deleted, missing, failed, unlogged int
	}{
		{full: false, verified: 8, deleted: 3, missing: 1, failed: 1, unlogged: 1},
		{full: true, verified: 7, deleted: 3, missing: 1, failed: 2, unlogged: 1},
	} {
		r, err := report.Build(ctx, bed.Offsite, report.BuildOptions{Options: report.Options{Now: sampleNow, FullSealCheck: tc.full}})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		c, s := r.Integrity.Chain, r.Integrity.Seals
		if !c.Checked || !c.Verified || c.Entries != n || c.EntriesInPeriod != n || c.HeadSeq != uint64(n) || c.Problem != "" {
			t.Errorf("chain %+v, want %d entries verified", c, n)
		}
		got := [6]int{s.Logged, s.Verified, s.Deleted, s.Missing, s.Failed, s.Unlogged}
		want := [6]int{reporttest.Sealed, tc.verified, tc.deleted, tc.missing, tc.failed, tc.unlogged}
		if got != want || s.Mismatch != 0 {
			t.Errorf("full=%v: seals logged/verified/deleted/missing/failed/unlogged %v, want %v; problems %+v", tc.full, got, want, s.Problems)
		}
		if sc := r.Schedules[len(r.Schedules)-1]; sc.Name != reporttest.Schedule || sc.BackupsSealed != reporttest.Sealed ||
			sc.OffsiteBackups != reporttest.Sealed-reporttest.Deletions-1 {
			t.Errorf("schedule %s: sealed %d offsite %d", sc.Name, sc.BackupsSealed, sc.OffsiteBackups)
		}
		if r.Drills[0].Runs != reporttest.DrillRuns || r.Drills[0].Failed != reporttest.DrillFailed {
			t.Errorf("drill %+v", r.Drills[0])
		}
	}

	// A removed entry: the chain does not verify, the report still comes,
	// and it says which entry.
	var victim string
	for info, err := range bed.Offsite.List(ctx, audit.Dir) {
		must(t, err)
		if strings.HasPrefix(info.Key, audit.EntryPrefix(10)) {
			victim = info.Key
		}
	}
	must(t, bed.Offsite.Delete(ctx, victim))
	must(t, bed.Offsite.Delete(ctx, audit.ClaimKey(10)))
	r, err := report.Build(ctx, bed.Offsite, report.BuildOptions{Options: report.Options{Now: sampleNow}})
	if err != nil {
		t.Fatalf("Build of a broken chain: %v", err)
	}
	if c := r.Integrity.Chain; c.Verified || !strings.Contains(c.Problem, "entry 10") {
		t.Errorf("chain after removing entry 10: %+v", c)
	}
	for _, h := range r.HIPAA {
		if h.Citation == "164.312(b)" && h.Status != report.StatusGap {
			t.Errorf("164.312(b) with a broken chain: %s", h.Status)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
