package volume_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// A PVC Velero's CSI data mover moved is sealed like a file-system backup
// and restores from the sealed copy; the backup's other PVCs are named in
// the manifest, and only there, as not covered.
func TestSealDataMoverVolume(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	r := volumetest.NewRepo(t, volumetest.Password)
	src := t.TempDir()
	n := writeTree(t, src, map[string][]byte{
		"scan-1.dcm":   random(t, 256<<10),
		"index/a.json": []byte(`{"patient":"` + sealtest.Marker + `"}`),
	})
	snap := r.Snapshot(t, src)
	r.CopyTo(t, b.Source, "phi-app")
	const unmounted = "pvc-never-mounted-7f3a"
	volumetest.WriteBackupMoved(t, b.Source, "b1", "default", nil, []volumetest.MovedVolume{
		{Namespace: "phi-app", PVC: "scans", SnapshotID: snap},
	})
	rl, err := json.Marshal(map[string][]string{"v1/PersistentVolumeClaim": {"phi-app/scans", "phi-app/" + unmounted}})
	if err != nil {
		t.Fatal(err)
	}
	sealtest.Put(t, b.Source, seal.SourcePrefix("b1")+volume.ResourceListName("b1"), sealtest.Gzip(t, rl))

	sl, err := volumeSealer(b).Seal(ctx, "nightly", "b1")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	pub := b.Signer.Public()
	if rep, err := seal.Verify(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub}); err != nil || rep.VolumeBlobs != len(sl.VolumeBlobs) || rep.VolumeBlobs == 0 {
		t.Fatalf("key-less verify: %d of %d volume blobs, %v", rep.VolumeBlobs, len(sl.VolumeBlobs), err)
	}
	o, err := seal.Open(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
	if err != nil {
		t.Fatal(err)
	}
	m := o.Manifest
	if len(m.Volumes) != 1 {
		t.Fatalf("manifest volumes = %+v", m.Volumes)
	}
	v := m.Volumes[0]
	if !v.IsDataMover() || v.PVC != "scans" || v.Pod != "" || v.SnapshotID != snap || v.Files != 2 || v.Bytes != n {
		t.Errorf("volume = %+v; want the data mover's PVC scans, 2 files, %d bytes", v, n)
	}
	if len(m.NotCovered) != 1 || m.NotCovered[0].PVC != unmounted || m.NotCovered[0].Reason != string(volume.ReasonNotBackedUp) {
		t.Errorf("not covered = %+v, want %s NotBackedUp", m.NotCovered, unmounted)
	}
	// PVC names and the PHI are only ever inside age ciphertext.
	for _, obj := range sealtest.Snapshot(t, b.Offsite, "") {
		data := sealtest.Get(t, b.Offsite, obj.Key)
		if bytes.Contains(data, []byte(unmounted)) || bytes.Contains(data, []byte(sealtest.Marker)) {
			t.Errorf("%s holds plaintext", obj.Key)
		}
	}

	dir := t.TempDir()
	name := "phi-app/" + volume.DataMoverDir + "/scans"
	res, err := restore.ToDir(ctx, b.Offsite, "nightly", "b1", b.Identities, dir, restore.Options{VerifyKey: &pub, Volume: name})
	if err != nil {
		t.Fatalf("ToDir --volume %s: %v", name, err)
	}
	if len(res.Volumes) != 1 || res.Volumes[0].Files != 2 {
		t.Fatalf("restored %+v", res.Volumes)
	}
	for _, f := range []string{"scan-1.dcm", "index/a.json"} {
		want, _ := os.ReadFile(filepath.Join(src, f))
		got, err := os.ReadFile(filepath.Join(dir, "volumes", "phi-app", volume.DataMoverDir, "scans", f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s: %d bytes, %v; want %d bytes identical", f, len(got), err, len(want))
		}
	}
}
