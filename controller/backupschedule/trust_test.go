package backupschedule

import (
	"fmt"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// TestRetentionIgnoresForgedSeals: three seals forged by someone who can
// write to the bucket (their own key, sealed "a year from now") must not
// make keepLast: 3 delete the real backups. Before, retention read seals
// without checking who signed them and deleted every real one.
func TestRetentionIgnoresForgedSeals(t *testing.T) {
	bed := sealtest.NewBed(t, false)
	ctx := t.Context()
	var real []string
	for i := range 3 {
		name := fmt.Sprintf("nightly-%d", i)
		bed.MustSeal(t, ctx, "nightly", name)
		real = append(real, name)
	}
	evil := bed.Sealer()
	evil.Signer = sealtest.NewSigner(t)
	evil.Now = func() time.Time { return time.Now().AddDate(1, 0, 0) }
	var forged []string
	for i := range 3 {
		name := fmt.Sprintf("nightly-x%d", i)
		bed.VeleroBackup(t, name, "Completed", 1<<10)
		if _, err := evil.Seal(ctx, "nightly", name); err != nil {
			t.Fatal(err)
		}
		forged = append(forged, name)
	}
	trusted := []crypto.VerifyKey{bed.Signer.Public()}
	out := applyRetention(ctx, bed.Offsite, trusted, seal.Binding{}, "nightly", "", retention.Policy{KeepLast: 3, Location: time.UTC}, time.Now(), func(string) {}, nil)
	if out.Err != nil || len(out.Deleted) != 0 {
		t.Fatalf("retention deleted %v (err %v); want nothing deleted", out.Deleted, out.Err)
	}
	for _, name := range real {
		if _, ok := out.Kept[name]; !ok {
			t.Errorf("real backup %s not kept: %v", name, out.Kept)
		}
	}
	slices.Sort(out.Untrusted)
	if !slices.Equal(out.Untrusted, forged) {
		t.Errorf("untrusted = %v, want %v", out.Untrusted, forged)
	}
	for _, name := range append(real, forged...) { // forged ones are reported, never cleaned up
		if _, err := bed.Offsite.Stat(ctx, seal.SealKey("nightly", name)); err != nil {
			t.Errorf("seal of %s: %v", name, err)
		}
	}
	// A seal refused as "already sealed" is counted as untrusted.
	bed.VeleroBackup(t, "nightly-x0", "Completed", 1<<10)
	_, err := bed.Sealer().Seal(ctx, "nightly", "nightly-x0")
	if got := sealFailureReason(err); got != "untrusted" {
		t.Errorf("sealFailureReason(%v) = %q, want untrusted", err, got)
	}
}

// TestForeignSealNotAdopted: someone who can write to the offsite bucket
// but holds no key seals, under their own key, the backup the schedule
// takes next (backup names are predictable), naming the target's place and
// cluster as every seal prints them. Through the controller (real API
// server, real VersityGW), the run does not take that seal as "already
// sealed": no OffsiteBackup for the backup, LastRunSucceeded False
// SealFailed saying the seal.json there is refused, and the failure
// counted with reason untrusted. Before the seal checked trusted keys
// only, the backup was marked sealed and never went offsite.
func TestForeignSealNotAdopted(t *testing.T) {
	env := newSealEnv(t)
	ns := env.Namespace(t)
	env.target(t, ns, "offsite", nil)
	offsite := env.offsite(t, "offsite")
	t0 := env.Clock.Now()
	s := env.Schedule(t, ns, "victim", v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *"}, t0.Add(-time.Hour))
	r := env.reconciler(Options{ClusterID: "prod-eu-1"})
	startJobs(t, r)

	name := v1alpha1.BackupName(ns, "victim", t0)
	evil := env.bed.Sealer()
	evil.Signer, evil.Offsite, evil.ClusterID = sealtest.NewSigner(t), offsite, "prod-eu-1"
	evil.Place = seal.PlaceOf("offsite", "cluster-a")
	env.bed.VeleroBackup(t, name, "Completed", 1<<10)
	if _, err := evil.Seal(t.Context(), "victim", name); err != nil {
		t.Fatal(err)
	}
	failures := func() float64 { return metricValue(t, sealFailures.WithLabelValues(ns, "victim", "untrusted")) }
	before := failures()

	env.Clock.SetTime(t0)
	env.reconcile(t, r, s)
	env.completeBackup(t, name, t0)
	got := runToSeal(t, env, r, s)
	wantCondition(t, got, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, v1alpha1.ReasonSealFailed, "refused")
	if err := env.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.OffsiteBackup{}); !apierrors.IsNotFound(err) {
		t.Errorf("OffsiteBackup %s for a backup only a foreign key sealed: %v, want none", name, err)
	}
	if n := failures() - before; n < 1 {
		t.Errorf("seal failures with reason untrusted rose by %v, want at least 1", n)
	}
}
