package drill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/volume"
)

// VolumeFiles opens what Velero restored into one pod volume: the pod's
// destination namespace and name, and the volume's name; for a CSI data
// mover volume, pod is volume.DataMoverDir and volume the PVC's name (as
// in restore --to-dir's paths). An error fails CheckVolumeFiles for that
// volume.
type VolumeFiles func(ctx context.Context, namespace, pod, volume string) (fs.FS, error)

// restoredName is how VolumeFiles names v: its pod and volume, or
// volume.DataMoverDir and its PVC.
func restoredName(v seal.VolumeRecord) (pod, vol string) {
	if v.IsDataMover() {
		return volume.DataMoverDir, v.PVC
	}
	return v.Pod, v.Volume
}

// veleroDoneDir is the folder Velero's node-agent writes into a restored
// volume (a done file named by the Restore's UID): not the backup's.
const veleroDoneDir = ".velero"

// volumeTally counts the comparison of restored files with snapshots.
type volumeTally struct {
	volumes, unreadable, differing int
	files, bytes                   int64
	missing, differ, extra         int
	matched                        []string // "<sha256>  <size>" per file, in path order, for the digest
}

// checkVolumeFiles compares every regular file Velero restored into each
// volume stageVolumes staged with the snapshot: the same set of paths, each with the
// SHA-256 and size read from the sealed snapshot (in memory). The check's
// message carries counts and one digest only, never a file or object name:
// it goes into the audit entry, which is plaintext.
func (r *runner) checkVolumeFiles(ctx context.Context, m *seal.Manifest, mapping map[string]string) error {
	vs := r.volumes
	if vs == nil || len(vs.volumes) == 0 {
		return nil // recorded by stageVolumes
	}
	if r.opts.VolumeFiles == nil {
		return r.checkPodVolumeRestores(ctx, vs, mapping)
	}
	r.progress.step(Step{Phase: PhaseCheck, Message: "comparing restored volume files with the snapshots"})
	want, err := volume.SnapshotDigests(ctx, r.opts.Offsite, m, r.opts.Identities, vs.volumes)
	if errors.Is(err, volume.ErrDamaged) {
		r.fail(CheckVolumeFiles, "the sealed snapshots could not be read to compare: a sealed volume blob did not verify", nil)
		return nil
	}
	if err != nil {
		return err
	}
	t := &volumeTally{}
	for _, v := range vs.volumes {
		t.volumes++
		pod, vol := restoredName(v)
		fsys, err := r.opts.VolumeFiles(ctx, mapping[v.Namespace], pod, vol)
		if err == nil {
			var got volume.Digests
			if got, err = volume.DigestsOf(fsys); err == nil {
				t.add(want[volume.Name(v)], got)
				continue
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.unreadable++
	}
	r.judgeVolumes(t)
	return nil
}

// add tallies one volume's comparison.
func (t *volumeTally) add(want, got volume.Digests) {
	for p := range got {
		if p == veleroDoneDir || strings.HasPrefix(p, veleroDoneDir+"/") {
			delete(got, p)
		}
	}
	missing, differ, extra := want.Compare(got)
	t.missing += len(missing)
	t.differ += len(differ)
	t.extra += len(extra)
	if len(missing)+len(differ)+len(extra) > 0 {
		t.differing++
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		d := want[p]
		t.files++
		t.bytes += d.Size
		t.matched = append(t.matched, fmt.Sprintf("%s  %d", d.SHA256, d.Size))
	}
}

// digest is the SHA-256 of the snapshots' file digests and sizes, in
// volume and path order: equal digests, equal restored content.
func (t *volumeTally) digest() string {
	h := sha256.New()
	for _, line := range t.matched {
		h.Write([]byte(line + "\n"))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func (r *runner) judgeVolumes(t *volumeTally) {
	if t.unreadable == 0 && t.differing == 0 {
		r.pass(CheckVolumeFiles, fmt.Sprintf("%s, %d bytes in %s restored by Velero match the snapshots (%s)",
			plural.S(int(t.files), "file"), t.bytes, plural.S(t.volumes, "volume"), t.digest()))
		return
	}
	var parts []string
	if t.unreadable > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d volumes could not be read", t.unreadable, t.volumes))
	}
	if t.differing > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d volumes differ from their snapshots: %d files missing, %d differing, %d not in the snapshot",
			t.differing, t.volumes, t.missing, t.differ, t.extra))
	}
	r.fail(CheckVolumeFiles, strings.Join(parts, "; "), nil)
}

// checkPodVolumeRestores is CheckVolumeFiles without a reader of the
// restored volumes (an incident restore from a laptop): every staged pod
// volume must have a Completed PodVolumeRestore of the Restore, and every
// CSI data mover volume a Completed DataDownload into its PVC; the message
// says that files were not compared.
func (r *runner) checkPodVolumeRestores(ctx context.Context, vs *volumeStage, mapping map[string]string) error {
	var pvrs velerov1.PodVolumeRestoreList
	var dds velerov2alpha1.DataDownloadList
	byRestore := client.MatchingLabels{velerov1.RestoreNameLabel: veleroLabelValue(r.opts.StagedName)}
	moved, pod := volumeKinds(vs.volumes)
	if pod {
		if err := r.opts.Client.List(ctx, &pvrs, client.InNamespace(r.opts.VeleroNamespace), byRestore); err != nil {
			return fmt.Errorf("list PodVolumeRestores: %w", err)
		}
	}
	if moved {
		if err := r.opts.Client.List(ctx, &dds, client.InNamespace(r.opts.VeleroNamespace), byRestore); err != nil {
			return fmt.Errorf("list DataDownloads: %w", err)
		}
	}
	done := 0
	for _, v := range vs.volumes {
		ns := mapping[v.Namespace]
		if v.IsDataMover() && slices.ContainsFunc(dds.Items, func(d velerov2alpha1.DataDownload) bool {
			return d.Spec.TargetVolume.Namespace == ns && d.Spec.TargetVolume.PVC == v.PVC && d.Status.Phase == velerov2alpha1.DataDownloadPhaseCompleted
		}) || !v.IsDataMover() && slices.ContainsFunc(pvrs.Items, func(p velerov1.PodVolumeRestore) bool {
			return p.Spec.Pod.Namespace == ns && p.Spec.Pod.Name == v.Pod && p.Spec.Volume == v.Volume &&
				p.Status.Phase == velerov1.PodVolumeRestorePhaseCompleted
		}) {
			done++
		}
	}
	what := "PodVolumeRestores"
	switch {
	case moved && pod:
		what = "PodVolumeRestores and DataDownloads"
	case moved:
		what = "DataDownloads"
	}
	if done < len(vs.volumes) {
		r.fail(CheckVolumeFiles, fmt.Sprintf("%d of %s have no Completed %s", len(vs.volumes)-done, plural.S(len(vs.volumes), "volume"), what), nil)
		return nil
	}
	r.pass(CheckVolumeFiles, fmt.Sprintf("%s restored by Velero (%s Completed); files not compared: no reader of the restored volumes",
		plural.S(len(vs.volumes), "volume"), what))
	return nil
}

// volumeKinds reports whether vols hold CSI data mover volumes (Velero
// restores them with DataDownloads) and pod volumes (PodVolumeRestores).
func volumeKinds(vols []seal.VolumeRecord) (moved, pod bool) {
	for _, v := range vols {
		moved = moved || v.IsDataMover()
		pod = pod || !v.IsDataMover()
	}
	return moved, pod
}
