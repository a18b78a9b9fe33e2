package volume_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// TestRecoverVolumeBlobs: on a versioned, object-locked bucket (VersityGW)
// someone hides a sealed volume blob and its receipt with delete markers:
// verify reads the blob from its version under the marker and names it
// hidden, and recover makes both current again (a later seal reuses the
// blob only on its receipt); a receipt of another upload is left alone.
func TestRecoverVolumeBlobs(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	ctx := t.Context()
	pub := b.Signer.Public()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	first, _, _ := twoSnapshots(t, b)
	s := volumeSealer(b)
	s.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}
	sl, err := s.Seal(ctx, "nightly", "b1")
	if err != nil {
		t.Fatal(err)
	}
	blob := sl.VolumeBlobs[len(sl.VolumeBlobs)-1]
	repo := blob.Name[:strings.Index(blob.Name, "/blobs/")+1]
	id := strings.TrimSuffix(strings.TrimPrefix(blob.Name, repo+"blobs/"), ".age")
	receipt := seal.VolumeReceiptKey(repo, id, blob.SHA256)
	stray := seal.VolumeReceiptKey(repo, id, strings.Repeat("0", 64))
	sealtest.Put(t, b.Offsite, stray, []byte("{}"))
	for _, k := range []string{blob.Name, receipt, stray} {
		sealtest.Hide(t, b.Offsite, k)
	}

	opts := seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{pub}}
	rep, err := seal.Verify(ctx, b.Offsite, "nightly", "b1", opts)
	if err != nil {
		t.Fatalf("verify with the blob hidden: %v", err)
	}
	if len(rep.Hidden) != 1 || rep.Hidden[0].Key != blob.Name || !rep.Hidden[0].Recovered() {
		t.Fatalf("verify names hidden %+v, want %s recovered from its version", rep.Hidden, blob.Name)
	}

	recs, after, err := seal.Recover(ctx, b.Offsite, "nightly", "b1", seal.RecoverOptions{VerifyOptions: opts})
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	got := map[string]seal.RecoverAction{}
	for _, r := range recs {
		if r.Err != nil {
			t.Errorf("recover %s: %v", r.Key, r.Err)
		}
		got[r.Key] = r.Action
	}
	if len(got) != 2 || got[blob.Name] != seal.ActionRemoveMarkers || got[receipt] != seal.ActionRemoveMarkers {
		t.Fatalf("recoveries %v, want the blob and its receipt with markers removed", got)
	}
	if len(after.Hidden) != 0 {
		t.Errorf("after recover, still hidden: %+v", after.Hidden)
	}
	for _, k := range []string{blob.Name, receipt} {
		if _, err := b.Offsite.Stat(ctx, k); err != nil {
			t.Errorf("%s after recover: %v", k, err)
		}
	}
	if _, err := b.Offsite.Stat(ctx, stray); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the stray receipt was brought back: %v", err)
	}
	// A second seal of the same data reuses the recovered blob on its receipt.
	b.VeleroBackup(t, "b2", "Completed", 1<<10)
	volumetest.WriteBackup(t, b.Source, "b2", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", SnapshotID: first},
	})
	if _, err := s.Seal(ctx, "nightly", "b2"); err != nil {
		t.Fatalf("seal reusing the recovered blob: %v", err)
	}
}
