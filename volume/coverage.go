package volume

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// Method is how Velero copied a volume's data into a kopia repository that
// Safekeep seals.
type Method string

const (
	// MethodFSBackup: Velero's file-system backup (node-agent, a
	// PodVolumeBackup, kopia uploader).
	MethodFSBackup Method = seal.MethodFSBackup
	// MethodDataMover: Velero's CSI snapshot data mover (a DataUpload,
	// snapshotMoveData), kopia uploader.
	MethodDataMover Method = seal.MethodDataMover
)

// Reason says why a volume's data is not sealed offsite.
type Reason string

const (
	// ReasonCSISnapshot: a CSI snapshot without data movement; it stays in
	// the cluster's storage system.
	ReasonCSISnapshot Reason = "CSISnapshotNotMoved"
	// ReasonNativeSnapshot: a cloud provider snapshot taken by a Velero
	// plugin; it stays with the provider.
	ReasonNativeSnapshot Reason = "NativeSnapshot"
	// ReasonRestic: copied with the restic uploader, which Velero
	// deprecated; Safekeep seals kopia repositories only.
	ReasonRestic Reason = "ResticUploader"
	// ReasonSkipped: Velero skipped the volume (excluded by a volume
	// policy, snapshotVolumes false, an opt-out annotation...).
	ReasonSkipped Reason = "Skipped"
	// ReasonFailed: Velero's copy of the volume did not complete.
	ReasonFailed Reason = "BackupFailed"
	// ReasonOtherDataMover: moved by a data mover other than Velero's,
	// whose repository Safekeep cannot read.
	ReasonOtherDataMover Reason = "OtherDataMover"
	// ReasonNotBackedUp: the backup holds the PVC object but Velero
	// recorded no copy of its data (no pod mounted it for a file-system
	// backup, no snapshot was asked for).
	ReasonNotBackedUp Reason = "NotBackedUp"
)

// Uncovered is a volume of a backup whose data is not sealed offsite.
type Uncovered struct {
	Namespace string
	PVC       string // empty for a pod volume that is not a PVC
	Pod       string // empty when Velero names no pod
	Volume    string // the volume's name in the pod spec, when known
	Reason    Reason
	// Message says why, for people; it names no credential.
	Message string
}

// Coverage is what happens to each volume of a backup: sealed (its data is
// in a kopia repository of the backup's location) or not, with why.
type Coverage struct {
	// Sealed are the volumes whose data is sealed with the backup, sorted
	// by namespace, PVC, pod and volume.
	Sealed []Volume
	// NotCovered are the others, sorted the same way.
	NotCovered []Uncovered
}

// ResourceListName is the file Velero writes beside a backup listing the
// items it holds.
func ResourceListName(backup string) string { return seal.ResourceListName(backup) }

// pvcKind is the resource list's key of PersistentVolumeClaims.
const pvcKind = "v1/PersistentVolumeClaim"

// ReadCoverage classifies every volume of the Velero backup named backup in
// src (a backup storage location, rooted at its prefix), from the files
// Velero writes beside it: the PodVolumeBackups, the volume info, and the
// resource list, whose PVCs (all in backed-up namespaces) Velero recorded
// no copy of are not covered (ReasonNotBackedUp). A file that does not
// parse is ErrBadBackupFile.
func ReadCoverage(ctx context.Context, src storage.Store, backup string) (*Coverage, error) {
	dir := "backups/" + backup + "/"
	var pvbs []velerov1.PodVolumeBackup
	if _, err := readGzipJSON(ctx, src, dir+PodVolumeBackupsName(backup), &pvbs); err != nil {
		return nil, err
	}
	var infos []volumeInfo
	if _, err := readGzipJSON(ctx, src, dir+VolumeInfoName(backup), &infos); err != nil {
		return nil, err
	}
	var resources map[string][]string
	if _, err := readGzipJSON(ctx, src, dir+ResourceListName(backup), &resources); err != nil {
		return nil, err
	}
	c, err := classify(backup, pvbs, infos, resources[pvcKind])
	if err != nil {
		return nil, err
	}
	return c, nil
}

// classify is ReadCoverage on parsed files; pvcs are the resource list's
// "namespace/name" PVCs.
func classify(backup string, pvbs []velerov1.PodVolumeBackup, infos []volumeInfo, pvcs []string) (*Coverage, error) {
	c := &Coverage{}
	pvcOf := make(map[podVolume]string)
	for _, vi := range infos {
		if vi.PVBInfo != nil && vi.PVCName != "" {
			pvcOf[podVolume{vi.PVBInfo.PodNamespace, vi.PVBInfo.PodName, vi.PVBInfo.VolumeName}] = vi.PVCName
		}
	}
	for _, p := range pvbs {
		v, u, err := fromPodVolumeBackup(p, backup)
		if err != nil {
			return nil, err
		}
		pvc := pvcOf[podVolume{p.Spec.Pod.Namespace, p.Spec.Pod.Name, p.Spec.Volume}]
		if u != nil {
			u.PVC = pvc
			c.NotCovered = append(c.NotCovered, *u)
			continue
		}
		v.PVC = pvc
		c.Sealed = append(c.Sealed, v)
	}
	for _, vi := range infos {
		if vi.PVBInfo != nil && vi.BackupMethod == methodPodVolumeBackup {
			continue // from the PodVolumeBackups, above
		}
		v, u, err := fromVolumeInfo(vi, backup)
		switch {
		case err != nil:
			return nil, err
		case u != nil:
			c.NotCovered = append(c.NotCovered, *u)
		case v != nil:
			c.Sealed = append(c.Sealed, *v)
		}
	}
	c.addNotBackedUp(pvcs)
	c.sort()
	return c, nil
}

// fromPodVolumeBackup is the volume a PodVolumeBackup sealed, or why not.
func fromPodVolumeBackup(p velerov1.PodVolumeBackup, backup string) (Volume, *Uncovered, error) {
	what := fmt.Sprintf("backup %s: pod volume backup %s (%s/%s volume %s)", backup, p.Name,
		p.Spec.Pod.Namespace, p.Spec.Pod.Name, p.Spec.Volume)
	if p.Spec.Pod.Namespace == "" || p.Spec.Pod.Name == "" || p.Spec.Volume == "" || p.Spec.BackupStorageLocation == "" {
		return Volume{}, nil, fmt.Errorf("%s: %w: pod namespace, pod, volume and storage location are required", what, ErrBadBackupFile)
	}
	u := &Uncovered{Namespace: p.Spec.Pod.Namespace, Pod: p.Spec.Pod.Name, Volume: p.Spec.Volume}
	switch {
	case p.Spec.UploaderType != "" && p.Spec.UploaderType != "kopia":
		u.Reason, u.Message = ReasonRestic, uploaderMessage(p.Spec.UploaderType)
		return Volume{}, u, nil
	case p.Status.Phase != velerov1.PodVolumeBackupPhaseCompleted || p.Status.SnapshotID == "":
		u.Reason = ReasonFailed
		u.Message = fmt.Sprintf("Velero's file-system backup of the volume ended in phase %q without a snapshot", p.Status.Phase)
		return Volume{}, u, nil
	}
	return Volume{
		Namespace: p.Spec.Pod.Namespace, Pod: p.Spec.Pod.Name, Volume: p.Spec.Volume, Method: MethodFSBackup,
		SnapshotID: p.Status.SnapshotID, BSL: p.Spec.BackupStorageLocation,
	}, nil, nil
}

func uploaderMessage(uploader string) string {
	return fmt.Sprintf("copied with the %s uploader, which Velero deprecated; Safekeep seals kopia repositories only: "+
		"set Velero's uploader to kopia (node-agent --uploader-type=kopia) so the next backup is sealed", uploader)
}

// fromVolumeInfo classifies a volume info entry other than a pod volume
// backup: a data mover volume is sealed; a snapshot, a skipped volume or a
// failed copy is not covered. An entry with no PVC is ignored.
func fromVolumeInfo(vi volumeInfo, backup string) (*Volume, *Uncovered, error) {
	if vi.PVCName == "" || vi.PVCNamespace == "" {
		return nil, nil, nil // a PV with no claim: not in a namespace
	}
	u := &Uncovered{Namespace: vi.PVCNamespace, PVC: vi.PVCName}
	switch {
	case vi.Skipped:
		u.Reason, u.Message = ReasonSkipped, "Velero skipped the volume: "+cmp.Or(vi.SkippedReason, "no reason given")
	case vi.BackupMethod == methodNativeSnapshot:
		u.Reason = ReasonNativeSnapshot
		u.Message = "a native snapshot by a Velero volume snapshotter plugin: it stays with the storage provider, nothing is copied to a repository"
	case vi.BackupMethod == methodCSISnapshot && !vi.SnapshotDataMoved:
		u.Reason = ReasonCSISnapshot
		u.Message = "a CSI snapshot without data movement: it stays in the cluster's storage system; set snapshotMoveData on the backup to copy it to a kopia repository"
	case vi.BackupMethod == methodCSISnapshot:
		return fromDataMovement(vi, u, backup)
	default:
		u.Reason = ReasonNotBackedUp
		u.Message = fmt.Sprintf("backed up with method %q, unknown to this version", vi.BackupMethod)
	}
	return nil, u, nil
}

func fromDataMovement(vi volumeInfo, u *Uncovered, backup string) (*Volume, *Uncovered, error) {
	dm := vi.SnapshotDataMovementInfo
	if dm == nil {
		return nil, nil, fmt.Errorf("backup %s: volume info of PVC %s/%s: %w: snapshot data moved without snapshotDataMovementInfo",
			backup, vi.PVCNamespace, vi.PVCName, ErrBadBackupFile)
	}
	switch {
	case dm.DataMover != "" && dm.DataMover != veleroDataMover:
		u.Reason = ReasonOtherDataMover
		u.Message = fmt.Sprintf("moved by data mover %q, not Velero's: its repository is not one Safekeep can read", dm.DataMover)
	case dm.UploaderType != "" && dm.UploaderType != "kopia":
		u.Reason, u.Message = ReasonRestic, uploaderMessage(dm.UploaderType)
	case vi.Result != resultSucceeded || dm.Phase != velerov2alpha1.DataUploadPhaseCompleted || dm.SnapshotHandle == "":
		u.Reason = ReasonFailed
		u.Message = fmt.Sprintf("Velero's data movement of the CSI snapshot ended in phase %q without a snapshot", dm.Phase)
	default:
		// The DataUpload's location is always the backup's (Velero's CSI
		// PVC action sets it so); its repository is the PVC's namespace's.
		return &Volume{Namespace: vi.PVCNamespace, PVC: vi.PVCName, Method: MethodDataMover, SnapshotID: dm.SnapshotHandle}, nil, nil
	}
	return nil, u, nil
}

// addNotBackedUp adds the PVCs ("namespace/name") no volume names.
func (c *Coverage) addNotBackedUp(pvcs []string) {
	named := make(map[string]bool)
	for _, v := range c.Sealed {
		named[v.Namespace+"/"+v.PVC] = true
	}
	for _, u := range c.NotCovered {
		named[u.Namespace+"/"+u.PVC] = true
	}
	for _, item := range pvcs {
		ns, name, ok := strings.Cut(item, "/")
		if !ok || name == "" || named[item] {
			continue
		}
		named[item] = true
		c.NotCovered = append(c.NotCovered, Uncovered{Namespace: ns, PVC: name, Reason: ReasonNotBackedUp,
			Message: "the backup holds the PVC but no copy of its data: no file-system backup (no pod mounting it was backed up with defaultVolumesToFsBackup or the backup-volumes annotation), no snapshot"})
	}
}

func (c *Coverage) sort() {
	slices.SortFunc(c.Sealed, func(a, b Volume) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.PVC, b.PVC), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Volume, b.Volume))
	})
	slices.SortFunc(c.NotCovered, func(a, b Uncovered) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.PVC, b.PVC), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Volume, b.Volume))
	})
}
