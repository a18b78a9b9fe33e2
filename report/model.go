package report

import (
	"time"

	"github.com/safekeep-dev/safekeep/audit"
)

// FormatV1 is the "format" of every JSON report this package writes. Field
// names are stable within a format; docs/report.md describes each one.
const FormatV1 = "safekeep.dev/report/v1"

// Report is the evidence drawn from an offsite target's audit log and seals
// for one period. Times are UTC. Lists are ordered by time (then audit
// sequence number); schedules and drills by namespace and name.
type Report struct {
	Format      string     `json:"format"`
	GeneratedAt time.Time  `json:"generatedAt"`
	Since       *time.Time `json:"since,omitempty"` // nil: from the first entry
	Until       time.Time  `json:"until"`
	// Target names the offsite location read (endpoint/bucket/prefix); no
	// credential.
	Target string `json:"target,omitempty"`

	Schedules []Schedule `json:"schedules"`
	Drills    []Drill    `json:"drills"`
	Restores  []Restore  `json:"restores"`
	Deletions []Deletion `json:"retentionDeletions"`
	// VolumeDeletions are retention's deletions of sealed volume blobs no
	// retained seal needed (KindVolumeDelete entries), counted.
	VolumeDeletions []VolumeDeletion `json:"volumeDeletions,omitempty"`
	TargetChanges   []TargetChange   `json:"targetChanges"`
	// Failures are failed attempts (KindFailure entries) of any operation.
	Failures []Failure `json:"failures"`
	// Recoveries are objects brought back from under delete markers
	// (KindRecover entries, one row per object).
	Recoveries []Recovery `json:"recoveries"`
	// Unreadable are entries in the period whose kind is unknown to this
	// version or whose details do not parse; they still count as entries.
	Unreadable []Unreadable `json:"unreadable,omitempty"`
	Integrity  Integrity    `json:"integrity"`
	HIPAA      []HIPAARow   `json:"hipaa"`
}

// Schedule sums up one BackupSchedule's backups in the period. Schedules are
// keyed by the name seals are filed under (the bucket has no namespace);
// Namespace is the last one the log named.
type Schedule struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// BackupsTaken counts distinct backups the log mentions in the period
	// (sealed or failed); BackupsSealed those sealed; BackupsFailed those
	// with a failure and no seal in the period.
	BackupsTaken  int `json:"backupsTaken"`
	BackupsSealed int `json:"backupsSealed"`
	BackupsFailed int `json:"backupsFailed"`
	// FailedAttempts counts failure entries (a retried seal counts each try).
	FailedAttempts int `json:"failedAttempts"`
	// RetentionDeletions counts backups retention removed in the period.
	RetentionDeletions int `json:"retentionDeletions"`
	// BackupsNotCovered counts the backups sealed in the period some of
	// whose volumes' data is not sealed.
	BackupsNotCovered int `json:"backupsNotCovered"`
	// LastSealed is the last backup sealed in the period.
	LastSealed *Backup `json:"lastSealed,omitempty"`
	// SealedBytes is the ciphertext sealed in the period (from the log).
	SealedBytes int64 `json:"sealedBytes"`
	// OffsiteBackups and OffsiteBytes count the schedule's sealed backups in
	// the bucket when the report was built, whatever their date.
	OffsiteBackups int   `json:"offsiteBackups"`
	OffsiteBytes   int64 `json:"offsiteBytes"`
	// Recipients are the age recipients (fingerprints) the period's backups
	// were encrypted to.
	Recipients []RecipientUse `json:"recipients"`
	// Backups are the backups sealed in the period.
	Backups []Backup `json:"backups"`
}

// Backup is one sealed backup, from its KindSeal entry, with what the
// bucket holds for it.
type Backup struct {
	Time            time.Time  `json:"time"`
	Seq             uint64     `json:"seq"`
	Actor           string     `json:"actor"`
	Schedule        string     `json:"schedule"`
	Name            string     `json:"name"`
	Objects         int        `json:"objects"`
	CiphertextBytes int64      `json:"ciphertextBytes"`
	SealDigest      string     `json:"sealDigest"`
	Recipients      []string   `json:"recipients"`
	RetainUntil     *time.Time `json:"retainUntil,omitempty"`
	// Offsite is what the bucket holds: see the Offsite* constants.
	Offsite string `json:"offsite"`
	// Volumes is the coverage of the backup's volumes its seal entry
	// records; nil when it records none (entries written before coverage
	// was recorded).
	Volumes *VolumeCoverage `json:"volumes,omitempty"`
}

// VolumeCoverage counts a backup's volumes whose data is sealed and those
// whose data is not, by reason (docs/volumes.md, "Coverage"). The log
// holds counts only: the PVCs are named in the cluster (the OffsiteBackup's
// status.volumes) and in the encrypted manifest.
type VolumeCoverage struct {
	Sealed     int `json:"sealed"`
	NotCovered int `json:"notCovered"`
	// Reasons counts those not covered by reason.
	Reasons map[string]int `json:"reasons,omitempty"`
	// Named lists those not covered as the cluster's OffsiteBackup status
	// names them, when the report was built with the cluster
	// (Options.NotCovered); NamedFrom says which object. Not from the
	// signed log: the log never names a volume.
	Named     []NamedVolume `json:"named,omitempty"`
	NamedFrom string        `json:"namedFrom,omitempty"`
}

// NamedVolume is one volume not covered, as an OffsiteBackup's
// status.volumes names it.
type NamedVolume struct {
	Namespace string `json:"namespace"`
	PVC       string `json:"pvc,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Volume    string `json:"volume,omitempty"`
	Reason    string `json:"reason"`
}

// String is "<namespace>/<pvc>: <reason>" (the pod volume when no PVC).
func (v NamedVolume) String() string {
	name := v.PVC
	if name == "" {
		name = v.Pod + "/" + v.Volume
	}
	return v.Namespace + "/" + name + ": " + v.Reason
}

// Offsite states of a logged seal (Backup.Offsite).
const (
	// OffsiteVerified: seal.json is in the bucket, has the logged digest
	// and verifies (signature, objects present with their sealed sizes; with
	// a full check also their SHA-256).
	OffsiteVerified = "verified"
	// OffsiteDeleted: gone, and the log records its retention deletion.
	OffsiteDeleted = "deleted"
	// OffsiteMissing: gone with no deletion in the log.
	OffsiteMissing = "missing"
	// OffsiteMismatch: seal.json differs from the one logged.
	OffsiteMismatch = "mismatch"
	// OffsiteFailed: seal.json is there but does not verify.
	OffsiteFailed = "failed"
	// OffsiteDamaged: objects of the backup (seal.json among them,
	// possibly) are damaged in the bucket: their stored bytes fail the
	// checksum the server stored with them on every read. The problem
	// names each one; nothing else was found wrong.
	OffsiteDamaged = "damaged"
	// OffsiteUnreadable: reads of the backup kept failing (the network,
	// the bucket) however often they were tried: a transient failure, no
	// finding about the backup; the next report checks it again.
	OffsiteUnreadable = "unreadable"
	// OffsiteNotChecked: the bucket was not read (a report built from
	// entries alone).
	OffsiteNotChecked = "not-checked"
)

// RecipientUse is one recipient fingerprint and the backups encrypted to it.
type RecipientUse struct {
	Fingerprint string    `json:"fingerprint"`
	Backups     int       `json:"backups"`
	FirstUsed   time.Time `json:"firstUsed"`
	LastUsed    time.Time `json:"lastUsed"`
}

// Drill sums up one RestoreDrill's runs in the period.
type Drill struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Runs      int    `json:"runs"`
	Passed    int    `json:"passed"`
	Failed    int    `json:"failed"`
	// PassRate is Passed/Runs, 0 when there are no runs.
	PassRate float64    `json:"passRate"`
	LastRun  *time.Time `json:"lastRun,omitempty"`
	LastPass *time.Time `json:"lastPass,omitempty"`
	// MaxRTOSeconds is the objective of the last run; 0 when none is set.
	MaxRTOSeconds float64 `json:"maxRTOSeconds,omitempty"`
	// OverObjective counts runs whose RTO exceeded their objective.
	OverObjective int `json:"overObjective"`
	// RunList is every run, oldest first; failed runs carry their cause.
	RunList []DrillRun `json:"runList"`
	// Days are the days (UTC) with runs, oldest first.
	Days []Day `json:"days"`
}

// DrillRun is one drill run, from its KindDrill entry.
type DrillRun struct {
	Time          time.Time `json:"time"` // when it finished
	Seq           uint64    `json:"seq"`
	Actor         string    `json:"actor"`
	Run           string    `json:"run"`
	Schedule      string    `json:"schedule"`
	Backup        string    `json:"backup"`
	Passed        bool      `json:"passed"`
	RTOSeconds    float64   `json:"rtoSeconds"`
	MaxRTOSeconds float64   `json:"maxRTOSeconds,omitempty"`
	// FailedChecks are the checks that failed, with the objects named.
	FailedChecks []audit.CheckResult `json:"failedChecks,omitempty"`
	// Volumes is the Level 1 check of each sealed volume (files and bytes
	// read and verified, by a digest of the volume's name) and, with
	// Level 2, what Velero restored of it (Restored); absent when the
	// backup had none or no check of them ran.
	Volumes []audit.VolumeCheck `json:"volumes,omitempty"`
}

// Day counts a drill's runs on one UTC day.
type Day struct {
	Date   string `json:"date"` // YYYY-MM-DD
	Passed int    `json:"passed"`
	Failed int    `json:"failed"`
}

// Restore is one incident restore.
type Restore struct {
	Time             time.Time           `json:"time"`
	Seq              uint64              `json:"seq"`
	Actor            string              `json:"actor"`
	User             string              `json:"user"`
	Host             string              `json:"host"`
	Schedule         string              `json:"schedule"`
	Backup           string              `json:"backup"`
	Destination      string              `json:"destination"`
	NamespaceMapping map[string]string   `json:"namespaceMapping,omitempty"`
	StagingLocation  string              `json:"stagingLocation,omitempty"`
	Passed           bool                `json:"passed"`
	FailedChecks     []audit.CheckResult `json:"failedChecks,omitempty"`
	// Volumes is what Velero restored into each volume, compared with the
	// sealed snapshot (Restored), when the restore read them (restore
	// --volume-reader-image); by a digest of the volume's name.
	Volumes []audit.VolumeCheck `json:"volumes,omitempty"`
}

// Deletion is one backup removed by retention.
type Deletion struct {
	Time      time.Time `json:"time"`
	Seq       uint64    `json:"seq"`
	Actor     string    `json:"actor"`
	Namespace string    `json:"namespace,omitempty"`
	Schedule  string    `json:"schedule"`
	Backup    string    `json:"backup"`
	Reason    string    `json:"reason"`
}

// TargetChange is one OffsiteTarget creation or change.
type TargetChange struct {
	Time       time.Time `json:"time"`
	Seq        uint64    `json:"seq"`
	Actor      string    `json:"actor"`
	Namespace  string    `json:"namespace,omitempty"`
	Target     string    `json:"target"`
	Change     string    `json:"change"`
	Fields     []string  `json:"fields,omitempty"`
	Endpoint   string    `json:"endpoint,omitempty"`
	Bucket     string    `json:"bucket,omitempty"`
	Recipients []string  `json:"recipients,omitempty"`
	SigningKey string    `json:"signingKey,omitempty"`
	LockMode   string    `json:"lockMode,omitempty"`
	LockDays   int       `json:"lockDays,omitempty"`
	ChangedBy  string    `json:"changedBy,omitempty"`
	UsedBy     []string  `json:"usedBy,omitempty"`
}

// Failure is one failed attempt.
type Failure struct {
	Time      time.Time `json:"time"`
	Seq       uint64    `json:"seq"`
	Actor     string    `json:"actor"`
	Namespace string    `json:"namespace,omitempty"`
	Operation string    `json:"operation"`
	Schedule  string    `json:"schedule,omitempty"`
	Backup    string    `json:"backup,omitempty"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message,omitempty"`
}

// Unreadable is an entry whose kind or details this version cannot read.
type Unreadable struct {
	Time    time.Time `json:"time"`
	Seq     uint64    `json:"seq"`
	Actor   string    `json:"actor"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Problem string    `json:"problem"`
}

// Recovery is one object of a KindRecover entry.
type Recovery struct {
	Time     time.Time `json:"time"`
	Seq      uint64    `json:"seq"`
	Actor    string    `json:"actor"`
	Schedule string    `json:"schedule"`
	Backup   string    `json:"backup"`
	Key      string    `json:"key"`
	// MarkerTime is when the delete marker that hid it was written.
	MarkerTime time.Time `json:"markerTime"`
	// Version is the version made current again; empty when none matched.
	Version string `json:"version,omitempty"`
	// Action is "remove-markers", "copy-back" or "none".
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}

// HiddenObject is an object of a checked seal whose current version is a
// delete marker (an attack on a versioned bucket).
type HiddenObject struct {
	Schedule string `json:"schedule"`
	Backup   string `json:"backup"`
	Key      string `json:"key"`
	// Kind is what hides the sealed version: "delete-marker", or
	// "overwritten" (other bytes put over it; MarkerAt is then when).
	Kind     string    `json:"kind"`
	MarkerAt time.Time `json:"markerTime"`
	// Recoverable says a version under the marker matches the seal (for
	// seal.json: verifies with a key the target trusts).
	Recoverable bool   `json:"recoverable"`
	Version     string `json:"version,omitempty"`
}

// Integrity is what was verified, over the whole log and the bucket.
type Integrity struct {
	Chain Chain      `json:"chain"`
	Seals SealChecks `json:"seals"`
}

// Chain is the outcome of verifying the audit log's hash chain and
// signatures (audit.Verify) from the first entry to the head.
type Chain struct {
	// Checked is false when the report was built from entries alone.
	Checked  bool   `json:"checked"`
	Verified bool   `json:"verified"`
	Entries  int    `json:"entries"` // in the whole log
	HeadSeq  uint64 `json:"headSeq,omitempty"`
	HeadHash string `json:"headHash,omitempty"`
	// Problem describes the first offending entry when not verified.
	Problem string `json:"problem,omitempty"`
	// EntriesInPeriod counts the entries the report is built from.
	EntriesInPeriod int `json:"entriesInPeriod"`
	// FirstTime and LastTime bound the whole log.
	FirstTime *time.Time `json:"firstTime,omitempty"`
	LastTime  *time.Time `json:"lastTime,omitempty"`
	// Anchor is the head recorded outside the bucket the log was checked
	// against; absent when none was given. HeadSeq and HeadHash are the
	// anchor to keep for the next report.
	Anchor *AnchorCheck `json:"anchor,omitempty"`
	// Tampered are the objects under audit/ holding a delete marker or
	// more than one version (writes the log never makes); any makes the
	// chain not verified.
	Tampered []audit.Tampered `json:"tampered,omitempty"`
	// Burned are the burned seqs (docs/audit.md, "Burned sequence
	// numbers"): out of the chain, each covered by a burn record signed
	// by a trusted key. A finding to show; the chain still verifies.
	Burned []audit.BurnedSeq `json:"burned,omitempty"`
}

// AnchorCheck is the check of the log against a head recorded outside the
// bucket.
type AnchorCheck struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	// From says where the anchor came from (the --anchor flag, an
	// OffsiteTarget's status.auditHead).
	From string `json:"from,omitempty"`
	// Reached says the log still holds entry Seq with hash Hash.
	Reached bool   `json:"reached"`
	Problem string `json:"problem,omitempty"`
}

// SealChecks is the outcome of verifying, without any key, the seals of
// the backups sealed in the period, and of matching them with the log.
type SealChecks struct {
	Checked bool `json:"checked"`
	// Mode is "quick" (signature; objects present with their sealed sizes)
	// or "full" (also every ciphertext's SHA-256).
	Mode string `json:"mode,omitempty"`
	// Logged counts seals the period's log records; Verified, Deleted,
	// Missing, Mismatch, Failed, Damaged and Unreadable split them by
	// Backup.Offsite.
	Logged     int `json:"logged"`
	Verified   int `json:"verified"`
	Deleted    int `json:"deleted"`
	Missing    int `json:"missing"`
	Mismatch   int `json:"mismatch"`
	Failed     int `json:"failed"`
	Damaged    int `json:"damaged"`
	Unreadable int `json:"unreadable"`
	// Unlogged counts sealed backups in the bucket, sealed in the period,
	// that no seal entry records (for example sealed by the CLI).
	Unlogged int `json:"unlogged"`
	// Problems lists every seal that is not verified or deleted, and each
	// unlogged seal.
	Problems []SealProblem `json:"problems,omitempty"`
	// Hidden lists the objects of checked seals, and the seal.json files,
	// that delete markers hide ('safekeep recover' brings them back).
	Hidden []HiddenObject `json:"hidden,omitempty"`
}

// SealProblem is one seal that did not check out.
type SealProblem struct {
	Schedule string `json:"schedule"`
	Backup   string `json:"backup"`
	State    string `json:"state"` // an Offsite* constant, or "unlogged"
	Problem  string `json:"problem"`
	// Damaged names every object of the backup whose stored bytes fail
	// the server's checksum (seal.json, manifest.json.age or a Velero
	// object's name), whatever the State.
	Damaged []string `json:"damaged,omitempty"`
}

// HIPAARow links a HIPAA Security Rule citation to the report's evidence.
type HIPAARow struct {
	Citation    string `json:"citation"`
	Requirement string `json:"requirement"`
	// Sections are the report sections (HTML ids) holding the evidence.
	Sections []string `json:"sections"`
	// Evidence says in one sentence what the period's evidence shows.
	Evidence string `json:"evidence"`
	// Status is "evidence" when the period holds supporting evidence,
	// "gap" when it holds none or shows a problem.
	Status string `json:"status"`
}

// VolumeDeletion is one KindVolumeDelete entry: volume blobs retention
// deleted once no retained seal listed them.
type VolumeDeletion struct {
	Time      time.Time `json:"time"`
	Seq       uint64    `json:"seq"`
	Actor     string    `json:"actor"`
	Namespace string    `json:"namespace,omitempty"`
	Schedule  string    `json:"schedule"`
	Target    string    `json:"target"`
	Blobs     int       `json:"blobs"`
	Bytes     int64     `json:"bytes"`
	Receipts  int       `json:"receipts"`
}
