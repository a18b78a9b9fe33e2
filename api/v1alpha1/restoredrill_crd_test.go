package v1alpha1_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/safekeep-dev/safekeep/api/v1alpha1"
)

func validDrill(name string) *v1.RestoreDrill {
	return &v1.RestoreDrill{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.RestoreDrillSpec{
			Schedule:                "0 4 * * 0",
			TimeZone:                "Europe/Berlin",
			StartingDeadlineSeconds: ptr.To[int64](3600),
			BackupScheduleRef:       corev1.LocalObjectReference{Name: "nightly"},
			Backup:                  v1.DrillBackupRandom,
			IdentitySecretRef:       v1.SecretKeyRef{Name: "drill-identity", Key: "identity"},
			Staging:                 "drill-staging",
			ScratchNamespacePrefix:  "drill-",
			Checks: v1.DrillChecks{
				Warnings:   v1.DrillWarningsFail,
				MaxRTO:     &v1.Duration{Duration: 30 * time.Minute},
				RestorePVs: ptr.To(false),
				Job: &v1.DrillVerificationJob{
					Image: "postgres:17", Command: []string{"psql", "-c", "select 1"},
					Timeout: &v1.Duration{Duration: 5 * time.Minute},
				},
				Volumes:     v1.DrillVolumesSkip,
				VolumeFiles: v1.DrillVolumeFilesCompare,
			},
			Workloads: v1.DrillWorkloads{
				Mode: v1.DrillWorkloadsIsolated, Run: []v1.DrillRunnableKind{"StatefulSet", "Pod"}, AllowDNS: true,
				Quota:       corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4"), corev1.ResourceRequestsCPU: resource.MustParse("1")},
				Limits:      v1.DrillLimits{Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}, DefaultRequest: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
				PodSecurity: "baseline",
			},
			Cleanup:      v1.DrillCleanup{Policy: v1.DrillCleanupOnSuccess, KeepFailedFor: &v1.Duration{Duration: 24 * time.Hour}},
			Timeout:      &v1.Duration{Duration: time.Hour},
			HistoryLimit: 20,
			MaxPassAge:   &v1.Duration{Duration: 14 * 24 * time.Hour},
		},
	}
}

func TestRestoreDrillCRD(t *testing.T) {
	cp := startAPI(t)
	c := cp.Client
	ctx := t.Context()

	t.Run("round-trips, defaults filled in", func(t *testing.T) {
		in := validDrill("roundtrip")
		if err := c.Create(ctx, in.DeepCopy()); err != nil {
			t.Fatalf("create: %v", err)
		}
		var got v1.RestoreDrill
		if err := c.Get(ctx, client.ObjectKeyFromObject(in), &got); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(got.Spec, in.Spec) {
			t.Errorf("spec changed on the way:\n got %+v\nwant %+v", got.Spec, in.Spec)
		}
		minimal := &v1.RestoreDrill{
			ObjectMeta: metav1.ObjectMeta{Name: "minimal", Namespace: ns},
			Spec: v1.RestoreDrillSpec{
				Schedule: "@weekly", BackupScheduleRef: corev1.LocalObjectReference{Name: "nightly"},
				IdentitySecretRef: v1.SecretKeyRef{Name: "id"}, Staging: "staging",
			},
		}
		if err := c.Create(ctx, minimal); err != nil {
			t.Fatal(err)
		}
		s := minimal.Spec
		if s.Backup != v1.DrillBackupLatest || s.ScratchNamespacePrefix != "drill-" || s.HistoryLimit != 10 ||
			s.IdentitySecretRef.Key != "identity" || s.Checks.Warnings != v1.DrillWarningsAllow || s.Cleanup.Policy != v1.DrillCleanupAlways ||
			s.Workloads.Mode != v1.DrillWorkloadsInert || s.Workloads.PodSecurity != "restricted" || s.Checks.Volumes != v1.DrillVolumesVerify || s.Checks.VolumeFiles != v1.DrillVolumeFilesSkip {
			t.Errorf("defaults not applied: %+v", s)
		}
		now := metav1.NewTime(time.Date(2026, 5, 3, 4, 0, 0, 0, time.UTC))
		end := metav1.NewTime(now.Add(90 * time.Second))
		run := v1.DrillRun{
			ID: "20260503040000", Trigger: "schedule", Schedule: "nightly", Backup: "default.nightly-20260503020000",
			StagedName: "drill-default.roundtrip-20260503040000", ScratchNamespaces: []string{"drill-roundtrip-20260503040000-phi"},
			StartTime: now, EndTime: &end, RTO: &v1.Duration{Duration: 80 * time.Second}, Result: v1.DrillRunFailed,
			Message: "check content failed", Checks: []v1.DrillCheckResult{{Name: "content", Passed: false, Message: "differs", FailedObjects: []string{"ConfigMap phi/settings"}}},
			Volumes: []v1.DrillVolumeResult{{Namespace: "phi", Pod: "db-0", Volume: "data", Files: 3, Bytes: 1 << 20, Passed: true,
				Restored: &v1.DrillVolumeRestored{Files: 3, Bytes: 1 << 20, MatchedFiles: 3, MatchedBytes: 1 << 20, Passed: true}}},
			Workloads: &v1.DrillWorkloadsReport{Mode: v1.DrillWorkloadsInert,
				Modified:    []v1.DrillKindCount{{Kind: "Deployment.apps", Count: 2, Change: "scaled to 0 replicas"}},
				NotRestored: []v1.DrillKindCount{{Kind: "Ingress.networking.k8s.io", Count: 1, Change: "not restored"}}},
			AuditEntry: &v1.DrillAuditEntry{Seq: 12, Hash: "sha256:" + strings.Repeat("ab", 32)}, Cleanup: v1.DrillCleanupKept, KeepUntil: &end,
		}
		got.Status = v1.RestoreDrillStatus{
			ObservedGeneration: got.Generation, LastScheduleTime: &now, NextScheduleTime: &now,
			Active:  &v1.ActiveDrillRun{ID: "20260510040000", Trigger: "schedule", ScheduledTime: now, StartTime: now, Backup: "b", StagedName: "s"},
			LastRun: run.DeepCopy(), LastPassTime: &now, History: []v1.DrillRun{run},
			Conditions: []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonScheduled, Message: "ok", LastTransitionTime: now}},
		}
		if err := c.Status().Update(ctx, &got); err != nil {
			t.Fatalf("status update: %v", err)
		}
		cols := tableColumns(t, cp, "restoredrills", "roundtrip")
		if want := "Name,Schedule,Last Result,Last RTO,Last Run,Ready,Age"; strings.Join(cols, ",") != want {
			t.Errorf("columns %v, want %s", cols, want)
		}
	})

	cases := []struct {
		name    string
		mutate  func(*v1.RestoreDrillSpec)
		wantMsg string
	}{
		{"schedule empty", func(s *v1.RestoreDrillSpec) { s.Schedule = "" }, "spec.schedule"},
		{"TZ prefix", func(s *v1.RestoreDrillSpec) { s.Schedule = "TZ=UTC 0 4 * * *" }, "set spec.timeZone instead"},
		{"time zone Local", func(s *v1.RestoreDrillSpec) { s.TimeZone = "Local" }, "not Local"},
		{"time zone with a space", func(s *v1.RestoreDrillSpec) { s.TimeZone = "Europe/Isle of Man" }, "spec.timeZone"},
		{"deadline zero", func(s *v1.RestoreDrillSpec) { s.StartingDeadlineSeconds = ptr.To[int64](0) }, "spec.startingDeadlineSeconds"},
		{"no schedule ref", func(s *v1.RestoreDrillSpec) { s.BackupScheduleRef.Name = "" }, "backupScheduleRef.name is required"},
		{"backup choice", func(s *v1.RestoreDrillSpec) { s.Backup = "newest" }, "spec.backup"},
		{"volumes check", func(s *v1.RestoreDrillSpec) { s.Checks.Volumes = "Sometimes" }, "spec.checks.volumes"},
		{"volume files check", func(s *v1.RestoreDrillSpec) { s.Checks.VolumeFiles = "Verify" }, "spec.checks.volumeFiles"},
		{"volume files with inert workloads", func(s *v1.RestoreDrillSpec) {
			s.Checks.VolumeFiles, s.Workloads.PodSecurity, s.Workloads.Mode, s.Workloads.Run, s.Checks.Job = v1.DrillVolumeFilesCompare, "baseline", v1.DrillWorkloadsInert, nil, nil
		}, "set workloads.mode to Isolated and workloads.podSecurity to baseline"},
		{"volume files under restricted", func(s *v1.RestoreDrillSpec) {
			s.Checks.VolumeFiles, s.Workloads.PodSecurity = v1.DrillVolumeFilesCompare, "restricted"
		}, "set workloads.mode to Isolated and workloads.podSecurity to baseline"},
		{"no identity secret", func(s *v1.RestoreDrillSpec) { s.IdentitySecretRef.Name = "" }, "spec.identitySecretRef.name"},
		{"identity key with a slash", func(s *v1.RestoreDrillSpec) { s.IdentitySecretRef.Key = "a/b" }, "spec.identitySecretRef.key"},
		{"no staging", func(s *v1.RestoreDrillSpec) { s.Staging = "" }, "spec.staging"},
		{"prefix upper case", func(s *v1.RestoreDrillSpec) { s.ScratchNamespacePrefix = "Drill-" }, "spec.scratchNamespacePrefix"},
		{"prefix too long", func(s *v1.RestoreDrillSpec) { s.ScratchNamespacePrefix = strings.Repeat("d", 21) }, "spec.scratchNamespacePrefix"},
		{"warnings policy", func(s *v1.RestoreDrillSpec) { s.Checks.Warnings = "Ignore" }, "spec.checks.warnings"},
		{"maxRTO zero", func(s *v1.RestoreDrillSpec) { s.Checks.MaxRTO = &v1.Duration{} }, "maxRTO must be positive"},
		{"job without command", func(s *v1.RestoreDrillSpec) { s.Checks.Job.Command = nil }, "spec.checks.job.command"},
		{"job without image", func(s *v1.RestoreDrillSpec) { s.Checks.Job.Image = "" }, "spec.checks.job.image"},
		{"job with inert workloads", func(s *v1.RestoreDrillSpec) { s.Workloads.Mode, s.Workloads.Run = v1.DrillWorkloadsInert, nil }, "checks.job runs a pod: set workloads.mode to Isolated"},
		{"run with inert workloads", func(s *v1.RestoreDrillSpec) { s.Workloads.Mode, s.Checks.Job = v1.DrillWorkloadsInert, nil }, "set mode to Isolated"},
		{"run an unknown kind", func(s *v1.RestoreDrillSpec) { s.Workloads.Run = []v1.DrillRunnableKind{"Ingress"} }, "spec.workloads.run"},
		{"workloads mode", func(s *v1.RestoreDrillSpec) { s.Workloads.Mode = "Live" }, "spec.workloads.mode"},
		{"pod security privileged", func(s *v1.RestoreDrillSpec) { s.Workloads.PodSecurity = "privileged" }, "spec.workloads.podSecurity"},
		{"cleanup policy", func(s *v1.RestoreDrillSpec) { s.Cleanup.Policy = "Sometimes" }, "spec.cleanup.policy"},
		{"keepFailedFor over the bound", func(s *v1.RestoreDrillSpec) { s.Cleanup.KeepFailedFor = &v1.Duration{Duration: 169 * time.Hour} }, "keepFailedFor must be at most 168h"},
		{"keepFailedFor negative", func(s *v1.RestoreDrillSpec) { s.Cleanup.KeepFailedFor = &v1.Duration{Duration: -time.Hour} }, "spec.cleanup.keepFailedFor: Invalid value: \"-1h0m0s\": must be a duration"},
		{"history limit zero", func(s *v1.RestoreDrillSpec) { s.HistoryLimit = -1 }, "spec.historyLimit"},
		{"history limit too high", func(s *v1.RestoreDrillSpec) { s.HistoryLimit = 101 }, "spec.historyLimit"},
		{"timeout too short", func(s *v1.RestoreDrillSpec) { s.Timeout = &v1.Duration{Duration: time.Second} }, "timeout must be at least 10s"},
		{"maxPassAge too short", func(s *v1.RestoreDrillSpec) { s.MaxPassAge = &v1.Duration{Duration: time.Second} }, "maxPassAge must be at least 1m"},
	}
	for i, tt := range cases {
		t.Run("rejects "+tt.name, func(t *testing.T) {
			d := validDrill("bad-" + string(rune('a'+i)))
			tt.mutate(&d.Spec)
			err := c.Create(ctx, d)
			if err == nil {
				t.Fatalf("created an invalid RestoreDrill")
			}
			t.Logf("rejected: %v", err)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}

	t.Logf("bad RestoreDrill specs refused by the API server: %d", len(cases))

	t.Run("status rejects an unknown result", func(t *testing.T) {
		d := validDrill("bad-status")
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		d.Status.LastRun = &v1.DrillRun{ID: "x", StartTime: metav1.Now(), Result: "Maybe"}
		if err := c.Status().Update(ctx, d); err == nil {
			t.Errorf("status with result Maybe accepted")
		}
	})
}
