package volume_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// sealTwoVolumes seals backup b1 with two volumes of one repository: the
// first snapshot of twoSnapshotsIn (3 files) as phi-app/db-0/data and the
// second (1 file of 1 MiB) as phi-app/scanner-0/cache.
func sealTwoVolumes(t *testing.T, b *sealtest.Bed) *seal.Manifest {
	t.Helper()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	first, second, _, _ := twoSnapshotsIn(t, b)
	volumetest.WriteBackup(t, b.Source, "b1", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: first},
		{Namespace: "phi-app", Pod: "scanner-0", Volume: "cache", PVC: "cache-scanner-0", SnapshotID: second},
	})
	if _, err := volumeSealer(b).Seal(t.Context(), "nightly", "b1"); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return openManifest(t, b, "b1")
}

func openManifest(t *testing.T, b *sealtest.Bed, backup string) *seal.Manifest {
	t.Helper()
	pub := b.Signer.Public()
	o, err := seal.Open(t.Context(), b.Offsite, "nightly", backup, seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
	if err != nil {
		t.Fatalf("open %s: %v", backup, err)
	}
	return o.Manifest
}

// blobKey is the offsite key of the manifest's first blob whose kopia ID
// starts with prefix.
func blobKey(t *testing.T, m *seal.Manifest, prefix string) string {
	t.Helper()
	for _, b := range m.Repositories[0].Blobs {
		if strings.HasPrefix(b.ID, prefix) {
			return b.Key
		}
	}
	t.Fatalf("no sealed blob %s*", prefix)
	return ""
}

func verify(t *testing.T, b *sealtest.Bed, m *seal.Manifest) map[string]volume.Verified {
	t.Helper()
	got, err := volume.Verify(t.Context(), b.Offsite, m, b.Identities, volume.VerifyOptions{Parallelism: 2})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(got) != len(m.Volumes) {
		t.Fatalf("Verify returned %d volumes, the manifest has %d", len(got), len(m.Volumes))
	}
	out := make(map[string]volume.Verified)
	for _, v := range got {
		out[volume.Name(v.Volume)] = v
	}
	return out
}

// named checks that volume name failed with a finding of kind naming
// object.
func named(t *testing.T, got map[string]volume.Verified, name string, kind volume.FindingKind, object string) {
	t.Helper()
	v := got[name]
	if v.OK() {
		t.Errorf("%s verified (%d files, %d bytes), want a %s finding naming %s", name, v.Files, v.Bytes, kind, object)
		return
	}
	for _, f := range v.Findings {
		if f.Kind == kind && f.Object == object {
			return
		}
	}
	t.Errorf("%s findings %v, want a %s finding naming %s", name, v.Findings, kind, object)
}

func TestVerify(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	m := sealTwoVolumes(t, b)
	const db, scanner = "phi-app/db-0/data", "phi-app/scanner-0/cache"

	got := verify(t, b, m)
	for _, rec := range m.Volumes {
		v := got[volume.Name(rec)]
		if !v.OK() || v.Files != rec.Files || v.Bytes != rec.Bytes || v.Files == 0 {
			t.Errorf("%s: %d files, %d bytes, findings %v; the manifest says %d files, %d bytes",
				volume.Name(rec), v.Files, v.Bytes, v.Findings, rec.Files, rec.Bytes)
		}
	}
	if v := got[db]; v.Files != 3 {
		t.Errorf("%s: %d files verified, want 3", db, v.Files)
	}

	// Each case damages the bucket, checks the findings, then puts back
	// what it changed. (Each Verify derives the repository key with
	// scrypt: the cases share them where they can.)
	restore := func(key string, data []byte) { sealtest.Put(t, b.Offsite, key, data) }
	packs := packKeys(m)
	if len(packs) != 2 {
		t.Fatalf("want a data pack per snapshot, have %v", packs)
	}

	t.Run("flipped bit in a pack, missing pack", func(t *testing.T) {
		// Each data pack holds one snapshot's data: a bit flipped at rest
		// in one fails that volume only, naming the pack; a deleted one
		// fails the other volume, naming its pack.
		flipped, deleted := packs[0], packs[1]
		savedFlipped, savedDeleted := sealtest.Get(t, b.Offsite, flipped), sealtest.Get(t, b.Offsite, deleted)
		b.Damage(t, flipped)
		if err := b.Offsite.Delete(ctx, deleted); err != nil {
			t.Fatal(err)
		}
		got := verify(t, b, m)
		restore(flipped, savedFlipped)
		restore(deleted, savedDeleted)
		var names [2]string
		for _, name := range []string{db, scanner} {
			for _, f := range got[name].Findings {
				switch f.Object {
				case flipped:
					names[0] = name
				case deleted:
					names[1] = name
					if !strings.Contains(f.Message, "missing") {
						t.Errorf("finding %v does not say the pack is missing", f)
					}
				}
			}
		}
		if names[0] == "" || names[1] == "" || names[0] == names[1] {
			t.Fatalf("flipped %s, deleted %s: want each named by one volume, got %v", flipped, deleted, got)
		}
		named(t, got, names[0], volume.FindingDamaged, flipped)
		named(t, got, names[1], volume.FindingDamaged, deleted)
	})
	t.Run("missing index blob", func(t *testing.T) {
		index := blobKey(t, m, "x")
		saved := sealtest.Get(t, b.Offsite, index)
		if err := b.Offsite.Delete(ctx, index); err != nil {
			t.Fatal(err)
		}
		got := verify(t, b, m)
		restore(index, saved)
		named(t, got, db, volume.FindingDamaged, index)
		named(t, got, scanner, volume.FindingDamaged, index)
	})
	t.Run("swapped kopia.repository", func(t *testing.T) {
		other := sealOtherRepository(t, b)
		format := blobKey(t, m, "kopia.repository")
		saved := sealtest.Get(t, b.Offsite, format)
		sealtest.Put(t, b.Offsite, format, sealtest.Get(t, b.Offsite, blobKey(t, other, "kopia.repository")))
		got := verify(t, b, m)
		restore(format, saved)
		named(t, got, db, volume.FindingDamaged, format)
		named(t, got, scanner, volume.FindingDamaged, format)

		// A manifest naming the other repository's format blob (digests
		// and all) opens the wrong repository: kopia refuses it or its
		// unique ID is not the manifest's.
		swapped := cloneManifest(m)
		rec := &swapped.Repositories[0]
		for i, bl := range rec.Blobs {
			if bl.ID == "kopia.repository" {
				for _, ob := range other.Repositories[0].Blobs {
					if ob.ID == "kopia.repository" {
						rec.Blobs[i] = ob
					}
				}
			}
		}
		got = verify(t, b, swapped)
		named(t, got, db, volume.FindingRepository, rec.Path)
		named(t, got, scanner, volume.FindingRepository, rec.Path)
	})
	t.Run("root object and counts", func(t *testing.T) {
		lying := cloneManifest(m)
		lying.Volumes[0].RootObjectID = m.Volumes[1].RootObjectID
		lying.Volumes[1].Files++
		got := verify(t, b, lying)
		named(t, got, volume.Name(lying.Volumes[0]), volume.FindingSnapshot, lying.Volumes[0].SnapshotID)
		named(t, got, volume.Name(lying.Volumes[1]), volume.FindingCount, lying.Volumes[1].SnapshotID)
	})
}

// TestVerifySealedDamage: a pack damaged in Velero's own repository before
// it was sealed is sealed faithfully (its digests match what was read), so
// only reading every file finds it: kopia's authentication of the content.
func TestVerifySealedDamage(t *testing.T) {
	b := sealtest.NewBed(t, false)
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	r := volumetest.NewRepo(t, volumetest.Password)
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"scans/scan-1.dcm": random(t, 1<<20)})
	id := r.Snapshot(t, dir)
	for _, blobID := range r.CopyTo(t, b.Source, "phi-app") {
		if strings.HasPrefix(blobID, "p") {
			key := volume.RepositoryPrefix("phi-app") + blobID
			data := sealtest.Get(t, b.Source, key)
			data[len(data)/2] ^= 0x01
			sealtest.Put(t, b.Source, key, data)
		}
	}
	volumetest.WriteBackup(t, b.Source, "b1", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", SnapshotID: id},
	})
	if _, err := volumeSealer(b).Seal(t.Context(), "nightly", "b1"); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	m := openManifest(t, b, "b1")
	got := verify(t, b, m)
	named(t, got, "phi-app/db-0/data", volume.FindingContent, id)
	if v := got["phi-app/db-0/data"]; v.Files != 0 || v.Bytes != 0 {
		t.Errorf("damaged volume counted %d files, %d bytes as verified", v.Files, v.Bytes)
	}
}

// sealOtherRepository seals backup b2 of another namespace's repository and
// returns its manifest.
func sealOtherRepository(t *testing.T, b *sealtest.Bed) *seal.Manifest {
	t.Helper()
	b.VeleroBackup(t, "b2", "Completed", 1<<10)
	r := volumetest.NewRepo(t, volumetest.Password)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "note.txt"), []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := r.Snapshot(t, dir)
	r.CopyTo(t, b.Source, "other-app")
	volumetest.WriteBackup(t, b.Source, "b2", "default", []volumetest.PodVolume{
		{Namespace: "other-app", Pod: "web-0", Volume: "data", SnapshotID: id},
	})
	if _, err := volumeSealer(b).Seal(t.Context(), "nightly", "b2"); err != nil {
		t.Fatalf("Seal b2: %v", err)
	}
	return openManifest(t, b, "b2")
}

func packKeys(m *seal.Manifest) []string {
	var out []string
	for _, b := range m.Repositories[0].Blobs {
		if strings.HasPrefix(b.ID, "p") {
			out = append(out, b.Key)
		}
	}
	return out
}

func cloneManifest(m *seal.Manifest) *seal.Manifest {
	c := *m
	c.Volumes = append([]seal.VolumeRecord(nil), m.Volumes...)
	c.Repositories = append([]seal.RepositoryRecord(nil), m.Repositories...)
	for i := range c.Repositories {
		c.Repositories[i].Blobs = append([]seal.VolumeBlob(nil), m.Repositories[i].Blobs...)
	}
	return &c
}
