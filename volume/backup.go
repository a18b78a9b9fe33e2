package volume

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

	"github.com/safekeep-dev/safekeep/storage"
)

// Errors. They are wrapped; test with errors.Is.
var (
	// ErrBadBackupFile: a podvolumebackups or volumeinfo file of a backup
	// does not parse.
	ErrBadBackupFile = errors.New("bad volume file in Velero backup")
	// ErrUnsupported: a volume was backed up in a way Safekeep cannot seal
	// (the deprecated restic uploader).
	ErrUnsupported = errors.New("volume backup not supported")
	// ErrIncomplete: the repository does not hold everything the snapshots
	// need, even after listing it again.
	ErrIncomplete = errors.New("kopia repository is missing blobs the snapshots need")
	// ErrNoSnapshot: a snapshot a backup names is not in its repository.
	ErrNoSnapshot = errors.New("snapshot not found in kopia repository")
)

// maxBackupFile bounds how much of a decompressed volume file is read.
const maxBackupFile = 64 << 20

// Volume is one pod volume of a Velero backup that Velero's file-system
// backup (node-agent, kopia uploader) copied into a kopia repository.
type Volume struct {
	Namespace  string // the pod's namespace; also the repository's
	Pod        string
	Volume     string // the volume's name in the pod spec
	PVC        string // empty for a volume that is not a PVC (emptyDir)
	SnapshotID string // kopia snapshot manifest ID
	BSL        string // the backup storage location holding the repository
}

// PodVolumeBackupsName is the file Velero writes beside a backup listing its
// PodVolumeBackups.
func PodVolumeBackupsName(backup string) string { return backup + "-podvolumebackups.json.gz" }

// VolumeInfoName is the file Velero writes beside a backup describing each
// volume and how it was backed up.
func VolumeInfoName(backup string) string { return backup + "-volumeinfo.json.gz" }

// ReadBackup returns the volumes of the Velero backup named backup in src
// (a backup storage location, rooted at its prefix) whose data is in a kopia
// repository, sorted by namespace, pod and volume. A backup without pod
// volume backups has none (nil, nil). A volume backed up with the restic
// uploader is refused (ErrUnsupported); one whose backup did not complete
// fails the read, since the backup would not restore it.
func ReadBackup(ctx context.Context, src storage.Store, backup string) ([]Volume, error) {
	var pvbs []velerov1.PodVolumeBackup
	found, err := readGzipJSON(ctx, src, "backups/"+backup+"/"+PodVolumeBackupsName(backup), &pvbs)
	if err != nil || !found {
		return nil, err
	}
	pvcs, err := readPVCNames(ctx, src, backup)
	if err != nil {
		return nil, err
	}
	var out []Volume
	for _, p := range pvbs {
		v, err := fromPodVolumeBackup(p, backup)
		if err != nil {
			return nil, err
		}
		v.PVC = pvcs[podVolume{v.Namespace, v.Pod, v.Volume}]
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Volume) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Volume, b.Volume))
	})
	return out, nil
}

func fromPodVolumeBackup(p velerov1.PodVolumeBackup, backup string) (Volume, error) {
	what := fmt.Sprintf("backup %s: pod volume backup %s (%s/%s volume %s)", backup, p.Name,
		p.Spec.Pod.Namespace, p.Spec.Pod.Name, p.Spec.Volume)
	if p.Spec.UploaderType != "" && p.Spec.UploaderType != "kopia" {
		return Volume{}, fmt.Errorf("%s: uploader %q: %w: only kopia repositories are sealed (restic is deprecated in Velero)",
			what, p.Spec.UploaderType, ErrUnsupported)
	}
	if p.Status.Phase != velerov1.PodVolumeBackupPhaseCompleted || p.Status.SnapshotID == "" {
		return Volume{}, fmt.Errorf("%s: phase %q, snapshot %q: %w: not a completed volume backup",
			what, p.Status.Phase, p.Status.SnapshotID, ErrBadBackupFile)
	}
	if p.Spec.Pod.Namespace == "" || p.Spec.Pod.Name == "" || p.Spec.Volume == "" || p.Spec.BackupStorageLocation == "" {
		return Volume{}, fmt.Errorf("%s: %w: pod namespace, pod, volume and storage location are required", what, ErrBadBackupFile)
	}
	return Volume{
		Namespace: p.Spec.Pod.Namespace, Pod: p.Spec.Pod.Name, Volume: p.Spec.Volume,
		SnapshotID: p.Status.SnapshotID, BSL: p.Spec.BackupStorageLocation,
	}, nil
}

type podVolume struct{ namespace, pod, volume string }

// volumeInfo is the part of Velero's BackupVolumeInfo (internal/volume in
// Velero, not importable) that ties a pod volume to its PVC.
type volumeInfo struct {
	PVCName      string `json:"pvcName"`
	PVCNamespace string `json:"pvcNamespace"`
	PVBInfo      *struct {
		VolumeName   string `json:"volumeName"`
		PodName      string `json:"podName"`
		PodNamespace string `json:"podNamespace"`
	} `json:"pvbInfo"`
}

// readPVCNames maps each pod volume of the backup's volume info to its PVC.
func readPVCNames(ctx context.Context, src storage.Store, backup string) (map[podVolume]string, error) {
	var infos []volumeInfo
	if _, err := readGzipJSON(ctx, src, "backups/"+backup+"/"+VolumeInfoName(backup), &infos); err != nil {
		return nil, err
	}
	out := make(map[podVolume]string)
	for _, vi := range infos {
		if vi.PVBInfo != nil && vi.PVCName != "" {
			out[podVolume{vi.PVBInfo.PodNamespace, vi.PVBInfo.PodName, vi.PVBInfo.VolumeName}] = vi.PVCName
		}
	}
	return out, nil
}

// readGzipJSON decodes the gzipped JSON at key into v; a missing key is
// (false, nil).
func readGzipJSON(ctx context.Context, src storage.Store, key string, v any) (bool, error) {
	rc, _, err := src.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	br := bufio.NewReader(rc)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return false, nil // an empty object lists nothing
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrBadBackupFile, key, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxBackupFile+1))
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrBadBackupFile, key, err)
	}
	if len(data) > maxBackupFile {
		return false, fmt.Errorf("%w: %s: more than %d bytes", ErrBadBackupFile, key, maxBackupFile)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrBadBackupFile, key, err)
	}
	return true, nil
}
