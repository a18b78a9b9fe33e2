// Package volumetest builds kopia repositories with kopia itself (the fork
// Velero pins), shaped as Velero's file-system backup leaves them in a
// backup storage location, for the tests of volume and its callers.
package volumetest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/kopia/kopia/fs/localfs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/blob"
	"github.com/kopia/kopia/repo/blob/filesystem"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/policy"
	"github.com/kopia/kopia/snapshot/upload"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
)

// Password is the repository password Velero sets when its Secret has none.
const Password = "static-passw0rd"

// Repo is a kopia repository in a local folder, written by kopia's own
// uploader, that can be copied into a backup storage location.
type Repo struct {
	dir string          // the filesystem storage
	rep repo.Repository // open until the test ends
}

// NewRepo initializes a kopia repository with password in a temporary folder.
func NewRepo(t testing.TB, password string) *Repo {
	t.Helper()
	ctx := t.Context()
	r := &Repo{dir: t.TempDir()}
	config := filepath.Join(t.TempDir(), "repository.config")
	st, err := filesystem.New(ctx, &filesystem.Options{Path: r.dir}, true)
	if err != nil {
		t.Fatalf("volumetest: filesystem storage: %v", err)
	}
	if err := repo.Initialize(ctx, st, &repo.NewRepositoryOptions{}, password); err != nil {
		t.Fatalf("volumetest: initialize: %v", err)
	}
	// Velero writes its own metadata beside kopia's (kopialib writeUdmRepoMetadata).
	if err := st.PutBlob(ctx, "udmrepo.Repository", blobBytes(`{"fullMaintainInterval":"normalGC"}`), blob.PutOptions{}); err != nil {
		t.Fatalf("volumetest: udmrepo metadata: %v", err)
	}
	if err := repo.Connect(ctx, config, st, password, &repo.ConnectOptions{
		ClientOptions: repo.ClientOptions{Hostname: "node-1", Username: "velero"},
	}); err != nil {
		t.Fatalf("volumetest: connect: %v", err)
	}
	// Opening derives the key from the password (scrypt: slow under -race), so once.
	rep, err := repo.Open(ctx, config, password, &repo.Options{})
	if err != nil {
		t.Fatalf("volumetest: open: %v", err)
	}
	r.rep = rep
	t.Cleanup(func() { _ = rep.Close(context.Background()) }) // the test context is gone by then
	return r
}

// Snapshot backs up dir into the repository as Velero's uploader does and
// returns the snapshot's manifest ID.
func (r *Repo) Snapshot(t testing.TB, dir string) string {
	t.Helper()
	ctx := t.Context()
	rep := r.rep
	src, err := localfs.Directory(dir)
	if err != nil {
		t.Fatalf("volumetest: %v", err)
	}
	si := snapshot.SourceInfo{Host: "node-1", UserName: "velero", Path: dir}
	var id string
	err = repo.WriteSession(ctx, rep, repo.WriteSessionOptions{Purpose: "volumetest"}, func(ctx context.Context, w repo.RepositoryWriter) error {
		man, err := upload.NewUploader(w).Upload(ctx, src, policy.BuildTree(nil, policy.DefaultPolicy), si)
		if err != nil {
			return err
		}
		mid, err := snapshot.SaveSnapshot(ctx, w, man)
		id = string(mid)
		return err
	})
	if err != nil {
		t.Fatalf("volumetest: snapshot %s: %v", dir, err)
	}
	return id
}

// CopyTo copies every blob of the repository to store (a backup storage
// location) under kopia/<namespace>/, as Velero keeps it; blobs already there
// are left alone, as kopia never rewrites one.
func (r *Repo) CopyTo(t testing.TB, store storage.Store, namespace string) []string {
	t.Helper()
	ctx := t.Context()
	st, err := filesystem.New(ctx, &filesystem.Options{Path: r.dir}, false)
	if err != nil {
		t.Fatalf("volumetest: filesystem storage: %v", err)
	}
	var ids []string
	err = st.ListBlobs(ctx, "", func(md blob.Metadata) error {
		ids = append(ids, string(md.BlobID))
		var buf outBuf
		if err := st.GetBlob(ctx, md.BlobID, 0, -1, &buf); err != nil {
			return err
		}
		data := buf.Bytes()
		_, err := store.Put(ctx, volume.RepositoryPrefix(namespace)+string(md.BlobID), bytes.NewReader(data),
			storage.PutOptions{Size: int64(len(data)), IfAbsent: true})
		if errors.Is(err, storage.ErrExists) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatalf("volumetest: copy repository: %v", err)
	}
	return ids
}

// PodVolume is one pod volume of a backup, for WriteBackup.
type PodVolume struct {
	Namespace, Pod, Volume, PVC, SnapshotID string
}

// MovedVolume is a PVC whose CSI snapshot Velero's data mover moved into
// the repository of its namespace, for WriteBackupMoved.
type MovedVolume struct {
	Namespace, PVC, SnapshotID string
}

// WriteBackup writes the <backup>-podvolumebackups.json.gz and
// <backup>-volumeinfo.json.gz that Velero writes beside a backup whose pod
// volumes were backed up to location bsl.
func WriteBackup(t testing.TB, store storage.Store, backup, bsl string, vols []PodVolume) {
	t.Helper()
	WriteBackupMoved(t, store, backup, bsl, vols, nil)
}

// WriteBackupMoved is WriteBackup for a backup that also moved CSI
// snapshots with Velero's data mover: their volume info entries are those
// Velero 1.18 writes once the DataUploads completed (pkg/backup
// updateVolumeInfos).
func WriteBackupMoved(t testing.TB, store storage.Store, backup, bsl string, vols []PodVolume, moved []MovedVolume) {
	t.Helper()
	var pvbs []velerov1.PodVolumeBackup
	var infos []map[string]any
	for i, v := range vols {
		pvbs = append(pvbs, velerov1.PodVolumeBackup{
			TypeMeta:   metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "PodVolumeBackup"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", backup, i), Namespace: "velero"},
			Spec: velerov1.PodVolumeBackupSpec{
				Node: "node-1", Pod: corev1.ObjectReference{Kind: "Pod", Namespace: v.Namespace, Name: v.Pod},
				Volume: v.Volume, BackupStorageLocation: bsl, UploaderType: "kopia",
				RepoIdentifier: "", Tags: map[string]string{"backup": backup, "ns": v.Namespace, "pod": v.Pod, "volume": v.Volume},
			},
			Status: velerov1.PodVolumeBackupStatus{Phase: velerov1.PodVolumeBackupPhaseCompleted, SnapshotID: v.SnapshotID},
		})
		infos = append(infos, map[string]any{
			"pvcName": v.PVC, "pvcNamespace": v.Namespace, "backupMethod": "PodVolumeBackup",
			"pvbInfo": map[string]any{"snapshotHandle": v.SnapshotID, "uploaderType": "kopia", "volumeName": v.Volume,
				"podName": v.Pod, "podNamespace": v.Namespace},
		})
	}
	for i, m := range moved {
		infos = append(infos, map[string]any{
			"pvcName": m.PVC, "pvcNamespace": m.Namespace, "pvName": fmt.Sprintf("pvc-%s-%d", backup, i),
			"backupMethod": "CSISnapshot", "snapshotDataMoved": true, "skipped": false, "result": "succeeded",
			"csiSnapshotInfo": map[string]any{"snapshotHandle": "unknown", "size": 0, "driver": "hostpath.csi.k8s.io",
				"vscName": "unknown", "operationID": "unknown"},
			"snapshotDataMovementInfo": map[string]any{"dataMover": "velero", "uploaderType": "kopia",
				"retainedSnapshot": fmt.Sprintf("velero-%s-%d", m.PVC, i), "snapshotHandle": m.SnapshotID,
				"operationID": fmt.Sprintf("du-%s-%d", backup, i), "Phase": "Completed"},
		})
	}
	if vols != nil {
		PutGzipJSON(t, store, "backups/"+backup+"/"+volume.PodVolumeBackupsName(backup), pvbs)
	}
	PutGzipJSON(t, store, "backups/"+backup+"/"+volume.VolumeInfoName(backup), infos)
}

// PutGzipJSON writes v as gzipped JSON at key.
func PutGzipJSON(t testing.TB, store storage.Store, key string, v any) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		t.Fatalf("volumetest: encode %s: %v", key, err)
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("volumetest: gzip %s: %v", key, err)
	}
	if _, err := store.Put(t.Context(), key, bytes.NewReader(buf.Bytes()), storage.PutOptions{Size: int64(buf.Len())}); err != nil {
		t.Fatalf("volumetest: put %s: %v", key, err)
	}
}

// blobBytes is a blob.Bytes over a byte slice.
type blobBytes []byte

func (b blobBytes) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b)
	return int64(n), err
}
func (b blobBytes) Length() int { return len(b) }
func (b blobBytes) Reader() io.ReadSeekCloser {
	return readSeekNopCloser{bytes.NewReader(b)}
}

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }

// outBuf is a blob.OutputBuffer.
type outBuf struct{ bytes.Buffer }

func (o *outBuf) Length() int { return o.Len() }
