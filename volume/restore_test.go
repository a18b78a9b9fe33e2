package volume_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
)

func TestRestoreToDir(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	_, _, firstBytes, src := twoSnapshotsIn(t, b)
	sl, err := volumeSealer(b).Seal(ctx, "nightly", "b1")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	pub := b.Signer.Public()
	opened, err := seal.Open(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := restore.ToDir(ctx, b.Offsite, "nightly", "b1", b.Identities, dir, restore.Options{VerifyKey: &pub, Volume: "phi-app/db-0/data"})
	if err != nil {
		t.Fatalf("ToDir: %v", err)
	}
	got := res.Volumes
	if len(got) != 1 || got[0].Files != 3 || got[0].Bytes != firstBytes || got[0].Symlinks != 2 {
		t.Fatalf("restored %+v, want 3 files, %d bytes, 2 symlinks", got, firstBytes)
	}
	if want := []string{"abs", "escape"}; !slices.Equal(slices.Sorted(slices.Values(got[0].Skipped)), want) {
		t.Errorf("skipped symlinks %v, want %v", got[0].Skipped, want)
	}
	out := filepath.Join(dir, "volumes", "phi-app", "db-0", "data")
	for _, name := range []string{"records/patient-1.json", "records/patient-2.json", "scans/scan-1.dcm"} {
		want, err := os.Stat(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("restored %s: %v", name, err)
		}
		if have.Mode() != want.Mode() || !have.ModTime().Equal(want.ModTime()) {
			t.Errorf("%s: mode %v time %v, want %v %v", name, have.Mode(), have.ModTime(), want.Mode(), want.ModTime())
		}
		a, _ := os.ReadFile(filepath.Join(src, name))
		c, _ := os.ReadFile(filepath.Join(out, name))
		if !bytes.Equal(a, c) {
			t.Errorf("%s: content differs", name)
		}
	}
	for name, target := range map[string]string{"latest": "records/patient-1.json", "records/up": "../scans/scan-1.dcm"} {
		if l, err := os.Readlink(filepath.Join(out, name)); err != nil || l != target {
			t.Errorf("symlink %s -> %q (%v), want %q", name, l, err, target)
		}
	}
	for _, name := range []string{"abs", "escape"} {
		if _, err := os.Lstat(filepath.Join(out, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("escaping symlink %s was created (%v)", name, err)
		}
	}
	_, err = restore.ToDir(ctx, b.Offsite, "nightly", "b1", b.Identities, t.TempDir(), restore.Options{VerifyKey: &pub, Volume: "phi-app/db-0/other"})
	if !errors.Is(err, volume.ErrNoVolume) {
		t.Errorf("unknown volume: %v, want ErrNoVolume", err)
	}

	// A flipped bit in a sealed data pack is caught and named.
	var pack string
	for _, o := range sl.VolumeBlobs {
		if strings.Contains(o.Name, "/blobs/p") {
			pack = o.Name
		}
	}
	data := sealtest.Get(t, b.Offsite, pack)
	data[len(data)-100] ^= 1
	sealtest.Put(t, b.Offsite, pack, data)
	_, err = volume.RestoreToDir(ctx, b.Offsite, opened.Manifest, b.Identities, t.TempDir(), "")
	if !errors.Is(err, volume.ErrDamaged) || !strings.Contains(err.Error(), pack) {
		t.Errorf("restore with a damaged pack: %v, want ErrDamaged naming %s", err, pack)
	}
}
