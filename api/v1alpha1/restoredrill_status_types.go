package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DrillRunResult is the verdict of a drill run.
// +kubebuilder:validation:Enum=Passed;Failed;Error
type DrillRunResult string

const (
	// DrillRunPassed: every check passed.
	DrillRunPassed DrillRunResult = "Passed"
	// DrillRunFailed: a check failed; the run names it.
	DrillRunFailed DrillRunResult = "Failed"
	// DrillRunError: the run could not be carried out (no sealed backup,
	// staging location unusable, timeout, controller restarted mid-run).
	DrillRunError DrillRunResult = "Error"
)

// DrillCleanupState says what became of a finished run's scratch
// namespaces, staged backup and Velero Restore.
// +kubebuilder:validation:Enum=Pending;Kept;Deleted
type DrillCleanupState string

const (
	// DrillCleanupPending: deletion is under way or is retried.
	DrillCleanupPending DrillCleanupState = "Pending"
	// DrillCleanupKept: the policy keeps them (until keepUntil, when set).
	DrillCleanupKept DrillCleanupState = "Kept"
	// DrillCleanupDeleted: nothing of the run is left.
	DrillCleanupDeleted DrillCleanupState = "Deleted"
)

// ActiveDrillRun is the run in flight, written before it starts so that a
// controller restart finds it.
type ActiveDrillRun struct {
	// ID of the run, unique within the drill.
	// +required
	// +kubebuilder:validation:MaxLength=32
	ID string `json:"id"`

	// Trigger: schedule or manual.
	// +required
	Trigger string `json:"trigger"`

	// ScheduledTime is the scheduled time of the run, or the time a
	// manual run was asked for.
	// +required
	ScheduledTime metav1.Time `json:"scheduledTime"`

	// StartTime is when the run started.
	// +required
	StartTime metav1.Time `json:"startTime"`

	// Backup is the Velero backup name of the sealed backup drilled.
	// +optional
	Backup string `json:"backup,omitempty"`

	// StagedName is the name the backup is staged under in the staging
	// location.
	// +optional
	StagedName string `json:"stagedName,omitempty"`
}

// DrillCheckResult is the outcome of one check of a run.
type DrillCheckResult struct {
	// Name of the check (seal, decrypt, restore, presence, content, rto,
	// job, volumes).
	// +required
	Name string `json:"name"`

	// Passed is true when the check passed.
	// +required
	Passed bool `json:"passed"`

	// Message says what was checked, or why it failed.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// FailedObjects are the first objects that failed the check.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	FailedObjects []string `json:"failedObjects,omitempty"`
}

// DrillAuditEntry points at the audit log entry that records a run.
type DrillAuditEntry struct {
	// Seq is the entry's sequence number in the log.
	// +required
	Seq int64 `json:"seq"`
	// Hash is the entry's hash, "sha256:<hex>".
	// +required
	Hash string `json:"hash"`
}

// DrillWorkloadsReport is what a run's isolation did: counts by kind,
// never object names.
type DrillWorkloadsReport struct {
	// Mode the run ran with.
	// +required
	Mode DrillWorkloadsMode `json:"mode"`

	// Modified are the kinds restored changed (scaled to 0, suspended,
	// made ClusterIP).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Modified []DrillKindCount `json:"modified,omitempty"`

	// NotRestored are the kinds left out of the restore.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	NotRestored []DrillKindCount `json:"notRestored,omitempty"`

	// Ran are the kinds allowed to run, the verification Job included.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Ran []DrillKindCount `json:"ran,omitempty"`
}

// DrillKindCount is how many objects of a kind a change applied to.
type DrillKindCount struct {
	// Kind is "<Kind>" for the core group, "<Kind>.<group>" otherwise.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Kind string `json:"kind"`

	// Count of objects.
	// +required
	Count int32 `json:"count"`

	// Change says what was done.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Change string `json:"change,omitempty"`
}

// DrillVolumeResult is the check of one sealed volume in a run: Level 1
// (read from the sealed repository) and, with spec.checks.volumeFiles
// Compare, Level 2 (restored by Velero and compared file by file).
type DrillVolumeResult struct {
	// Namespace, Pod and Volume name the pod volume that was backed up.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Namespace string `json:"namespace"`
	// +required
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`
	// +required
	// +kubebuilder:validation:MaxLength=253
	Volume string `json:"volume"`
	// Files and Bytes are the volume's regular files and their size, all
	// read and verified from the sealed repository (Level 1); 0 when it
	// failed or Level 1 was skipped.
	// +required
	Files int64 `json:"files"`
	// +required
	Bytes int64 `json:"bytes"`
	// NotVerified says why Level 1 did not read the volume (Files and
	// Bytes are then 0, not counts): Skipped, the drill's
	// spec.checks.volumes is Skip. Empty when Level 1 ran.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	NotVerified string `json:"notVerified,omitempty"`
	// Passed is true when every check run on the volume passed.
	// +required
	Passed bool `json:"passed"`
	// Message names what failed: the finding's kind, the object (a sealed
	// blob's key, the repository or the snapshot) and what is wrong.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// Restored is Level 2: what Velero restored into the volume and how it
	// compares with the snapshot; unset when not asked for.
	// +optional
	Restored *DrillVolumeRestored `json:"restored,omitempty"`
}

// VolumeNotVerifiedSkipped (DrillVolumeResult.NotVerified, and the
// audit entry's volumes[].notVerified): Level 1 was not run on the
// volume because the drill's checks skip it (spec.checks.volumes Skip).
const VolumeNotVerifiedSkipped = "Skipped"

// DrillVolumeRestored is what Velero restored into one volume, compared
// with the sealed snapshot file by file.
type DrillVolumeRestored struct {
	// Files and Bytes are the regular files read back from the restored
	// volume and their size.
	// +required
	Files int64 `json:"files"`
	// +required
	Bytes int64 `json:"bytes"`
	// MatchedFiles and MatchedBytes are the snapshot's files found
	// restored with the same size and SHA-256.
	// +required
	MatchedFiles int64 `json:"matchedFiles"`
	// +required
	MatchedBytes int64 `json:"matchedBytes"`
	// Passed is true when every file of the snapshot was restored
	// unchanged and no other file appeared.
	// +required
	Passed bool `json:"passed"`
	// Reason says why it did not pass: RepositoryPasswordMismatch,
	// NotRestored, Unreadable or Differs.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`
	// Message gives counts (files missing, differing, added) or why the
	// volume could not be read; never a file name.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// DrillRun is a finished run.
type DrillRun struct {
	// ID of the run, unique within the drill.
	// +required
	ID string `json:"id"`

	// Trigger: schedule or manual.
	// +optional
	Trigger string `json:"trigger,omitempty"`

	// Schedule is the offsite schedule folder of the backup drilled.
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// Backup is the Velero backup name of the sealed backup drilled;
	// empty when none could be picked.
	// +optional
	Backup string `json:"backup,omitempty"`

	// StagedName is the name the backup was staged under.
	// +optional
	StagedName string `json:"stagedName,omitempty"`

	// ScratchNamespaces the run restored into.
	// +optional
	// +listType=atomic
	ScratchNamespaces []string `json:"scratchNamespaces,omitempty"`

	// StartTime and EndTime of the run.
	// +required
	StartTime metav1.Time `json:"startTime"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`

	// RTO is the recovery time: from the run's start to the restore
	// verified.
	// +optional
	RTO *Duration `json:"rto,omitempty"`

	// Result of the run.
	// +required
	Result DrillRunResult `json:"result"`

	// Message summarises the run: the first failed check and its
	// objects, or why it could not run.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Message string `json:"message,omitempty"`

	// Checks, in the order they ran.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Checks []DrillCheckResult `json:"checks,omitempty"`

	// Workloads is what the run's isolation did to the restored objects
	// and what it let run: counts by kind.
	// +optional
	Workloads *DrillWorkloadsReport `json:"workloads,omitempty"`

	// Volumes is the Level 1 check of the sealed volumes of the backup:
	// the files and bytes read and verified; failed volumes first, at
	// most 32 (the volumes check's message counts them all).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Volumes []DrillVolumeResult `json:"volumes,omitempty"`
	// AuditEntry is the audit log entry that records the run.
	// +optional
	AuditEntry *DrillAuditEntry `json:"auditEntry,omitempty"`

	// Cleanup says what became of the scratch namespaces, staged backup
	// and Restore.
	// +optional
	Cleanup DrillCleanupState `json:"cleanup,omitempty"`

	// KeepUntil is when kept scratch namespaces are deleted; unset while
	// kept with no end.
	// +optional
	KeepUntil *metav1.Time `json:"keepUntil,omitempty"`
}

// RestoreDrillStatus is the observed state of a RestoreDrill.
type RestoreDrillStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastScheduleTime is the scheduled time of the most recent scheduled
	// run started.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// NextScheduleTime is when the next run is due; unset while suspended
	// or invalid.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// Active is the run in flight, if any.
	// +optional
	Active *ActiveDrillRun `json:"active,omitempty"`

	// LastRun is the most recent finished run (also history[0]).
	// +optional
	LastRun *DrillRun `json:"lastRun,omitempty"`

	// LastPassTime is when the most recent passing run ended.
	// +optional
	LastPassTime *metav1.Time `json:"lastPassTime,omitempty"`

	// History holds the finished runs, newest first, at most
	// spec.historyLimit.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	History []DrillRun `json:"history,omitempty"`

	// Conditions: Ready, Running, LastDrillPassed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
