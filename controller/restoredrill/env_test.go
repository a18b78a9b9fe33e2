package restoredrill

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// day0 is the next full hour: the fake clock starts there, after the API
// server stamps the objects' creation (a creation time after the clock's
// now would miss nothing). drillAt, four hours later, is the drills' daily
// time: no fire falls between the real creation and day0, whatever the
// hour the tests run at (a fixed 04:00 was due at once when they ran
// between midnight and 04:00 UTC).
var (
	day0      = time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	drillAt   = day0.Add(4 * time.Hour)
	drillCron = fmt.Sprintf("0 %d * * *", drillAt.Hour())
)

// lastDrillTime is the latest daily drill time at or before now.
func lastDrillTime(now time.Time) time.Time {
	days := now.Sub(drillAt) / (24 * time.Hour)
	if now.Before(drillAt) {
		days--
	}
	return drillAt.Add(days * 24 * time.Hour)
}

// drillEnv is a scheduleEnv with what drills reference: a Ready target, a
// BackupSchedule with sealed OffsiteBackups, an identity Secret, and
// primary and staging BackupStorageLocations. Runs are carried out by a
// stand-in that records the spec it got and passes (the engine itself runs
// in the e2e tests, against real Velero).
type drillEnv struct {
	*kittest.Env
	identity string
	// s3 serves the locations' buckets.
	s3 *testbed.S3Server
	// audit, when set, records the runs of controllers startController starts.
	audit DrillAuditor
}

func newDrillEnv(t *testing.T, start time.Time) *drillEnv {
	t.Helper()
	e := &drillEnv{Env: kittest.NewEnv(t, start)}
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	e.identity = string(crypto.FormatIdentity(id, start))
	// A real S3 server behind the locations: cleanups delete staged
	// objects there.
	s3 := testbed.StartS3(t)
	e.s3 = s3
	s3.CreateBucket(t, "velero", false)
	s3.CreateBucket(t, "staging", false)
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: kit.DefaultVeleroCredentialsSecret, Namespace: kittest.VeleroNS},
		Data:       map[string][]byte{"cloud": fmt.Appendf(nil, "[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n", s3.AccessKey, s3.SecretKey)},
	}
	if err := e.CP.Client.Create(t.Context(), creds); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []struct {
		name, bucket string
		def          bool
	}{{"default", "velero", true}, {"staging", "staging", false}} {
		bsl := &velerov1.BackupStorageLocation{
			ObjectMeta: metav1.ObjectMeta{Name: loc.name, Namespace: kittest.VeleroNS},
			Spec: velerov1.BackupStorageLocationSpec{
				Provider:    "aws",
				StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: loc.bucket}},
				Config:      map[string]string{"region": "us-east-1", "s3Url": s3.Endpoint, "s3ForcePathStyle": "true"},
				Default:     loc.def,
			},
		}
		e.Put(t, bsl)
	}
	return e
}

// fixtures creates in ns: the target, schedule "nightly", the identity
// Secret "drill-identity", and sealed OffsiteBackups sealed at the given
// hours after start.
func (e *drillEnv) fixtures(t *testing.T, ns string, sealedHours ...int) {
	t.Helper()
	e.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
	s := e.Schedule(t, ns, "nightly", v1alpha1.BackupScheduleSpec{Schedule: "0 2 * * *"}, time.Time{})
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "drill-identity", Namespace: ns}, Data: map[string][]byte{"identity": []byte(e.identity)}}
	if err := e.CP.Client.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	for _, h := range sealedHours {
		sealed := e.Clock.Now().Add(time.Duration(h) * time.Hour)
		name := v1alpha1.BackupName(ns, s.Name, sealed)
		ob := &v1alpha1.OffsiteBackup{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, Labels: map[string]string{v1alpha1.LabelSchedule: v1alpha1.ScheduleLabelValue(ns, s.Name)},
		}}
		ob.Spec = v1alpha1.OffsiteBackupSpec{
			BackupScheduleRef: &corev1.LocalObjectReference{Name: s.Name}, OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
			ScheduleName: s.Name, VeleroBackupName: ob.Name,
		}
		if err := e.CP.Client.Create(t.Context(), ob); err != nil {
			t.Fatal(err)
		}
		ob.Status.SealedAt = &metav1.Time{Time: sealed}
		kit.SetCondition(&ob.Status.Conditions, ob.Generation, sealed, v1alpha1.ConditionSealed, metav1.ConditionTrue, v1alpha1.ReasonSealed, "sealed")
		if err := e.CP.Client.Status().Update(t.Context(), ob); err != nil {
			t.Fatal(err)
		}
	}
}

// drill creates a RestoreDrill in ns with spec (defaults filled in).
func (e *drillEnv) drill(t *testing.T, ns, name string, mutate func(*v1alpha1.RestoreDrillSpec)) *v1alpha1.RestoreDrill {
	t.Helper()
	d := &v1alpha1.RestoreDrill{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.RestoreDrillSpec{
			Schedule:          drillCron,
			BackupScheduleRef: corev1.LocalObjectReference{Name: "nightly"},
			IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"},
			Staging:           "staging",
		},
	}
	if mutate != nil {
		mutate(&d.Spec)
	}
	if err := e.CP.Client.Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// drillReconciler returns a reconciler whose runs are carried out by
// carry, with its workers running until the test ends.
func (e *drillEnv) drillReconciler(t *testing.T, carry func(context.Context, drillRunSpec) *drillJobResult) *Reconciler {
	t.Helper()
	r := New(e.CP.Client, e.CP.Client, e.CP.Scheme, e.Rec, Options{
		Clock: e.Clock, VeleroNamespace: kittest.VeleroNS, ReaderClusterRole: "-",
	})
	r.carry = carry
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.StartJobs(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for !r.jobs.Started() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return r
}

func (e *drillEnv) reconcileDrill(t *testing.T, r *Reconciler, d *v1alpha1.RestoreDrill) reconcile.Result {
	t.Helper()
	res, err := r.Reconcile(t.Context(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(d)})
	if err != nil {
		t.Fatalf("reconcile %s: %v", d.Name, err)
	}
	return res
}

func (e *drillEnv) getDrill(t *testing.T, d *v1alpha1.RestoreDrill) *v1alpha1.RestoreDrill {
	t.Helper()
	out := &v1alpha1.RestoreDrill{}
	if err := e.CP.Client.Get(t.Context(), client.ObjectKeyFromObject(d), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitJob waits (at most 30 s) until r's job of d has ended.
func waitJob(t *testing.T, r *Reconciler, d *v1alpha1.RestoreDrill) {
	t.Helper()
	key := client.ObjectKeyFromObject(d)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if j := r.jobs.Lookup(key); j == nil || j.Done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the job of %s did not end within 30 s", d.Name)
}

func wantDrillCondition(t *testing.T, d *v1alpha1.RestoreDrill, condType string, status metav1.ConditionStatus, reason string, words ...string) {
	t.Helper()
	c := meta.FindStatusCondition(d.Status.Conditions, condType)
	if c == nil {
		t.Fatalf("%s has no %s condition: %+v", d.Name, condType, d.Status.Conditions)
	}
	if c.Status != status || c.Reason != reason {
		t.Errorf("%s %s = %s/%s (%q), want %s/%s", d.Name, condType, c.Status, c.Reason, c.Message, status, reason)
	}
	for _, w := range words {
		if !strings.Contains(c.Message, w) {
			t.Errorf("%s %s message %q lacks %q", d.Name, condType, c.Message, w)
		}
	}
}

// passingRun is a stand-in for the engine: every check passes.
func passingRun(_ context.Context, spec drillRunSpec) *drillJobResult {
	end := metav1.NewTime(spec.active.StartTime.Add(3 * time.Second))
	return &drillJobResult{offsiteBackup: spec.offsiteBackup, run: &v1alpha1.DrillRun{
		ID: spec.active.ID, Trigger: spec.active.Trigger, Schedule: spec.schedule, Backup: spec.backup,
		StagedName: spec.active.StagedName, StartTime: spec.active.StartTime, EndTime: &end,
		RTO: &v1alpha1.Duration{Duration: 3 * time.Second}, Result: v1alpha1.DrillRunPassed, Message: "every check passed",
		Checks:  []v1alpha1.DrillCheckResult{{Name: "seal", Passed: true}, {Name: "content", Passed: true}},
		Cleanup: v1alpha1.DrillCleanupDeleted,
	}}
}

func TestRestoreDrillNotReady(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns, 1)
	r := e.drillReconciler(t, passingRun)
	tests := []struct {
		name   string
		mutate func(*v1alpha1.RestoreDrillSpec)
		setup  func(t *testing.T)
		reason string
		words  []string
	}{
		{"bad cron", func(s *v1alpha1.RestoreDrillSpec) { s.Schedule = "61 * * * *" }, nil, v1alpha1.ReasonInvalidSchedule, []string{"spec.schedule", `"61 * * * *"`}},
		{"@every", func(s *v1alpha1.RestoreDrillSpec) { s.Schedule = "@every 1h" }, nil, v1alpha1.ReasonInvalidSchedule, []string{"@every is not supported"}},
		{"unknown zone", func(s *v1alpha1.RestoreDrillSpec) { s.TimeZone = "Mars/Olympus" }, nil, v1alpha1.ReasonInvalidTimeZone, []string{"spec.timeZone", "Mars/Olympus"}},
		{"zone with a typo", func(s *v1alpha1.RestoreDrillSpec) { s.TimeZone = "Europe/Berlln" }, nil, v1alpha1.ReasonInvalidTimeZone, []string{"spec.timeZone", "Europe/Berlln"}},
		{"no schedule", func(s *v1alpha1.RestoreDrillSpec) { s.BackupScheduleRef.Name = "weekly" }, nil, v1alpha1.ReasonScheduleNotFound, []string{"weekly"}},
		{"no secret", func(s *v1alpha1.RestoreDrillSpec) { s.IdentitySecretRef.Name = "nope" }, nil, v1alpha1.ReasonIdentityMissing, []string{"nope"}},
		{"no key", func(s *v1alpha1.RestoreDrillSpec) { s.IdentitySecretRef.Key = "other" }, nil, v1alpha1.ReasonIdentityMissing, []string{`"other"`}},
		{"not an identity", func(s *v1alpha1.RestoreDrillSpec) { s.IdentitySecretRef.Name = "junk" }, func(t *testing.T) {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "junk", Namespace: ns}, Data: map[string][]byte{"identity": []byte("not a key")}}
			if err := e.CP.Client.Create(t.Context(), sec); err != nil {
				t.Fatal(err)
			}
		}, v1alpha1.ReasonIdentityInvalid, []string{"junk"}},
		{"no staging", func(s *v1alpha1.RestoreDrillSpec) { s.Staging = "nowhere" }, nil, v1alpha1.ReasonStagingNotFound, []string{"nowhere"}},
		{"staging is primary", func(s *v1alpha1.RestoreDrillSpec) { s.Staging = "default" }, nil, v1alpha1.ReasonStagingInvalid, []string{"primary"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			d := e.drill(t, ns, "bad-"+string(rune('a'+i)), tt.mutate)
			e.reconcileDrill(t, r, d)
			got := e.getDrill(t, d)
			wantDrillCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionFalse, tt.reason, tt.words...)
			if key := strings.TrimSpace(e.identity[strings.LastIndex(e.identity, "AGE-"):]); strings.Contains(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message, key) {
				t.Errorf("a condition shows the identity")
			}
			if got.Status.Active != nil || len(got.Status.History) != 0 {
				t.Errorf("a drill that is not Ready ran: %+v", got.Status)
			}
		})
	}

	t.Logf("bad RestoreDrill inputs on the real API server: %d, each a False Ready condition naming what is wrong", len(tests))

	t.Run("identity not a recipient of the target", func(t *testing.T) {
		ns := e.Namespace(t)
		e.fixtures(t, ns)
		tgt := &v1alpha1.OffsiteTarget{}
		if err := e.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "offsite"}, tgt); err != nil {
			t.Fatal(err)
		}
		other := "sha256:00112233445566778899aabbccddeeff"
		tgt.Status.RecipientFingerprints = []string{other}
		if err := e.CP.Client.Status().Update(t.Context(), tgt); err != nil {
			t.Fatal(err)
		}
		d := e.drill(t, ns, "weekly", nil)
		e.reconcileDrill(t, r, d)
		got := e.getDrill(t, d)
		wantDrillCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonIdentityNotRecipient,
			"is not a recipient of OffsiteTarget offsite", other)
		if got.Status.Active != nil {
			t.Error("a drill whose identity cannot decrypt the target's seals started a run")
		}
		// Not Ready has an Event, as for every kind.
		if note := e.WaitEvent(t, d, v1alpha1.ReasonIdentityNotRecipient); !strings.Contains(note, "not a recipient") {
			t.Errorf("Event note %q", note)
		}

		id, err := crypto.ParseIdentities(strings.NewReader(e.identity))
		if err != nil {
			t.Fatal(err)
		}
		tgt.Status.RecipientFingerprints = []string{other, id[0].Fingerprint()}
		if err := e.CP.Client.Status().Update(t.Context(), tgt); err != nil {
			t.Fatal(err)
		}
		e.reconcileDrill(t, r, d)
		wantDrillCondition(t, e.getDrill(t, d), v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonScheduled)
		e.WaitEvent(t, d, v1alpha1.ReasonScheduled)
	})

	// A drill restores what its schedule backs up: when the target's
	// policy no longer accepts the schedule's namespaces, no drill runs
	// through the controller either.
	t.Run("target policy refuses the schedule", func(t *testing.T) {
		ns := e.Namespace(t)
		e.fixtures(t, ns)
		tgt := &v1alpha1.OffsiteTarget{}
		if err := e.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "offsite"}, tgt); err != nil {
			t.Fatal(err)
		}
		tgt.Spec.Policy = &v1alpha1.TargetPolicy{Namespaces: []string{"billing-*"}}
		if err := e.CP.Client.Update(t.Context(), tgt); err != nil {
			t.Fatal(err)
		}
		e.SetTargetReady(t, tgt, metav1.ConditionTrue, v1alpha1.ReasonVerified, "ok")
		d := e.drill(t, ns, "weekly", nil)
		e.reconcileDrill(t, r, d)
		got := e.getDrill(t, d)
		wantDrillCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonPolicyViolation,
			`OffsiteTarget "offsite" refuses BackupSchedule`, "the target accepts only billing-*")
		if got.Status.Active != nil || len(got.Status.History) != 0 {
			t.Errorf("a drill of a schedule its target refuses ran: %+v", got.Status)
		}
		if note := e.WaitEvent(t, d, v1alpha1.ReasonPolicyViolation); !strings.Contains(note, "billing-*") {
			t.Errorf("Event note %q", note)
		}
	})

	t.Run("target not Ready", func(t *testing.T) {
		ns := e.Namespace(t)
		e.fixtures(t, ns)
		tgt := &v1alpha1.OffsiteTarget{}
		if err := e.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "offsite"}, tgt); err != nil {
			t.Fatal(err)
		}
		e.SetTargetReady(t, tgt, metav1.ConditionFalse, v1alpha1.ReasonBucketMissing, "bucket offsite does not exist")
		d := e.drill(t, ns, "weekly", nil)
		res := e.reconcileDrill(t, r, d)
		wantDrillCondition(t, e.getDrill(t, d), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonTargetNotReady, "BucketMissing")
		if res.RequeueAfter <= 0 || res.RequeueAfter > drillRefRetryInterval {
			t.Errorf("requeue after %s, want a retry within %s", res.RequeueAfter, drillRefRetryInterval)
		}
	})
}

func TestRestoreDrillSchedule(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns, -30, -6, -1) // sealed over the last day and more
	r := e.drillReconciler(t, passingRun)
	d := e.drill(t, ns, "daily", func(s *v1alpha1.RestoreDrillSpec) { s.HistoryLimit = 2 })

	res := e.reconcileDrill(t, r, d)
	waitJob(t, r, d) // the first sweep of what earlier runs left
	got := e.getDrill(t, d)
	wantDrillCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonScheduled, drillAt.Format(time.RFC3339))
	wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionUnknown, v1alpha1.ReasonNeverDrilled)
	if n := got.Status.NextScheduleTime; n == nil || !n.Equal(&metav1.Time{Time: drillAt}) {
		t.Fatalf("nextScheduleTime %v, want %s", n, drillAt)
	}
	if res.RequeueAfter != 4*time.Hour {
		t.Errorf("requeue after %s, want 4h", res.RequeueAfter)
	}

	for day := range 3 {
		e.Clock.Step(24 * time.Hour)
		if day == 0 {
			e.Clock.SetTime(drillAt.Add(5 * time.Second))
		}
		e.reconcileDrill(t, r, d)
		got = e.getDrill(t, d)
		a := got.Status.Active
		if a == nil {
			t.Fatalf("day %d: no run started: %+v", day, got.Status)
		}
		if want := lastDrillTime(e.Clock.Now()); a.ID != v1alpha1.DrillRunID(want, v1alpha1.TriggerSchedule) {
			t.Errorf("run ID %s, want the scheduled time's %s", a.ID, v1alpha1.DrillRunID(want, v1alpha1.TriggerSchedule))
		}
		wantDrillCondition(t, got, v1alpha1.ConditionRunning, metav1.ConditionTrue, v1alpha1.ReasonDrilling)
		if want := v1alpha1.BackupName(ns, "nightly", day0.Add(-time.Hour)); a.Backup != want {
			t.Errorf("drilled %s, want the latest, %s", a.Backup, want)
		}
		waitJob(t, r, d)
		e.reconcileDrill(t, r, d)
		got = e.getDrill(t, d)
		if got.Status.Active != nil || got.Status.LastRun == nil || got.Status.LastRun.ID != a.ID {
			t.Fatalf("day %d: the run was not recorded: %+v", day, got.Status)
		}
		wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionTrue, v1alpha1.ReasonDrillPassed)
	}
	if len(got.Status.History) != 2 {
		t.Errorf("history holds %d runs, want historyLimit 2", len(got.Status.History))
	}
	if got.Status.LastPassTime == nil || got.Status.History[0].ID != got.Status.LastRun.ID {
		t.Errorf("lastPassTime %v, history[0] %s, lastRun %s", got.Status.LastPassTime, got.Status.History[0].ID, got.Status.LastRun.ID)
	}
	ob := &v1alpha1.OffsiteBackup{}
	if err := e.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: got.Status.LastRun.Backup}, ob); err != nil {
		t.Fatal(err)
	}
	if ob.Status.LastDrill == nil || ob.Status.LastDrill.Result != v1alpha1.DrillPassed || ob.Status.LastDrill.Drill != "daily" {
		t.Errorf("OffsiteBackup lastDrill %+v, want Passed by daily", ob.Status.LastDrill)
	}
	if !meta.IsStatusConditionTrue(ob.Status.Conditions, v1alpha1.ConditionVerified) {
		t.Errorf("OffsiteBackup Verified is not True: %+v", ob.Status.Conditions)
	}
	e.WaitEvent(t, &v1alpha1.BackupSchedule{ObjectMeta: got.ObjectMeta}, v1alpha1.ReasonDrillPassed)
}

func TestRestoreDrillRunNowAndInterrupted(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns, -3, -2)
	block := make(chan struct{})
	blocking := func(ctx context.Context, spec drillRunSpec) *drillJobResult {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return passingRun(ctx, spec)
	}
	r := e.drillReconciler(t, blocking)
	d := e.drill(t, ns, "manual", func(s *v1alpha1.RestoreDrillSpec) { s.Backup = v1alpha1.DrillBackupOldest })
	e.reconcileDrill(t, r, d)
	waitJob(t, r, d)
	e.reconcileDrill(t, r, d)

	asked := day0.Add(10 * time.Minute)
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"`+v1alpha1.AnnotationRunNow+`":"`+asked.Format(time.RFC3339)+`"}}}`))
	if err := e.CP.Client.Patch(t.Context(), d, patch); err != nil {
		t.Fatal(err)
	}
	e.reconcileDrill(t, r, d)
	got := e.getDrill(t, d)
	id := v1alpha1.DrillRunID(asked, v1alpha1.TriggerManual)
	if got.Status.Active == nil || got.Status.Active.ID != id || got.Status.Active.Trigger != v1alpha1.TriggerManual {
		t.Fatalf("active %+v, want manual run %s", got.Status.Active, id)
	}
	if _, ok := got.Annotations[v1alpha1.AnnotationRunNow]; ok {
		t.Errorf("the run-now annotation stayed after the run started")
	}
	if want := v1alpha1.BackupName(ns, "nightly", day0.Add(-3*time.Hour)); got.Status.Active.Backup != want {
		t.Errorf("drilled %s, want the oldest, %s", got.Status.Active.Backup, want)
	}
	if got.Status.LastScheduleTime != nil {
		t.Errorf("a manual run set lastScheduleTime")
	}

	// One run at a time: while it runs, a reconcile starts nothing else.
	e.reconcileDrill(t, r, d)
	if a := e.getDrill(t, d).Status.Active; a == nil || a.ID != id {
		t.Fatalf("active changed while the run was in flight: %+v", a)
	}

	// A restart mid-run: a new reconciler has no job for the active run.
	r2 := e.drillReconciler(t, passingRun)
	e.reconcileDrill(t, r2, d)
	got = e.getDrill(t, d)
	if got.Status.Active != nil || got.Status.LastRun == nil || got.Status.LastRun.ID != id {
		t.Fatalf("the interrupted run was not recorded: %+v", got.Status)
	}
	if l := got.Status.LastRun; l.Result != v1alpha1.DrillRunError || l.Cleanup != v1alpha1.DrillCleanupPending {
		t.Errorf("interrupted run %+v, want Error with cleanup Pending", l)
	}
	wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionFalse, v1alpha1.ReasonDrillInterrupted)
	if j := r2.jobs.Lookup(client.ObjectKeyFromObject(d)); j == nil || j.Kind != drillJobCleanup {
		t.Fatalf("no cleanup job after the interrupted run: %+v", j)
	}
	waitJob(t, r2, d)
	e.reconcileDrill(t, r2, d)
	if l := e.getDrill(t, d).Status.LastRun; l.Cleanup != v1alpha1.DrillCleanupDeleted {
		t.Errorf("after the sweep the interrupted run's cleanup is %s, want Deleted", l.Cleanup)
	}
	close(block)

	// A suspended drill refuses run-now, and removes the annotation.
	if err := e.CP.Client.Patch(t.Context(), d, client.RawPatch("application/merge-patch+json",
		[]byte(`{"spec":{"suspend":true},"metadata":{"annotations":{"`+v1alpha1.AnnotationRunNow+`":"x"}}}`))); err != nil {
		t.Fatal(err)
	}
	e.reconcileDrill(t, r2, d)
	got = e.getDrill(t, d)
	if _, ok := got.Annotations[v1alpha1.AnnotationRunNow]; ok || got.Status.Active != nil {
		t.Errorf("suspended drill: annotation kept or run started: %+v", got.Status.Active)
	}
	wantDrillCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSuspended)
	e.WaitEvent(t, &v1alpha1.BackupSchedule{ObjectMeta: got.ObjectMeta}, "RunNowRefused")
}

func TestRestoreDrillNoSealedBackup(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns)
	r := e.drillReconciler(t, passingRun)
	d := e.drill(t, ns, "empty", func(s *v1alpha1.RestoreDrillSpec) { s.Schedule = "*/5 * * * *" })
	e.reconcileDrill(t, r, d)
	waitJob(t, r, d)
	e.reconcileDrill(t, r, d)
	e.Clock.Step(5 * time.Minute)
	e.reconcileDrill(t, r, d)
	got := e.getDrill(t, d)
	if got.Status.Active != nil || got.Status.LastRun == nil || got.Status.LastRun.Result != v1alpha1.DrillRunError {
		t.Fatalf("status %+v, want an Error run", got.Status)
	}
	wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionFalse, v1alpha1.ReasonNoSealedBackup, "nightly")
}
