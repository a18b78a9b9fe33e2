package report_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
)

var sampleNow = reporttest.Start.AddDate(0, 0, reporttest.Days)

func sample(t *testing.T) *report.Report {
	t.Helper()
	return report.FromEntries(reporttest.Entries(), report.Options{Now: sampleNow, Target: "https://s3.example/evidence/site"})
}

func TestFromEntriesSample(t *testing.T) {
	r := sample(t)
	if len(r.Schedules) != 1 || len(r.Drills) != 1 {
		t.Fatalf("schedules %d drills %d, want 1 and 1", len(r.Schedules), len(r.Drills))
	}
	s, d := r.Schedules[0], r.Drills[0]
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"backups taken", s.BackupsTaken, reporttest.BackupsTaken},
		{"backups sealed", s.BackupsSealed, reporttest.Sealed},
		{"backups failed", s.BackupsFailed, reporttest.BackupsFailed},
		{"failed attempts", s.FailedAttempts, reporttest.FailedAttempts},
		{"retention deletions", s.RetentionDeletions, reporttest.Deletions},
		{"backups listed", len(s.Backups), reporttest.Sealed},
		{"recipients", len(s.Recipients), reporttest.Recipients},
		{"drill runs", d.Runs, reporttest.DrillRuns},
		{"drill passed", d.Passed, reporttest.DrillPassed},
		{"drill failed", d.Failed, reporttest.DrillFailed},
		{"over objective", d.OverObjective, reporttest.OverObjective},
		{"drill days", len(d.Days), reporttest.Days},
		{"restores", len(r.Restores), reporttest.Restores},
		{"deletions", len(r.Deletions), reporttest.Deletions},
		{"target changes", len(r.TargetChanges), reporttest.TargetChanges},
		{"failures", len(r.Failures), reporttest.Failures},
		{"entries in period", r.Integrity.Chain.EntriesInPeriod, reporttest.EntryCount},
		{"events", len(r.Events()), reporttest.EntryCount},
		{"unreadable", len(r.Unreadable), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	if s.SealedBytes != reporttest.Sealed*reporttest.CiphertextBytes {
		t.Errorf("sealed bytes %d", s.SealedBytes)
	}
	if s.LastSealed == nil || s.LastSealed.Name != reporttest.BackupName(reporttest.Days-1) {
		t.Errorf("last sealed %+v", s.LastSealed)
	}
	if got, want := d.PassRate, float64(reporttest.DrillPassed)/reporttest.DrillRuns; got != want {
		t.Errorf("pass rate %v, want %v", got, want)
	}
	if d.LastPass == nil || !d.LastPass.Equal(reporttest.Start.AddDate(0, 0, reporttest.Days-1).Add(3*time.Hour)) {
		t.Errorf("last pass %v", d.LastPass)
	}
	var causes []string
	for _, run := range d.RunList {
		for _, c := range run.FailedChecks {
			causes = append(causes, c.Name)
		}
	}
	if len(causes) != 2 || causes[0] != "content" || causes[1] != "max-rto" {
		t.Errorf("failure causes %v, want [content max-rto]", causes)
	}
	if c := d.RunList[3].FailedChecks[0]; len(c.Objects) != 0 || c.FailedObjects != 1 || c.FailedDigests[0] != audit.NameDigest("configmaps/clinic/app-config") {
		t.Errorf("failed objects %v", d.RunList[3].FailedChecks)
	}
	if x := r.Restores[0]; x.User != "alice" || x.Host != "laptop-7" || x.Destination != "cluster:prod" || x.StagingLocation != "incident-staging" ||
		x.NamespaceMapping[reporttest.Namespace] != reporttest.Namespace+"-restored" || x.Backup != reporttest.BackupName(9) {
		t.Errorf("restore %+v", x)
	}
	if r.Integrity.Chain.Checked || r.Integrity.Seals.Checked || s.Backups[0].Offsite != report.OffsiteNotChecked {
		t.Errorf("a report from entries alone claims checks: %+v", r.Integrity)
	}
	for _, h := range r.HIPAA {
		want := report.StatusEvidence
		if h.Citation == "164.312(b)" || h.Citation == "164.312(c)(2)" || h.Citation == "164.316(b)(2)" {
			want = report.StatusGap // nothing was verified
		}
		if h.Status != want {
			t.Errorf("HIPAA %s status %s, want %s", h.Citation, h.Status, want)
		}
	}
}

func TestPeriod(t *testing.T) {
	since := reporttest.Start.AddDate(0, 0, 7)
	until := reporttest.Start.AddDate(0, 0, 10)
	r := report.FromEntries(reporttest.Entries(), report.Options{Since: since, Until: until, Now: sampleNow})
	if got := r.Drills[0].Runs; got != 3 {
		t.Errorf("drill runs in days 7-9 = %d, want 3", got)
	}
	if got := r.Schedules[0].BackupsSealed; got != 3 {
		t.Errorf("seals in days 7-9 = %d, want 3", got)
	}
	if got := r.Schedules[0].FailedAttempts; got != 1 {
		t.Errorf("failed attempts in days 7-9 = %d, want 1 (day 8's retried seal)", got)
	}
	if len(r.Deletions) != 0 || len(r.Restores) != 0 {
		t.Errorf("deletions %d restores %d outside the period", len(r.Deletions), len(r.Restores))
	}
	for _, e := range r.Events() {
		if e.Time.Before(since) || !e.Time.Before(until) {
			t.Errorf("event at %s outside [%s, %s)", e.Time, since, until)
		}
	}
}

func TestUnreadableEntries(t *testing.T) {
	entries := []audit.Entry{
		{Seq: 1, Time: reporttest.Start, Actor: "a", Kind: "future-kind", Subject: "x", Details: json.RawMessage(`{}`)},
		{Seq: 2, Time: reporttest.Start, Actor: "a", Kind: audit.KindSeal, Subject: "y", Details: json.RawMessage(`[1,2]`)},
		{Seq: 3, Time: reporttest.Start, Actor: "a", Kind: audit.KindDrill, Subject: "z"},
		{Seq: 4, Time: reporttest.Start, Actor: "a", Kind: audit.KindSeal, Subject: "w", Details: json.RawMessage(`{"backup":"b"}`)},
	}
	r := report.FromEntries(entries, report.Options{Now: sampleNow})
	if len(r.Unreadable) != 4 || len(r.Events()) != 4 || r.Integrity.Chain.EntriesInPeriod != 4 {
		t.Fatalf("unreadable %d events %d entries %d, want 4 each", len(r.Unreadable), len(r.Events()), r.Integrity.Chain.EntriesInPeriod)
	}
	if len(r.Schedules) != 0 || len(r.Drills) != 0 {
		t.Errorf("unreadable entries made rows: %+v %+v", r.Schedules, r.Drills)
	}
}

func TestMatchSeals(t *testing.T) {
	day := func(i int) time.Time { return reporttest.Start.AddDate(0, 0, i).Add(2*time.Hour + 20*time.Minute) }
	sealed := func(i int) report.SealStatus {
		return report.SealStatus{Schedule: reporttest.Schedule, Backup: reporttest.BackupName(i), Digest: reporttest.Digest(i),
			SealedAt: day(i), Bytes: reporttest.CiphertextBytes, Checked: true}
	}
	var found []report.SealStatus
	for i := 3; i < reporttest.Days; i++ { // days 0-2 were deleted by retention
		switch i {
		case 4: // the backup failed: nothing sealed
		case 5: // gone without a logged deletion
		case 6:
			s := sealed(i)
			s.Digest = "sha256:" + "ab"
			found = append(found, s)
		case 7:
			s := sealed(i)
			s.Err = errString("objects/x.age: missing")
			found = append(found, s)
		default:
			found = append(found, sealed(i))
		}
	}
	found = append(found, report.SealStatus{Schedule: "manual", Backup: "adhoc", Digest: "sha256:cd", SealedAt: day(2), Bytes: 10, Checked: true})
	found = append(found, report.SealStatus{Schedule: "manual", Backup: "old", Digest: "sha256:ef", SealedAt: day(-30), Bytes: 20})

	b := report.NewBuilder(report.Options{Since: reporttest.Start, Now: sampleNow})
	for _, e := range reporttest.Entries() {
		b.Add(e)
	}
	b.MatchSeals(found)
	r := b.Report()
	sc := r.Integrity.Seals
	want := report.SealChecks{Checked: true, Mode: "quick", Logged: 13, Verified: 7, Deleted: 3, Missing: 1, Mismatch: 1, Failed: 1, Unlogged: 1}
	sc.Problems = nil
	if !reflect.DeepEqual(sc, want) {
		t.Errorf("seal checks\n got %+v\nwant %+v", sc, want)
	}
	states := map[string]string{}
	for _, s := range r.Schedules {
		for _, bk := range s.Backups {
			states[bk.Name] = bk.Offsite
		}
	}
	for i, st := range map[int]string{0: report.OffsiteDeleted, 3: report.OffsiteVerified, 5: report.OffsiteMissing,
		6: report.OffsiteMismatch, 7: report.OffsiteFailed} {
		if got := states[reporttest.BackupName(i)]; got != st {
			t.Errorf("day %d offsite %q, want %q", i, got, st)
		}
	}
	if got := len(r.Integrity.Seals.Problems); got != 4 {
		t.Errorf("problems %d, want 4 (missing, mismatch, failed, unlogged): %+v", got, r.Integrity.Seals.Problems)
	}
	var manual report.Schedule
	for _, s := range r.Schedules {
		if s.Name == "manual" {
			manual = s
		}
	}
	if manual.OffsiteBackups != 2 || manual.OffsiteBytes != 30 || manual.BackupsSealed != 0 {
		t.Errorf("manual schedule %+v", manual)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
