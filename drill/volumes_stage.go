package drill

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	veleroshared "github.com/vmware-tanzu/velero/pkg/apis/velero/shared"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
)

// LabelStagedBackup names, on each BackupRepository Run creates for a
// volume restore, the staged Backup it serves; Cleanup finds them by it.
const LabelStagedBackup = "safekeep.dev/staged-backup"

// Velero's names for what a volume restore reads (pkg/apis/velero/v1,
// pkg/repository, pkg/podvolume/configs).
const (
	veleroRepositoryType    = "kopia"
	veleroUploaderType      = "kopia"
	veleroPVCNameAnnotation = "velero.io/pvc-name"
)

// stagedMaintenanceFrequency is the staged BackupRepository's
// maintenanceFrequency: with lastMaintenanceTime set to its creation,
// Velero's repository controller does not start a maintenance Job on the
// staged copy within a drill's life (maintenance would rewrite
// kopia.maintenance and could delete staged packs).
const stagedMaintenanceFrequency = 30 * 24 * time.Hour

// volumeStage is what staging the volumes did.
type volumeStage struct {
	volumes []seal.VolumeRecord
	blobs   int
	bytes   int64
}

// stageVolumes prepares the staged copy for Velero's volume restore, when
// Options.RestoreVolumes asks for it and the backup has volume data: for
// each repository, it claims the staging location's repository of the
// namespace with a Ready BackupRepository, stages the sealed blobs (each
// checked before it is written), and creates the staged PodVolumeBackups.
// A CSI data mover volume needs no staged object: Velero's restore reads
// its DataUpload from the staged tarball, takes the staged Backup's
// location for the DataDownload, and node-agent reads the snapshot from
// the staged repository of its namespace.
// Whatever the options, the staged copy of <b>-podvolumebackups.json.gz
// is rewritten to list only the staged PodVolumeBackups (none without
// RestoreVolumes): Velero's backup sync creates PodVolumeBackups from it,
// and the sealed one names the source backup and location. A damaged blob
// fails CheckVolumeFiles and returns nil, nil: nothing is restored.
func (r *runner) stageVolumes(ctx context.Context, opened *seal.Opened) (*volumeStage, error) {
	m := opened.Manifest
	vs := &volumeStage{}
	if r.opts.RestoreVolumes {
		vs.volumes = slices.Clone(m.Volumes)
	}
	pvbs := r.stagedPodVolumeBackups(vs.volumes)
	if err := r.rewritePodVolumeBackups(ctx, m, pvbs); err != nil {
		return nil, err
	}
	switch {
	case !r.opts.RestoreVolumes:
		r.pass(CheckVolumeFiles, "not requested")
		return vs, nil
	case len(m.Volumes) == 0:
		r.pass(CheckVolumeFiles, "the backup has no volume data")
		return vs, nil
	}
	if ok, err := r.checkRepositoryPasswords(ctx, m, vs.volumes); !ok || err != nil {
		return nil, err
	}
	r.progress.step(Step{Phase: PhaseStage, Message: "staging volume data"})
	for _, rec := range m.Repositories {
		if !slices.ContainsFunc(m.Volumes, func(v seal.VolumeRecord) bool { return v.Repository == rec.Path }) {
			continue
		}
		if err := r.claimRepository(ctx, rec.Namespace); err != nil {
			return nil, err
		}
		got, err := volume.StageRepository(ctx, r.opts.Offsite, rec, r.opts.Identities, r.opts.Staging)
		if errors.Is(err, volume.ErrDamaged) || errors.Is(err, seal.ErrBadManifest) {
			r.notRestored(slices.DeleteFunc(slices.Clone(vs.volumes), func(v seal.VolumeRecord) bool { return v.Repository != rec.Path }), VolumeNotRestored, "not restored: a sealed blob of its repository did not verify")
			r.fail(CheckVolumeFiles, fmt.Sprintf("not restored: a sealed volume blob did not verify (%d of %s staged before it)",
				got.Blobs, plural.S(len(rec.Blobs), "blob")), nil)
			r.notRun("a sealed volume blob did not verify", CheckRestore, CheckPresence, CheckContent, CheckRTO, CheckJob)
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		vs.blobs += got.Blobs
		vs.bytes += got.Bytes
	}
	for _, pvb := range pvbs {
		if err := r.opts.Client.Create(ctx, pvb); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("%w: PodVolumeBackup %s/%s", ErrCollision, pvb.Namespace, pvb.Name)
			}
			return nil, fmt.Errorf("create PodVolumeBackup %s/%s: %w", pvb.Namespace, pvb.Name, err)
		}
	}
	return vs, nil
}

// claimRepository creates the Ready BackupRepository of (namespace, the
// staging location) that Velero's restore looks up by its labels
// (pkg/repository/backup_repo_op.go), named as Velero names it, with
// lastMaintenanceTime set. Velero keeps one repository per (namespace,
// location), so a run claims it before staging into kopia/<namespace>/:
// one that exists already (another run's, or Velero's own) is
// ErrCollision, and its blobs are left alone.
func (r *runner) claimRepository(ctx context.Context, namespace string) error {
	o := r.opts
	veleroLabels := map[string]string{
		velerov1.VolumeNamespaceLabel: veleroLabelValue(namespace),
		velerov1.StorageLocationLabel: veleroLabelValue(o.StagingLocation),
		velerov1.RepositoryTypeLabel:  veleroRepositoryType,
	}
	var list velerov1.BackupRepositoryList
	if err := o.Client.List(ctx, &list, client.InNamespace(o.VeleroNamespace), client.MatchingLabels(veleroLabels)); err != nil {
		return fmt.Errorf("list BackupRepositories: %w", err)
	}
	if len(list.Items) > 0 {
		return fmt.Errorf("%w: BackupRepository %s/%s holds the repository of namespace %s in the staging location", ErrCollision, o.VeleroNamespace, list.Items[0].Name, namespace)
	}
	labels := r.stagedLabels()
	maps.Copy(labels, veleroLabels)
	labels[LabelStagedBackup] = o.StagedName
	now := metav1.NewTime(r.now())
	br := &velerov1.BackupRepository{
		ObjectMeta: metav1.ObjectMeta{
			Name: stagedRepositoryName(namespace, o.StagingLocation), Namespace: o.VeleroNamespace, Labels: labels,
			Annotations: map[string]string{AnnotationSource: o.Schedule + "/" + o.Backup},
		},
		Spec: velerov1.BackupRepositorySpec{
			VolumeNamespace: namespace, BackupStorageLocation: o.StagingLocation, RepositoryType: veleroRepositoryType,
			MaintenanceFrequency: metav1.Duration{Duration: stagedMaintenanceFrequency},
		},
		// The CRD has no status subresource: status is set on create.
		Status: velerov1.BackupRepositoryStatus{Phase: velerov1.BackupRepositoryPhaseReady, LastMaintenanceTime: &now},
	}
	err := o.Client.Create(ctx, br)
	switch {
	case apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%w: BackupRepository %s/%s", ErrCollision, br.Namespace, br.Name)
	case err != nil:
		return fmt.Errorf("create BackupRepository %s/%s: %w", br.Namespace, br.Name, err)
	}
	return nil
}

// stagedRepositoryName is the name Velero gives the BackupRepository of
// (namespace, location) (repository.NewBackupRepository).
func stagedRepositoryName(namespace, location string) string {
	return namespace + "-" + location + "-" + veleroRepositoryType
}

// stagedPodVolumeBackups builds the PodVolumeBackups of the staged Backup,
// one per volume, with what Velero's restore reads
// (pkg/podvolume/restorer.go, pkg/restore/restore.go): the label
// velero.io/backup-name with the staged name, the pod's namespace and
// name, the volume, the kopia uploader, the staging location, the PVC's
// name in the annotation velero.io/pvc-name, and in status (the CRD has no
// status subresource, so it is set on create) phase Completed, the
// snapshot ID and its size. Only the staged name and the staging location
// appear: Velero forgets the snapshots of the PodVolumeBackups labelled
// with a Backup it deletes, in the location they name.
func (r *runner) stagedPodVolumeBackups(vols []seal.VolumeRecord) []*velerov1.PodVolumeBackup {
	o := r.opts
	var out []*velerov1.PodVolumeBackup
	for _, v := range vols {
		if v.IsDataMover() {
			continue // restored from its DataUpload (see stageVolumes)
		}
		labels := r.stagedLabels()
		labels[velerov1.BackupNameLabel] = veleroLabelValue(o.StagedName)
		pvb := &velerov1.PodVolumeBackup{
			TypeMeta: metav1.TypeMeta{APIVersion: velerov1.SchemeGroupVersion.String(), Kind: "PodVolumeBackup"},
			ObjectMeta: metav1.ObjectMeta{
				Name: stagedPVBName(o.StagedName, v), Namespace: o.VeleroNamespace, Labels: labels,
				Annotations: map[string]string{AnnotationSource: o.Schedule + "/" + o.Backup},
			},
			Spec: velerov1.PodVolumeBackupSpec{
				Pod:                   corev1.ObjectReference{Kind: "Pod", Namespace: v.Namespace, Name: v.Pod},
				Volume:                v.Volume,
				BackupStorageLocation: o.StagingLocation,
				UploaderType:          veleroUploaderType,
				Tags:                  map[string]string{"backup": o.StagedName, "ns": v.Namespace, "pod": v.Pod, "volume": v.Volume},
			},
			Status: velerov1.PodVolumeBackupStatus{
				Phase: velerov1.PodVolumeBackupPhaseCompleted, SnapshotID: v.SnapshotID,
				Progress: veleroshared.DataMoveOperationProgress{TotalBytes: v.Bytes, BytesDone: v.Bytes},
			},
		}
		if v.PVC != "" {
			pvb.Annotations[veleroPVCNameAnnotation] = v.PVC
		}
		out = append(out, pvb)
	}
	return out
}

// stagedPVBName names the staged PodVolumeBackup of a volume: the staged
// name and a digest of namespace/pod/volume.
func stagedPVBName(staged string, v seal.VolumeRecord) string {
	sum := sha256.Sum256([]byte(volume.Name(v)))
	return staged + "-" + hex.EncodeToString(sum[:])[:10]
}

// rewritePodVolumeBackups replaces the staged copy of the backup's
// <b>-podvolumebackups.json.gz, when it has one, with pvbs.
func (r *runner) rewritePodVolumeBackups(ctx context.Context, m *seal.Manifest, pvbs []*velerov1.PodVolumeBackup) error {
	name := volume.PodVolumeBackupsName(r.opts.Backup)
	if !slices.ContainsFunc(m.Objects, func(o seal.Object) bool { return o.Name == name }) {
		return nil
	}
	if pvbs == nil {
		pvbs = []*velerov1.PodVolumeBackup{}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(pvbs); err != nil {
		return fmt.Errorf("encode staged PodVolumeBackups: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("encode staged PodVolumeBackups: %w", err)
	}
	key := stagedKey(r.opts.StagedName, r.opts.Backup, name)
	if _, err := storage.PutAgain(ctx, r.opts.Staging, key, buf.Bytes(), storage.PutOptions{}); err != nil {
		return fmt.Errorf("upload %s to the staging location: %w", key, err)
	}
	return nil
}
