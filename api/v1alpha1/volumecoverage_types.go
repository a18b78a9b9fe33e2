package v1alpha1

// VolumeCoverage says, for each volume of a sealed backup's namespaces,
// whether its data is sealed offsite, and for each one that is not, why
// (docs/volumes.md, "Coverage").
type VolumeCoverage struct {
	// Sealed counts the volumes whose data is sealed offsite.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Sealed int32 `json:"sealed,omitempty"`

	// NotCovered counts the volumes whose data is not.
	// +optional
	// +kubebuilder:validation:Minimum=0
	NotCovered int32 `json:"notCovered,omitempty"`

	// Volumes lists them, those not covered first, at most
	// MaxCoverageVolumes (the counts are whole).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Volumes []VolumeCoverageItem `json:"volumes,omitempty"`
}

// MaxCoverageVolumes bounds VolumeCoverage.Volumes.
const MaxCoverageVolumes = 256

// VolumeCoverageItem is one volume of a sealed backup.
type VolumeCoverageItem struct {
	// Namespace of the PVC, or of the pod.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// PVC is the PersistentVolumeClaim's name; empty for a pod volume that
	// is not a PVC (an emptyDir backed up with the file-system backup).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PVC string `json:"pvc,omitempty"`

	// Pod and Volume name the pod volume, when Velero names one.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Volume string `json:"volume,omitempty"`

	// Sealed is true when the volume's data is sealed offsite.
	// +required
	Sealed bool `json:"sealed"`

	// Method is how Velero copied a sealed volume into its kopia
	// repository: FSBackup (node-agent file-system backup) or DataMover
	// (CSI snapshot data movement).
	// +optional
	// +kubebuilder:validation:Enum=FSBackup;DataMover
	Method string `json:"method,omitempty"`

	// Reason a volume is not covered: CSISnapshotNotMoved (a CSI snapshot
	// without data movement stays in the cluster's storage),
	// NativeSnapshot, ResticUploader (deprecated by Velero, refused),
	// Skipped (excluded by policy), BackupFailed, OtherDataMover,
	// NotBackedUp (the backup holds the PVC but no copy of its data).
	// +optional
	// +kubebuilder:validation:Enum=CSISnapshotNotMoved;NativeSnapshot;ResticUploader;Skipped;BackupFailed;OtherDataMover;NotBackedUp
	Reason string `json:"reason,omitempty"`

	// Message says why, for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// LastBackupVolumes is a BackupSchedule's summary of the coverage of its
// last sealed backup.
type LastBackupVolumes struct {
	// Backup is the Velero backup it describes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Backup string `json:"backup"`

	// Sealed counts the volumes whose data is sealed offsite.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Sealed int32 `json:"sealed,omitempty"`

	// NotCovered counts the volumes whose data is not.
	// +optional
	// +kubebuilder:validation:Minimum=0
	NotCovered int32 `json:"notCovered,omitempty"`

	// NotCoveredVolumes names those not covered, "<namespace>/<pvc>:
	// <reason>" (a pod volume that is not a PVC: "<namespace>/<pod>/<volume>"),
	// at most MaxNotCoveredNames; the OffsiteBackup lists every one with why.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	NotCoveredVolumes []string `json:"notCoveredVolumes,omitempty"`
}

// MaxNotCoveredNames bounds LastBackupVolumes.NotCoveredVolumes.
const MaxNotCoveredNames = 32
