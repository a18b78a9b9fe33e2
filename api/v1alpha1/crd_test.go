package v1alpha1_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// The CRDs in deploy/crd are checked on a real kube-apiserver: what the
// schema promises to reject is rejected with a message naming the field,
// and what it accepts round-trips unchanged.

const ns = "default"

func startAPI(t *testing.T) *testbed.ControlPlane {
	t.Helper()
	return testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(t), "deploy", "crd")))
}

func validSchedule(name string) *v1.BackupSchedule {
	return &v1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.BackupScheduleSpec{
			Schedule:                "30 2 * * *",
			TimeZone:                "America/New_York",
			StartingDeadlineSeconds: ptr.To[int64](600),
			Template: v1.BackupTemplate{
				IncludedNamespaces:       []string{"phi-app"},
				ExcludedResources:        []string{"events"},
				LabelSelector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "emr"}},
				SnapshotVolumes:          ptr.To(false),
				DefaultVolumesToFsBackup: ptr.To(true),
				TTL:                      &v1.Duration{Duration: 720 * time.Hour},
				StorageLocation:          "default",
				Hooks: &v1.BackupHooks{Resources: []v1.BackupResourceHookSpec{{
					Name:               "fsfreeze",
					IncludedNamespaces: []string{"phi-app"},
					PreHooks: []v1.BackupResourceHook{{Exec: &v1.ExecHook{
						Container: "db", Command: []string{"/bin/sync"},
						OnError: velerov1.HookErrorModeFail, Timeout: &v1.Duration{Duration: time.Minute},
					}}},
				}}},
			},
			OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
			Retention:        &v1.RetentionPolicy{KeepLast: 3, KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12, KeepYearly: 7},
		},
	}
}

func validOffsiteBackup(name string) *v1.OffsiteBackup {
	return &v1.OffsiteBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.OffsiteBackupSpec{
			BackupScheduleRef: &corev1.LocalObjectReference{Name: "nightly"},
			OffsiteTargetRef:  corev1.LocalObjectReference{Name: "offsite"},
			ScheduleName:      "nightly",
			VeleroBackupName:  "nightly-20260501023000",
		},
	}
}

func TestCRDs(t *testing.T) {
	cp := startAPI(t)
	c := cp.Client
	ctx := t.Context()

	t.Run("BackupSchedule round-trips", func(t *testing.T) {
		in := validSchedule("roundtrip")
		if err := c.Create(ctx, in.DeepCopy()); err != nil {
			t.Fatalf("create: %v", err)
		}
		var got v1.BackupSchedule
		if err := c.Get(ctx, client.ObjectKeyFromObject(in), &got); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(got.Spec, in.Spec) {
			t.Errorf("spec changed on the way:\n got %+v\nwant %+v", got.Spec, in.Spec)
		}
		now := metav1.NewTime(time.Date(2026, 5, 1, 6, 30, 0, 0, time.UTC))
		got.Status = v1.BackupScheduleStatus{
			ObservedGeneration: got.Generation,
			LastScheduleTime:   &now,
			NextScheduleTime:   &now,
			LastSealedBackup:   "roundtrip-20260501063000",
			LastSealTime:       &now,
			Active:             "roundtrip-20260502063000",
			Conditions: []metav1.Condition{{
				Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonScheduled,
				Message: "next run at 2026-05-02T02:30:00-04:00", LastTransitionTime: now,
			}},
		}
		if err := c.Status().Update(ctx, &got); err != nil {
			t.Fatalf("status update: %v", err)
		}
	})

	t.Run("OffsiteBackup round-trips and its spec is immutable", func(t *testing.T) {
		in := validOffsiteBackup("ob-immutable")
		if err := c.Create(ctx, in.DeepCopy()); err != nil {
			t.Fatalf("create: %v", err)
		}
		var got v1.OffsiteBackup
		if err := c.Get(ctx, client.ObjectKeyFromObject(in), &got); err != nil {
			t.Fatal(err)
		}
		now := metav1.NewTime(time.Date(2026, 5, 1, 6, 31, 0, 0, time.UTC))
		got.Status = v1.OffsiteBackupStatus{
			Objects: 9, PlaintextBytes: 12345, CiphertextBytes: 13000,
			SealDigest:            "sha256:" + strings.Repeat("ab", 32),
			RecipientFingerprints: []string{"sha256:00112233445566778899aabbccddeeff"},
			SealedAt:              &now,
			SealDuration:          &v1.Duration{Duration: 3 * time.Second},
			RetainUntil:           &metav1.Time{Time: now.AddDate(0, 0, 30)},
			LastDrill:             &v1.DrillSummary{Drill: "weekly", Result: v1.DrillPassed, Time: now},
		}
		if err := c.Status().Update(ctx, &got); err != nil {
			t.Fatalf("status update: %v", err)
		}
		got.Spec.VeleroBackupName = "other"
		err := c.Update(ctx, &got)
		if err == nil || !strings.Contains(err.Error(), "spec is immutable") {
			t.Errorf("changing spec: err = %v, want \"spec is immutable\"", err)
		}
	})

	scheduleCases := []struct {
		name    string
		mutate  func(*v1.BackupSchedule)
		wantMsg string
	}{
		{"schedule empty", func(s *v1.BackupSchedule) { s.Spec.Schedule = "" }, "spec.schedule"},
		{"CRON_TZ prefix", func(s *v1.BackupSchedule) { s.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }, "set spec.timeZone instead"},
		{"TZ prefix", func(s *v1.BackupSchedule) { s.Spec.Schedule = "TZ=Europe/Berlin 0 * * * *" }, "set spec.timeZone instead"},
		{"time zone Local", func(s *v1.BackupSchedule) { s.Spec.TimeZone = "Local" }, "not Local"},
		{"time zone with a space", func(s *v1.BackupSchedule) { s.Spec.TimeZone = "America/New York" }, "spec.timeZone"},
		{"time zone path climbing", func(s *v1.BackupSchedule) { s.Spec.TimeZone = "../../etc/passwd" }, "spec.timeZone"},
		{"time zone too long", func(s *v1.BackupSchedule) { s.Spec.TimeZone = strings.Repeat("A", 65) }, "spec.timeZone"},
		{"deadline zero", func(s *v1.BackupSchedule) { s.Spec.StartingDeadlineSeconds = ptr.To[int64](0) }, "spec.startingDeadlineSeconds"},
		{"no target name", func(s *v1.BackupSchedule) { s.Spec.OffsiteTargetRef.Name = "" }, "offsiteTargetRef.name is required"},
		{"negative keepDaily", func(s *v1.BackupSchedule) { s.Spec.Retention.KeepDaily = -1 }, "spec.retention.keepDaily"},
		{"hook without command", func(s *v1.BackupSchedule) {
			s.Spec.Template.Hooks.Resources[0].PreHooks[0].Exec.Command = nil
		}, "command"},
		{"hook onError not an enum value", func(s *v1.BackupSchedule) {
			s.Spec.Template.Hooks.Resources[0].PreHooks[0].Exec.OnError = "Ignore"
		}, "onError"},
	}
	for i, tt := range scheduleCases {
		t.Run("BackupSchedule rejects "+tt.name, func(t *testing.T) {
			s := validSchedule("bad-" + string(rune('a'+i)))
			tt.mutate(s)
			err := c.Create(ctx, s)
			if err == nil {
				t.Fatalf("created an invalid BackupSchedule")
			}
			t.Logf("rejected: %v", err)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}

	t.Logf("bad BackupSchedule specs refused by the API server: %d", len(scheduleCases))

	backupCases := []struct {
		name    string
		mutate  func(*v1.OffsiteBackup)
		wantMsg string
	}{
		{"path traversal in schedule name", func(b *v1.OffsiteBackup) { b.Spec.ScheduleName = "../audit" }, "spec.scheduleName"},
		{"slash in backup name", func(b *v1.OffsiteBackup) { b.Spec.VeleroBackupName = "a/b" }, "spec.veleroBackupName"},
		{"no backup name", func(b *v1.OffsiteBackup) { b.Spec.VeleroBackupName = "" }, "spec.veleroBackupName"},
		{"no target name", func(b *v1.OffsiteBackup) { b.Spec.OffsiteTargetRef.Name = "" }, "offsiteTargetRef.name is required"},
	}
	for i, tt := range backupCases {
		t.Run("OffsiteBackup rejects "+tt.name, func(t *testing.T) {
			b := validOffsiteBackup("bad-" + string(rune('a'+i)))
			tt.mutate(b)
			err := c.Create(ctx, b)
			if err == nil {
				t.Fatalf("created an invalid OffsiteBackup")
			}
			t.Logf("rejected: %v", err)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}

	t.Run("OffsiteBackup status rejects a malformed digest and drill result", func(t *testing.T) {
		b := validOffsiteBackup("bad-status")
		if err := c.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		for _, mutate := range []func(*v1.OffsiteBackupStatus){
			func(s *v1.OffsiteBackupStatus) { s.SealDigest = strings.Repeat("ab", 32) },
			func(s *v1.OffsiteBackupStatus) {
				s.LastDrill = &v1.DrillSummary{Result: "Maybe", Time: metav1.Now()}
			},
			func(s *v1.OffsiteBackupStatus) { s.CiphertextBytes = -1 },
		} {
			o := b.DeepCopy()
			mutate(&o.Status)
			if err := c.Status().Update(ctx, o); err == nil {
				t.Errorf("status %+v accepted", o.Status)
			}
		}
	})

	t.Run("printer columns", func(t *testing.T) {
		for _, tc := range []struct {
			resource, name string
			want           []string
		}{
			{"backupschedules", "roundtrip", []string{"Name", "Schedule", "Suspend", "Last", "Next", "Ready", "Age"}},
			{"offsitebackups", "ob-immutable", []string{"Name", "Schedule", "Backup", "Objects", "Bytes", "Sealed", "Ready", "Retained", "Age"}},
		} {
			cols := tableColumns(t, cp, tc.resource, tc.name)
			if strings.Join(cols, ",") != strings.Join(tc.want, ",") {
				t.Errorf("%s columns %v, want %v", tc.resource, cols, tc.want)
			}
		}
	})
}

// tableColumns asks the API server for the kubectl table of one object and
// returns the names of the columns shown by default (priority 0).
func tableColumns(t *testing.T, cp *testbed.ControlPlane, resource, name string) []string {
	t.Helper()
	table := getTable(t, cp, resource, name)
	var cols []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, c.Name)
		}
	}
	return cols
}

// tableCells returns the cells of one object's kubectl table (every
// column, -o wide ones included) by column name.
func tableCells(t *testing.T, cp *testbed.ControlPlane, resource, name string) map[string]any {
	t.Helper()
	table := getTable(t, cp, resource, name)
	cells := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		cells[c.Name] = table.Rows[0].Cells[i]
	}
	return cells
}

// getTable asks the API server for the kubectl table of one object, as
// kubectl get does.
func getTable(t *testing.T, cp *testbed.ControlPlane, resource, name string) metav1.Table {
	t.Helper()
	cfg := rest.CopyConfig(cp.Config)
	cfg.GroupVersion = &v1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(cp.Scheme).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	raw, err := rc.Get().Namespace(ns).Resource(resource).Name(name).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("get table of %s/%s: %v", resource, name, err)
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("%s table has %d rows, want 1", resource, len(table.Rows))
	}
	return table
}

// Times in the future (the next run, the end of an object lock) print as
// RFC 3339: a date column shows "<invalid>" for any future time.
func TestFutureTimesPrint(t *testing.T) {
	cp := startAPI(t)
	c, ctx := cp.Client, t.Context()
	future := metav1.NewTime(time.Now().Add(36 * time.Hour).UTC().Truncate(time.Second))
	want := future.Format(time.RFC3339)

	s := validSchedule("future")
	ob := validOffsiteBackup("future")
	d := validDrill("future")
	for _, o := range []client.Object{s, ob, d} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	s.Status.NextScheduleTime = &future
	ob.Status.RetainUntil = &future
	d.Status.NextScheduleTime = &future
	for _, o := range []client.Object{s, ob, d} {
		if err := c.Status().Update(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ resource, column string }{
		{"backupschedules", "Next"}, {"offsitebackups", "Retain Until"}, {"restoredrills", "Next"},
	} {
		if got := tableCells(t, cp, tc.resource, "future")[tc.column]; got != want {
			t.Errorf("%s column %s shows %v, want %s", tc.resource, tc.column, got, want)
		}
	}
}
