package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupScheduleSpec says what is backed up, when, and where it goes
// offsite. One run at a time: a due time that arrives while a run is in
// flight waits for it (and counts as missed if its deadline passes).
type BackupScheduleSpec struct {
	// Schedule is a standard 5-field cron expression (minute hour
	// day-of-month month day-of-week) or one of @yearly, @annually,
	// @monthly, @weekly, @daily, @midnight, @hourly, read in TimeZone.
	// @every is not accepted: write the interval as cron fields. Use
	// timeZone rather than a TZ= or CRON_TZ= prefix. Syntax the schema
	// cannot check is reported on the Ready condition (InvalidSchedule).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="!self.contains('TZ')",message="set spec.timeZone instead of a TZ= or CRON_TZ= prefix"
	Schedule string `json:"schedule"`

	// TimeZone is the IANA name (for example America/New_York) the schedule
	// is read in; empty means UTC. "Local" is not accepted. An unknown name
	// is reported on the Ready condition (InvalidTimeZone).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+\-/]*$`
	// +kubebuilder:validation:XValidation:rule="self != 'Local'",message="timeZone must be an explicit IANA time zone, not Local"
	TimeZone string `json:"timeZone,omitempty"`

	// Suspend stops new runs from starting; a run in flight finishes.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// StartingDeadlineSeconds is how late a run may start after its
	// scheduled time (after an outage, or behind a long run). A time missed
	// by more is skipped and reported. Unset means no deadline. After an
	// outage at most one missed run starts, the most recent.
	// +optional
	// +kubebuilder:validation:Minimum=1
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`

	// Template is the Velero backup each run creates in the Velero
	// namespace.
	// +required
	Template BackupTemplate `json:"template"`

	// OffsiteTargetRef names the OffsiteTarget, in this namespace, that
	// receives the sealed copies.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.name != ''",message="offsiteTargetRef.name is required",fieldPath=".name"
	OffsiteTargetRef corev1.LocalObjectReference `json:"offsiteTargetRef"`

	// Retention decides which offsite copies are kept after each seal.
	// Unset, or every count zero, keeps every copy. Velero's TTL still
	// governs the primary copies.
	// +optional
	Retention *RetentionPolicy `json:"retention,omitempty"`
}

// BackupTemplate holds the Velero Backup fields operators set. Each run's
// Backup gets these plus labels naming the schedule.
// +kubebuilder:validation:XValidation:rule="!(has(self.snapshotMoveData) && self.snapshotMoveData && has(self.snapshotVolumes) && !self.snapshotVolumes)",message="snapshotMoveData needs snapshots: with snapshotVolumes false Velero takes none, so there is no data to move"
type BackupTemplate struct {
	// IncludedNamespaces to back up; empty or "*" means all.
	// +optional
	// +listType=atomic
	IncludedNamespaces []string `json:"includedNamespaces,omitempty"`

	// ExcludedNamespaces are left out.
	// +optional
	// +listType=atomic
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`

	// IncludedResources (for example deployments, configmaps.v1); empty or
	// "*" means all.
	// +optional
	// +listType=atomic
	IncludedResources []string `json:"includedResources,omitempty"`

	// ExcludedResources are left out.
	// +optional
	// +listType=atomic
	ExcludedResources []string `json:"excludedResources,omitempty"`

	// LabelSelector limits the backup to objects with matching labels.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`

	// SnapshotVolumes takes volume snapshots of the persistent volumes
	// backed up; unset leaves Velero's default (snapshot when it can). A
	// snapshot whose data is not moved (SnapshotMoveData) stays in the
	// cluster or the cloud provider: it is not sealed offsite, and the
	// VolumeData condition and VolumesCovered say so.
	// +optional
	SnapshotVolumes *bool `json:"snapshotVolumes,omitempty"`

	// SnapshotMoveData moves the data of each CSI snapshot into the backup
	// location (Velero's CSI snapshot data mover: a DataUpload that
	// node-agent runs), where Safekeep seals it offsite with the backup.
	// It needs Velero's server started with the EnableCSI feature and
	// node-agent running; the VolumeData condition checks both. Unset
	// leaves Velero's default (its --default-snapshot-move-data).
	// +optional
	SnapshotMoveData *bool `json:"snapshotMoveData,omitempty"`

	// DataMover names the data mover of SnapshotMoveData: empty or
	// "velero" is Velero's built-in one, whose data Safekeep seals. Any
	// other mover writes where Safekeep does not read: its volumes are
	// reported as not covered (OtherDataMover).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	DataMover string `json:"dataMover,omitempty"`

	// DefaultVolumesToFsBackup backs up every pod volume with file-system
	// backup (node-agent, kopia uploader); unset leaves Velero's default.
	// +optional
	DefaultVolumesToFsBackup *bool `json:"defaultVolumesToFsBackup,omitempty"`

	// TTL of the primary (Velero) copy, for example 720h0m0s; unset leaves
	// Velero's default. Offsite copies follow spec.retention instead.
	// +optional
	TTL *Duration `json:"ttl,omitempty"`

	// StorageLocation is the Velero BackupStorageLocation to write to;
	// empty means Velero's default location.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageLocation string `json:"storageLocation,omitempty"`

	// Hooks run commands in pods before and after they are backed up.
	// +optional
	Hooks *BackupHooks `json:"hooks,omitempty"`
}

// RetentionPolicy is grandfather-father-son retention of offsite copies,
// with the semantics of restic's forget --keep-*: backups are grouped into
// calendar buckets (day, ISO week, month, year) in the schedule's time zone;
// the newest backup in each of the most recent N buckets is kept; a backup
// kept by any rule stays. When a rule has buckets to spare, the oldest backup
// is kept as well. All counts zero keeps everything.
type RetentionPolicy struct {
	// KeepLast keeps the newest N backups.
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepLast int32 `json:"keepLast,omitempty"`

	// KeepDaily keeps the newest backup of each of the last N days that
	// have one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepDaily int32 `json:"keepDaily,omitempty"`

	// KeepWeekly keeps the newest backup of each of the last N ISO weeks
	// that have one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepWeekly int32 `json:"keepWeekly,omitempty"`

	// KeepMonthly keeps the newest backup of each of the last N months
	// that have one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepMonthly int32 `json:"keepMonthly,omitempty"`

	// KeepYearly keeps the newest backup of each of the last N years that
	// have one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepYearly int32 `json:"keepYearly,omitempty"`
}

// BackupScheduleStatus is the observed state of a BackupSchedule.
type BackupScheduleStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastScheduleTime is the scheduled time of the most recent run started.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// NextScheduleTime is when the next run is due; unset while suspended or
	// invalid.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// LastSealedBackup is the name of the Velero backup most recently sealed
	// offsite.
	// +optional
	LastSealedBackup string `json:"lastSealedBackup,omitempty"`

	// LastSealTime is when LastSealedBackup's seal was written.
	// +optional
	LastSealTime *metav1.Time `json:"lastSealTime,omitempty"`

	// LastBackupVolumes sums up the coverage of LastSealedBackup's volumes:
	// how many are sealed offsite, and which are not (the condition
	// VolumesCovered says the same).
	// +optional
	LastBackupVolumes *LastBackupVolumes `json:"lastBackupVolumes,omitempty"`

	// Active is the name of the Velero backup of the run in flight, if any.
	// +optional
	Active string `json:"active,omitempty"`

	// ExcludedNamespaces are kept out of every backup, whatever the
	// template says: the controller's namespace (the Secrets of targets and
	// drills: offsite credentials, signing key, drill identity) and
	// Velero's (its cloud credentials and repository password). Velero's
	// bucket is plaintext; keys there would open every offsite copy.
	// +optional
	// +listType=atomic
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`

	// Conditions: Ready, Running, LastRunSucceeded, RetentionApplied,
	// KeysExcluded, VolumeData, VolumesCovered.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BackupSchedule backs up with Velero on a cron schedule and seals each
// completed backup to an OffsiteTarget.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=safekeep,shortName=sks
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Time Zone",type=string,JSONPath=`.spec.timeZone`,priority=1
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.offsiteTargetRef.name`,priority=1
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.active`,priority=1
// +kubebuilder:printcolumn:name="Last",type=date,JSONPath=`.status.lastScheduleTime`
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextScheduleTime`
// +kubebuilder:printcolumn:name="Last Sealed",type=string,JSONPath=`.status.lastSealedBackup`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BackupSchedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec BackupScheduleSpec `json:"spec"`
	// +optional
	Status BackupScheduleStatus `json:"status,omitempty"`
}

// BackupScheduleList is a list of BackupSchedules.
// +kubebuilder:object:root=true
type BackupScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupSchedule `json:"items"`
}

func init() {
	SchemeBuilder.Register(addKnownTypes(&BackupSchedule{}, &BackupScheduleList{}))
}
