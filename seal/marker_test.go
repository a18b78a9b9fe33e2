package seal_test

import (
	"testing"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// A sealer killed after writing seal.json and before removing its marker
// leaves sealing.json beside the seal; the run resumed after the restart
// finds the backup sealed and removes the marker, which nothing could
// resume any more.
func TestResumedSealDropsMarker(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.VeleroBackup(t, "nightly-1", "Completed", 1<<10)
	s := b.Sealer()
	first, err := s.Seal(ctx, "nightly", "nightly-1")
	if err != nil {
		t.Fatal(err)
	}
	marker := seal.PendingKey("nightly", "nightly-1")
	sealtest.Put(t, b.Offsite, marker, []byte("{}")) // as the killed run left it
	again, err := b.Sealer().Seal(ctx, "nightly", "nightly-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest() != first.Digest() {
		t.Errorf("the resumed run sealed again: digest %s, want %s", again.Digest(), first.Digest())
	}
	if sealtest.HasKey(sealtest.Snapshot(t, b.Offsite, ""), marker) {
		t.Errorf("%s is left beside the seal after the resumed run", marker)
	}
}
