package backupschedule

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// snapshotOf writes a folder of one random file of size bytes and backs it
// up into r.
func snapshotOf(t *testing.T, r *volumetest.Repo, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "scan.dcm"), []byte(rand.Text()+string(make([]byte, size))), 0o600); err != nil {
		t.Fatal(err)
	}
	return r.Snapshot(t, dir)
}

// runWithVolumes runs schedule s at when to its seal, its backup with a
// node-agent backup of each kopia snapshot ID of volumes (in namespace
// phi-app), and returns the backup's name.
func (e *sealEnv) runWithVolumes(t *testing.T, r *Reconciler, s *v1alpha1.BackupSchedule, when time.Time, volumes ...string) string {
	t.Helper()
	e.Clock.SetTime(when)
	e.reconcile(t, r, s)
	name := v1alpha1.BackupName(s.Namespace, s.Name, when)
	e.completeBackup(t, name, when)
	var pvs []volumetest.PodVolume
	for j, id := range volumes {
		pvs = append(pvs, volumetest.PodVolume{Namespace: "phi-app", Pod: "db-" + string(rune('0'+j)), Volume: "data", SnapshotID: id})
	}
	if len(pvs) > 0 {
		volumetest.WriteBackup(t, e.bed.Source, name, "default", pvs)
	}
	runToSeal(t, e, r, s)
	return name
}

// TestRetentionDeletesVolumeBlobs: through the controller (envtest, real
// VersityGW), keepLast 1 over three runs: the first two backups' volumes
// share a repository; when the first goes, none of its blobs does (the
// second needs them all); when the second goes (the third has no
// volumes), its blobs go too, counted on the target's metrics, in a
// volume-delete audit entry and an Event.
func TestRetentionDeletesVolumeBlobs(t *testing.T) {
	env := newSealEnv(t)
	env.bed.S3.CreateBucket(t, "plain", false)
	env.Put(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: volume.PasswordSecret, Namespace: kittest.VeleroNS},
		Data:       map[string][]byte{volume.PasswordKey: []byte(volumetest.Password)},
	})
	repo := volumetest.NewRepo(t, volumetest.Password)
	first, second := snapshotOf(t, repo, 64<<10), snapshotOf(t, repo, 96<<10)
	repo.CopyTo(t, env.bed.Source, "phi-app")
	ns := env.Namespace(t)
	env.target(t, ns, "plain", nil)
	offsite := env.offsite(t, "plain")
	t0 := env.Clock.Now()
	s := env.Schedule(t, ns, "vols", v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *",
		Template: v1alpha1.BackupTemplate{StorageLocation: "default"}, Retention: &v1alpha1.RetentionPolicy{KeepLast: 1}}, t0.Add(-time.Hour))
	r := env.reconciler(Options{})
	startJobs(t, r)
	deleted := func() float64 { return metricValue(t, kit.VolumeBlobsDeleted.WithLabelValues(ns, "offsite")) }
	run := func(i int, vols ...string) *seal.Seal {
		t.Helper()
		name := env.runWithVolumes(t, r, s, t0.Add(time.Duration(i)*time.Hour), vols...)
		sl, err := seal.Verify(t.Context(), offsite, "vols", name, seal.VerifyOptions{VerifyKey: new(env.bed.Signer.Public())})
		if err != nil {
			t.Fatalf("run %d: %v; conditions %+v", i, err, env.get(t, s).Status.Conditions)
		}
		return sl.Seal
	}

	before := deleted()
	sl1 := run(0, first)
	sl2 := run(1, first, second)
	if len(sl1.VolumeBlobs) == 0 || len(sl2.VolumeBlobs) <= len(sl1.VolumeBlobs) {
		t.Fatalf("sealed %d and %d volume blobs", len(sl1.VolumeBlobs), len(sl2.VolumeBlobs))
	}
	if got := deleted() - before; got != 0 {
		t.Fatalf("the first backup's deletion deleted %v volume blobs, want none (all shared)", got)
	}
	for _, o := range sl2.VolumeBlobs {
		if _, err := offsite.Stat(t.Context(), o.Name); err != nil {
			t.Fatalf("%s while the second backup needs it: %v", o.Name, err)
		}
	}
	run(2)
	if got := deleted() - before; int(got) != len(sl2.VolumeBlobs) {
		t.Fatalf("volume blobs deleted = %v, want %d; conditions %+v", got, len(sl2.VolumeBlobs), env.get(t, s).Status.Conditions)
	}
	if left := sealtest.Snapshot(t, offsite, seal.VolumesDir); len(left) != 0 {
		t.Errorf("left under volumes/: %v", sealtest.Keys(left))
	}
	audittest.WantEntry(t, auditlog.DefaultActor, offsite, audit.KindVolumeDelete, ns+"/offsite/volumes",
		fmt.Sprintf(`"blobs":%d`, len(sl2.VolumeBlobs)))
	env.WaitEvent(t, s, v1alpha1.ReasonRetentionApplied)
}
