package volume_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// writeTree writes files under dir: name -> content; returns their total size.
func writeTree(t *testing.T, dir string, files map[string][]byte) int64 {
	t.Helper()
	var n int64
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
		n += int64(len(data))
	}
	return n
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// twoSnapshots makes a repository in the bed's Velero location for namespace
// phi-app with two snapshots of different data, and a backup b1 whose one
// volume is the first.
func twoSnapshots(t *testing.T, b *sealtest.Bed) (first, second string, firstBytes int64) {
	first, second, firstBytes, _ = twoSnapshotsIn(t, b)
	return first, second, firstBytes
}

// twoSnapshotsIn is twoSnapshots; it also returns the first snapshot's folder.
func twoSnapshotsIn(t *testing.T, b *sealtest.Bed) (first, second string, firstBytes int64, a string) {
	t.Helper()
	r := volumetest.NewRepo(t, volumetest.Password)
	a = t.TempDir()
	c := t.TempDir()
	firstBytes = writeTree(t, a, map[string][]byte{
		"records/patient-1.json": []byte(`{"name":"` + sealtest.Marker + `"}`),
		"records/patient-2.json": []byte(`{"name":"someone else"}`),
		"scans/scan-1.dcm":       random(t, 1<<20),
	})
	for name, target := range map[string]string{"latest": "records/patient-1.json", "records/up": "../scans/scan-1.dcm",
		"escape": "../../outside", "abs": "/etc/passwd"} {
		if err := os.Symlink(target, filepath.Join(a, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeTree(t, c, map[string][]byte{"other/big.bin": random(t, 1<<20)})
	first = r.Snapshot(t, a)
	second = r.Snapshot(t, c)
	r.CopyTo(t, b.Source, "phi-app")
	volumetest.WriteBackup(t, b.Source, "b1", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: first},
	})
	return first, second, firstBytes, a
}

func TestReadBackupAndPlan(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	first, second, firstBytes := twoSnapshots(t, b)

	vols, err := volume.ReadBackup(ctx, b.Source, "b1")
	if err != nil {
		t.Fatalf("ReadBackup: %v", err)
	}
	want := volume.Volume{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", Method: volume.MethodFSBackup,
		SnapshotID: first, BSL: "default"}
	if len(vols) != 1 || vols[0] != want {
		t.Fatalf("volumes = %+v, want [%+v]", vols, want)
	}

	p, err := volume.PlanRepository(ctx, b.Source, "phi-app", volumetest.Password, []string{first})
	if err != nil {
		t.Fatalf("PlanRepository: %v", err)
	}
	s := p.Snapshots[0]
	if s.ID != first || s.Files != 3 || s.Bytes != firstBytes || s.RootObjectID == "" {
		t.Errorf("snapshot = %+v, want 3 files, %d bytes", s, firstBytes)
	}
	if len(p.UniqueID) != 64 || p.Prefix != "kopia/phi-app/" {
		t.Errorf("unique id %q, prefix %q", p.UniqueID, p.Prefix)
	}
	kinds := map[byte]int{}
	for _, md := range p.Blobs {
		kinds[md.BlobID[0]]++
	}
	if !hasBlob(p, "kopia.repository") || !hasBlob(p, "kopia.blobcfg") || !hasBlob(p, "udmrepo.Repository") {
		t.Errorf("identity blobs missing from %v", p.Blobs)
	}
	if kinds['x'] == 0 || kinds['p'] == 0 || kinds['q'] == 0 {
		t.Errorf("blob kinds = %v, want index, data and metadata packs", kinds)
	}

	// The plan restores the first snapshot alone: a repository holding just
	// its blobs opens and walks it, and lacks the second one's data.
	copyBlobs(t, b.Source, p, "copy")
	if _, err := volume.PlanRepository(ctx, b.Source, "copy", volumetest.Password, []string{first}); err != nil {
		t.Errorf("plan of the copy: %v", err)
	}
	_, err = volume.PlanRepository(ctx, b.Source, "copy", volumetest.Password, []string{second})
	if !errors.Is(err, volume.ErrIncomplete) {
		t.Errorf("plan of the other snapshot in the copy: %v, want ErrIncomplete", err)
	}
	both, err := volume.PlanRepository(ctx, b.Source, "phi-app", volumetest.Password, []string{first, second})
	if err != nil {
		t.Fatal(err)
	}
	if len(both.Blobs) <= len(p.Blobs) {
		t.Errorf("both snapshots need %d blobs, the first alone %d", len(both.Blobs), len(p.Blobs))
	}
}

func hasBlob(p *volume.Plan, id string) bool {
	for _, md := range p.Blobs {
		if string(md.BlobID) == id {
			return true
		}
	}
	return false
}

// copyBlobs copies the plan's blobs to the repository of namespace to.
func copyBlobs(t *testing.T, st storage.Store, p *volume.Plan, to string) {
	t.Helper()
	for _, md := range p.Blobs {
		data := get(t, st, p.Prefix+string(md.BlobID))
		if _, err := st.Put(t.Context(), volume.RepositoryPrefix(to)+string(md.BlobID), bytes.NewReader(data),
			storage.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, st storage.Store, key string) []byte {
	t.Helper()
	rc, _, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPlanRefusals(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	first, _, _ := twoSnapshots(t, b)
	if _, err := volume.PlanRepository(ctx, b.Source, "phi-app", "wrong password", []string{first}); err == nil {
		t.Error("plan with a wrong password succeeded")
	}
	_, err := volume.PlanRepository(ctx, b.Source, "phi-app", volumetest.Password, []string{"k0123456789abcdef0123456789abcdef"})
	if !errors.Is(err, volume.ErrNoSnapshot) {
		t.Errorf("unknown snapshot: %v, want ErrNoSnapshot", err)
	}
	p, err := volume.PlanRepository(ctx, b.Source, "phi-app", volumetest.Password, []string{first})
	if err != nil {
		t.Fatal(err)
	}
	// A pack the snapshot needs is gone from the repository: no plan.
	for _, md := range p.Blobs {
		if strings.HasPrefix(string(md.BlobID), "p") {
			if err := b.Source.Delete(ctx, p.Prefix+string(md.BlobID)); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	_, err = volume.PlanRepository(ctx, b.Source, "phi-app", volumetest.Password, []string{first})
	if !errors.Is(err, volume.ErrIncomplete) {
		t.Errorf("missing pack: %v, want ErrIncomplete", err)
	}
}

// deleteAfterList deletes key from the store right after the first listing
// of the index blobs, as maintenance does to an index it compacted.
type deleteAfterList struct {
	storage.Store
	key   string
	lists atomic.Int32
}

func (d *deleteAfterList) List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		for info, err := range d.Store.List(ctx, prefix) {
			if !yield(info, err) {
				return
			}
		}
		if strings.HasSuffix(prefix, "/x") && d.lists.Add(1) == 1 {
			_ = d.Delete(ctx, d.key) // the test checks the outcome
		}
	}
}

func TestPlanRelistsWhenMaintenanceDeletes(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	first, _, _ := twoSnapshots(t, b)
	// A second copy of an index blob, under a name maintenance deletes
	// between the listing and the read.
	var index string
	for info, err := range b.Source.List(ctx, "kopia/phi-app/xn") {
		if err != nil {
			t.Fatal(err)
		}
		index = info.Key
	}
	stale := index + "0"
	data := get(t, b.Source, index)
	if _, err := b.Source.Put(ctx, stale, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	d := &deleteAfterList{Store: b.Source, key: stale}
	p, err := volume.PlanRepository(ctx, d, "phi-app", volumetest.Password, []string{first})
	if err != nil {
		t.Fatalf("PlanRepository: %v", err)
	}
	if d.lists.Load() != 2 {
		t.Errorf("listed the index %d times, want 2", d.lists.Load())
	}
	if hasBlob(p, strings.TrimPrefix(stale, p.Prefix)) {
		t.Errorf("plan names the deleted %s", stale)
	}
}
