package volume

import (
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
)

// The part of Velero's BackupVolumeInfo (internal/volume in Velero 1.18,
// volumes_information.go, which another module cannot import) that says how
// each volume of a backup was backed up: one element of the list in
// <backup>-volumeinfo.json.gz. The JSON names are Velero's, checked against
// its source by TestVolumeInfoMatchesVelero.
type volumeInfo struct {
	PVCName           string `json:"pvcName,omitempty"`
	PVCNamespace      string `json:"pvcNamespace,omitempty"`
	PVName            string `json:"pvName,omitempty"`
	BackupMethod      string `json:"backupMethod,omitempty"`
	SnapshotDataMoved bool   `json:"snapshotDataMoved"`
	Skipped           bool   `json:"skipped"`
	SkippedReason     string `json:"skippedReason,omitempty"`
	// Result is "succeeded" or "failed" (empty for a skipped volume).
	Result                   string                    `json:"result,omitempty"`
	CSISnapshotInfo          *csiSnapshotInfo          `json:"csiSnapshotInfo,omitempty"`
	SnapshotDataMovementInfo *snapshotDataMovementInfo `json:"snapshotDataMovementInfo,omitempty"`
	PVBInfo                  *podVolumeInfo            `json:"pvbInfo,omitempty"`
}

// Velero's backup methods (BackupVolumeInfo.BackupMethod).
const (
	methodNativeSnapshot  = "NativeSnapshot"
	methodPodVolumeBackup = "PodVolumeBackup"
	methodCSISnapshot     = "CSISnapshot"
)

// resultSucceeded is Velero's VolumeResultSucceeded.
const resultSucceeded = "succeeded"

// veleroDataMover is the name of Velero's built-in data mover; an empty
// DataMover means it too.
const veleroDataMover = "velero"

type csiSnapshotInfo struct {
	Driver string `json:"driver"`
}

// snapshotDataMovementInfo is filled in from the backup's DataUploads when
// Velero finalizes the backup: SnapshotHandle is the DataUpload's
// status.snapshotID, a kopia snapshot in the repository of the PVC's
// namespace (the DataUpload's sourceNamespace) in the backup's location.
type snapshotDataMovementInfo struct {
	DataMover      string `json:"dataMover"`
	UploaderType   string `json:"uploaderType"`
	SnapshotHandle string `json:"snapshotHandle"`
	Size           int64  `json:"size"`
	// Phase has no JSON tag in Velero: it is encoded under its Go name.
	Phase velerov2alpha1.DataUploadPhase `json:"Phase"`
}

type podVolumeInfo struct {
	SnapshotHandle string `json:"snapshotHandle,omitempty"`
	UploaderType   string `json:"uploaderType"`
	VolumeName     string `json:"volumeName"`
	PodName        string `json:"podName"`
	PodNamespace   string `json:"podNamespace"`
	// Phase has no JSON tag in Velero: it is encoded under its Go name.
	Phase velerov1.PodVolumeBackupPhase `json:"Phase"`
}
