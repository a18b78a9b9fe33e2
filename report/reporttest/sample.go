// Package reporttest holds a sample audit history with known numbers, for
// the report package's tests and benchmarks.
package reporttest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
)

// Sample history: Days days from Start, one schedule and one drill.
const (
	Days      = 14
	Namespace = "clinic"
	Schedule  = "nightly"
	Drill     = "daily-restore"
	Target    = "offsite"
	// Fingerprints of the recipients before and after the rotation on day 10.
	RecipientA = "age1fp:0123456789abcdef"
	RecipientB = "age1fp:fedcba9876543210"
	RecipientC = "age1fp:00112233aabbccdd"
	// Controller and responder actors.
	Controller = "system:serviceaccount:safekeep-system:safekeep"
	Responder  = "alice@laptop-7"
)

// Expected numbers of the sample.
const (
	Sealed          = 13 // one seal a day but day 4 (the backup failed)
	BackupsFailed   = 1
	BackupsTaken    = 14
	FailedAttempts  = 2 // day 4's backup, and a retried seal on day 8
	DrillRuns       = 14
	DrillPassed     = 12
	DrillFailed     = 2 // day 3: a content check; day 10: over the objective
	OverObjective   = 1
	MaxRTOSeconds   = 600
	Restores        = 1
	Deletions       = 3
	TargetChanges   = 2
	Failures        = 2
	EntryCount      = Sealed + DrillRuns + Restores + Deletions + TargetChanges + Failures
	CiphertextBytes = 1 << 20 // per backup
	Recipients      = 3       // distinct fingerprints
	// NotCoveredDay is the day whose backup has a volume not covered.
	NotCoveredDay = Days - 1
)

// Start is the first day of the sample (UTC).
var Start = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// Timed is a record and the time it happened.
type Timed struct {
	Time   time.Time
	Record audit.Record
}

// BackupName is the name of day i's backup (0-based).
func BackupName(day int) string { return fmt.Sprintf("nightly-202503%02d0200", day+1) }

// RTO is day i's drill RTO in seconds.
func RTO(day int) float64 {
	if day == 10 {
		return 700
	}
	return 300 + 10*float64(day)
}

// Records returns the sample history in time order.
func Records() []Timed {
	var out []Timed
	add := func(t time.Time, actor string, kind audit.Kind, subject string, d any) {
		out = append(out, Timed{t, audit.Record{Actor: actor, Kind: kind, Subject: subject, Details: d}})
	}
	add(Start.Add(time.Hour), Controller, audit.KindTargetChange, Namespace+"/"+Target, audit.TargetDetails{
		Namespace: Namespace, Target: Target, Change: "created", Endpoint: "https://s3.example", Bucket: "evidence",
		Recipients: []string{RecipientA, RecipientB}, SigningKey: "ed25519:k1", LockMode: "COMPLIANCE", LockDays: 30,
	})
	for day := range Days {
		at := Start.AddDate(0, 0, day)
		b := BackupName(day)
		sub := Namespace + "/" + Schedule + "/" + b
		recips := []string{RecipientA, RecipientB}
		if day >= 10 {
			recips = []string{RecipientA, RecipientC}
		}
		if day == 10 {
			add(at.Add(90*time.Minute), Controller, audit.KindTargetChange, Namespace+"/"+Target, audit.TargetDetails{
				Namespace: Namespace, Target: Target, Change: "updated", Fields: []string{"recipients"},
				Recipients: recips, SigningKey: "ed25519:k1", LockMode: "COMPLIANCE", LockDays: 30,
			})
		}
		switch day {
		case 4:
			add(at.Add(2*time.Hour+5*time.Minute), Controller, audit.KindFailure, sub, audit.FailureDetails{
				Namespace: Namespace, Operation: "backup", Schedule: Schedule, Backup: b, Reason: "BackupFailed",
				Message: "Velero backup velero/" + b + " Failed",
			})
		default:
			if day == 8 {
				add(at.Add(2*time.Hour+10*time.Minute), Controller, audit.KindFailure, sub, audit.FailureDetails{
					Namespace: Namespace, Operation: "seal", Schedule: Schedule, Backup: b, Reason: "SealFailed",
					Message: "offsite store: connection refused",
				})
			}
			add(at.Add(2*time.Hour+20*time.Minute), Controller, audit.KindSeal, sub, audit.SealDetails{
				Namespace: Namespace, Schedule: Schedule, Backup: b, Target: Target, Objects: 5,
				CiphertextBytes: CiphertextBytes, SealDigest: Digest(day), Recipients: recips,
				RetainUntil: at.AddDate(0, 0, 30), DurationSeconds: 12, Volumes: volumes(day),
			})
		}
		add(at.Add(3*time.Hour), Controller, audit.KindDrill, Namespace+"/"+Drill, drill(day, at))
		if day == 11 {
			add(at.Add(15*time.Hour), Responder, audit.KindRestore, Schedule+"/"+BackupName(9), audit.RestoreDetails{
				Schedule: Schedule, Backup: BackupName(9), User: "alice", Host: "laptop-7",
				Destination: "cluster:prod", NamespaceMapping: map[string]string{Namespace: Namespace + "-restored"},
				StagingLocation: "incident-staging", Passed: true,
			})
		}
		if day >= 11 { // retention drops the oldest
			old := BackupName(day - 11)
			add(at.Add(2*time.Hour+30*time.Minute), Controller, audit.KindRetentionDelete, Namespace+"/"+Schedule+"/"+old,
				audit.DeleteDetails{Namespace: Namespace, Schedule: Schedule, Backup: old, Reason: "retention: keepLast 10"})
		}
	}
	slices.SortStableFunc(out, func(a, b Timed) int { return a.Time.Compare(b.Time) })
	return out
}

// volumes is the coverage day i's seal records: two volumes sealed; on
// the last day, a CSI snapshot not moved too (NotCoveredDay).
func volumes(day int) *audit.VolumeCounts {
	v := &audit.VolumeCounts{Sealed: 2}
	if day == NotCoveredDay {
		v.NotCovered = map[string]int{"CSISnapshotNotMoved": 1}
	}
	return v
}

func drill(day int, at time.Time) audit.DrillDetails {
	start := at.Add(3*time.Hour - time.Duration(RTO(day))*time.Second)
	d := audit.DrillDetails{
		Namespace: Namespace, Drill: Drill, Run: fmt.Sprintf("%s-%d", Drill, day), Schedule: Schedule,
		Backup: BackupName(max(day-1, 0)), Passed: true, StartedAt: start, FinishedAt: at.Add(3 * time.Hour),
		RTOSeconds: RTO(day), MaxRTOSeconds: MaxRTOSeconds,
		Checks: []audit.CheckResult{{Name: "seal", Passed: true}, {Name: "restore-phase", Passed: true},
			{Name: "content", Passed: true}, {Name: "max-rto", Passed: true}},
	}
	switch day {
	case 3:
		d.Passed = false
		d.Checks[2] = audit.CheckResult{Name: "content", Message: "restored content differs from the backup",
			FailedObjects: 1, FailedDigests: []string{audit.NameDigest("configmaps/clinic/app-config")}}
	case 10:
		d.Passed = false
		d.Checks[3] = audit.CheckResult{Name: "max-rto", Message: "RTO 11m40s exceeds the objective 10m0s"}
	}
	return d
}

// Digest is the seal digest logged for day i's backup.
func Digest(day int) string { return fmt.Sprintf("sha256:%064x", day+1) }

// Entries returns the sample as entries (sequence numbers from 1, no
// hashes or signatures): what a report built from entries alone reads.
func Entries() []audit.Entry {
	recs := Records()
	out := make([]audit.Entry, 0, len(recs))
	for i, r := range recs {
		raw, err := json.Marshal(r.Record.Details)
		if err != nil {
			panic(err) // the sample's own types
		}
		out = append(out, audit.Entry{
			Format: audit.FormatV1, Seq: uint64(i + 1), Time: r.Time, Actor: r.Record.Actor,
			Kind: r.Record.Kind, Subject: r.Record.Subject, Details: raw,
		})
	}
	return out
}
