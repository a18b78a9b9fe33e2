package volume_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// countingStore counts the bytes read of the keys in blobs.
type countingStore struct {
	storage.Store
	blobs map[string]bool
	read  atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, storage.ObjectInfo, error) {
	rc, info, err := c.Store.Get(ctx, key)
	if err != nil || !c.blobs[key] {
		return rc, info, err
	}
	return &countingReader{ReadCloser: rc, n: &c.read}, info, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// maxFetched is how many times its sealed bytes a read of a whole volume
// may fetch: each blob about once.
const maxFetched = 1.1

// TestSealedReadsFetchEachBlobOnce: Level 1 verify, restore --to-dir and
// the Level 2 digests of a volume read each sealed blob about once, even
// when the files' order in the tree is not the order kopia packed their
// contents in. The volume (96 files of 1 MiB in five packs) is a second
// snapshot holding the first one's contents under shuffled names. Read in
// tree order through the 64 MiB cache of decrypted packs, Verify fetched
// 7.2 times the sealed bytes, RestoreToDir 5.5 and SnapshotDigests 8.1.
func TestSealedReadsFetchEachBlobOnce(t *testing.T) {
	const files = 96
	b := sealtest.NewBed(t, false)
	r := volumetest.NewRepo(t, volumetest.Password)
	packed, shuffled := t.TempDir(), t.TempDir()
	order := rand.New(rand.NewPCG(10, 10)).Perm(files)
	want := make(map[string][]byte, files)
	for i := range files {
		data := random(t, 1<<20)
		name := fmt.Sprintf("g%03d", order[i])
		want[name] = data
		for _, p := range []string{filepath.Join(packed, fmt.Sprintf("f%03d", i)), filepath.Join(shuffled, name)} {
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.Snapshot(t, packed)
	id := r.Snapshot(t, shuffled) // every content already packed, in the other order
	r.CopyTo(t, b.Source, "phi-app")
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	volumetest.WriteBackup(t, b.Source, "b1", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: id}})
	if _, err := volumeSealer(b).Seal(t.Context(), "nightly", "b1"); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	m := openManifest(t, b, "b1")
	cs := &countingStore{Store: b.Offsite, blobs: make(map[string]bool)}
	var sealed int64
	for _, bl := range m.Repositories[0].Blobs {
		cs.blobs[bl.Key] = true
		sealed += bl.CipherSize
	}
	fetched := func(what string, read func() error) {
		t.Helper()
		cs.read.Store(0)
		if err := read(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		ratio := float64(cs.read.Load()) / float64(sealed)
		t.Logf("%s fetched %d bytes of %d sealed in %d blobs: %.2fx", what, cs.read.Load(), sealed, len(cs.blobs), ratio)
		if ratio > maxFetched {
			t.Errorf("%s fetched %.2f times the sealed bytes, want <= %.1f", what, ratio, maxFetched)
		}
	}

	fetched("Verify", func() error {
		got, err := volume.Verify(t.Context(), cs, m, b.Identities, volume.VerifyOptions{Parallelism: 2})
		if err == nil && (len(got) != 1 || !got[0].OK() || got[0].Files != files) {
			err = fmt.Errorf("got %+v, want one volume of %d files verified", got, files)
		}
		return err
	})
	dir := t.TempDir()
	fetched("RestoreToDir", func() error {
		_, err := volume.RestoreToDir(t.Context(), cs, m, b.Identities, dir, "")
		return err
	})
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, volume.VolumesDir, "phi-app", "db-0", "data", name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("restored %s: %d bytes (%v), want the %d written", name, len(got), err, len(data))
		}
	}
	fetched("SnapshotDigests", func() error {
		d, err := volume.SnapshotDigests(t.Context(), cs, m, b.Identities, []seal.VolumeRecord{m.Volumes[0]})
		if err == nil && len(d[volume.Name(m.Volumes[0])]) != files {
			err = fmt.Errorf("digests of %d files, want %d", len(d[volume.Name(m.Volumes[0])]), files)
		}
		return err
	})
}
