package volume_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

func TestStageRepository(t *testing.T) {
	ctx := t.Context()
	b, opened, first, _ := sealedVolume(t)
	rec := opened.Manifest.Repositories[0]
	b.S3.CreateBucket(t, "staging", false)
	staging := sealtest.OpenStore(t, b.S3.Config("staging", "drills"))

	got, err := volume.StageRepository(ctx, b.Offsite, rec, b.Identities, staging)
	if err != nil {
		t.Fatalf("StageRepository: %v", err)
	}
	if got.Blobs != len(rec.Blobs) {
		t.Errorf("staged %d blobs, want %d", got.Blobs, len(rec.Blobs))
	}
	staged := sealtest.Snapshot(t, staging, "kopia/phi-app/")
	if len(staged) != len(rec.Blobs) {
		t.Fatalf("%d objects under kopia/phi-app/, want %d", len(staged), len(rec.Blobs))
	}
	var total int64
	for _, bl := range rec.Blobs {
		have := sealtest.Get(t, staging, "kopia/phi-app/"+bl.ID)
		if want := sealtest.Get(t, b.Source, "kopia/phi-app/"+bl.ID); !bytes.Equal(have, want) {
			t.Errorf("staged blob %s differs from Velero's", bl.ID)
		}
		total += int64(len(have))
	}
	if got.Bytes != total {
		t.Errorf("staged %d bytes, counted %d", got.Bytes, total)
	}
	// kopia itself opens the staged copy and finds the snapshot in it.
	if _, err := volume.PlanRepository(ctx, staging, "phi-app", volumetest.Password, []string{first}); err != nil {
		t.Errorf("kopia cannot read the staged repository: %v", err)
	}

	// A flipped bit in a sealed pack: staging fails naming it, and the
	// damaged blob is never written.
	var pack seal.VolumeBlob
	for _, bl := range rec.Blobs {
		if strings.HasPrefix(bl.ID, "p") {
			pack = bl
		}
	}
	data := sealtest.Get(t, b.Offsite, pack.Key)
	data[len(data)-100] ^= 1
	sealtest.Put(t, b.Offsite, pack.Key, data)
	other := sealtest.OpenStore(t, b.S3.Config("staging", "other"))
	_, err = volume.StageRepository(ctx, b.Offsite, rec, b.Identities, other)
	if !errors.Is(err, volume.ErrDamaged) || !strings.Contains(err.Error(), pack.Key) {
		t.Errorf("staging a damaged pack: %v, want ErrDamaged naming %s", err, pack.Key)
	}
	if sealtest.HasKey(sealtest.Snapshot(t, other, "kopia/"), "kopia/phi-app/"+pack.ID) {
		t.Error("the damaged pack was staged")
	}

	// A blob ID that would leave the repository's folder is refused before
	// anything is read.
	bad := rec
	bad.Blobs = append([]seal.VolumeBlob{{ID: "../x"}}, rec.Blobs...)
	if _, err := volume.StageRepository(ctx, b.Offsite, bad, b.Identities, other); !errors.Is(err, seal.ErrBadManifest) {
		t.Errorf("blob ID ../x: %v, want ErrBadManifest", err)
	}
}

// sealedVolume seals backup b1 with one volume (twoSnapshotsIn) and opens
// it: the bed, the opened seal, the snapshot ID and the volume's folder.
func sealedVolume(t *testing.T) (*sealtest.Bed, *seal.Opened, string, string) {
	t.Helper()
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	first, _, _, src := twoSnapshotsIn(t, b)
	if _, err := volumeSealer(b).Seal(ctx, "nightly", "b1"); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	pub := b.Signer.Public()
	opened, err := seal.Open(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
	if err != nil {
		t.Fatal(err)
	}
	return b, opened, first, src
}
