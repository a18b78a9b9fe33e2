package volume_test

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// sealUpload is what one seal of volume data added offsite, Velero's own
// backup objects (the same whatever the volumes hold) left out.
type sealUpload struct {
	bytes int64    // volume blobs, receipts, manifest and seal.json
	blobs []string // kopia blob IDs of the volume blobs uploaded
}

// sealAndCount seals backup and returns what it uploaded.
func sealAndCount(t *testing.T, b *sealtest.Bed, backup string) sealUpload {
	t.Helper()
	before := make(map[string]bool)
	for _, o := range sealtest.Snapshot(t, b.Offsite, "") {
		before[o.Key] = true
	}
	if _, err := volumeSealer(b).Seal(t.Context(), "nightly", backup); err != nil {
		t.Fatalf("Seal %s: %v", backup, err)
	}
	var u sealUpload
	for _, o := range sealtest.Snapshot(t, b.Offsite, "") {
		if before[o.Key] {
			continue
		}
		_, blob, isBlob := strings.Cut(o.Key, "/blobs/")
		switch name := path.Base(o.Key); {
		case isBlob:
			u.blobs = append(u.blobs, strings.TrimSuffix(blob, ".age"))
		case strings.Contains(o.Key, "/receipts/"), name == "manifest.json.age", name == "seal.json":
		default:
			continue // Velero's backup objects
		}
		u.bytes += o.Size
	}
	slices.Sort(u.blobs)
	return u
}

func repositoryBytes(t *testing.T, st storage.Store) int64 {
	t.Helper()
	var n int64
	for _, o := range sealtest.Snapshot(t, st, volume.RepositoryPrefix("phi-app")) {
		n += o.Size
	}
	return n
}

// TestIncrementalSealUploads: after 1% of a volume's files change and are
// backed up again, the next seal uploads at most 1.1% of the repository's
// bytes (issue 10); with no change, only kopia's new snapshot manifest (its
// pack and index blobs) and Safekeep's manifest and seal. Byte counts are
// deterministic, so this is a test, not a benchmark.
func TestIncrementalSealUploads(t *testing.T) {
	const files, size = 200, 256 << 10 // 50 MiB: at 25 MiB the fixed 24 KiB of a seal is 0.1% already
	b := sealtest.NewBed(t, false)
	r := volumetest.NewRepo(t, volumetest.Password)
	dir := t.TempDir()
	tree := make(map[string][]byte, files)
	for i := range files {
		tree[fmt.Sprintf("d%d/f%03d", i%4, i)] = random(t, size)
	}
	writeTree(t, dir, tree)
	backup := func(name string) {
		t.Helper()
		id := r.Snapshot(t, dir)
		r.CopyTo(t, b.Source, "phi-app")
		b.VeleroBackup(t, name, "Completed", 1<<10)
		volumetest.WriteBackup(t, b.Source, name, "default", []volumetest.PodVolume{
			{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: id}})
	}
	backup("b1")
	first := sealAndCount(t, b, "b1")

	changed := make(map[string][]byte)
	for i := 0; i < files; i += 100 { // 1%
		changed[fmt.Sprintf("d%d/f%03d", i%4, i)] = random(t, size)
	}
	writeTree(t, dir, changed)
	backup("b2")
	repo := repositoryBytes(t, b.Source)
	incr := sealAndCount(t, b, "b2")
	pct := 100 * float64(incr.bytes) / float64(repo)
	t.Logf("first seal %d bytes; after %d of %d files changed: %d bytes of a %d-byte repository (%.3f%%), blobs %v",
		first.bytes, len(changed), files, incr.bytes, repo, pct, incr.blobs)
	if pct > 1.1 {
		t.Errorf("the incremental seal uploaded %.3f%% of the repository's bytes, want <= 1.1%%", pct)
	}
	if changedBytes := int64(len(changed) * size); incr.bytes < changedBytes {
		t.Errorf("the incremental seal uploaded %d bytes, less than the %d changed: the new data is not sealed", incr.bytes, changedBytes)
	}

	backup("b3") // nothing changed
	same := sealAndCount(t, b, "b3")
	t.Logf("no change: %d bytes, blobs %v", same.bytes, same.blobs)
	for _, id := range same.blobs {
		if !strings.HasPrefix(id, "q") && !strings.HasPrefix(id, "x") {
			t.Errorf("with no change the seal uploaded volume blob %s; want only kopia's manifest pack (q) and index (x) blobs", id)
		}
	}
	if len(same.blobs) == 0 || same.bytes > 64<<10 {
		t.Errorf("with no change the seal uploaded %d bytes in %d volume blobs; want the new snapshot's manifest pack and index, and a few KiB", same.bytes, len(same.blobs))
	}
}
