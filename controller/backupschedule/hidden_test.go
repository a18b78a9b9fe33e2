package backupschedule

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// TestHiddenObjects: on a versioned, object-locked bucket (real VersityGW)
// someone deletes a sealed backup's seal.json and its archive with the
// bucket's credentials: the next pass keeps the backup (its record stays,
// Hidden True naming both, a Warning Event), counts 2 hidden objects on
// the target's metric, and after 'recover' says nothing is hidden. Before,
// the record was deleted as if the backup were gone, and nothing told.
func TestHiddenObjects(t *testing.T) {
	bed := sealtest.NewVersionedBed(t)
	env := newSealEnvOn(t, bed)
	ctx := t.Context()
	ns := env.Namespace(t)
	env.target(t, ns, "offsite", &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1})
	offsite := env.offsite(t, "offsite")
	t0 := env.Clock.Now()
	s := env.Schedule(t, ns, "attacked", v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *"}, t0.Add(-time.Hour))
	r := env.reconciler(Options{})
	startJobs(t, r)
	hiddenGauge := func() float64 { return metricValue(t, kit.HiddenObjects.WithLabelValues(ns, "offsite")) }

	first := env.sealRunAt(t, r, s, t0)
	wantHidden(t, env.offsiteBackup(t, ns, first), metav1.ConditionFalse, v1alpha1.ReasonNothingHidden)
	if got := hiddenGauge(); got != 0 {
		t.Errorf("hidden objects before the attack = %v, want 0", got)
	}

	archive := first + ".tar.gz"
	for _, key := range []string{seal.SealKey("attacked", first), seal.ObjectKey("attacked", first, archive)} {
		sealtest.Hide(t, offsite, key)
	}
	second := env.sealRunAt(t, r, s, t0.Add(time.Hour))
	ob := env.offsiteBackup(t, ns, first) // still there: the attack unsealed nothing
	wantHidden(t, ob, metav1.ConditionTrue, v1alpha1.ReasonDeleteMarkers, "2 sealed object(s)", "seal.json", archive,
		"safekeep recover --backup attacked/"+first)
	wantHidden(t, env.offsiteBackup(t, ns, second), metav1.ConditionFalse, v1alpha1.ReasonNothingHidden)
	if note := env.WaitEvent(t, ob, v1alpha1.ReasonDeleteMarkers); !strings.Contains(note, archive) {
		t.Errorf("DeleteMarkers event says %q, want it to name %s", note, archive)
	}
	if got := hiddenGauge(); got != 2 {
		t.Errorf("hidden objects after the attack = %v, want 2", got)
	}

	recs, _, err := seal.Recover(ctx, offsite, "attacked", first, seal.RecoverOptions{
		VerifyOptions: seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{bed.Signer.Public()}}})
	if err != nil || len(recs) != 2 {
		t.Fatalf("recover: %d recoveries, %v", len(recs), err)
	}
	env.sealRunAt(t, r, s, t0.Add(2*time.Hour))
	wantHidden(t, env.offsiteBackup(t, ns, first), metav1.ConditionFalse, v1alpha1.ReasonNothingHidden)
	if got := hiddenGauge(); got != 0 {
		t.Errorf("hidden objects after recover = %v, want 0", got)
	}
	err = env.CP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, &v1alpha1.OffsiteBackup{})
	if apierrors.IsNotFound(err) {
		t.Error("the recovered backup's record was deleted")
	}
}

// wantHidden checks ob's Hidden condition and that its message holds words.
func wantHidden(t *testing.T, ob *v1alpha1.OffsiteBackup, status metav1.ConditionStatus, reason string, words ...string) {
	t.Helper()
	var c *metav1.Condition
	for i := range ob.Status.Conditions {
		if ob.Status.Conditions[i].Type == v1alpha1.ConditionHidden {
			c = &ob.Status.Conditions[i]
		}
	}
	if c == nil || c.Status != status || c.Reason != reason {
		t.Fatalf("OffsiteBackup %s Hidden = %+v, want %s/%s", ob.Name, c, status, reason)
	}
	for _, w := range words {
		if !strings.Contains(c.Message, w) {
			t.Errorf("OffsiteBackup %s Hidden message %q lacks %q", ob.Name, c.Message, w)
		}
	}
}
