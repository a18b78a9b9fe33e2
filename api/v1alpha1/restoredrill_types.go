package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DrillBackupChoice says which retained sealed backup of the schedule a
// drill restores.
// +kubebuilder:validation:Enum=Latest;Oldest;Random
type DrillBackupChoice string

const (
	// DrillBackupLatest drills the most recently sealed backup.
	DrillBackupLatest DrillBackupChoice = "Latest"
	// DrillBackupOldest drills the oldest sealed backup retention still
	// keeps: the one closest to expiring, and the least recently proven.
	DrillBackupOldest DrillBackupChoice = "Oldest"
	// DrillBackupRandom drills a sealed backup picked at random among those
	// retained, so that over time every retained copy gets drilled.
	DrillBackupRandom DrillBackupChoice = "Random"
)

// DrillWarningsPolicy says what Velero restore warnings do to a drill.
// +kubebuilder:validation:Enum=Allow;Fail
type DrillWarningsPolicy string

const (
	// DrillWarningsAllow: warnings are recorded; the restore check passes.
	DrillWarningsAllow DrillWarningsPolicy = "Allow"
	// DrillWarningsFail: any warning fails the restore check.
	DrillWarningsFail DrillWarningsPolicy = "Fail"
)

// DrillCleanupPolicy says when a finished drill's scratch namespaces, staged
// backup and Velero Restore are deleted.
// +kubebuilder:validation:Enum=Always;OnSuccess;Never
type DrillCleanupPolicy string

const (
	// DrillCleanupAlways deletes them after every run; a failed run's are
	// kept for spec.cleanup.keepFailedFor first, when set.
	DrillCleanupAlways DrillCleanupPolicy = "Always"
	// DrillCleanupOnSuccess deletes them after a passing run and keeps a
	// failed run's for inspection (for spec.cleanup.keepFailedFor, or until
	// the drill is deleted when unset).
	DrillCleanupOnSuccess DrillCleanupPolicy = "OnSuccess"
	// DrillCleanupNever keeps them until the drill is deleted (the staged
	// backup is always deleted: it must not linger where Velero sees it).
	DrillCleanupNever DrillCleanupPolicy = "Never"
)

// RestoreDrillSpec says when to drill which sealed backup, and how to judge
// and clean up the result. One run at a time: a due time that arrives while
// a run is in flight waits for it (and counts as missed if its deadline
// passes).
// +kubebuilder:validation:XValidation:rule="!has(self.checks) || !has(self.checks.job) || (has(self.workloads) && has(self.workloads.mode) && self.workloads.mode == 'Isolated')",message="checks.job runs a pod: set workloads.mode to Isolated"
// +kubebuilder:validation:XValidation:rule="!has(self.checks) || !has(self.checks.volumeFiles) || self.checks.volumeFiles != 'Compare' || (has(self.workloads) && has(self.workloads.mode) && self.workloads.mode == 'Isolated' && has(self.workloads.podSecurity) && self.workloads.podSecurity == 'baseline')",message="checks.volumeFiles Compare needs the restored pods to run and a reader of any file: set workloads.mode to Isolated and workloads.podSecurity to baseline"
type RestoreDrillSpec struct {
	// Schedule is a standard 5-field cron expression or one of @yearly,
	// @monthly, @weekly, @daily, @hourly, read in TimeZone, as in a
	// BackupSchedule. @every is not accepted.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="!self.contains('TZ')",message="set spec.timeZone instead of a TZ= or CRON_TZ= prefix"
	Schedule string `json:"schedule"`

	// TimeZone is the IANA name the schedule is read in; empty means UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+\-/]*$`
	// +kubebuilder:validation:XValidation:rule="self != 'Local'",message="timeZone must be an explicit IANA time zone, not Local"
	TimeZone string `json:"timeZone,omitempty"`

	// Suspend stops new runs from starting; a run in flight finishes.
	// `safekeep drill run` is refused while it is set.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// StartingDeadlineSeconds is how late a run may start after its
	// scheduled time. A time missed by more is skipped and reported.
	// Unset means no deadline; after an outage at most one missed run
	// starts, the most recent.
	// +optional
	// +kubebuilder:validation:Minimum=1
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`

	// BackupScheduleRef names the BackupSchedule, in this namespace, whose
	// sealed backups are drilled (read from its OffsiteTarget's bucket).
	// +required
	// +kubebuilder:validation:XValidation:rule="self.name != ''",message="backupScheduleRef.name is required",fieldPath=".name"
	BackupScheduleRef corev1.LocalObjectReference `json:"backupScheduleRef"`

	// Backup says which retained sealed backup each run restores.
	// +optional
	// +kubebuilder:default=Latest
	Backup DrillBackupChoice `json:"backup,omitempty"`

	// IdentitySecretRef names a Secret, in this namespace, holding the age
	// identity (AGE-SECRET-KEY-1...) of one of the target's recipients: the
	// drill identity. Like an OffsiteTarget's Secrets it must live in the
	// controller's namespace, the only one whose Secrets it may read.
	// +required
	IdentitySecretRef SecretKeyRef `json:"identitySecretRef"`

	// Staging names the BackupStorageLocation, in the Velero namespace,
	// that runs stage the decrypted backup into: a bucket or prefix of its
	// own, never the primary location. Safekeep writes there with the
	// credentials Velero uses for it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Staging string `json:"staging"`

	// ScratchNamespacePrefix starts the name of every namespace a run
	// restores into: <prefix><drill>-<run>-<namespace>, cut and hashed to
	// fit 63 characters.
	// +optional
	// +kubebuilder:default="drill-"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[a-z0-9][-a-z0-9]*$`
	ScratchNamespacePrefix string `json:"scratchNamespacePrefix,omitempty"`

	// Checks tune how a run is judged. Every run verifies the seal, the
	// plaintext digests, the restore, the presence of every namespaced
	// item and the content of ConfigMaps and Secrets.
	// +optional
	Checks DrillChecks `json:"checks,omitempty"`

	// Cleanup says what happens to a run's scratch namespaces, staged
	// backup and Velero Restore.
	// +optional
	Cleanup DrillCleanup `json:"cleanup,omitempty"`

	// Workloads says whether anything restored may run. Every scratch
	// namespace is created first with a default-deny NetworkPolicy, a
	// ResourceQuota, a LimitRange and PodSecurity labels; by default
	// (Inert) workloads are restored at 0 replicas or suspended, and
	// Services, routes, scalers and webhooks can neither be reached nor
	// act (docs/drill.md, "What a drill changes in your cluster").
	// +optional
	// +kubebuilder:default={}
	Workloads DrillWorkloads `json:"workloads,omitempty"`

	// Timeout bounds one run, from its start to its verdict; a run that
	// takes longer fails (Error). Default 1h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') || duration(self) >= duration('10s')",message="timeout must be at least 10s"
	Timeout *Duration `json:"timeout,omitempty"`

	// HistoryLimit is how many finished runs status.history keeps.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	HistoryLimit int32 `json:"historyLimit,omitempty"`

	// MaxPassAge is how old the last passing run may get before the drill
	// counts as overdue (exported as safekeep_drill_max_pass_age_seconds,
	// which the alert rules compare with the last success). Default: twice
	// the longest interval between the schedule's upcoming times.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') || duration(self) >= duration('1m')",message="maxPassAge must be at least 1m"
	MaxPassAge *Duration `json:"maxPassAge,omitempty"`
}

// SecretKeyRef names one key of a Secret in the object's namespace.
type SecretKeyRef struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key in the Secret's data.
	// +optional
	// +kubebuilder:default=identity
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// DrillChecks tune the checks of a run.
type DrillChecks struct {
	// Warnings says whether Velero restore warnings fail the restore
	// check. Errors always do.
	// +optional
	// +kubebuilder:default=Allow
	Warnings DrillWarningsPolicy `json:"warnings,omitempty"`

	// MaxRTO is the recovery-time objective: a run whose RTO (start to
	// verified) is longer fails the rto check. Unset: no objective.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') || duration(self) > duration('0s')",message="maxRTO must be positive"
	MaxRTO *Duration `json:"maxRTO,omitempty"`

	// RestorePVs is the Velero Restore's restorePVs; unset leaves Velero's
	// default.
	// +optional
	RestorePVs *bool `json:"restorePVs,omitempty"`

	// Job, when set, runs after the other checks in the first scratch
	// namespace and must succeed within its timeout.
	// +optional
	Job *DrillVerificationJob `json:"job,omitempty"`
	// Volumes says whether each run of a backup with sealed volumes
	// opens their sealed kopia repositories in the controller's memory and
	// reads and verifies every file of every snapshot (Level 1,
	// docs/volumes.md): Verify, the default, or Skip.
	// +optional
	// +kubebuilder:default=Verify
	Volumes DrillVolumesCheck `json:"volumes,omitempty"`

	// VolumeFiles says whether each run restores the backup's pod volumes
	// through Velero and compares every restored file with the snapshot
	// (Level 2, docs/volumes.md): Compare, or Skip, the default. Compare
	// stages the sealed kopia repositories and the renamed
	// PodVolumeBackups in the staging location, lets Velero's node-agent
	// restore the volumes into the scratch namespaces, then reads them
	// with a Job there that mounts each restored claim read-only. The
	// pods that mount the volumes must run (workloads.mode Isolated, with
	// their kinds in workloads.run) and the reader needs to read files
	// whatever their owner (workloads.podSecurity baseline).
	// +optional
	// +kubebuilder:default=Skip
	VolumeFiles DrillVolumeFilesCheck `json:"volumeFiles,omitempty"`
}

// DrillVolumeFilesCheck says whether a run restores volumes through
// Velero and compares their files (the volume-files check).
// +kubebuilder:validation:Enum=Compare;Skip
type DrillVolumeFilesCheck string

const (
	// DrillVolumeFilesCompare: pod volumes are restored by Velero and
	// every restored file's size and SHA-256 is compared with the
	// snapshot's.
	DrillVolumeFilesCompare DrillVolumeFilesCheck = "Compare"
	// DrillVolumeFilesSkip: volumes are not restored through Velero; the
	// volume-files check passes with "not requested".
	DrillVolumeFilesSkip DrillVolumeFilesCheck = "Skip"
)

// DrillVolumesCheck says whether a run verifies the files of sealed volumes.
// +kubebuilder:validation:Enum=Verify;Skip
type DrillVolumesCheck string

const (
	// DrillVolumesVerify: every file of every sealed volume is read
	// and verified (the volumes check).
	DrillVolumesVerify DrillVolumesCheck = "Verify"
	// DrillVolumesSkip: sealed volumes are not read; the volumes check
	// passes with "not requested".
	DrillVolumesSkip DrillVolumesCheck = "Skip"
)

// DrillVerificationJob is an application-level check run as a Kubernetes
// Job inside a run's scratch namespace (for example a query against the
// restored database).
type DrillVerificationJob struct {
	// Image of the Job's one container.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Command of the container.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +listType=atomic
	Command []string `json:"command"`

	// Args of the container.
	// +optional
	// +listType=atomic
	Args []string `json:"args,omitempty"`

	// Timeout bounds the Job; default 10m.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') || duration(self) > duration('0s')",message="timeout must be positive"
	Timeout *Duration `json:"timeout,omitempty"`
}

// DrillWorkloadsMode says whether restored workloads may run.
// +kubebuilder:validation:Enum=Inert;Isolated
type DrillWorkloadsMode string

const (
	// DrillWorkloadsInert: nothing restored runs (the default).
	DrillWorkloadsInert DrillWorkloadsMode = "Inert"
	// DrillWorkloadsIsolated: the kinds in workloads.run, and the
	// verification Job, run, under the default-deny NetworkPolicy.
	DrillWorkloadsIsolated DrillWorkloadsMode = "Isolated"
)

// DrillRunnableKind is a kind that starts pods.
// +kubebuilder:validation:Enum=Pod;Deployment;StatefulSet;ReplicaSet;ReplicationController;DaemonSet;Job;CronJob
type DrillRunnableKind string

// DrillWorkloads is how a run's scratch namespaces are isolated and what
// in them may run.
// +kubebuilder:validation:XValidation:rule="(has(self.mode) && self.mode == 'Isolated') || !has(self.run) || size(self.run) == 0",message="run lists kinds allowed to run: set mode to Isolated"
type DrillWorkloads struct {
	// Mode: Inert (nothing restored runs) or Isolated (the kinds in run
	// do, and the verification Job).
	// +optional
	// +kubebuilder:default=Inert
	Mode DrillWorkloadsMode `json:"mode,omitempty"`

	// Run lists the kinds restored as they were backed up (replicas kept,
	// not suspended, Pods and DaemonSets restored) with mode Isolated.
	// A volume restore through Velero needs the pods that mount the
	// volumes to run.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	Run []DrillRunnableKind `json:"run,omitempty"`

	// AllowDNS lets pods reach the cluster DNS (port 53); nothing else
	// leaves or enters the scratch namespaces.
	// +optional
	AllowDNS bool `json:"allowDNS,omitempty"`

	// Quota is the hard limits of each scratch namespace's ResourceQuota.
	// Default: pods 10, requests.cpu 2, requests.memory 4Gi, limits.cpu
	// 4, limits.memory 8Gi.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Quota corev1.ResourceList `json:"quota,omitempty"`

	// Limits are the container defaults of each scratch namespace's
	// LimitRange.
	// +optional
	Limits DrillLimits `json:"limits,omitempty"`

	// PodSecurity is the PodSecurity level enforced in the scratch
	// namespaces.
	// +optional
	// +kubebuilder:default=restricted
	// +kubebuilder:validation:Enum=restricted;baseline
	PodSecurity string `json:"podSecurity,omitempty"`
}

// DrillLimits are a LimitRange's container defaults.
type DrillLimits struct {
	// Default limits of a container that sets none. Default: cpu 500m,
	// memory 512Mi.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Default corev1.ResourceList `json:"default,omitempty"`

	// DefaultRequest is the requests of a container that sets none.
	// Default: cpu 100m, memory 128Mi.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	DefaultRequest corev1.ResourceList `json:"defaultRequest,omitempty"`
}

// DrillCleanup says what happens to what a run leaves.
type DrillCleanup struct {
	// Policy: Always, OnSuccess or Never.
	// +optional
	// +kubebuilder:default=Always
	Policy DrillCleanupPolicy `json:"policy,omitempty"`

	// KeepFailedFor keeps a failed run's scratch namespaces that long for
	// inspection before they are deleted, at most 168h (MaxKeepFailedFor):
	// they hold restored PHI in plaintext. Unset: Always deletes them at
	// once, OnSuccess keeps them until the drill is deleted.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') || duration(self) <= duration('168h')",message="keepFailedFor must be at most 168h: scratch namespaces hold restored data in plaintext"
	KeepFailedFor *Duration `json:"keepFailedFor,omitempty"`
}

// MaxKeepFailedFor bounds spec.cleanup.keepFailedFor: admission refuses
// more, and the controller keeps no longer (objects stored before the
// bound).
const MaxKeepFailedFor = 168 * time.Hour

// RestoreDrill restores a sealed offsite backup through Velero into scratch
// namespaces on a cron schedule, checks that what came back is what was
// backed up, records the evidence and cleans up.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=safekeep,shortName=drill;skd
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Backups Of",type=string,JSONPath=`.spec.backupScheduleRef.name`,priority=1
// +kubebuilder:printcolumn:name="Last Result",type=string,JSONPath=`.status.lastRun.result`
// +kubebuilder:printcolumn:name="Last RTO",type=string,JSONPath=`.status.lastRun.rto`
// +kubebuilder:printcolumn:name="Last Run",type=date,JSONPath=`.status.lastRun.startTime`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.active.id`,priority=1
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextScheduleTime`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RestoreDrill struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RestoreDrillSpec `json:"spec"`
	// +optional
	Status RestoreDrillStatus `json:"status,omitempty"`
}

// RestoreDrillList is a list of RestoreDrills.
// +kubebuilder:object:root=true
type RestoreDrillList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RestoreDrill `json:"items"`
}

func init() {
	SchemeBuilder.Register(addKnownTypes(&RestoreDrill{}, &RestoreDrillList{}))
}
