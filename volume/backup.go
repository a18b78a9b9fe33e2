package volume

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/safekeep-dev/safekeep/storage"
)

// Errors. They are wrapped; test with errors.Is.
var (
	// ErrBadBackupFile: a podvolumebackups or volumeinfo file of a backup
	// does not parse.
	ErrBadBackupFile = errors.New("bad volume file in Velero backup")
	// ErrUnsupported: a volume's repository is not one a seal of the
	// backup can hold (in another storage location than the backup's).
	ErrUnsupported = errors.New("volume backup not supported")
	// ErrIncomplete: the repository does not hold everything the snapshots
	// need, even after listing it again.
	ErrIncomplete = errors.New("kopia repository is missing blobs the snapshots need")
	// ErrNoSnapshot: a snapshot a backup names is not in its repository.
	ErrNoSnapshot = errors.New("snapshot not found in kopia repository")
)

// maxBackupFile bounds how much of a decompressed volume file is read.
const maxBackupFile = 64 << 20

// Volume is one volume of a Velero backup that Velero copied into a kopia
// repository: a pod volume of its file-system backup (node-agent), or a
// PVC its CSI data mover moved.
type Volume struct {
	Namespace string // the pod's or PVC's namespace; also the repository's
	Pod       string // empty for a data mover volume
	Volume    string // the volume's name in the pod spec; empty for a data mover volume
	PVC       string // empty for a pod volume that is not a PVC (emptyDir)
	Method    Method
	// SnapshotID is the kopia snapshot manifest ID.
	SnapshotID string
	// BSL is the backup storage location holding the repository; empty
	// for a data mover volume, which is always in the backup's.
	BSL string
}

// PodVolumeBackupsName is the file Velero writes beside a backup listing its
// PodVolumeBackups.
func PodVolumeBackupsName(backup string) string { return backup + "-podvolumebackups.json.gz" }

// VolumeInfoName is the file Velero writes beside a backup describing each
// volume and how it was backed up.
func VolumeInfoName(backup string) string { return backup + "-volumeinfo.json.gz" }

// ReadBackup returns the volumes of the Velero backup named backup in src
// (a backup storage location, rooted at its prefix) whose data is in a kopia
// repository (ReadCoverage's Sealed), sorted by namespace, PVC, pod and
// volume. A backup without volume data has none (nil, nil).
func ReadBackup(ctx context.Context, src storage.Store, backup string) ([]Volume, error) {
	c, err := ReadCoverage(ctx, src, backup)
	if err != nil {
		return nil, err
	}
	return c.Sealed, nil
}

type podVolume struct{ namespace, pod, volume string }

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
