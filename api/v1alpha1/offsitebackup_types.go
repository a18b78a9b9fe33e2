package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OffsiteBackupSpec identifies one sealed Velero backup in an offsite
// bucket, at <prefix>/safekeep/v1/backups/<scheduleName>/<veleroBackupName>/.
// The bucket is the source of truth: an OffsiteBackup can be rebuilt from
// it. The spec does not change once written.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
type OffsiteBackupSpec struct {
	// BackupScheduleRef names the BackupSchedule, in this namespace, that
	// made the backup. Unset when rebuilt from the bucket with no such
	// schedule in the cluster.
	// +optional
	BackupScheduleRef *corev1.LocalObjectReference `json:"backupScheduleRef,omitempty"`

	// OffsiteTargetRef names the OffsiteTarget, in this namespace, that
	// holds the copy.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.name != ''",message="offsiteTargetRef.name is required",fieldPath=".name"
	OffsiteTargetRef corev1.LocalObjectReference `json:"offsiteTargetRef"`

	// ScheduleName is the schedule's name as recorded offsite (the
	// <schedule> path segment).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ScheduleName string `json:"scheduleName"`

	// VeleroBackupName is the Velero backup sealed (the <velero-backup>
	// path segment).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	VeleroBackupName string `json:"veleroBackupName"`
}

// DrillResult is the outcome of a restore drill.
// +kubebuilder:validation:Enum=Passed;Failed
type DrillResult string

const (
	DrillPassed DrillResult = "Passed"
	DrillFailed DrillResult = "Failed"
)

// DrillSummary is the outcome of the last restore drill of a backup.
type DrillSummary struct {
	// Drill is the name of the RestoreDrill that ran.
	// +optional
	Drill string `json:"drill,omitempty"`

	// Result of the drill.
	// +required
	Result DrillResult `json:"result"`

	// Time the drill finished.
	// +required
	Time metav1.Time `json:"time"`

	// FailedCheck names the first check that failed, when Result is Failed.
	// +optional
	FailedCheck string `json:"failedCheck,omitempty"`

	// AuditEntry is the key of the audit log entry that records the drill.
	// +optional
	AuditEntry string `json:"auditEntry,omitempty"`
}

// OffsiteBackupStatus is what the seal recorded, and what has happened to
// the copy since.
type OffsiteBackupStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Objects is the number of Velero objects sealed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Objects int64 `json:"objects,omitempty"`

	// PlaintextBytes is the total size of the objects before encryption.
	// +optional
	// +kubebuilder:validation:Minimum=0
	PlaintextBytes int64 `json:"plaintextBytes,omitempty"`

	// CiphertextBytes is the total size written offsite, seal.json
	// excluded.
	// +optional
	// +kubebuilder:validation:Minimum=0
	CiphertextBytes int64 `json:"ciphertextBytes,omitempty"`

	// SealDigest is the SHA-256 of seal.json as written, "sha256:" and 64
	// lower-case hex digits.
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[0-9a-f]{64}$`
	SealDigest string `json:"sealDigest,omitempty"`

	// RecipientFingerprints of the age recipients the backup is encrypted
	// to, in the form crypto.Fingerprint gives.
	// +optional
	// +listType=atomic
	RecipientFingerprints []string `json:"recipientFingerprints,omitempty"`

	// SealedAt is when seal.json was written.
	// +optional
	SealedAt *metav1.Time `json:"sealedAt,omitempty"`

	// SealDuration is how long sealing took, from the first object read to
	// seal.json written.
	// +optional
	SealDuration *Duration `json:"sealDuration,omitempty"`

	// RetainUntil is the object-lock retain-until date of the backup's
	// objects; unset when the target has no object lock. The copy cannot be
	// deleted before it.
	// +optional
	RetainUntil *metav1.Time `json:"retainUntil,omitempty"`

	// Volumes says, for each volume of the backup's namespaces, whether
	// its data is sealed offsite, and why not. Unset for a backup sealed
	// without its volume information (the source was gone).
	// +optional
	Volumes *VolumeCoverage `json:"volumes,omitempty"`

	// LastDrill is the outcome of the last restore drill that used this
	// backup.
	// +optional
	LastDrill *DrillSummary `json:"lastDrill,omitempty"`

	// Conditions: Ready, Sealed, Retained, Verified, Hidden, Gone,
	// VolumesCovered.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// OffsiteBackup records one Velero backup sealed to an OffsiteTarget. It is
// owned by the BackupSchedule that made it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=safekeep,shortName=obk
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.scheduleName`
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.veleroBackupName`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.offsiteTargetRef.name`,priority=1
// +kubebuilder:printcolumn:name="Objects",type=integer,JSONPath=`.status.objects`
// +kubebuilder:printcolumn:name="Bytes",type=integer,JSONPath=`.status.ciphertextBytes`
// +kubebuilder:printcolumn:name="Sealed",type=date,JSONPath=`.status.sealedAt`
// +kubebuilder:printcolumn:name="Retain Until",type=string,JSONPath=`.status.retainUntil`,priority=1
// +kubebuilder:printcolumn:name="Drill",type=string,JSONPath=`.status.lastDrill.result`,priority=1
// +kubebuilder:printcolumn:name="Volumes",type=integer,JSONPath=`.status.volumes.sealed`,priority=1
// +kubebuilder:printcolumn:name="Not Covered",type=integer,JSONPath=`.status.volumes.notCovered`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Hidden",type=string,JSONPath=`.status.conditions[?(@.type=="Hidden")].status`,priority=1
// +kubebuilder:printcolumn:name="Retained",type=string,JSONPath=`.status.conditions[?(@.type=="Retained")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OffsiteBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec OffsiteBackupSpec `json:"spec"`
	// +optional
	Status OffsiteBackupStatus `json:"status,omitempty"`
}

// OffsiteBackupList is a list of OffsiteBackups.
// +kubebuilder:object:root=true
type OffsiteBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OffsiteBackup `json:"items"`
}

func init() {
	SchemeBuilder.Register(addKnownTypes(&OffsiteBackup{}, &OffsiteBackupList{}))
}
