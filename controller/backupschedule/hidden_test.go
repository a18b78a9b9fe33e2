package backupschedule

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// TestHiddenObjects: on a versioned, object-locked bucket (real VersityGW)
// someone deletes a sealed backup's seal.json and its archive with the
// bucket's credentials: the next pass keeps the backup (its record stays,
// Hidden True naming both, a Warning Event), counts 2 hidden objects on
// the target's metric, and after 'recover' says nothing is hidden. Before,
// the record was deleted as if the backup were gone, and nothing told.
func TestHiddenObjects(t *testing.T) {
	hb := newHiddenBed(t)
	env, ns, offsite, run, t0 := hb.env, hb.ns, hb.offsite, hb.run, hb.t0
	ctx := t.Context()
	bed := env.bed
	hiddenGauge := func() float64 { return hb.gauge(t) }

	first := run(t0)
	wantHidden(t, env.offsiteBackup(t, ns, first), metav1.ConditionFalse, v1alpha1.ReasonNothingHidden)
	if got := hiddenGauge(); got != 0 {
		t.Errorf("hidden objects before the attack = %v, want 0", got)
	}

	archive := first + ".tar.gz"
	for _, key := range []string{seal.SealKey("attacked", first), seal.ObjectKey("attacked", first, archive)} {
		sealtest.Hide(t, offsite, key)
	}
	second := run(t0.Add(time.Hour))
	ob := env.offsiteBackup(t, ns, first) // still there: the attack unsealed nothing
	wantHidden(t, ob, metav1.ConditionTrue, v1alpha1.ReasonDeleteMarkers, "2 sealed object(s)", "seal.json", archive,
		"safekeep recover --backup attacked/"+first)
	if c := hiddenOf(ob); strings.Contains(c.Message, "overwritten") {
		t.Errorf("Hidden names delete markers as overwrites: %q", c.Message)
	}
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
	run(t0.Add(2 * time.Hour))
	wantHidden(t, env.offsiteBackup(t, ns, first), metav1.ConditionFalse, v1alpha1.ReasonNothingHidden)
	if got := hiddenGauge(); got != 0 {
		t.Errorf("hidden objects after recover = %v, want 0", got)
	}
	err = env.CP.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, &v1alpha1.OffsiteBackup{})
	if apierrors.IsNotFound(err) {
		t.Error("the recovered backup's record was deleted")
	}
}

// hiddenBed is a schedule "attacked" on a versioned, object-locked bucket
// (real VersityGW) through the controller (real API server).
type hiddenBed struct {
	env     *sealEnv
	ns      string
	offsite storage.Store
	t0      time.Time
	// run runs the schedule at when to its seal (with volumes, node-agent
	// backups of their kopia snapshot IDs) and returns the backup's name.
	run func(when time.Time, volumes ...string) string
}

func newHiddenBed(t *testing.T) *hiddenBed {
	t.Helper()
	env := newSealEnvOn(t, sealtest.NewVersionedBed(t))
	ns := env.Namespace(t)
	env.target(t, ns, "offsite", &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1})
	hb := &hiddenBed{env: env, ns: ns, offsite: env.offsite(t, "offsite"), t0: env.Clock.Now()}
	s := env.Schedule(t, ns, "attacked", v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *",
		Template: v1alpha1.BackupTemplate{StorageLocation: "default"}}, hb.t0.Add(-time.Hour))
	r := env.reconciler(Options{})
	startJobs(t, r)
	hb.run = func(when time.Time, volumes ...string) string {
		t.Helper()
		return env.runWithVolumes(t, r, s, when, volumes...)
	}
	return hb
}

// gauge is the target's safekeep_offsite_hidden_objects.
func (hb *hiddenBed) gauge(t *testing.T) float64 {
	t.Helper()
	return metricValue(t, kit.HiddenObjects.WithLabelValues(hb.ns, "offsite"))
}

// TestOverwrittenSealHidden: someone holding the bucket's credentials puts
// garbage over a sealed backup's seal.json (no delete marker: a new
// version, which object lock does not refuse on a versioned bucket). The
// next pass keeps the record, Hidden True with reason Overwritten naming
// the overwrite as such (not "deleted by delete markers"), a Warning Event
// of that reason, and the gauge counts it. Before, the message said the
// object was hidden by delete markers and someone deleted it.
func TestOverwrittenSealHidden(t *testing.T) {
	hb := newHiddenBed(t)
	first := hb.run(hb.t0)
	sealtest.Put(t, hb.offsite, seal.SealKey("attacked", first), []byte("not a seal"))
	hb.run(hb.t0.Add(time.Hour))
	ob := hb.env.offsiteBackup(t, hb.ns, first)
	wantHidden(t, ob, metav1.ConditionTrue, v1alpha1.ReasonOverwritten, "1 sealed object(s) overwritten with other bytes", "seal.json",
		"safekeep recover --backup attacked/"+first)
	if c := hiddenOf(ob); strings.Contains(c.Message, "delete marker") || strings.Contains(c.Message, "deleted") {
		t.Errorf("Hidden names an overwrite as a deletion: %q", c.Message)
	}
	if note := hb.env.WaitEvent(t, ob, v1alpha1.ReasonOverwritten); !strings.Contains(note, "overwritten") {
		t.Errorf("Overwritten event says %q", note)
	}
	if got := hb.gauge(t); got != 1 {
		t.Errorf("hidden objects after the overwrite = %v, want 1", got)
	}
}

// TestHiddenVolumeBlobs: someone deletes one of a sealed backup's volume
// blobs (volumes/..., shared by seals) with the bucket's credentials. The
// next pass names it in the backup's Hidden condition and counts it in the
// target's gauge, once. Before, verify and recover saw it but the
// condition and the gauge did not.
func TestHiddenVolumeBlobs(t *testing.T) {
	hb := newHiddenBed(t)
	env := hb.env
	env.Put(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: volume.PasswordSecret, Namespace: kittest.VeleroNS},
		Data:       map[string][]byte{volume.PasswordKey: []byte(volumetest.Password)},
	})
	repo := volumetest.NewRepo(t, volumetest.Password)
	snap := snapshotOf(t, repo, 64<<10)
	repo.CopyTo(t, env.bed.Source, "phi-app")
	first := hb.run(hb.t0, snap)
	rep, err := seal.Verify(t.Context(), hb.offsite, "attacked", first, seal.VerifyOptions{VerifyKey: new(env.bed.Signer.Public())})
	if err != nil || len(rep.Seal.VolumeBlobs) == 0 {
		t.Fatalf("sealed volume blobs: %v", err)
	}
	second := hb.run(hb.t0.Add(time.Hour), snap) // shares the blobs
	blob := rep.Seal.VolumeBlobs[0].Name
	sealtest.Hide(t, hb.offsite, blob)
	hb.run(hb.t0.Add(2 * time.Hour)) // no volumes: a seal of the blob would put it back
	for _, b := range []string{first, second} {
		wantHidden(t, env.offsiteBackup(t, hb.ns, b), metav1.ConditionTrue, v1alpha1.ReasonDeleteMarkers,
			"1 sealed object(s) hidden by delete markers", blob)
	}
	if got := hb.gauge(t); got != 1 {
		t.Errorf("hidden objects after hiding a shared volume blob = %v, want 1", got)
	}
}

// hiddenOf is ob's Hidden condition.
func hiddenOf(ob *v1alpha1.OffsiteBackup) *metav1.Condition {
	return meta.FindStatusCondition(ob.Status.Conditions, v1alpha1.ConditionHidden)
}

// wantHidden checks ob's Hidden condition and that its message holds words.
func wantHidden(t *testing.T, ob *v1alpha1.OffsiteBackup, status metav1.ConditionStatus, reason string, words ...string) {
	t.Helper()
	c := hiddenOf(ob)
	if c == nil || c.Status != status || c.Reason != reason {
		t.Fatalf("OffsiteBackup %s Hidden = %+v, want %s/%s", ob.Name, c, status, reason)
	}
	for _, w := range words {
		if !strings.Contains(c.Message, w) {
			t.Errorf("OffsiteBackup %s Hidden message %q lacks %q", ob.Name, c.Message, w)
		}
	}
}
