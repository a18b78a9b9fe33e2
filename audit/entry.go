// Package audit is Safekeep's tamper-evident evidence log: a hash-chained,
// ed25519-signed sequence of entries, one object-locked object each, under
// audit/ in the offsite bucket (docs/audit.md). Anyone can verify it with the
// public signing keys published in the bucket; no age identity is needed.
package audit

import (
	"encoding/json"
	"time"
)

// FormatV1 is the format of every entry this package writes.
const FormatV1 = "safekeep.dev/audit/v1"

// Kind says what an entry records.
type Kind string

// Entry kinds. Details holds the matching *Details struct, JSON-encoded.
const (
	// KindSeal: a backup was sealed offsite (SealDetails).
	KindSeal Kind = "seal"
	// KindRetentionDelete: retention removed a sealed backup (DeleteDetails).
	KindRetentionDelete Kind = "retention-delete"
	// KindDrill: a restore drill finished, passed or failed (DrillDetails).
	KindDrill Kind = "drill"
	// KindRestore: an incident restore ran (RestoreDetails).
	KindRestore Kind = "restore"
	// KindTargetChange: an OffsiteTarget was created, deleted, or its
	// endpoint, bucket, recipients, lock or keys changed (TargetDetails).
	KindTargetChange Kind = "target-change"
	// KindFailure: an attempt failed: a backup, a seal, a deletion, a
	// restore (FailureDetails).
	KindFailure Kind = "failure"
	// KindRecover: objects of a sealed backup that delete markers hid were
	// made current again (RecoverDetails).
	KindRecover Kind = "recover"
	// KindVolumeDelete: retention deleted sealed volume blobs that no
	// retained seal needs any more (VolumeDeleteDetails).
	KindVolumeDelete Kind = "volume-delete"
)

// Entry is one audit record. Hash is "sha256:<hex>" of the canonical JSON
// (sorted keys, no white space) of the entry without Hash and Signature;
// Signature signs the same bytes. Prev is the Hash of the entry with
// sequence number Seq-1, and empty for Seq 1.
type Entry struct {
	Format  string          `json:"format"`
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Kind    Kind            `json:"kind"`
	Subject string          `json:"subject"`
	Details json.RawMessage `json:"details,omitempty"`
	Prev    string          `json:"prev"`
	// Burned are the burned seqs between the entry Prev names and this
	// one (docs/audit.md, "Burned sequence numbers"): consecutive, the
	// last Seq-1. Absent in an entry that follows the one before it.
	Burned []uint64 `json:"burned,omitempty"`

	Hash      string    `json:"hash"`
	Signature Signature `json:"signature"`
}

// Signature is an ed25519 signature by the key with KeyID (see
// crypto.VerifyKey.KeyID); JSON carries Value as standard base64.
type Signature struct {
	Alg   string `json:"alg"`
	KeyID string `json:"keyId"`
	Value []byte `json:"value"`
}

// Record is what a writer supplies; Append fills in the rest.
type Record struct {
	// Actor is who did it: "system:serviceaccount:<ns>:<name>" for the
	// controller, "<user>@<host>" for the CLI.
	Actor string
	Kind  Kind
	// Subject names the object acted on, e.g. "<namespace>/<schedule>/<backup>".
	Subject string
	// Details is one of the *Details structs below.
	Details any
}

// SealDetails: KindSeal.
type SealDetails struct {
	Namespace       string    `json:"namespace,omitempty"`
	Schedule        string    `json:"schedule"`
	Backup          string    `json:"backup"`
	Target          string    `json:"target,omitempty"`
	Objects         int       `json:"objects"`
	CiphertextBytes int64     `json:"ciphertextBytes"`
	SealDigest      string    `json:"sealDigest"`
	Recipients      []string  `json:"recipients"` // fingerprints
	RetainUntil     time.Time `json:"retainUntil,omitzero"`
	DurationSeconds float64   `json:"durationSeconds,omitempty"`
	// Volumes counts the backup's volumes sealed and not covered; absent
	// when not known (entries written before coverage was recorded).
	Volumes *VolumeCounts `json:"volumes,omitempty"`
}

// VolumeCounts is the coverage of a backup's volumes (docs/volumes.md,
// "Coverage"): counts only, as the log is plaintext; PVC names go offsite
// only inside the encrypted manifest.
type VolumeCounts struct {
	// Sealed counts the volumes whose data is sealed.
	Sealed int `json:"sealed"`
	// NotCovered counts those whose data is not, by reason.
	NotCovered map[string]int `json:"notCovered,omitempty"`
}

// DeleteDetails: KindRetentionDelete.
type DeleteDetails struct {
	Namespace string `json:"namespace,omitempty"`
	Schedule  string `json:"schedule"`
	Backup    string `json:"backup"`
	// Reason is why: "retention" with the policy that removed it.
	Reason string `json:"reason"`
}

// VolumeDeleteDetails: KindVolumeDelete. Counts only: the blobs' names
// are content addresses in the bucket, of no use to a reader of the log.
type VolumeDeleteDetails struct {
	Namespace string `json:"namespace,omitempty"`
	// Schedule is the schedule whose retention pass deleted them; Target
	// the OffsiteTarget.
	Schedule string `json:"schedule"`
	Target   string `json:"target"`
	// Blobs and Bytes count the volume blobs deleted and their ciphertext;
	// Receipts the receipts deleted with them.
	Blobs    int   `json:"blobs"`
	Bytes    int64 `json:"bytes"`
	Receipts int   `json:"receipts"`
	// Reason is why: no retained seal lists them.
	Reason string `json:"reason"`
}

// DrillDetails: KindDrill.
type DrillDetails struct {
	Namespace  string    `json:"namespace,omitempty"`
	Drill      string    `json:"drill"`
	Run        string    `json:"run"`
	Schedule   string    `json:"schedule"`
	Backup     string    `json:"backup"`
	Passed     bool      `json:"passed"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	RTOSeconds float64   `json:"rtoSeconds"`
	// MaxRTOSeconds is the objective; 0 when none is set.
	MaxRTOSeconds float64 `json:"maxRTOSeconds,omitempty"`
	// Reason is what failed in a failed run, as the drill's
	// LastDrillPassed condition says it (DrillFailed, VolumeCheckFailed,
	// VolumeFilesCheckFailed, RepositoryPasswordMismatch): a code, never
	// a name. Absent when the run passed and in entries written before
	// it was recorded.
	Reason string        `json:"reason,omitempty"`
	Checks []CheckResult `json:"checks"`
	// Workloads is what the drill's isolation changed, left out and let
	// run; absent in entries written before drills were isolated.
	Workloads *WorkloadChanges `json:"workloads,omitempty"`
	// Volumes is the Level 1 check of each sealed volume, with its Level 2
	// check (VolumeCheck.Restored) when volumes were restored through
	// Velero; absent when the backup had none or neither check ran.
	Volumes []VolumeCheck `json:"volumes,omitempty"`
}

// VolumeCheck is the check of one sealed volume in a drill entry:
// counts and a digest, never a name (the entry is plaintext in the
// bucket).
type VolumeCheck struct {
	// Volume is "sha256:<hex>" of "<namespace>/<pod>/<volume>": someone
	// holding the sealed manifest can tell which volume it is.
	Volume string `json:"volume"`
	// Files and Bytes were read and verified.
	Files  int64 `json:"files"`
	Bytes  int64 `json:"bytes"`
	Passed bool  `json:"passed"`
	// NotVerified is why Level 1 did not read the volume (Files and Bytes
	// are then 0, not counts): VolumeNotVerifiedSkipped.
	// Absent when Level 1 ran, and in entries written before it was
	// recorded (there, the drill's "volumes" check says "not requested").
	NotVerified string `json:"notVerified,omitempty"`
	// Restored is the Level 2 check of the volume (restored by Velero and
	// compared file by file with the snapshot); absent when it did not run
	// and in entries written before it was recorded.
	Restored *VolumeRestored `json:"restored,omitempty"`
}

// VolumeNotVerifiedSkipped (VolumeCheck.NotVerified): the drill's checks
// skip Level 1 (a RestoreDrill's spec.checks.volumes Skip).
const VolumeNotVerifiedSkipped = "Skipped"

// VolumeRestored is what Velero restored into one volume in a Level 2
// drill, compared with the sealed snapshot: counts only, never a file name.
type VolumeRestored struct {
	// Files and Bytes were read back from the restored volume.
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
	// MatchedFiles and MatchedBytes are the snapshot's files restored with
	// the same size and SHA-256.
	MatchedFiles int64 `json:"matchedFiles"`
	MatchedBytes int64 `json:"matchedBytes"`
	Passed       bool  `json:"passed"`
	// Reason is why it did not pass (RepositoryPasswordMismatch,
	// NotRestored, Unreadable, Differs); absent when it passed.
	Reason string `json:"reason,omitempty"`
}

// WorkloadChanges is what a drill's isolation did to restored objects:
// counts by kind, never object names.
type WorkloadChanges struct {
	// Mode is Inert or Isolated.
	Mode        string      `json:"mode"`
	Modified    []KindCount `json:"modified,omitempty"`
	NotRestored []KindCount `json:"notRestored,omitempty"`
	Ran         []KindCount `json:"ran,omitempty"`
}

// KindCount is how many objects of a kind a change applied to.
type KindCount struct {
	Kind   string `json:"kind"`
	Count  int    `json:"count"`
	Change string `json:"change,omitempty"`
}

// CheckResult is one drill or restore check.
type CheckResult struct {
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Message string `json:"message,omitempty"`
	// Objects are the first objects that failed the check, by name: in
	// entries written before names were kept out of the log only (object
	// names are key-holder-only, docs/manifest.md; the log is plaintext).
	Objects []string `json:"objects,omitempty"`
	// FailedObjects counts the objects the check named (the first ones
	// only: its message has the total), and FailedDigests holds the
	// NameDigest of each, in the same order: whoever holds the names (the
	// drill's status, the decrypted backup) can match them; the log
	// reader learns none.
	FailedObjects int      `json:"failedObjects,omitempty"`
	FailedDigests []string `json:"failedDigests,omitempty"`
}

// WithoutNames returns c with its object names replaced by their count
// and digests, as it goes into the log.
func (c CheckResult) WithoutNames() CheckResult {
	if len(c.Objects) == 0 {
		return c
	}
	c.FailedObjects = len(c.Objects)
	c.FailedDigests = make([]string, 0, len(c.Objects))
	for _, name := range c.Objects {
		c.FailedDigests = append(c.FailedDigests, NameDigest(name))
	}
	c.Objects = nil
	return c
}

// NameDigest is "sha256:" and the hex SHA-256 of an object's name as a
// check names it (for example "v1/ConfigMap phi-app/settings").
func NameDigest(name string) string { return HashOf([]byte(name)) }

// RestoreDetails: KindRestore.
type RestoreDetails struct {
	Schedule string `json:"schedule"`
	Backup   string `json:"backup"`
	// User and Host say who ran it and from which machine.
	User string `json:"user"`
	Host string `json:"host"`
	// Destination is "cluster:<kube context or server>" or "dir:<path>".
	Destination      string            `json:"destination"`
	NamespaceMapping map[string]string `json:"namespaceMapping,omitempty"`
	// StagingLocation is the Velero BackupStorageLocation a restore into a
	// cluster staged the backup in; empty for a restore to a directory.
	StagingLocation string        `json:"stagingLocation,omitempty"`
	Passed          bool          `json:"passed"`
	Checks          []CheckResult `json:"checks,omitempty"`
	// Volumes is, as in a drill's entry, what Velero restored into each
	// volume compared with the sealed snapshot (VolumeCheck.Restored), when
	// the restored volumes were read (restore --volume-reader-image).
	// Level 1 is no part of a restore: each says NotVerified
	// VolumeNotVerifiedSkipped, Files and Bytes 0. Absent otherwise and in
	// entries written before it was recorded.
	Volumes []VolumeCheck `json:"volumes,omitempty"`
}

// RecoverDetails: KindRecover.
type RecoverDetails struct {
	// Schedule and Backup name the backup; both empty when the objects
	// are audit entries (Subject "audit").
	Schedule string `json:"schedule,omitempty"`
	Backup   string `json:"backup,omitempty"`
	// User and Host say who ran it and from which machine.
	User string `json:"user"`
	Host string `json:"host"`
	// Objects are the hidden objects, one each.
	Objects []RecoveredObject `json:"objects"`
	// Intact says the backup verified (quick check) after the recovery.
	Intact bool `json:"intact"`
}

// RecoveredObject is one hidden object of a KindRecover entry.
type RecoveredObject struct {
	// Key is the offsite key, relative to <prefix>/safekeep/v1/.
	Key string `json:"key"`
	// MarkerVersion and MarkerTime name the delete marker that hid it.
	MarkerVersion string    `json:"markerVersion"`
	MarkerTime    time.Time `json:"markerTime"`
	// Version is the version brought back; empty when none matched.
	Version string `json:"version,omitempty"`
	// Action is "remove-markers", "copy-back" or "none".
	Action string `json:"action"`
	// Removed are the version IDs deleted (markers, forged versions).
	Removed []string `json:"removed,omitempty"`
	// Refused are versions under the marker whose bytes did not match.
	Refused []string `json:"refused,omitempty"`
	// Error says why the action failed, when it did.
	Error string `json:"error,omitempty"`
}

// TargetDetails: KindTargetChange.
type TargetDetails struct {
	Namespace string `json:"namespace,omitempty"`
	Target    string `json:"target"`
	// Change is "created", "updated" or "deleted"; Fields lists what
	// changed.
	Change     string   `json:"change"`
	Fields     []string `json:"fields,omitempty"`
	Endpoint   string   `json:"endpoint,omitempty"`
	Bucket     string   `json:"bucket,omitempty"`
	Recipients []string `json:"recipients,omitempty"` // fingerprints
	SigningKey string   `json:"signingKey,omitempty"` // key id
	// AuditKey is the id of the key that signs the controller's entries,
	// when it is not SigningKey.
	AuditKey string `json:"auditKey,omitempty"`
	LockMode string `json:"lockMode,omitempty"`
	LockDays int    `json:"lockDays,omitempty"`
	// ChangedBy says who changed the spec as far as the API tells (the
	// field manager and when; target.ChangedBy), or that it is unknown.
	// The entry's actor is the controller that recorded it.
	ChangedBy string `json:"changedBy,omitempty"`
	// UsedBy names the BackupSchedules that used the target when it was
	// deleted (Change "deleted").
	UsedBy []string `json:"usedBy,omitempty"`
}

// FailureDetails: KindFailure.
type FailureDetails struct {
	Namespace string `json:"namespace,omitempty"`
	// Operation is what failed: "backup", "seal", "retention-delete",
	// "drill", "restore", "audit".
	Operation string `json:"operation"`
	Schedule  string `json:"schedule,omitempty"`
	Backup    string `json:"backup,omitempty"`
	// Reason is a condition reason (api/v1alpha1/conditions.go).
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}
