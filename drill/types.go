package drill

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/scope"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
)

// Check names, in the order of DESIGN.md's "Drill verification". Every
// Result lists each of them once, in this order (a check that could not run
// because an earlier one failed is reported failed with a message saying so;
// an optional check that was not asked for passes with "not requested").
const (
	// CheckSeal: seal.json's signature verifies and every object is present
	// with the ciphertext size and SHA-256 the seal records.
	CheckSeal = "seal"
	// CheckDecrypt: the identity decrypts the manifest and every object, and
	// every plaintext size and SHA-256 matches the manifest.
	CheckDecrypt = "decrypt"
	// CheckRestore: the staged backup was restored by Velero, the Restore
	// reached Completed with zero errors, and warnings as Options.Warnings
	// allows.
	CheckRestore = "restore"
	// CheckPresence: every namespaced item of the backup's resource list
	// exists in its destination namespace.
	CheckPresence = "presence"
	// CheckContent: every restored ConfigMap (data, binaryData) and Secret
	// (type, data) equals the object in the backup tarball.
	CheckContent = "content"
	// CheckVolumeFiles: with Options.RestoreVolumes, every regular file
	// Velero restored into each of the backup's volumes has the size and
	// SHA-256 of the snapshot's file, and no file is missing or added.
	CheckVolumeFiles = "volume-files"
	// CheckRTO: drill start to verified took at most Options.MaxRTO.
	CheckRTO = "rto"
	// CheckJob: the optional verification Job succeeded within its timeout.
	CheckJob = "job"
	// CheckVolumes: Level 1 of the backup's sealed volumes (volume.Verify):
	// every snapshot opens from the sealed repository in memory with the
	// manifest's root object ID, and every file reads back verified.
	CheckVolumes = "volumes"
)

// CheckNames lists the checks in order.
var CheckNames = []string{CheckSeal, CheckDecrypt, CheckRestore, CheckPresence, CheckContent, CheckVolumeFiles, CheckRTO, CheckJob, CheckVolumes}

// MaxObjectsNamed bounds CheckResult.Objects: a failed check names its
// first failing objects, not all of them.
const MaxObjectsNamed = 10

// Labels Run puts on what it creates (with Options.Labels), so a drill's
// objects can be told from a primary backup and found for cleanup.
const (
	// LabelStaged marks a staged Backup and its Restore: "true".
	LabelStaged = "safekeep.dev/staged"
	// LabelScratch marks the namespaces Run creates: "true". Cleanup
	// deletes only namespaces that carry it.
	LabelScratch = "safekeep.dev/scratch"
	// LabelSourceBackup names the sealed backup a staged copy was made from
	// (the Velero backup name; the schedule is in an annotation).
	LabelSourceBackup = "safekeep.dev/source-backup"
	// AnnotationSource is "<schedule>/<backup>" of the sealed backup.
	AnnotationSource = "safekeep.dev/source"
)

// WarningsPolicy says what Velero restore warnings do to CheckRestore.
type WarningsPolicy string

const (
	// WarningsAllow passes a Restore with warnings (they are reported in
	// the check's message). The zero value means WarningsAllow.
	WarningsAllow WarningsPolicy = "Allow"
	// WarningsFail fails CheckRestore on any warning.
	WarningsFail WarningsPolicy = "Fail"
)

// JobSpec is the optional verification Job, run in the first destination
// namespace (sorted by source namespace) after the restore.
type JobSpec struct {
	// Image and Command of the Job's single container.
	Image   string
	Command []string
	// Timeout bounds the wait for the Job to succeed; 0 means 10 minutes.
	Timeout time.Duration
}

// Options say which sealed backup a drill restores, where and how. Fields
// marked required must be set; the zero value of the others means the
// documented default.
type Options struct {
	// Offsite is the offsite store (rooted at <prefix>/safekeep/v1).
	// Required.
	Offsite storage.Store
	// VerifyKey pins the seal's signing key (see seal.VerifyOptions).
	VerifyKey *crypto.VerifyKey
	// TrustedKeys are more pinned keys (seal.VerifyOptions.TrustedKeys):
	// the seal must be signed by VerifyKey or one of these.
	TrustedKeys []crypto.VerifyKey
	// TrustBucketKey, with no key pinned, trusts the key published in the
	// bucket (seal.VerifyOptions.TrustBucketKey): a user's explicit choice.
	TrustBucketKey bool
	// Policy, when set, is the target's current spec.policy: a backup
	// holding a namespace it does not accept is not restored (an error
	// wrapping scope.ErrPolicy that names them), checked against the
	// sealed manifest before anything is staged and against the tarball
	// before any namespace or Velero object is created. A backup sealed
	// under an older, wider template is checked namespace by namespace.
	Policy *scope.Policy
	// Binding refuses a seal made for another place or cluster
	// (seal.VerifyOptions.Binding).
	Binding seal.Binding
	// Identities decrypt the backup. Required.
	Identities []crypto.Identity
	// Schedule and Backup name the sealed backup. Required.
	Schedule, Backup string

	// Client creates and reads Velero objects in VeleroNamespace and
	// creates the destination namespaces. Required.
	Client client.Client
	// VeleroNamespace is where Velero runs; default "velero".
	VeleroNamespace string
	// StagingLocation is the BackupStorageLocation (in VeleroNamespace)
	// the staged copy is written to; Staging is a store rooted at its
	// bucket and prefix (location.BSLConfig). Required. It should not be a
	// location Velero writes primary backups to.
	StagingLocation string
	Staging         storage.Store
	// StagedName is the Velero backup name of the staged copy: unique per
	// drill run (two runs at once must differ), a valid object name.
	// Required. The Restore is named StagedName too.
	StagedName string

	// NamespaceMapping maps a backed-up namespace to the namespace it is
	// restored into. A namespace of the backup it does not name is mapped
	// by MapNamespace; when that is nil too, Run fails before restoring
	// (nothing is ever restored into a namespace nobody chose).
	NamespaceMapping map[string]string
	// MapNamespace maps the namespaces NamespaceMapping does not, for
	// drills, which learn the backup's namespaces only from its manifest:
	// typically func(ns string) string { return ScratchNamespace(prefix,
	// drill, run, ns) }.
	MapNamespace func(source string) string
	// CreateNamespaces makes Run create every destination namespace, with
	// Labels, before restoring, and fail if one already exists: a drill
	// restores only into namespaces it created, and Cleanup finds them by
	// label. An incident restore leaves it off (Velero creates missing
	// namespaces; existing objects are left alone).
	CreateNamespaces bool
	// Labels go on the staged Backup, the Restore and the namespaces Run
	// creates (for a drill: the drill and the run). Cleanup deletes
	// namespaces by these labels, so they must identify one run.
	Labels map[string]string

	// RestoreVolumes restores the backup's sealed volume data through
	// Velero (a Level 2 volume drill): the repository blobs are staged
	// under kopia/<namespace>/ of the staging location, with a Ready
	// BackupRepository and the staged PodVolumeBackups, so that Velero's
	// node-agent restores the pods' volumes (and, from the DataUploads in
	// the staged tarball, CSI data mover volumes through DataDownloads:
	// Velero's server needs its EnableCSI feature); then CheckVolumeFiles
	// reads them through VolumeFiles. The pods must run: Isolation nil or
	// WorkloadsIsolated.
	RestoreVolumes bool
	// VolumeReader reads the restored volumes for CheckVolumeFiles (a
	// drill controller: a Job in each destination namespace); nil means
	// VolumeFiles. With neither (an incident restore with no access to the
	// volumes) CheckVolumeFiles checks only that Velero completed a
	// PodVolumeRestore (or, for a data mover volume, a DataDownload) of
	// each, and says that the files were not compared.
	VolumeReader VolumeReader
	// VolumeFiles opens the restored volumes where this process can read
	// them (a test bed's local volumes).
	VolumeFiles VolumeFiles

	// RestorePVs is the Restore's spec.restorePVs; nil leaves Velero's
	// default.
	RestorePVs *bool
	// Warnings is the policy for Velero restore warnings; "" is
	// WarningsAllow.
	Warnings WarningsPolicy
	// MaxRTO is the recovery time objective CheckRTO holds the drill to; 0
	// means none (the check passes and reports the RTO).
	MaxRTO time.Duration
	// RestoreTimeout bounds the wait for the Velero Restore to finish; 0
	// means 30 minutes.
	RestoreTimeout time.Duration
	// Job, when set, is run after the checks of the restored objects.
	// With Isolation it needs WorkloadsIsolated.
	Job *JobSpec
	// Isolation, when set, makes the restore safe on a live cluster: the
	// destination namespaces are created isolated (CreateNamespaces is
	// implied) and what is restored cannot act or be reached (see
	// Isolation). Drills set it; an incident restore may.
	Isolation *Isolation

	// SkipVolumes leaves out the Level 1 check of the sealed volumes
	// (CheckVolumes then passes with "not requested"). By default every
	// drill of a backup with sealed volumes reads and verifies every file.
	SkipVolumes bool
	// VolumeParallelism is how many volume files are read at once; 0
	// means the number of CPUs (volume.VerifyOptions).
	VolumeParallelism int

	// Reader reads the restored objects, only inside the destination
	// namespaces; nil means Client. It may be a client bound to a
	// read-only role in the scratch namespaces.
	Reader client.Reader
	// Concurrency is how many offsite objects are downloaded at once; 0
	// means seal.DefaultConcurrency.
	Concurrency int
	// Progress, when set, is told what Run is doing; calls never overlap.
	Progress func(Step)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Phase is a stage of Run, as Progress reports it.
type Phase string

// Phases of Run, in order.
const (
	PhaseVerify  Phase = "verify"  // checking the seal and the object listing
	PhaseStage   Phase = "stage"   // decrypting into the staging location (Done/Total: ciphertext bytes)
	PhaseRestore Phase = "restore" // waiting for the Velero Restore (Done/Total: items)
	PhaseCheck   Phase = "check"   // comparing restored objects with the tarball
	PhaseJob     Phase = "job"     // waiting for the verification Job
	PhaseVolumes Phase = "volumes" // reading and verifying the sealed volumes (Level 1)
)

// Step is one progress report.
type Step struct {
	Phase Phase
	// Done and Total count bytes or items (see Phase); Total 0 is unknown.
	Done, Total int64
	// Message says more, in a few words; may be empty.
	Message string
}

// Result is a drill's verdict and its evidence.
type Result struct {
	Schedule, Backup string
	// SealDigest names the exact seal.json checked ("sha256:..."); empty
	// when it could not be read.
	SealDigest string
	// KeyID names the trusted key the seal verified with; empty when it
	// did not verify.
	KeyID string
	// StagedBackup and Restore are the Velero objects Run created (empty
	// when it stopped before creating them).
	StagedBackup, Restore string
	// Namespaces maps each backed-up namespace to where it was restored.
	Namespaces map[string]string
	StartedAt  time.Time
	FinishedAt time.Time
	// RTO is drill start to verified (the end of the last object check,
	// before the optional Job); 0 when the restore was never verified.
	RTO time.Duration
	// Changes is what Options.Isolation did to the restored objects; nil
	// without Isolation or when Run stopped before restoring.
	Changes *Changes
	// Hidden lists what delete markers hid and where each was read from.
	Hidden []seal.Hidden
	// Volumes is the Level 1 check of each sealed volume, in the
	// manifest's order; empty when the backup has none or it was not run.
	Volumes []volume.Verified
	// RestoredVolumes is the Level 2 check (Options.RestoreVolumes) of
	// each pod volume restored through Velero, in the manifest's order;
	// empty when it was not asked for or no volume was staged.
	RestoredVolumes []RestoredVolume
	// Checks has one entry per CheckNames, in that order.
	Checks []audit.CheckResult
	// Passed is true when every check passed.
	Passed bool
}

// Failed returns the checks that failed.
func (r *Result) Failed() []audit.CheckResult {
	var out []audit.CheckResult
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}

// Check returns the named check's result.
func (r *Result) Check(name string) (audit.CheckResult, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return audit.CheckResult{}, false
}

// CleanupOptions say what Cleanup removes. Every field but Client may be
// empty, which skips that part.
type CleanupOptions struct {
	// Client deletes the Velero objects and the namespaces. Required.
	Client client.Client
	// VeleroNamespace is where Velero runs; default "velero".
	VeleroNamespace string
	// Staging is the staging store; with StagedName, the staged objects
	// (backups/<StagedName>/) and the Restore's (restores/<Restore>/) are
	// deleted from it.
	Staging storage.Store
	// StagedName is the staged Backup; Restore is the Restore (Run names
	// it StagedName too). Empty skips it: an incident restore keeps its
	// Restore as the record of what was restored.
	StagedName, Restore string
	// Labels select the namespaces to delete: every namespace carrying all
	// of them and LabelScratch. Empty deletes no namespace.
	Labels map[string]string
	// Modifiers is the resource modifiers ConfigMap (in VeleroNamespace)
	// Run creates with Isolation; empty skips it.
	Modifiers string
	// Volumes, with StagedName, deletes what a volume restore
	// (Options.RestoreVolumes) of it left: its staged PodVolumeBackups,
	// and its staged repositories in Staging with their
	// BackupRepositories, all found by the staged name.
	Volumes bool
}

// CleanupFor returns the CleanupOptions that undo what Run did with opts:
// its namespaces (when it created them), its Restore, the staged objects
// and the staged Backup.
func CleanupFor(opts Options) CleanupOptions {
	c := CleanupOptions{
		Client:          opts.Client,
		VeleroNamespace: opts.VeleroNamespace,
		Staging:         opts.Staging,
		StagedName:      opts.StagedName,
		Restore:         opts.StagedName,
	}
	if opts.CreateNamespaces || opts.Isolation != nil {
		c.Labels = opts.Labels
	}
	if opts.Isolation != nil {
		c.Modifiers = opts.StagedName
	}
	c.Volumes = opts.RestoreVolumes
	return c
}

// Run restores a sealed backup through Velero and checks what came back:
// it verifies the seal, decrypts and stages the backup under StagedName in
// the staging location, creates the staged Backup object and a Restore
// into the mapped namespaces, waits for it, and runs the checks. It never
// reads or writes a namespace outside the mapping's destinations, and
// leaves cleanup to Cleanup (see CleanupFor), whatever the verdict.
//
// The verdict is in the Result: a failed check is not an error. The error
// is set only when no verdict could be reached (invalid options, the API
// server or a store unreachable, ctx ended); the Result is then nil, and
// Cleanup must still be called for what Run may have created.
func Run(ctx context.Context, opts Options) (*Result, error) {
	return run(ctx, opts)
}

// Cleanup removes what a drill created, in an order that cannot resurrect
// a staged backup: the namespaces (by label), the Restore (waiting, at most
// 30 seconds, for Velero to release it) and its objects under restores/,
// the resource modifiers ConfigMap,
// the staged objects (velero-backup.json first), and last the staged
// Backup object (Velero's backup sync recreates a Backup whose objects
// still exist). It deletes only Velero objects carrying LabelStaged and
// namespaces carrying LabelScratch, is idempotent (what is gone already is
// skipped), and does not wait for namespaces to finish terminating. It
// keeps going after a failure and returns every failure joined.
func Cleanup(ctx context.Context, opts CleanupOptions) error {
	return cleanup(ctx, opts)
}
