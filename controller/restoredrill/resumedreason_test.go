package restoredrill

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
)

// failedVolumeRun is run of d as the engine ends it when a sealed volume
// does not verify: Failed, reason VolumeCheckFailed.
func failedVolumeRun(d *v1alpha1.RestoreDrill, a *v1alpha1.ActiveDrillRun) *v1alpha1.DrillRun {
	end := metav1.NewTime(a.StartTime.Add(2 * time.Second))
	return &v1alpha1.DrillRun{
		ID: a.ID, Trigger: a.Trigger, Schedule: d.Spec.BackupScheduleRef.Name, Backup: a.Backup, StagedName: a.StagedName,
		StartTime: a.StartTime, EndTime: &end, RTO: &v1alpha1.Duration{Duration: 2 * time.Second},
		Result: v1alpha1.DrillRunFailed, Message: "check volumes failed: phi-app/db/data: pack damaged",
		Checks: []v1alpha1.DrillCheckResult{
			{Name: "seal", Passed: true, Message: "3 objects sealed"},
			{Name: "volumes", Passed: false, Message: "1 of 1 volume failed (damaged)", FailedObjects: []string{"phi-app/db/data"}},
		},
		Volumes: []v1alpha1.DrillVolumeResult{{Namespace: "phi-app", Pod: "db", Volume: "data", Files: 3, Bytes: 1024, Message: "pack damaged"}},
	}
}

// A run resumed after a controller restart ends with the reason the run
// would have had, had it not been interrupted: its verdict's or its
// failure's entry (as the controller writes it) holds the reason code,
// and an entry written before it did gives it from its volumes.
func TestResumedRunKeepsItsReason(t *testing.T) {
	d := &v1alpha1.RestoreDrill{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "weekly"},
		Spec: v1alpha1.RestoreDrillSpec{BackupScheduleRef: corev1.LocalObjectReference{Name: "nightly"}}}
	a := &v1alpha1.ActiveDrillRun{ID: "r1", Backup: "b1", StartTime: metav1.NewTime(day0)}
	volume := failedVolumeRun(d, a)
	files := failedVolumeRun(d, a)
	files.Volumes[0].Passed = true
	files.Volumes[0].Restored = &v1alpha1.DrillVolumeRestored{Files: 3, MatchedFiles: 2, Reason: "Differs"}
	password := failedVolumeRun(d, a)
	password.Volumes[0].Restored = &v1alpha1.DrillVolumeRestored{Reason: v1alpha1.ReasonRepositoryPasswordMismatch}
	plain := failedVolumeRun(d, a)
	plain.Volumes = nil
	refused := &v1alpha1.DrillRun{ID: "r1", Result: v1alpha1.DrillRunError, Message: "the run was refused: namespace phi-app"}
	for _, tc := range []struct {
		name   string
		run    *v1alpha1.DrillRun
		reason string // the uninterrupted run's, when not runReason's
		old    bool   // an entry written before the reason was
		want   string
	}{
		{name: "volume", run: volume, want: v1alpha1.ReasonVolumeCheckFailed},
		{name: "volume files", run: files, want: v1alpha1.ReasonVolumeFilesCheckFailed},
		{name: "repository password", run: password, want: v1alpha1.ReasonRepositoryPasswordMismatch},
		{name: "checks", run: plain, want: v1alpha1.ReasonDrillFailed},
		{name: "policy", run: refused, reason: v1alpha1.ReasonPolicyViolation, want: v1alpha1.ReasonPolicyViolation},
		{name: "old entry, volume", run: volume, old: true, want: v1alpha1.ReasonVolumeCheckFailed},
		{name: "old entry, password", run: password, old: true, want: v1alpha1.ReasonRepositoryPasswordMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason := tc.reason
			if reason == "" {
				reason = runReason(tc.run)
			}
			if reason != tc.want {
				t.Fatalf("the uninterrupted run's reason is %s, want %s", reason, tc.want)
			}
			rec := runRecord(d, tc.run, reason)
			if det, ok := rec.Details.(audit.DrillDetails); ok && tc.old {
				det.Reason = ""
				rec.Details = det
			}
			raw, err := json.Marshal(rec.Details)
			if err != nil {
				t.Fatal(err)
			}
			resumed := &v1alpha1.DrillRun{ID: "r1", Result: v1alpha1.DrillRunError}
			if got := endAsLogged(resumed, &auditlog.RunEntry{Kind: rec.Kind, Details: raw, Seq: 7, Hash: "sha256:00"}); got != tc.want {
				t.Errorf("the resumed run's reason is %s, want %s (entry %s)", got, tc.want, raw)
			}
		})
	}
}
