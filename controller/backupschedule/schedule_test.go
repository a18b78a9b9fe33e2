package backupschedule

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
)

// TestScheduling drives the reconciler by hand with a clock the test moves,
// on a real API server: when runs are due, what they create, what is
// reported. No Velero server runs: the test sets Backup phases itself, as
// Velero would (that is the API contract between the two).
func TestScheduling(t *testing.T) {
	env := newScheduleEnv(t, at(t, "2026-05-01T10:02:00Z"))
	hourly := v1alpha1.BackupScheduleSpec{
		Schedule: "0 * * * *",
		Template: v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, TTL: &v1alpha1.Duration{Duration: 72 * time.Hour}},
	}

	t.Run("due time, requeue and the Backup made", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		spec := *hourly.DeepCopy()
		spec.Schedule = "*/5 * * * *"
		env.Clock.SetTime(at(t, "2026-05-01T10:02:00Z"))
		s := env.Schedule(t, ns, "nightly", spec, at(t, "2026-05-01T10:00:00Z"))
		r := env.reconciler(Options{})

		res := env.reconcile(t, r, s)
		if res.RequeueAfter != 3*time.Minute {
			t.Errorf("RequeueAfter = %s, want 3m (the next time, 10:05)", res.RequeueAfter)
		}
		got := env.get(t, s)
		if n := got.Status.NextScheduleTime; n == nil || !n.Time.Equal(at(t, "2026-05-01T10:05:00Z")) {
			t.Errorf("nextScheduleTime = %v, want 10:05", n)
		}
		wantCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonScheduled, "next run at 2026-05-01T10:05:00Z")
		if b := env.backups(t, s); len(b) != 0 {
			t.Fatalf("%d Velero backups before the due time", len(b))
		}

		env.Clock.SetTime(at(t, "2026-05-01T10:05:00Z"))
		res = env.reconcile(t, r, s)
		if res.RequeueAfter != 5*time.Minute {
			t.Errorf("RequeueAfter = %s, want 5m", res.RequeueAfter)
		}
		bs := env.backups(t, s)
		if len(bs) != 1 {
			t.Fatalf("%d Velero backups at the due time, want 1", len(bs))
		}
		b := bs[0]
		wantName := ns + ".nightly-20260501100500"
		if b.Name != wantName {
			t.Errorf("backup name = %s, want %s", b.Name, wantName)
		}
		if b.Annotations[v1alpha1.AnnotationScheduleNamespace] != ns || b.Annotations[v1alpha1.AnnotationScheduleName] != "nightly" ||
			b.Annotations[v1alpha1.AnnotationScheduledTime] != "2026-05-01T10:05:00Z" || b.Annotations[v1alpha1.AnnotationTrigger] != v1alpha1.TriggerSchedule {
			t.Errorf("backup annotations = %v", b.Annotations)
		}
		if len(b.Spec.IncludedNamespaces) != 1 || b.Spec.IncludedNamespaces[0] != "phi-app" || b.Spec.TTL.Duration != 72*time.Hour {
			t.Errorf("backup spec = %+v, want the template's", b.Spec)
		}
		got = env.get(t, s)
		if got.Status.Active != wantName || got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Time.Equal(at(t, "2026-05-01T10:05:00Z")) {
			t.Errorf("status active %q lastScheduleTime %v", got.Status.Active, got.Status.LastScheduleTime)
		}
		wantCondition(t, got, v1alpha1.ConditionRunning, metav1.ConditionTrue, v1alpha1.ReasonBackupInProgress, wantName)

		// A reconcile in between (a watch event) starts nothing more.
		env.Clock.SetTime(at(t, "2026-05-01T10:07:00Z"))
		if res = env.reconcile(t, r, s); res.RequeueAfter != 3*time.Minute {
			t.Errorf("RequeueAfter = %s, want 3m", res.RequeueAfter)
		}
		if n := len(env.backups(t, s)); n != 1 {
			t.Errorf("%d Velero backups after a reconcile between due times, want 1", n)
		}
	})

	t.Run("one run at a time; Failed and PartiallyFailed are reported", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		env.Clock.SetTime(at(t, "2026-05-01T11:00:00Z"))
		s := env.Schedule(t, ns, "hourly", hourly, at(t, "2026-05-01T10:00:00Z"))
		r := env.reconciler(Options{})
		env.reconcile(t, r, s)
		first := ns + ".hourly-20260501110000"

		// 12:00 is due but the 11:00 run is still in flight.
		env.Clock.SetTime(at(t, "2026-05-01T12:00:00Z"))
		env.reconcile(t, r, s)
		if bs := env.backups(t, s); len(bs) != 1 {
			t.Fatalf("%d Velero backups while a run is in flight, want 1", len(bs))
		}
		env.setPhase(t, first, velerov1.BackupPhaseInProgress, func(st *velerov1.BackupStatus) {
			st.Progress = &velerov1.BackupProgress{TotalItems: 10, ItemsBackedUp: 4}
		})
		env.reconcile(t, r, s)
		wantCondition(t, env.get(t, s), v1alpha1.ConditionRunning, metav1.ConditionTrue, v1alpha1.ReasonBackupInProgress, "InProgress (4 of 10 items)")

		env.setPhase(t, first, velerov1.BackupPhaseFailed, func(st *velerov1.BackupStatus) { st.FailureReason = "plugin panicked" })
		env.Clock.SetTime(at(t, "2026-05-01T12:00:30Z"))
		env.reconcile(t, r, s)
		got := env.get(t, s)
		wantCondition(t, got, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonBackupFailed, first, "plugin panicked", "nothing was sealed")
		if note := env.WaitEvent(t, s, v1alpha1.ReasonBackupFailed); !strings.Contains(note, "plugin panicked") {
			t.Errorf("BackupFailed event says %q", note)
		}
		// The run ended, so the 12:00 run (missed while it ran) starts now.
		second := ns + ".hourly-20260501120000"
		if got.Status.Active != second {
			t.Fatalf("active = %q after the failed run, want %s", got.Status.Active, second)
		}
		if got.Status.LastSealedBackup != "" {
			t.Errorf("lastSealedBackup = %q after a failed run", got.Status.LastSealedBackup)
		}

		env.setPhase(t, second, velerov1.BackupPhasePartiallyFailed, func(st *velerov1.BackupStatus) { st.Errors, st.Warnings = 2, 1 })
		env.reconcile(t, r, s)
		got = env.get(t, s)
		wantCondition(t, got, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonBackupPartiallyFailed, second, "2 errors")
		env.WaitEvent(t, s, v1alpha1.ReasonBackupPartiallyFailed)
		if got.Status.Active != "" {
			t.Errorf("active = %q after the run ended", got.Status.Active)
		}
		wantCondition(t, got, v1alpha1.ConditionRunning, metav1.ConditionFalse, v1alpha1.ReasonIdle)
		if var2 := env.get(t, s); len(env.backups(t, var2)) != 2 {
			t.Errorf("want exactly 2 Velero backups")
		}
	})

	// The status that records a run's Backup is not read back: the
	// controller died before its patch landed (restart), or the same
	// process read a lagging cache or its patch failed (no restart).
	// Either way no second Backup is made, and a restart is logged only
	// when there was one.
	for _, tc := range []struct {
		name    string
		restart bool
		logs    string
	}{
		{"the Backup's name survives a restart: no second Backup", true, "made before a restart"},
		{"a Backup found again without a restart is not said to be from before one", false, "this process created"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
			env.Clock.SetTime(at(t, "2026-05-01T13:00:05Z"))
			s := env.Schedule(t, ns, "hourly", hourly, at(t, "2026-05-01T12:00:00Z"))
			r := env.reconciler(Options{})
			env.reconcile(t, r, s)

			got := env.get(t, s)
			got.Status.Active, got.Status.LastScheduleTime = "", &metav1.Time{Time: at(t, "2026-05-01T12:00:00Z")}
			if err := env.CP.Client.Status().Update(t.Context(), got); err != nil {
				t.Fatal(err)
			}
			env.Clock.SetTime(at(t, "2026-05-01T13:00:40Z"))
			if tc.restart {
				r = env.reconciler(Options{})
			}
			logs := env.reconcileLogged(t, r, s)
			bs := env.backups(t, s)
			if len(bs) != 1 {
				t.Fatalf("%d Velero backups, want 1", len(bs))
			}
			if got := env.get(t, s); got.Status.Active != bs[0].Name {
				t.Errorf("active = %q, want the Backup made before, %s", got.Status.Active, bs[0].Name)
			}
			said := func(w string) bool {
				return slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, w) })
			}
			if !said(tc.logs) || (!tc.restart && said("restart")) {
				t.Errorf("the logs do not say %q (a restart only when there was one):\n%s", tc.logs, strings.Join(logs, "\n"))
			}
		})
	}

	t.Run("a restarted controller exports the last seal time from status", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		env.Clock.SetTime(at(t, "2026-05-01T13:30:00Z"))
		s := env.Schedule(t, ns, "hourly", hourly, at(t, "2026-05-01T12:00:00Z"))
		got := env.get(t, s)
		sealed := at(t, "2026-05-01T13:00:42Z")
		got.Status.LastSealTime = &metav1.Time{Time: sealed}
		if err := env.CP.Client.Status().Update(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		env.reconcile(t, env.reconciler(Options{}), s)
		if v := metricValue(t, lastSealTimestamp.WithLabelValues(ns, "hourly")); v != float64(sealed.Unix()) {
			t.Errorf("last seal timestamp = %v, want %d from status", v, sealed.Unix())
		}
		if v := metricValue(t, scheduleInterval.WithLabelValues(ns, "hourly")); v != 3600 {
			t.Errorf("interval = %v, want 3600", v)
		}
	})

	t.Run("time zone and daylight saving", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		r := env.reconciler(Options{})

		// New York springs forward on 2026-03-08: 02:30 does not exist that
		// day, so the next run after the 7th is on the 9th.
		ny := *hourly.DeepCopy()
		ny.Schedule, ny.TimeZone = "30 2 * * *", "America/New_York"
		env.Clock.SetTime(at(t, "2026-03-07T12:00:00-05:00"))
		s := env.Schedule(t, ns, "ny", ny, at(t, "2026-03-07T02:30:00-05:00"))
		res := env.reconcile(t, r, s)
		want := at(t, "2026-03-09T02:30:00-04:00")
		if got := env.get(t, s).Status.NextScheduleTime; got == nil || !got.Time.Equal(want) {
			t.Errorf("New York nextScheduleTime = %v, want %s", got, want)
		}
		if wantAfter := want.Sub(env.Clock.Now()); res.RequeueAfter != wantAfter {
			t.Errorf("RequeueAfter = %s, want %s", res.RequeueAfter, wantAfter)
		}

		// Berlin falls back on 2026-10-25: 02:30 happens twice, an hour
		// apart, and each is a run with its own Backup.
		berlin := *hourly.DeepCopy()
		berlin.Schedule, berlin.TimeZone = "30 2 * * *", "Europe/Berlin"
		env.Clock.SetTime(at(t, "2026-10-25T02:30:00+02:00"))
		b := env.Schedule(t, ns, "berlin", berlin, at(t, "2026-10-24T02:30:00+02:00"))
		res = env.reconcile(t, r, b)
		if res.RequeueAfter != time.Hour {
			t.Errorf("RequeueAfter after the first 02:30 = %s, want 1h (the second 02:30)", res.RequeueAfter)
		}
		env.setPhase(t, ns+".berlin-20261025003000", velerov1.BackupPhaseFailed, nil)
		env.Clock.SetTime(at(t, "2026-10-25T02:30:00+01:00"))
		env.reconcile(t, r, b) // ends the first run
		env.reconcile(t, r, b)
		names := map[string]bool{}
		for _, bk := range env.backups(t, b) {
			names[bk.Name] = true
		}
		if !names[ns+".berlin-20261025003000"] || !names[ns+".berlin-20261025013000"] || len(names) != 2 {
			t.Errorf("Backups on the fall-back day = %v, want 00:30 and 01:30 UTC", names)
		}
	})

	t.Run("suspend", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		spec := *hourly.DeepCopy()
		spec.Suspend = true
		env.Clock.SetTime(at(t, "2026-05-01T15:00:00Z"))
		s := env.Schedule(t, ns, "paused", spec, at(t, "2026-05-01T14:00:00Z"))
		r := env.reconciler(Options{})
		res := env.reconcile(t, r, s)
		got := env.get(t, s)
		if res.RequeueAfter != 0 || got.Status.NextScheduleTime != nil || len(env.backups(t, s)) != 0 {
			t.Errorf("suspended: RequeueAfter %s, nextScheduleTime %v, %d backups; want none of them", res.RequeueAfter, got.Status.NextScheduleTime, len(env.backups(t, s)))
		}
		wantCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSuspended)

		// A run asked for by hand is refused while suspended.
		got.Annotations = map[string]string{v1alpha1.AnnotationRunNow: "2026-05-01T15:00:10Z"}
		if err := env.CP.Client.Update(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		env.reconcile(t, r, s)
		if n := len(env.backups(t, s)); n != 0 {
			t.Errorf("%d Velero backups after run-now on a suspended schedule", n)
		}
		env.WaitEvent(t, s, "RunNowRefused")
		got = env.get(t, s)
		if _, ok := got.Annotations[v1alpha1.AnnotationRunNow]; ok {
			t.Errorf("the refused run-now annotation is still there")
		}

		// Resumed, the missed 15:00 run starts (no deadline).
		got.Spec.Suspend = false
		if err := env.CP.Client.Update(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		env.Clock.SetTime(at(t, "2026-05-01T15:20:00Z"))
		env.reconcile(t, r, s)
		if bs := env.backups(t, s); len(bs) != 1 || bs[0].Name != ns+".paused-20260501150000" {
			t.Errorf("after resuming: %d backups, want the 15:00 run", len(bs))
		}
	})

	t.Run("starting deadline: one missed run at most, none past the deadline", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		spec := *hourly.DeepCopy()
		spec.StartingDeadlineSeconds = ptr.To[int64](120)
		r := env.reconciler(Options{})

		// Down from 10:00 to 13:01: three runs missed, the last within 2 min.
		env.Clock.SetTime(at(t, "2026-05-01T13:01:00Z"))
		s := env.Schedule(t, ns, "outage", spec, at(t, "2026-05-01T10:00:00Z"))
		env.reconcile(t, r, s)
		bs := env.backups(t, s)
		if len(bs) != 1 || bs[0].Name != ns+".outage-20260501130000" {
			t.Fatalf("after an outage: %d backups (%v), want only the 13:00 run", len(bs), bs)
		}
		if note := env.WaitEvent(t, s, "MissedRuns"); !strings.Contains(note, "2 earlier") {
			t.Errorf("MissedRuns event says %q", note)
		}

		// Down from 10:00 to 13:05: every missed run is past the deadline.
		env.Clock.SetTime(at(t, "2026-05-01T13:05:00Z"))
		late := env.Schedule(t, ns, "late", spec, at(t, "2026-05-01T10:00:00Z"))
		res := env.reconcile(t, r, late)
		if n := len(env.backups(t, late)); n != 0 {
			t.Errorf("%d backups past the deadline, want 0", n)
		}
		if res.RequeueAfter != 55*time.Minute {
			t.Errorf("RequeueAfter = %s, want 55m (14:00)", res.RequeueAfter)
		}
		wantCondition(t, env.get(t, late), v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonMissedDeadline,
			"2026-05-01T13:00:00Z", "startingDeadlineSeconds")
		env.WaitEvent(t, late, v1alpha1.ReasonMissedDeadline)
	})

	t.Run("run now", func(t *testing.T) {
		ns := env.Namespace(t)
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		env.Clock.SetTime(at(t, "2026-05-01T16:20:00Z"))
		s := env.Schedule(t, ns, "manual", hourly, at(t, "2026-05-01T16:00:00Z"))
		s.Annotations = map[string]string{v1alpha1.AnnotationRunNow: "2026-05-01T16:19:58Z"}
		if err := env.CP.Client.Update(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		env.reconcile(t, env.reconciler(Options{}), s)
		bs := env.backups(t, s)
		if len(bs) != 1 || bs[0].Name != ns+".manual-20260501161958-manual" || bs[0].Annotations[v1alpha1.AnnotationTrigger] != v1alpha1.TriggerManual {
			t.Fatalf("run-now made %v", bs)
		}
		got := env.get(t, s)
		if _, ok := got.Annotations[v1alpha1.AnnotationRunNow]; ok {
			t.Errorf("run-now annotation not removed")
		}
		if !got.Status.LastScheduleTime.Time.Equal(at(t, "2026-05-01T16:00:00Z")) {
			t.Errorf("a manual run moved lastScheduleTime to %s", got.Status.LastScheduleTime)
		}
	})
}

// TestBadScheduleInputs: each bad input gives the condition and message a
// user needs, is terminal when only a spec change can fix it, and starts
// nothing.
func TestBadScheduleInputs(t *testing.T) {
	env := newScheduleEnv(t, at(t, "2026-05-01T10:00:00Z"))
	tests := []struct {
		name     string
		spec     v1alpha1.BackupScheduleSpec
		target   string // "": none; "ready"; "failing"
		reason   string
		words    []string
		terminal bool // no requeue
	}{
		{name: "invalid cron", spec: v1alpha1.BackupScheduleSpec{Schedule: "61 * * * *"}, target: "ready",
			reason: v1alpha1.ReasonInvalidSchedule, words: []string{"spec.schedule", `"61 * * * *"`}, terminal: true},
		{name: "six fields", spec: v1alpha1.BackupScheduleSpec{Schedule: "0 0 * * * *"}, target: "ready",
			reason: v1alpha1.ReasonInvalidSchedule, words: []string{"5 fields"}, terminal: true},
		{name: "@every", spec: v1alpha1.BackupScheduleSpec{Schedule: "@every 1h"}, target: "ready",
			reason: v1alpha1.ReasonInvalidSchedule, words: []string{"@every is not supported"}, terminal: true},
		{name: "unknown time zone", spec: v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *", TimeZone: "Mars/Olympus_Mons"}, target: "ready",
			reason: v1alpha1.ReasonInvalidTimeZone, words: []string{"spec.timeZone", "Mars/Olympus_Mons", "IANA"}, terminal: true},
		{name: "time zone with a typo", spec: v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *", TimeZone: "America/New_Yrok"}, target: "ready",
			reason: v1alpha1.ReasonInvalidTimeZone, words: []string{"spec.timeZone", "America/New_Yrok", "IANA"}, terminal: true},
		{name: "day of month 32", spec: v1alpha1.BackupScheduleSpec{Schedule: "0 2 32 * *"}, target: "ready",
			reason: v1alpha1.ReasonInvalidSchedule, words: []string{"spec.schedule", `"0 2 32 * *"`}, terminal: true},
		{name: "@reboot", spec: v1alpha1.BackupScheduleSpec{Schedule: "@reboot"}, target: "ready",
			reason: v1alpha1.ReasonInvalidSchedule, words: []string{"spec.schedule", "@reboot"}, terminal: true},
		{name: "missing target", spec: v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *"},
			reason: v1alpha1.ReasonTargetNotFound, words: []string{`OffsiteTarget "offsite"`, "does not exist"}},
		{name: "target not Ready", spec: v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *"}, target: "failing",
			reason: v1alpha1.ReasonTargetNotReady, words: []string{"not Ready", v1alpha1.ReasonBucketMissing, "bucket offsite does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := env.Namespace(t)
			switch tt.target {
			case "ready":
				env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
			case "failing":
				tgt := env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
				env.SetTargetReady(t, tgt, metav1.ConditionFalse, v1alpha1.ReasonBucketMissing, "bucket offsite does not exist")
			}
			env.Clock.SetTime(at(t, "2026-05-01T11:00:00Z")) // due
			s := env.Schedule(t, ns, "bad", tt.spec, at(t, "2026-05-01T10:00:00Z"))
			r := env.reconciler(Options{})
			res := env.reconcile(t, r, s)
			got := env.get(t, s)
			wantCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionFalse, tt.reason, tt.words...)
			t.Logf("Ready: %s", condition(t, got, v1alpha1.ConditionReady).Message)
			if n := len(env.backups(t, s)); n != 0 {
				t.Errorf("%d Velero backups started, want 0", n)
			}
			if tt.terminal && (res.RequeueAfter != 0 || got.Status.NextScheduleTime != nil) {
				t.Errorf("terminal: RequeueAfter %s, nextScheduleTime %v; want none", res.RequeueAfter, got.Status.NextScheduleTime)
			}
			if !tt.terminal && res.RequeueAfter == 0 {
				t.Errorf("not terminal, but no requeue")
			}
			// Reconciling again changes nothing (no storm of updates).
			rv := got.ResourceVersion
			env.reconcile(t, r, s)
			if again := env.get(t, s); again.ResourceVersion != rv {
				t.Errorf("a second reconcile rewrote the status")
			}
		})
	}

	t.Logf("bad schedule inputs on the real API server: %d, each a False Ready condition naming the field", len(tests))

	t.Run("the target turning Ready starts the missed run", func(t *testing.T) {
		ns := env.Namespace(t)
		tgt := env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		env.SetTargetReady(t, tgt, metav1.ConditionFalse, v1alpha1.ReasonUnreachable, "dial tcp: connection refused")
		env.Clock.SetTime(at(t, "2026-05-01T11:00:00Z"))
		s := env.Schedule(t, ns, "waits", v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *"}, at(t, "2026-05-01T10:00:00Z"))
		r := env.reconciler(Options{})
		env.reconcile(t, r, s)
		if n := len(env.backups(t, s)); n != 0 {
			t.Fatalf("%d backups while the target is not Ready", n)
		}
		if err := env.CP.Client.Get(t.Context(), client.ObjectKeyFromObject(tgt), tgt); err != nil {
			t.Fatal(err)
		}
		env.SetTargetReady(t, tgt, metav1.ConditionTrue, v1alpha1.ReasonVerified, "ok")
		env.Clock.SetTime(at(t, "2026-05-01T11:10:00Z"))
		env.reconcile(t, r, s)
		if bs := env.backups(t, s); len(bs) != 1 || bs[0].Name != ns+".waits-20260501110000" {
			t.Errorf("after the target turned Ready: %v, want the 11:00 run", bs)
		}
	})
}

// Text of any length (here Velero's validation errors, 100 KiB) reaches
// status and Events bounded by the one rule (kit.Message, kit.Note): the
// status patch and the Event are accepted, and the run's end is recorded.
func TestLongFailureMessagesAreBounded(t *testing.T) {
	env := newScheduleEnv(t, at(t, "2026-05-01T11:00:00Z"))
	ns := env.Namespace(t)
	env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
	s := env.Schedule(t, ns, "hourly", v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *"}, at(t, "2026-05-01T10:00:00Z"))
	r := env.reconciler(Options{})
	env.reconcile(t, r, s)
	active := env.get(t, s).Status.Active
	if active == "" {
		t.Fatal("no run started")
	}
	long := make([]string, 200)
	for i := range long {
		long[i] = fmt.Sprintf("error %d: %s", i, strings.Repeat("é", 250))
	}
	env.setPhase(t, active, velerov1.BackupPhaseFailedValidation, func(st *velerov1.BackupStatus) { st.ValidationErrors = long })
	env.reconcile(t, r, s)
	got := env.get(t, s)
	c := condition(t, got, v1alpha1.ConditionLastRunSucceeded)
	if c.Reason != v1alpha1.ReasonBackupFailed || len(c.Message) > kit.MaxMessage || !strings.HasSuffix(c.Message, "...") || !utf8.ValidString(c.Message) {
		t.Errorf("LastRunSucceeded %s, message of %d bytes (valid UTF-8: %v), want BackupFailed cut to at most %d bytes",
			c.Reason, len(c.Message), utf8.ValidString(c.Message), kit.MaxMessage)
	}
	note := env.WaitEvent(t, s, v1alpha1.ReasonBackupFailed)
	if len(note) > kit.MaxNote || !strings.HasPrefix(note, "Velero backup") {
		t.Errorf("BackupFailed Event note of %d bytes, want at most %d", len(note), kit.MaxNote)
	}
}

// A run whose Velero Backup never reaches a terminal phase (no Velero
// server runs here) ends at the backup deadline: failed with
// BackupTimedOut, counted as timed_out, and the next due run starts.
func TestBackupDeadline(t *testing.T) {
	env := newScheduleEnv(t, at(t, "2026-05-01T10:00:00Z"))
	ns := env.Namespace(t)
	env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
	spec := v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *", Template: v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}}}
	s := env.Schedule(t, ns, "stuck", spec, at(t, "2026-05-01T09:00:00Z"))
	r := env.reconciler(Options{BackupDeadline: 30 * time.Minute})
	first, second := ns+".stuck-20260501100000", ns+".stuck-20260501110000"

	env.reconcile(t, r, s)
	if got := env.get(t, s).Status.Active; got != first {
		t.Fatalf("active run %q, want %s", got, first)
	}
	// Before the deadline the run waits, and asks to be woken at it.
	env.Clock.SetTime(at(t, "2026-05-01T10:20:00Z"))
	if res := env.reconcile(t, r, s); res.RequeueAfter != 10*time.Minute {
		t.Errorf("RequeueAfter = %s before the deadline, want 10m (the deadline)", res.RequeueAfter)
	}
	wantCondition(t, env.get(t, s), v1alpha1.ConditionRunning, metav1.ConditionTrue, v1alpha1.ReasonBackupInProgress, first, "New")

	before := metricValue(t, scheduleRuns.WithLabelValues(ns, "stuck", resultTimedOut))
	env.Clock.SetTime(at(t, "2026-05-01T10:30:00Z"))
	env.reconcile(t, r, s)
	got := env.get(t, s)
	wantCondition(t, got, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonBackupTimedOut, first, "30m0s", "nothing was sealed")
	if got.Status.Active != "" {
		t.Errorf("active run %q after the deadline, want none", got.Status.Active)
	}
	if n := metricValue(t, scheduleRuns.WithLabelValues(ns, "stuck", resultTimedOut)) - before; n != 1 {
		t.Errorf("timed_out runs counted %v, want 1", n)
	}
	env.WaitEvent(t, s, v1alpha1.ReasonBackupTimedOut)

	// The next due run goes ahead.
	env.Clock.SetTime(at(t, "2026-05-01T11:00:00Z"))
	env.reconcile(t, r, s)
	if got := env.get(t, s).Status.Active; got != second {
		t.Errorf("active run %q at 11:00, want %s", got, second)
	}
	if n := len(env.backups(t, s)); n != 2 {
		t.Errorf("%d Velero backups, want 2", n)
	}
}
