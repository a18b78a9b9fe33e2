package volume_test

import (
	"bytes"
	"errors"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

func pvb(uploader string, phase velerov1.PodVolumeBackupPhase, snapshot string) velerov1.PodVolumeBackup {
	return velerov1.PodVolumeBackup{
		Spec: velerov1.PodVolumeBackupSpec{Pod: corev1.ObjectReference{Namespace: "phi-app", Name: "db-0"},
			Volume: "data", BackupStorageLocation: "default", UploaderType: uploader},
		Status: velerov1.PodVolumeBackupStatus{Phase: phase, SnapshotID: snapshot},
	}
}

func TestReadBackupInput(t *testing.T) {
	key := "backups/b1/" + volume.PodVolumeBackupsName("b1")
	for _, tc := range []struct {
		name string
		pvbs any    // encoded as gzipped JSON, unless raw is set
		raw  []byte // stored as is
		want error
		n    int
	}{
		{name: "no pod volume backups", n: 0},
		{name: "empty object", raw: []byte{}, n: 0},
		{name: "null", pvbs: []int(nil), n: 0},
		{name: "kopia", pvbs: []velerov1.PodVolumeBackup{pvb("kopia", velerov1.PodVolumeBackupPhaseCompleted, "k1")}, n: 1},
		// Not sealed, and not an error: ReadCoverage names them (TestReadCoverage).
		{name: "restic", pvbs: []velerov1.PodVolumeBackup{pvb("restic", velerov1.PodVolumeBackupPhaseCompleted, "k1")}, n: 0},
		{name: "failed", pvbs: []velerov1.PodVolumeBackup{pvb("kopia", velerov1.PodVolumeBackupPhaseFailed, "")}, n: 0},
		{name: "no pod", pvbs: []velerov1.PodVolumeBackup{{Status: velerov1.PodVolumeBackupStatus{Phase: "Completed", SnapshotID: "k1"}}}, want: volume.ErrBadBackupFile},
		{name: "not gzip", raw: []byte("[]"), want: volume.ErrBadBackupFile},
		{name: "not a list", pvbs: map[string]string{"a": "b"}, want: volume.ErrBadBackupFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := storage.NewMemBucket(storage.MemOptions{}).Store("")
			switch {
			case tc.raw != nil || tc.name == "empty object":
				if _, err := st.Put(t.Context(), key, bytes.NewReader(tc.raw), storage.PutOptions{Size: int64(len(tc.raw))}); err != nil {
					t.Fatal(err)
				}
			case tc.pvbs != nil:
				volumetest.PutGzipJSON(t, st, key, tc.pvbs)
			}
			vols, err := volume.ReadBackup(t.Context(), st, "b1")
			if !errors.Is(err, tc.want) || (tc.want == nil && len(vols) != tc.n) {
				t.Errorf("ReadBackup = %v, %v; want %d volumes, error %v", vols, err, tc.n, tc.want)
			}
		})
	}
}
