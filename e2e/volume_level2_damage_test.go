package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/drill"
)

// testLevel2Damage: a Level 2 drill whose restored volume differs from
// the sealed snapshot fails the volume-files check with counts, its
// verdict is Failed, its audit entry (as the controller writes it) holds
// the counts and no file or volume name, and cleanup leaves nothing. The
// damage is done in the restored volume's folder after Velero's
// node-agent restored it and before the drill compares it (through the
// drill's VolumeFiles, which opens the folder): one file's bytes changed
// (same size: only its digest tells), or one file deleted.
func testLevel2Damage(t *testing.T, b *bed, lc level2Case) {
	names := slices.Sorted(maps.Keys(lc.files))
	largest := slices.MaxFunc(names, func(a, b string) int { return cmp.Compare(len(lc.files[a].body), len(lc.files[b].body)) })
	other := names[0]
	if other == largest {
		other = names[1]
	}
	n := int64(len(lc.files))
	for _, tc := range []struct {
		name   string
		damage func(dir string) error
		want   drill.RestoredVolume // the counts
		says   string
	}{
		{"changed", func(dir string) error { return flipByte(filepath.Join(dir, filepath.FromSlash(largest))) },
			drill.RestoredVolume{Files: n, MatchedFiles: n - 1, Differ: 1}, "0 files missing, 1 differing, 0 not in the snapshot"},
		{"missing", func(dir string) error { return os.Remove(filepath.Join(dir, filepath.FromSlash(other))) },
			drill.RestoredVolume{Files: n - 1, MatchedFiles: n - 1, Missing: 1}, "1 files missing, 0 differing, 0 not in the snapshot"},
	} {
		t.Run("a restored file "+tc.name, func(t *testing.T) {
			opts := level2Options(t, b, lc, "damage-"+tc.name+"-"+lc.name)
			var damaged atomic.Int32
			opts.VolumeFiles = damageFirst(b, lc.claim, opts.VolumeFiles, func(dir string) error { damaged.Add(1); return tc.damage(dir) })
			res, err := drill.Run(t.Context(), opts)
			if err != nil {
				t.Fatalf("drill: %v", err)
			}
			for _, ch := range res.Checks {
				t.Logf("%-12s %-5v %s", ch.Name, ch.Passed, ch.Message)
			}
			if n := damaged.Load(); n != 1 {
				t.Fatalf("the restored volume was damaged %d times, want once", n)
			}
			wantVolumeFilesFailed(t, res, "1 of 1 volumes differ from their snapshots: "+tc.says)
			if len(res.RestoredVolumes) != 1 {
				t.Fatalf("restored volumes %+v, want 1", res.RestoredVolumes)
			}
			got := res.RestoredVolumes[0]
			if got.Reason != drill.VolumeDiffers || got.Files != tc.want.Files || got.MatchedFiles != tc.want.MatchedFiles ||
				got.Missing != tc.want.Missing || got.Differ != tc.want.Differ || got.Extra != 0 {
				t.Errorf("restored volume %+v, want %s with %d files, %d matched, %d missing, %d differing",
					got, drill.VolumeDiffers, tc.want.Files, tc.want.MatchedFiles, tc.want.Missing, tc.want.Differ)
			}
			wantAuditCounts(t, res, lc, tc.want)
			cleanLevel2(t, b, opts)
		})
	}
}

// damageFirst wraps read: the first volume opened gets damage done to
// the folder of claim as restored in its namespace, then is read.
func damageFirst(b *bed, claim string, read drill.VolumeFiles, damage func(dir string) error) drill.VolumeFiles {
	var once sync.Once
	return func(ctx context.Context, namespace, pod, vol string) (fs.FS, error) {
		var err error
		once.Do(func() {
			var dir string
			if dir, err = localPVDir(ctx, b.cp.Client, namespace, claim); err == nil {
				err = damage(dir)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("damage the restored volume: %w", err)
		}
		return read(ctx, namespace, pod, vol)
	}
}

// flipByte changes the middle byte of the file at path, keeping its size.
func flipByte(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("%s is empty", path)
	}
	data[len(data)/2] ^= 0x01
	return os.WriteFile(path, data, 0)
}

// wantVolumeFilesFailed: the drill failed on volume-files, with a message
// holding says, and on nothing else (rto is then not verified, as a
// restore that is not whole has no recovery time).
func wantVolumeFilesFailed(t *testing.T, res *drill.Result, says string) {
	t.Helper()
	if res.Passed {
		t.Errorf("the drill passed, want Failed")
	}
	failed := res.Failed()
	if len(failed) != 2 || failed[0].Name != drill.CheckVolumeFiles || !strings.Contains(failed[0].Message, says) ||
		failed[1].Name != drill.CheckRTO || !strings.HasPrefix(failed[1].Message, "not verified: the volume-files check failed") {
		t.Errorf("failed checks %+v, want %s saying %q and %s not verified", failed, drill.CheckVolumeFiles, says, drill.CheckRTO)
	}
}

// wantAuditCounts: the run's audit entry details, built as the controller
// builds them (drill.ChecksForLog, drill.AuditVolumes of the status'
// volumes), hold the Level 2 counts want and no name of a file, the
// volume or a namespace.
func wantAuditCounts(t *testing.T, res *drill.Result, lc level2Case, want drill.RestoredVolume) {
	t.Helper()
	det := audit.DrillDetails{Passed: res.Passed, Checks: drill.ChecksForLog(res.Checks),
		Volumes: drill.AuditVolumes(drill.VolumesStatus(res.Volumes, res.RestoredVolumes))}
	raw, err := json.Marshal(det)
	if err != nil {
		t.Fatal(err)
	}
	if len(det.Volumes) != 1 || det.Volumes[0].Passed || det.Volumes[0].Restored == nil {
		t.Fatalf("audit volumes %s, want one failed volume restored", raw)
	}
	r := det.Volumes[0].Restored
	if r.Files != want.Files || r.MatchedFiles != want.MatchedFiles || r.Passed || r.Reason != drill.VolumeDiffers || r.Bytes == 0 || r.MatchedBytes == 0 {
		t.Errorf("audit restored %+v, want %d files, %d matched, %s", r, want.Files, want.MatchedFiles, drill.VolumeDiffers)
	}
	words := []string{lc.source, lc.claim}
	for name := range lc.files {
		words = append(words, name, filepath.Base(name))
	}
	for _, w := range words {
		if len(w) >= 6 && strings.Contains(string(raw), w) {
			t.Errorf("the audit entry holds %q: %s", w, raw)
		}
	}
}
