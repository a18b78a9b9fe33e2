package backupschedule

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// sealEnv adds to scheduleEnv a real S3 server (VersityGW) holding Velero's
// bucket ("velero", prefix cluster-a) and offsite buckets, with the
// BackupStorageLocation and credentials Velero would have.
type sealEnv struct {
	*scheduleEnv
	bed *sealtest.Bed
}

func newSealEnv(t *testing.T) *sealEnv {
	t.Helper()
	return newSealEnvOn(t, sealtest.NewBed(t, true))
}

// newSealEnvOn is newSealEnv on bed's S3 server.
func newSealEnvOn(t *testing.T, bed *sealtest.Bed) *sealEnv {
	t.Helper()
	// A clock near the real one: object lock dates reach the S3 server.
	env := &sealEnv{scheduleEnv: newScheduleEnv(t, time.Now().UTC().Truncate(time.Hour)), bed: bed}
	objs := []client.Object{
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: kit.DefaultVeleroCredentialsSecret, Namespace: kittest.VeleroNS},
			Data: map[string][]byte{"cloud": fmt.Appendf(nil, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
				bed.S3.AccessKey, bed.S3.SecretKey)},
		},
		&velerov1.BackupStorageLocation{
			ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: kittest.VeleroNS},
			Spec: velerov1.BackupStorageLocationSpec{
				Provider:    "aws",
				Default:     true,
				StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "velero", Prefix: "cluster-a"}},
				Config:      map[string]string{"region": "us-east-1", "s3ForcePathStyle": "true", "s3Url": bed.S3.Endpoint},
			},
		},
	}
	for _, o := range objs {
		env.Put(t, o)
	}
	return env
}

// target creates, in ns, an OffsiteTarget on bucket (prefix cluster-a) with
// its credentials and signing key Secrets, marked Ready.
func (e *sealEnv) target(t *testing.T, ns, bucket string, lock *v1alpha1.ObjectLock) *v1alpha1.OffsiteTarget {
	t.Helper()
	e.TargetSecrets(t, ns, "offsite-credentials", "signing", e.bed.S3, e.bed.Signer)
	return e.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{
		S3: v1alpha1.S3Location{Endpoint: e.bed.S3.Endpoint, Bucket: bucket, Prefix: "cluster-a", Region: "us-east-1",
			CredentialsSecretRef: &corev1.LocalObjectReference{Name: "offsite-credentials"}},
		Recipients:          []string{e.bed.Recipients[0].Text},
		ObjectLock:          lock,
		SigningKeySecretRef: corev1.LocalObjectReference{Name: "signing"},
	})
}

// offsite opens bucket's Safekeep root.
func (e *sealEnv) offsite(t *testing.T, bucket string) storage.Store {
	t.Helper()
	return sealtest.OpenStore(t, e.bed.S3.Config(bucket, "cluster-a/safekeep/v1"))
}

// completeBackup writes a synthetic Velero backup named name (started at
// start) into Velero's bucket and marks its Backup Completed, as Velero
// would at the end of a backup.
func (e *sealEnv) completeBackup(t *testing.T, name string, start time.Time) {
	t.Helper()
	e.bed.VeleroBackup(t, name, "Completed", 256<<10)
	meta := fmt.Sprintf(`{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":%q,"namespace":"velero"},
"spec":{"storageLocation":"default"},"status":{"phase":"Completed","startTimestamp":%q,"completionTimestamp":%q}}`,
		name, start.UTC().Format(time.RFC3339), start.Add(time.Second).UTC().Format(time.RFC3339))
	sealtest.Put(t, e.bed.Source, seal.SourcePrefix(name)+seal.VeleroBackupJSON, []byte(meta))
	e.setPhase(t, name, velerov1.BackupPhaseCompleted, nil)
}

// startJobs runs r's seal workers for the test.
func startJobs(t *testing.T, r *Reconciler) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = r.StartJobs(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for range 100 {
		if r.jobs.Started() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("seal workers did not start")
}

// runToSeal reconciles s until its active run's job has ended and the
// result is applied.
func runToSeal(t *testing.T, e *sealEnv, r *Reconciler, s *v1alpha1.BackupSchedule) *v1alpha1.BackupSchedule {
	t.Helper()
	e.reconcile(t, r, s)
	wantCondition(t, e.get(t, s), v1alpha1.ConditionRunning, metav1.ConditionTrue, v1alpha1.ReasonSealing)
	waitWake(t, r, s)
	e.reconcile(t, r, s)
	return e.get(t, s)
}

// sealRunAt moves the clock to when, has s start its run, completes the
// run's Velero backup and reconciles until it is sealed; it returns the
// backup's name.
func (e *sealEnv) sealRunAt(t *testing.T, r *Reconciler, s *v1alpha1.BackupSchedule, when time.Time) string {
	t.Helper()
	e.Clock.SetTime(when)
	e.reconcile(t, r, s)
	name := v1alpha1.BackupName(s.Namespace, s.Name, when)
	e.completeBackup(t, name, when)
	runToSeal(t, e, r, s)
	return name
}

func (e *sealEnv) offsiteBackup(t *testing.T, ns, name string) *v1alpha1.OffsiteBackup {
	t.Helper()
	ob := &v1alpha1.OffsiteBackup{}
	if err := e.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, ob); err != nil {
		t.Fatalf("OffsiteBackup %s: %v", name, err)
	}
	return ob
}

// TestSealing runs schedules against a real S3 server: completed backups
// are sealed and recorded, restarts never seal twice, cut-off seals are
// completed, outages are retried, and retention deletes what it drops once
// object lock allows.
func TestSealing(t *testing.T) {
	env := newSealEnv(t)
	ctx := t.Context()
	hourly := v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *", Retention: &v1alpha1.RetentionPolicy{KeepLast: 1}}
	ns := env.Namespace(t)
	env.target(t, ns, "offsite", &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1})
	offsite := env.offsite(t, "offsite")
	t0 := env.Clock.Now()
	s := env.Schedule(t, ns, "nightly", hourly, t0.Add(-time.Hour))
	r := env.reconciler(Options{ClusterID: "prod-eu-1"})
	startJobs(t, r)
	first := v1alpha1.BackupName(ns, "nightly", t0)

	t.Run("a completed backup is sealed and recorded", func(t *testing.T) {
		env.reconcile(t, r, s)
		env.completeBackup(t, first, t0)
		got := runToSeal(t, env, r, s)
		if got.Status.LastSealedBackup != first || got.Status.Active != "" {
			t.Fatalf("lastSealedBackup %q active %q, want %s and none", got.Status.LastSealedBackup, got.Status.Active, first)
		}
		wantCondition(t, got, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionTrue, v1alpha1.ReasonSealed, first, "sealed to")
		wantCondition(t, got, v1alpha1.ConditionRetentionApplied, metav1.ConditionTrue, v1alpha1.ReasonRetentionApplied, "keep 1 last")
		wantCondition(t, got, v1alpha1.ConditionRunning, metav1.ConditionFalse, v1alpha1.ReasonIdle)
		env.WaitEvent(t, s, v1alpha1.ReasonSealed)

		rep, err := seal.Verify(ctx, offsite, "nightly", first, seal.VerifyOptions{VerifyKey: new(env.bed.Signer.Public()), Identities: env.bed.Identities})
		if err != nil {
			t.Fatalf("the seal does not verify: %v", err)
		}
		audittest.WantEntry(t, auditlog.DefaultActor, offsite, audit.KindSeal, ns+"/nightly/"+first, rep.Seal.Digest())
		if rep.Seal.Cluster != "prod-eu-1" { // Options.ClusterID, --cluster-id
			t.Errorf("seal names cluster %q, want the controller's prod-eu-1", rep.Seal.Cluster)
		}
		ob := env.offsiteBackup(t, ns, first)
		if ob.Status.Objects != int64(rep.Objects) || ob.Status.CiphertextBytes != rep.CiphertextBytes ||
			ob.Status.SealDigest != rep.Seal.Digest() || ob.Status.PlaintextBytes != rep.PlaintextBytes {
			t.Errorf("OffsiteBackup status %+v disagrees with the bucket (%d objects, %d/%d bytes, %s)",
				ob.Status, rep.Objects, rep.PlaintextBytes, rep.CiphertextBytes, rep.Seal.Digest())
		}
		if ob.Status.RetainUntil == nil || ob.Status.RetainUntil.Sub(t0) < 23*time.Hour || ob.Status.SealDuration == nil ||
			len(ob.Status.RecipientFingerprints) != 1 || ob.Status.RecipientFingerprints[0] != env.bed.Recipients[0].Fingerprint() {
			t.Errorf("OffsiteBackup status %+v: want retain-until a day on, a duration and the recipient's fingerprint", ob.Status)
		}
		if !metav1.IsControlledBy(ob, got) || ob.Spec.ScheduleName != "nightly" || ob.Spec.VeleroBackupName != first {
			t.Errorf("OffsiteBackup %+v is not the schedule's record of %s", ob.ObjectMeta, first)
		}
		for _, c := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionSealed, v1alpha1.ConditionRetained} {
			if cc := meta.FindStatusCondition(ob.Status.Conditions, c); cc == nil || cc.Status != metav1.ConditionTrue {
				t.Errorf("OffsiteBackup condition %s = %+v, want True", c, cc)
			}
		}
		if v := metricValue(t, lastSealTimestamp.WithLabelValues(ns, "nightly")); v != float64(rep.Seal.SealedAt.Unix()) {
			t.Errorf("last seal metric = %v, want %d", v, rep.Seal.SealedAt.Unix())
		}
		if v := metricValue(t, sealBytes.WithLabelValues(ns, "nightly")); v != float64(rep.CiphertextBytes) {
			t.Errorf("seal bytes metric = %v, want %d", v, rep.CiphertextBytes)
		}
		if v := metricValue(t, scheduleRuns.WithLabelValues(ns, "nightly", resultSealed)); v != 1 {
			t.Errorf("sealed runs metric = %v, want 1", v)
		}
	})

	t.Run("a restart never seals twice and rebuilds a missing record", func(t *testing.T) {
		before := sealtest.ETags(t, offsite, "")
		if err := env.CP.Client.Delete(ctx, env.offsiteBackup(t, ns, first)); err != nil {
			t.Fatal(err)
		}
		// The controller died after sealing, before recording it.
		got := env.get(t, s)
		got.Status.Active, got.Status.LastSealedBackup = first, ""
		if err := env.CP.Client.Status().Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		r2 := env.reconciler(Options{})
		startJobs(t, r2)
		got = runToSeal(t, env, r2, s)
		wantCondition(t, got, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionTrue, v1alpha1.ReasonSealed, "found already sealed")
		if after := sealtest.ETags(t, offsite, ""); !maps.Equal(before, after) {
			t.Errorf("sealing again after a restart changed the bucket:\nbefore %v\nafter  %v", before, after)
		}
		if ob := env.offsiteBackup(t, ns, first); ob.Status.SealDigest == "" {
			t.Errorf("rebuilt OffsiteBackup has no seal digest")
		}
	})

	second := v1alpha1.BackupName(ns, "nightly", t0.Add(time.Hour))
	t.Run("a seal cut off midway is completed", func(t *testing.T) {
		env.Clock.SetTime(t0.Add(time.Hour))
		env.reconcile(t, r, s)
		env.completeBackup(t, second, t0.Add(time.Hour))
		// Another sealer (the controller before a crash) stops early.
		cut, cancel := context.WithCancel(ctx)
		sl := env.bed.Sealer()
		sl.Recipients, sl.Lock, sl.Concurrency = env.bed.Recipients, &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}, 1
		sl.Progress = func(seal.Progress) { cancel() }
		if _, err := sl.Seal(cut, "nightly", second); err == nil {
			t.Fatal("the cut-off seal completed")
		}
		cancel()
		partial := sealtest.ETags(t, offsite, seal.ObjectsPrefix("nightly", second))
		if _, err := offsite.Stat(ctx, seal.SealKey("nightly", second)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("seal.json after a cut-off seal: %v", err)
		}
		got := runToSeal(t, env, r, s)
		if got.Status.LastSealedBackup != second {
			t.Fatalf("lastSealedBackup = %q, want %s", got.Status.LastSealedBackup, second)
		}
		if _, err := seal.Verify(ctx, offsite, "nightly", second, seal.VerifyOptions{VerifyKey: new(env.bed.Signer.Public()), Identities: env.bed.Identities}); err != nil {
			t.Fatalf("the completed seal does not verify: %v", err)
		}
		after := sealtest.ETags(t, offsite, seal.ObjectsPrefix("nightly", second))
		for k, v := range partial {
			if after[k] != v {
				t.Errorf("%s was uploaded again", k)
			}
		}
	})

	t.Run("retention drops the oldest, which object lock keeps until its date", func(t *testing.T) {
		got := env.get(t, s)
		wantCondition(t, got, v1alpha1.ConditionRetentionApplied, metav1.ConditionTrue, v1alpha1.ReasonWaitingForLock, "1 dropped")
		ob := env.offsiteBackup(t, ns, first)
		c := meta.FindStatusCondition(ob.Status.Conditions, v1alpha1.ConditionRetained)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonWaitingForLock {
			t.Errorf("dropped backup's Retained = %+v, want False/WaitingForLock", c)
		}
		if _, err := offsite.Stat(ctx, seal.SealKey("nightly", first)); err != nil {
			t.Errorf("the dropped, locked backup lost its seal: %v", err)
		}
		// Past its retain-until by the controller's clock, the S3 server
		// (on real time) still refuses: it stays sealed and waits.
		env.Clock.SetTime(ob.Status.RetainUntil.Add(time.Minute))
		env.reconcile(t, r, s)
		waitWake(t, r, s)
		res := env.reconcile(t, r, s)
		ob = env.offsiteBackup(t, ns, first)
		c = meta.FindStatusCondition(ob.Status.Conditions, v1alpha1.ConditionRetained)
		if c == nil || c.Reason != v1alpha1.ReasonWaitingForLock || !strings.Contains(c.Message, "refused") {
			t.Errorf("after a refused delete, Retained = %+v", c)
		}
		if _, err := offsite.Stat(ctx, seal.SealKey("nightly", first)); err != nil {
			t.Errorf("a refused delete lost the seal: %v", err)
		}
		if res.RequeueAfter <= 0 || res.RequeueAfter > lockRetryInterval {
			t.Errorf("RequeueAfter = %s, want a retry within %s", res.RequeueAfter, lockRetryInterval)
		}
	})

	t.Run("an S3 outage during a seal is retried; nothing is lost", func(t *testing.T) {
		env.Clock.Step(time.Hour)
		env.reconcile(t, r, s)
		third := env.get(t, s).Status.Active
		if third == "" {
			t.Fatal("no run started")
		}
		env.completeBackup(t, third, env.Clock.Now())
		env.bed.S3.Stop(t)
		env.reconcile(t, r, s)
		waitWake(t, r, s)
		res := env.reconcile(t, r, s)
		got := env.get(t, s)
		if got.Status.Active != third {
			t.Fatalf("active = %q after a failed seal, want the run kept (%s)", got.Status.Active, third)
		}
		wantCondition(t, got, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonSealFailed, third, "retrying at")
		wantCondition(t, got, v1alpha1.ConditionRunning, metav1.ConditionTrue, v1alpha1.ReasonSealing, "retrying at")
		env.WaitEvent(t, s, v1alpha1.ReasonSealFailed)
		if res.RequeueAfter != kit.RetryDelay(1) {
			t.Errorf("RequeueAfter = %s, want the first retry delay %s", res.RequeueAfter, kit.RetryDelay(1))
		}
		// Before the retry time, nothing is tried again.
		env.reconcile(t, r, s)
		if j := r.jobs.Lookup(client.ObjectKeyFromObject(s)); j == nil || !j.Done {
			t.Fatalf("a seal was retried before its time: %+v", j)
		}

		env.bed.S3.Restart(t)
		env.Clock.Step(kit.RetryDelay(1))
		got = runToSeal(t, env, r, s)
		if got.Status.LastSealedBackup != third || got.Status.Active == third {
			t.Fatalf("after the outage: lastSealedBackup %q active %q, want %s sealed", got.Status.LastSealedBackup, got.Status.Active, third)
		}
		if _, err := seal.Verify(ctx, offsite, "nightly", third, seal.VerifyOptions{VerifyKey: new(env.bed.Signer.Public()), Identities: env.bed.Identities}); err != nil {
			t.Errorf("the seal after the outage does not verify: %v", err)
		}
	})
}

// TestRetentionDeletes: without object lock, retention deletes dropped
// backups (seal.json first) and their records.
func TestRetentionDeletes(t *testing.T) {
	env := newSealEnv(t)
	ctx := t.Context()
	env.bed.S3.CreateBucket(t, "plain", false)
	ns := env.Namespace(t)
	env.target(t, ns, "plain", nil)
	offsite := env.offsite(t, "plain")
	t0 := env.Clock.Now()
	s := env.Schedule(t, ns, "keep1", v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *", Retention: &v1alpha1.RetentionPolicy{KeepLast: 1}}, t0.Add(-time.Hour))
	r := env.reconciler(Options{})
	startJobs(t, r)
	var names []string
	for i := range 2 {
		names = append(names, env.sealRunAt(t, r, s, t0.Add(time.Duration(i)*time.Hour)))
	}
	if keys := sealtest.Keys(sealtest.Snapshot(t, offsite, seal.BackupPrefix("keep1", names[0]))); len(keys) != 0 {
		t.Errorf("the dropped backup is still offsite: %v", keys)
	}
	if _, err := seal.Verify(ctx, offsite, "keep1", names[1], seal.VerifyOptions{VerifyKey: new(env.bed.Signer.Public())}); err != nil {
		t.Errorf("the kept backup: %v", err)
	}
	err := env.CP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: names[0]}, &v1alpha1.OffsiteBackup{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the dropped backup's OffsiteBackup: %v, want it deleted", err)
	}
	env.offsiteBackup(t, ns, names[1])
	audittest.WantEntry(t, auditlog.DefaultActor, offsite, audit.KindRetentionDelete, ns+"/keep1/"+names[0], "keepLast 1")
	if note := env.WaitEvent(t, s, v1alpha1.ReasonRetentionApplied); !strings.Contains(note, names[0]) {
		t.Errorf("RetentionApplied event says %q", note)
	}
}

// TestDeleteBackupOrder: seal.json goes first, so a deletion that object
// lock stops halfway leaves an incomplete copy, never a restorable one; a
// locked seal.json stops it before anything is deleted.
// The order is logic, not S3 behaviour: an in-memory locked bucket (which
// passes the storage contract suite) serves.
func TestDeleteBackupOrder(t *testing.T) {
	ctx := t.Context()
	st := storage.NewMemBucket(storage.MemOptions{ObjectLock: true}).Store("offsite")
	locked := storage.PutOptions{LockMode: storage.LockGovernance, RetainUntil: time.Now().Add(24 * time.Hour)}
	put := func(key string, opts storage.PutOptions) {
		t.Helper()
		opts.Size = 2
		if _, err := st.Put(ctx, key, strings.NewReader("{}"), opts); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	// Objects locked, seal.json not.
	put(seal.ObjectKey("s", "a", "x"), locked)
	put(seal.SealKey("s", "a"), storage.PutOptions{})
	err := deleteBackup(ctx, st, "s", "a")
	if !errors.Is(err, storage.ErrLocked) || errors.Is(err, errSealLocked) {
		t.Errorf("deleteBackup with locked objects = %v, want storage.ErrLocked after seal.json", err)
	}
	if _, err := st.Stat(ctx, seal.SealKey("s", "a")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("seal.json after the delete: %v, want it gone", err)
	}
	// seal.json locked: nothing goes.
	put(seal.ObjectKey("s", "b", "x"), storage.PutOptions{})
	put(seal.SealKey("s", "b"), locked)
	if err := deleteBackup(ctx, st, "s", "b"); !errors.Is(err, errSealLocked) {
		t.Errorf("deleteBackup with a locked seal.json = %v, want errSealLocked", err)
	}
	if _, err := st.Stat(ctx, seal.ObjectKey("s", "b", "x")); err != nil {
		t.Errorf("an object went although seal.json stayed: %v", err)
	}
}

// metricValue reads a gauge's or counter's value.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	switch {
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	case out.Counter != nil:
		return out.Counter.GetValue()
	}
	t.Fatalf("metric %v is neither a gauge nor a counter", m.Desc())
	return 0
}

// TestAbandonedSealMarkers: an incomplete folder whose seal marker is older
// than abandonedSealAfter (a run that ended unsealed: nothing resumes it)
// is removed, marker included; a younger marker's folder (a seal that may
// be running elsewhere) and the run in flight's are left. Marker age is
// logic, not S3 behaviour: an in-memory bucket with a clock serves.
func TestAbandonedSealMarkers(t *testing.T) {
	ctx := t.Context()
	clock := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	st := storage.NewMemBucket(storage.MemOptions{Now: func() time.Time { return clock }}).Store("offsite")
	put := func(key string) {
		t.Helper()
		if _, err := st.Put(ctx, key, strings.NewReader("{}"), storage.PutOptions{Size: 2}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	for _, b := range []string{"abandoned", "active"} {
		put(seal.PendingKey("s", b))
		put(seal.ObjectKey("s", b, "x"))
	}
	clock = clock.Add(2 * time.Hour)
	put(seal.PendingKey("s", "recent"))
	put(seal.ObjectKey("s", "recent", "x"))

	now := clock.Add(abandonedSealAfter - time.Hour) // 25 h after the first markers
	trusted := []crypto.VerifyKey{sealtest.NewSigner(t).Public()}
	out := applyRetention(ctx, st, trusted, seal.Binding{}, "s", "active", retention.Policy{KeepLast: 1}, now, func(string) {}, nil)
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	for b, want := range map[string]bool{"abandoned": false, "recent": true, "active": true} {
		keys := sealtest.Keys(sealtest.Snapshot(t, st, seal.BackupPrefix("s", b)))
		if got := len(keys) == 2; got != want {
			t.Errorf("folder %s after the pass: %v, want kept %v", b, keys, want)
		}
	}
}
