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

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
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

// PodVolume names a restored volume: the pod's destination namespace and
// name, and the volume's name; for a data mover volume, the namespace,
// volume.DataMoverDir and the PVC.
type PodVolume struct{ Namespace, Pod, Volume string }

// VolumeRead is what was read from one restored volume: the digest of
// each regular file, or, when that list could not be had whole (a reader
// pod's rotated log), the summary of them all (files, bytes and the
// digest of the sorted per-file list, volume.DigestSummary); or why it
// could not be read. A summary passes only when its digest is the
// snapshot's: every file restored with the snapshot's digest.
type VolumeRead struct {
	Digests volume.Digests
	Summary *volume.DigestSummary
	Err     error
}

// VolumeReader reads what Velero restored into vols, the pod volumes of
// one destination namespace. A volume the answer lacks, or whose Err is
// set, fails CheckVolumeFiles as unreadable; an error fails all of vols.
type VolumeReader func(ctx context.Context, namespace string, vols []PodVolume) (map[PodVolume]VolumeRead, error)

// Reader is a VolumeReader that opens each volume with f and digests it
// in this process.
func (f VolumeFiles) Reader() VolumeReader {
	return func(ctx context.Context, _ string, vols []PodVolume) (map[PodVolume]VolumeRead, error) {
		out := map[PodVolume]VolumeRead{}
		for _, v := range vols {
			var read VolumeRead
			fsys, err := f(ctx, v.Namespace, v.Pod, v.Volume)
			if err == nil {
				read.Digests, err = volume.DigestsOf(fsys)
			}
			read.Err = err
			out[v] = read
		}
		return out, ctx.Err()
	}
}

// Why a volume failed Level 2 (RestoredVolume.Reason).
const (
	// VolumePasswordMismatch: Velero's repository password is not the
	// sealed repository's; nothing was restored.
	VolumePasswordMismatch = v1alpha1.ReasonRepositoryPasswordMismatch
	// VolumeNotRestored: the sealed repository could not be staged.
	VolumeNotRestored = "NotRestored"
	// VolumeUnreadable: the restored volume could not be read.
	VolumeUnreadable = "Unreadable"
	// VolumeDiffers: the restored files differ from the snapshot's.
	VolumeDiffers = "Differs"
)

// RestoredVolume is the Level 2 result of one volume: what Velero
// restored into it, compared with the sealed snapshot.
type RestoredVolume struct {
	Volume seal.VolumeRecord
	// Files and Bytes were read back from the restored volume.
	Files, Bytes int64
	// MatchedFiles and MatchedBytes are the snapshot's files restored with
	// the same size and SHA-256.
	MatchedFiles, MatchedBytes int64
	// Missing, Differ and Extra count the snapshot's files not restored,
	// restored with other content, and the files not in the snapshot.
	// They are 0 when SummaryOnly.
	Missing, Differ, Extra int
	// SummaryOnly: the reader's per-file list could not be had, the
	// volume was compared by its summary (volume.DigestSummary): a pass
	// still means every file matched; a failure cannot count the files.
	SummaryOnly bool
	// Reason is "" when the volume passed, else one of Volume*.
	Reason string
	// Message says why it failed; for the cluster's status only (it may
	// name a file).
	Message string
}

// Passed reports whether the volume was restored unchanged.
func (v RestoredVolume) Passed() bool { return v.Reason == "" }

// volumeTally counts the comparison of restored files with snapshots.
type volumeTally struct {
	volumes, unreadable, differing int
	summaryOnly                    int                     // differing volumes compared by summary only
	summary                        [2]volume.DigestSummary // theirs: restored, in the snapshots (files and bytes)
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
	read := r.opts.VolumeReader
	if read == nil && r.opts.VolumeFiles != nil {
		read = r.opts.VolumeFiles.Reader()
	}
	if read == nil {
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
	got, err := r.readRestored(ctx, read, vs.volumes, mapping)
	if err != nil {
		return err
	}
	t := &volumeTally{}
	for _, v := range vs.volumes {
		pod, vol := restoredName(v)
		pv := PodVolume{Namespace: mapping[v.Namespace], Pod: pod, Volume: vol}
		rv := t.add(v, want[volume.Name(v)], got[pv])
		r.restored = append(r.restored, rv)
	}
	r.judgeVolumes(t)
	return nil
}

// readRestored reads the restored volumes, one call of read per
// destination namespace; a failed call makes its volumes unreadable.
func (r *runner) readRestored(ctx context.Context, read VolumeReader, vols []seal.VolumeRecord, mapping map[string]string) (map[PodVolume]VolumeRead, error) {
	byNS := map[string][]PodVolume{}
	for _, v := range vols {
		ns := mapping[v.Namespace]
		pod, vol := restoredName(v)
		byNS[ns] = append(byNS[ns], PodVolume{Namespace: ns, Pod: pod, Volume: vol})
	}
	out := map[PodVolume]VolumeRead{}
	for _, ns := range slices.Sorted(maps.Keys(byNS)) {
		got, err := read(ctx, ns, byNS[ns])
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for _, pv := range byNS[ns] {
			switch g, ok := got[pv]; {
			case err != nil:
				out[pv] = VolumeRead{Err: err}
			case ok:
				out[pv] = g
			default:
				out[pv] = VolumeRead{Err: errors.New("the reader returned nothing for it")}
			}
		}
	}
	return out, nil
}

// add tallies one volume's comparison and returns its result.
func (t *volumeTally) add(v seal.VolumeRecord, want volume.Digests, read VolumeRead) RestoredVolume {
	t.volumes++
	rv := RestoredVolume{Volume: v}
	if read.Err != nil {
		t.unreadable++
		rv.Reason, rv.Message = VolumeUnreadable, cutMessage("the restored volume could not be read: "+oneLine(read.Err), 1024)
		return rv
	}
	if read.Digests == nil && read.Summary != nil {
		return t.addSummary(v, want, *read.Summary)
	}
	got := read.Digests.WithoutVeleroDir()
	for _, d := range got {
		rv.Files++
		rv.Bytes += d.Size
	}
	missing, differ, extra := want.Compare(got)
	rv.Missing, rv.Differ, rv.Extra = len(missing), len(differ), len(extra)
	t.missing += len(missing)
	t.differ += len(differ)
	t.extra += len(extra)
	if len(missing)+len(differ)+len(extra) > 0 {
		t.differing++
		rv.Reason = VolumeDiffers
		rv.Message = fmt.Sprintf("%d files missing, %d differing, %d not in the snapshot", len(missing), len(differ), len(extra))
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		d := want[p]
		t.want(d)
		if g, ok := got[p]; ok && g == d {
			rv.MatchedFiles++
			rv.MatchedBytes += d.Size
		}
	}
	return rv
}

// want tallies one file of a snapshot.
func (t *volumeTally) want(d volume.FileDigest) {
	t.files++
	t.bytes += d.Size
	t.matched = append(t.matched, fmt.Sprintf("%s  %d", d.SHA256, d.Size))
}

// addSummary tallies a volume read as a summary only: it matches when its
// digest of the sorted per-file list is the snapshot's. The message holds
// counts, never a name.
func (t *volumeTally) addSummary(v seal.VolumeRecord, want volume.Digests, got volume.DigestSummary) RestoredVolume {
	rv := RestoredVolume{Volume: v, Files: got.Files, Bytes: got.Bytes, SummaryOnly: true}
	ws := want.Summary()
	for _, p := range slices.Sorted(maps.Keys(want)) {
		t.want(want[p])
	}
	if got == ws {
		rv.MatchedFiles, rv.MatchedBytes = ws.Files, ws.Bytes
		return rv
	}
	t.differing++
	t.summaryOnly++
	t.summary[0].Files, t.summary[0].Bytes = t.summary[0].Files+got.Files, t.summary[0].Bytes+got.Bytes
	t.summary[1].Files, t.summary[1].Bytes = t.summary[1].Files+ws.Files, t.summary[1].Bytes+ws.Bytes
	rv.Reason = VolumeDiffers
	rv.Message = fmt.Sprintf("%d files, %d bytes restored, the snapshot has %d files, %d bytes; the digest of the restored file list differs "+
		"(compared by summary: the reader's per-file list was not readable, so the differing files are not counted)", got.Files, got.Bytes, ws.Files, ws.Bytes)
	return rv
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
		p := fmt.Sprintf("%d of %d volumes differ from their snapshots: %d files missing, %d differing, %d not in the snapshot",
			t.differing, t.volumes, t.missing, t.differ, t.extra)
		if t.summaryOnly > 0 {
			p += fmt.Sprintf(" (%d of them compared by summary only, their files not counted: %d files, %d bytes restored, %d files, %d bytes in the snapshots)",
				t.summaryOnly, t.summary[0].Files, t.summary[0].Bytes, t.summary[1].Files, t.summary[1].Bytes)
		}
		parts = append(parts, p)
	}
	var failed []string
	for _, rv := range r.restored {
		if !rv.Passed() {
			failed = append(failed, "volume "+volume.Name(rv.Volume)+": "+rv.Reason)
		}
	}
	r.fail(CheckVolumeFiles, strings.Join(parts, "; "), firstObjects(failed))
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
