package volume_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/safekeep-dev/safekeep/volume"
)

func TestSnapshotDigests(t *testing.T) {
	ctx := t.Context()
	b, opened, _, src := sealedVolume(t)
	got, err := volume.SnapshotDigests(ctx, b.Offsite, opened.Manifest, b.Identities, opened.Manifest.Volumes)
	if err != nil {
		t.Fatalf("SnapshotDigests: %v", err)
	}
	want, err := volume.DigestsOf(volume.LocalDir(src))
	if err != nil {
		t.Fatal(err)
	}
	snap := got["phi-app/db-0/data"]
	if len(snap) != 3 {
		t.Fatalf("snapshot digests %v, want the 3 regular files", snap)
	}
	if m, d, e := want.Compare(snap); len(m)+len(d)+len(e) > 0 {
		t.Errorf("snapshot vs source: missing %v, differ %v, extra %v", m, d, e)
	}

	// A changed, a removed and an added file are each named.
	dir := t.TempDir()
	if _, err := volume.RestoreToDir(ctx, b.Offsite, opened.Manifest, b.Identities, dir, ""); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "volumes", "phi-app", "db-0", "data")
	if err := os.WriteFile(filepath.Join(root, "records/patient-2.json"), []byte(`{"name":"tampered"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "scans/scan-1.dcm")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "new.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	restored, err := volume.DigestsOf(volume.LocalDir(root))
	if err != nil {
		t.Fatal(err)
	}
	m, d, e := snap.Compare(restored)
	if !slices.Equal(m, []string{"scans/scan-1.dcm"}) || !slices.Equal(d, []string{"records/patient-2.json"}) || !slices.Equal(e, []string{"new.txt"}) {
		t.Errorf("compare: missing %v, differ %v, extra %v", m, d, e)
	}
}
