package v1alpha1

// Condition types. Every kind carries Ready, a summary that is True when the
// object does its job; the other types say more about one aspect. Messages
// never contain credentials, secret keys or identities.
const (
	// ConditionReady summarises the object. Kinds: all.
	ConditionReady = "Ready"

	// ConditionRunning is True while a BackupSchedule has a run in flight
	// (status.active is set): the Velero backup is running or being sealed.
	ConditionRunning = "Running"

	// ConditionLastRunSucceeded reports how the most recent run of a
	// BackupSchedule ended: True when it was sealed offsite, False with the
	// reason it was not.
	ConditionLastRunSucceeded = "LastRunSucceeded"

	// ConditionRetentionApplied reports the last offsite retention pass of a
	// BackupSchedule.
	ConditionRetentionApplied = "RetentionApplied"

	// ConditionSealed is True on an OffsiteBackup whose seal.json is written:
	// the copy is complete and restorable.
	ConditionSealed = "Sealed"

	// ConditionRetained is True while retention keeps an OffsiteBackup; False
	// once retention has dropped it and its objects are waiting for their
	// object lock to expire or being deleted.
	ConditionRetained = "Retained"

	// ConditionVerified reports the last restore drill of an OffsiteBackup.
	ConditionVerified = "Verified"

	// ConditionHidden is True on an OffsiteBackup some of whose sealed
	// objects (seal.json, the manifest and volume blobs included) are
	// hidden by delete markers or overwritten with other bytes: on a
	// versioned bucket someone holding its credentials deleted or replaced
	// them, and object lock kept the versions underneath, which Safekeep
	// reads. 'safekeep recover' brings them back. False when
	// nothing is hidden. See docs/versioned.md.
	ConditionHidden = "Hidden"

	// ConditionGone is True on an OffsiteBackup whose sealed backup the
	// bucket no longer holds (its seal.json deleted, or replaced by one no
	// trusted key signed) though retention did not delete it: the record
	// stays as evidence, an audit entry and a Warning Event say so, and
	// safekeep_offsite_gone_backups counts it. False (SealPresent) when
	// the seal is back.
	ConditionGone = "Gone"

	// ConditionKeysExcluded is True on a BackupSchedule whose backups keep
	// Safekeep's and Velero's namespaces out (status.excludedNamespaces):
	// reason ScopeNarrowed, a warning, when the template's scope would have
	// included them; OutOfScope when it does not. False (OnlyKeys) when
	// the template includes nothing else: no run starts.
	ConditionKeysExcluded = "KeysExcluded"

	// ConditionAuditTampered is True on an OffsiteTarget whose bucket
	// holds, under audit/, delete markers or more than one version of a
	// key (entries, claims, segments): writes the audit log never makes,
	// such as hiding its newest entries. False (Untouched) when none;
	// Unknown (NotChecked) while the target is not Ready or the listing
	// failed. See docs/audit.md.
	ConditionAuditTampered = "AuditTampered"

	// ConditionAuditEvidenceDurable reports, on an OffsiteTarget, whether
	// every audit entry the controller recorded for it is in the bucket or
	// kept in the cluster (the audit outbox): True (Durable) when it is,
	// False (InMemory) when some are held only in the controller's memory,
	// the bucket and the API server having refused them: a restart loses
	// them (safekeep_audit_entries_in_memory counts them).
	ConditionAuditEvidenceDurable = "AuditEvidenceDurable"

	// ConditionVolumeData reports, on a BackupSchedule whose template asks
	// for volume data (snapshotMoveData, defaultVolumesToFsBackup or
	// snapshotVolumes set true, or Velero's server defaults), whether
	// Velero can back it up in a form Safekeep seals offsite, checked
	// before each run from Velero's Deployment (its server's --features
	// and defaults) and node-agent DaemonSet: True (VeleroReady, or
	// NoVolumeDataRequested), False naming what is missing (the reasons
	// below), Unknown when Velero could not be read. Runs still start
	// when it is False: the objects are backed up and VolumesCovered names
	// the volumes left out.
	ConditionVolumeData = "VolumeData"

	// ConditionVolumesCovered reports, on an OffsiteBackup and on its
	// BackupSchedule (for the last sealed backup), whether the data of every
	// volume of the backup's namespaces is sealed offsite: True
	// (AllVolumesSealed) when it is, False (VolumesNotCovered) naming those
	// that are not and why (status.volumes lists them).
	ConditionVolumesCovered = "VolumesCovered"
)

// AuditEvidenceDurable reasons (OffsiteTarget).
const (
	// ReasonDurable (AuditEvidenceDurable True): no entry is held only in
	// memory.
	ReasonDurable = "Durable"
	// ReasonInMemory (AuditEvidenceDurable False; also Warning Events
	// AuditEvidenceInMemory): entries held only in the controller's memory.
	ReasonInMemory = "InMemory"
)

// AuditTampered reasons (OffsiteTarget).
const (
	// ReasonAuditDeleteMarkers (AuditTampered True; also a Warning Event):
	// delete markers under audit/, and maybe extra versions; the message
	// names the objects.
	ReasonAuditDeleteMarkers = "AuditDeleteMarkers"
	// ReasonAuditExtraVersions (AuditTampered True; also a Warning
	// Event): keys under audit/ with more than one version, no marker.
	ReasonAuditExtraVersions = "AuditExtraVersions"
	// ReasonUntouched (AuditTampered False): every key under audit/ has
	// one version and no marker, or the bucket keeps no versions.
	ReasonUntouched = "Untouched"
	// ReasonNotChecked (AuditTampered Unknown): the target is not Ready,
	// or listing the versions failed.
	ReasonNotChecked = "NotChecked"
)

// VolumesCovered reasons.
const (
	// ReasonAllVolumesSealed (VolumesCovered True): every volume's data is
	// sealed offsite, or the backup has none.
	ReasonAllVolumesSealed = "AllVolumesSealed"
	// ReasonVolumesNotCovered (VolumesCovered False): some volumes' data is
	// not sealed offsite: a restore from the offsite copy would not bring
	// it back.
	ReasonVolumesNotCovered = "VolumesNotCovered"
	// ReasonCoverageUnknown (VolumesCovered Unknown): the backup was found
	// already sealed and Velero no longer holds it, so its volume
	// information could not be read.
	ReasonCoverageUnknown = "CoverageUnknown"
)

// VolumeData reasons (BackupSchedule).
const (
	// ReasonVeleroReady (VolumeData True): Velero can do what the template
	// asks: its server runs with the EnableCSI feature (for snapshot data
	// movement) and node-agent has a ready pod.
	ReasonVeleroReady = "VeleroReady"
	// ReasonNoVolumeDataRequested (VolumeData True): the template asks
	// for neither snapshot data movement nor file-system backup; only
	// volumes annotated for file-system backup are sealed, VolumesCovered
	// names the others after each backup.
	ReasonNoVolumeDataRequested = "NoVolumeDataRequested"
	// ReasonVeleroCSIFeatureDisabled (VolumeData False, and a Warning
	// Event): snapshotMoveData is asked but Velero's server runs without
	// EnableCSI in its --features: Velero skips its CSI actions, so no
	// snapshot is taken or moved and the volumes' data is not offsite.
	ReasonVeleroCSIFeatureDisabled = "VeleroCSIFeatureDisabled"
	// ReasonNodeAgentNotReady (VolumeData False, and a Warning Event):
	// data movement or file-system backup is asked but Velero's node-agent
	// DaemonSet is missing or has no ready pod: Velero fails those volumes.
	ReasonNodeAgentNotReady = "NodeAgentNotReady"
	// ReasonOtherDataMover (VolumeData False, and a Warning Event):
	// spec.template.dataMover names a mover other than Velero's built-in
	// one; its data is not in the backup location and is not sealed.
	ReasonOtherDataMover = "OtherDataMover"
	// ReasonSnapshotsNotMoved (VolumeData False, and a Warning Event):
	// snapshotVolumes is true without snapshotMoveData: the snapshots stay
	// in the cluster (or the cloud provider), not offsite.
	ReasonSnapshotsNotMoved = "SnapshotsNotMoved"
	// ReasonVeleroNotFound (VolumeData Unknown): Velero's Deployment is
	// not in its namespace, so what its server runs with is unknown.
	ReasonVeleroNotFound = "VeleroNotFound"
	// ReasonVeleroNotChecked (VolumeData Unknown): reading Velero's
	// Deployment or node-agent DaemonSet failed; retried.
	ReasonVeleroNotChecked = "VeleroNotChecked"
)

// Reasons shared by every kind.
const (
	// ReasonReconciling: the first check has not finished (status Unknown).
	ReasonReconciling = "Reconciling"
)

// OffsiteTarget Ready reasons. Ready is True only when every check passed;
// otherwise the reason names the first check that failed, and the message
// says what to fix.
const (
	// ReasonVerified: endpoint reachable, bucket present, credentials
	// accepted, object lock as asked, recipients and signing key valid.
	ReasonVerified = "Verified"
	// ReasonUnreachable: the endpoint did not answer (DNS, connection, TLS
	// handshake, timeout).
	ReasonUnreachable = "Unreachable"
	// ReasonServerError: the endpoint answered with 5xx errors; retried.
	ReasonServerError = "ServerError"
	// ReasonInvalidSpec: spec.s3 names an endpoint or bucket that cannot
	// work (an endpoint with a path, a bucket name S3 refuses); the message
	// names the field. Fixed only by editing the spec. Every kind uses it
	// for a value stored before the schema checked it (a duration that
	// does not parse).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonCABundleInvalid: spec.s3.caBundle holds no usable PEM certificate.
	ReasonCABundleInvalid = "CABundleInvalid"
	// ReasonBucketMissing: the bucket does not exist.
	ReasonBucketMissing = "BucketMissing"
	// ReasonCredentialsMissing: the credentials Secret, or a key in it, is
	// missing.
	ReasonCredentialsMissing = "CredentialsMissing"
	// ReasonCredentialsRejected: the endpoint refused the access key or
	// signature.
	ReasonCredentialsRejected = "CredentialsRejected"
	// ReasonAccessDenied: the credentials are valid but may not use the
	// bucket or prefix.
	ReasonAccessDenied = "AccessDenied"
	// ReasonObjectLockOff: spec.objectLock is set but the bucket does not
	// have object lock enabled.
	ReasonObjectLockOff = "ObjectLockOff"
	// ReasonRecipientInvalid: an entry of spec.recipients does not parse.
	ReasonRecipientInvalid = "RecipientInvalid"
	// ReasonSigningKeyMissing: the signing key Secret, or its "signing.key"
	// entry, is missing.
	ReasonSigningKeyMissing = "SigningKeyMissing"
	// ReasonSigningKeyInvalid: the signing key does not parse as a PKCS#8
	// PEM ed25519 private key.
	ReasonSigningKeyInvalid = "SigningKeyInvalid"
)

// BackupSchedule reasons.
//
// Ready is True when the schedule and time zone parse and the OffsiteTarget
// exists and is Ready; it stays True with reason Suspended while
// spec.suspend is set (a deliberate pause is not a fault). An invalid spec is
// a terminal error: Ready False, no requeue until the spec changes.
const (
	// ReasonScheduled (Ready True): runs are scheduled; see
	// status.nextScheduleTime.
	ReasonScheduled = "Scheduled"
	// ReasonSuspended (Ready True): spec.suspend is set; no new runs start.
	ReasonSuspended = "Suspended"
	// ReasonInvalidSchedule (Ready False): spec.schedule does not parse.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonInvalidTimeZone (Ready False): spec.timeZone is not a known IANA
	// time zone.
	ReasonInvalidTimeZone = "InvalidTimeZone"
	// ReasonTargetNotFound (Ready False): spec.offsiteTargetRef names no
	// OffsiteTarget in the namespace.
	ReasonTargetNotFound = "TargetNotFound"
	// ReasonTargetNotReady (Ready False): the OffsiteTarget is not Ready.
	ReasonTargetNotReady = "TargetNotReady"
	// ReasonLocationNotFound (Ready False): spec.template.storageLocation
	// names no BackupStorageLocation in the Velero namespace (or, when
	// empty, there is no default one).
	ReasonLocationNotFound = "LocationNotFound"
	// ReasonPolicyViolation (Ready False, and a Warning Event): the
	// template breaks its OffsiteTarget's spec.policy (a namespace the
	// target does not accept, or hooks it does not allow); no run starts.
	ReasonPolicyViolation = "PolicyViolation"
	// ReasonNamespaceNotFound (Ready False): a namespace named in
	// spec.template.includedNamespaces does not exist.
	ReasonNamespaceNotFound = "NamespaceNotFound"

	// ReasonScopeNarrowed (KeysExcluded True, a warning): the template's
	// scope includes namespaces that hold Safekeep's keys or Velero's
	// credentials; they are left out of every backup.
	ReasonScopeNarrowed = "ScopeNarrowed"
	// ReasonOutOfScope (KeysExcluded True): the template does not include
	// them.
	ReasonOutOfScope = "OutOfScope"
	// ReasonOnlyKeys (KeysExcluded False, Ready False): the template
	// includes only such namespaces; nothing would be backed up.
	ReasonOnlyKeys = "OnlyKeys"

	// ReasonIdle (Running False): no run in flight.
	ReasonIdle = "Idle"
	// ReasonBackupInProgress (Running True): Velero is writing the backup.
	ReasonBackupInProgress = "BackupInProgress"
	// ReasonSealing (Running True): the completed backup is being sealed.
	ReasonSealing = "Sealing"

	// LastRunSucceeded True uses ReasonSealed: the run's backup was sealed.
	// ReasonBackupFailed (LastRunSucceeded False): Velero reported Failed or
	// FailedValidation; nothing was sealed.
	ReasonBackupFailed = "BackupFailed"
	// ReasonBackupPartiallyFailed (LastRunSucceeded False): Velero reported
	// PartiallyFailed; nothing was sealed.
	ReasonBackupPartiallyFailed = "BackupPartiallyFailed"
	// ReasonBackupDeleted (LastRunSucceeded False): the Velero backup
	// disappeared before it was sealed.
	ReasonBackupDeleted = "BackupDeleted"
	// ReasonBackupTimedOut (LastRunSucceeded False): the Velero backup did
	// not reach a terminal phase within the controller's backup deadline
	// (Velero down, or the backup stuck); nothing was sealed and later
	// runs go ahead.
	ReasonBackupTimedOut = "BackupTimedOut"
	// ReasonSealFailed (LastRunSucceeded False): sealing failed; it is
	// retried and never leaves a partial copy listed as restorable.
	ReasonSealFailed = "SealFailed"
	// ReasonMissedDeadline (LastRunSucceeded False): a scheduled time passed
	// spec.startingDeadlineSeconds before it could start.
	ReasonMissedDeadline = "MissedDeadline"

	// ReasonRetentionApplied (RetentionApplied True): every backup retention
	// dropped has been deleted.
	ReasonRetentionApplied = "RetentionApplied"
	// ReasonWaitingForLock (RetentionApplied True; Retained False on an
	// OffsiteBackup): dropped backups stay until their object lock expires.
	ReasonWaitingForLock = "WaitingForLock"
	// ReasonRetentionFailed (RetentionApplied False): deleting a dropped
	// backup failed; retried.
	ReasonRetentionFailed = "RetentionFailed"
	// ReasonUntrustedSeal (Warning Event): the bucket holds seals of the
	// schedule signed by a key the target does not trust; they are ignored,
	// never deleted, and counted (safekeep_untrusted_seals).
	ReasonUntrustedSeal = "UntrustedSeal"
)

// OffsiteBackup reasons. Ready is True when the backup is Sealed.
const (
	// ReasonSealed (Sealed True, Ready True; LastRunSucceeded True on a
	// BackupSchedule): seal.json is written.
	ReasonSealed = "Sealed"
	// ReasonSealInProgress (Sealed False): objects are being copied.
	ReasonSealInProgress = "SealInProgress"
	// ReasonSealIncomplete (Sealed False): objects are offsite but seal.json
	// is not; the copy is not restorable until the seal is completed.
	ReasonSealIncomplete = "SealIncomplete"
	// ReasonSealInvalid (Sealed False): seal.json does not verify (bad
	// signature, digest or size).
	ReasonSealInvalid = "SealInvalid"

	// ReasonKeptByPolicy (Retained True): retention keeps this backup; the
	// message lists the rules that keep it.
	ReasonKeptByPolicy = "KeptByPolicy"
	// ReasonDeleting (Retained False): retention dropped the backup and its
	// objects are being deleted.
	ReasonDeleting = "Deleting"

	// ReasonDeleteMarkers (Hidden True; also a Warning Event on the
	// OffsiteBackup): delete markers hide sealed objects; the message
	// names them.
	ReasonDeleteMarkers = "DeleteMarkers"
	// ReasonOverwritten (Hidden True; also a Warning Event on the
	// OffsiteBackup): no delete marker, but sealed objects (seal.json
	// included) were overwritten with bytes the seal does not vouch for;
	// the message names them. With markers too, the reason is
	// ReasonDeleteMarkers and the message names both kinds.
	ReasonOverwritten = "Overwritten"
	// ReasonNothingHidden (Hidden False): no sealed object is under a
	// delete marker.
	ReasonNothingHidden = "NothingHidden"
	// ReasonSealGone (Gone True; also a Warning Event and an audit failure
	// entry, operation "seal-gone"): the trusted seal is no longer in the
	// bucket and retention did not delete it.
	ReasonSealGone = "SealGone"
	// ReasonSealPresent (Gone False): the trusted seal is in the bucket
	// again.
	ReasonSealPresent = "SealPresent"

	// ReasonNeverDrilled (Verified Unknown): no restore drill used it yet.
	ReasonNeverDrilled = "NeverDrilled"
	// ReasonDrillPassed (Verified True): the last drill passed every check.
	ReasonDrillPassed = "DrillPassed"
	// ReasonDrillFailed (Verified False): the last drill failed; the message
	// names the check.
	ReasonDrillFailed = "DrillFailed"
)

// RestoreDrill condition types.
const (
	// ConditionLastDrillPassed reports how the most recent run of a
	// RestoreDrill ended: True when every check passed, False naming the
	// first check that failed (DrillFailed) or why it could not run.
	ConditionLastDrillPassed = "LastDrillPassed"
)

// RestoreDrill reasons.
//
// Ready is True when the schedule and time zone parse and every reference
// resolves: the BackupSchedule, its OffsiteTarget (Ready), the identity
// Secret and key (an age identity), the staging BackupStorageLocation. It
// stays True with ReasonSuspended while spec.suspend is set, and uses
// ReasonScheduled, ReasonInvalidSchedule, ReasonInvalidTimeZone and
// ReasonTargetNotReady as a BackupSchedule does. Running uses ReasonIdle
// and ReasonDrilling. LastDrillPassed uses ReasonNeverDrilled,
// ReasonDrillPassed, ReasonDrillFailed, ReasonMissedDeadline (a scheduled
// time passed spec.startingDeadlineSeconds before the run could start) and
// the reasons below.
const (
	// ReasonScheduleNotFound (Ready False): spec.backupScheduleRef names no
	// BackupSchedule in the namespace.
	ReasonScheduleNotFound = "ScheduleNotFound"
	// ReasonIdentityMissing (Ready False): the identity Secret, or its key,
	// is missing or may not be read.
	ReasonIdentityMissing = "IdentityMissing"
	// ReasonIdentityInvalid (Ready False): the identity does not parse as
	// an age identity.
	ReasonIdentityInvalid = "IdentityInvalid"
	// ReasonIdentityNotRecipient (Ready False): the drill identity is not
	// among the recipients of the schedule's OffsiteTarget, so it could not
	// decrypt what the target seals.
	ReasonIdentityNotRecipient = "IdentityNotRecipient"
	// ReasonStagingNotFound (Ready False): spec.staging names no
	// BackupStorageLocation in the Velero namespace.
	ReasonStagingNotFound = "StagingNotFound"
	// ReasonStagingInvalid (Ready False): the staging location is the
	// primary location of the schedule's backups, or cannot be used.
	ReasonStagingInvalid = "StagingInvalid"

	// ReasonDrilling (Running True): a run is in flight.
	ReasonDrilling = "Drilling"

	// ReasonVolumeCheckFailed (LastDrillPassed False): a sealed volume of
	// the backup did not verify (the volumes check); the message names the
	// volume and the damaged object.
	ReasonVolumeCheckFailed = "VolumeCheckFailed"
	// ReasonVolumeFilesCheckFailed (LastDrillPassed False): a volume
	// restored by Velero differs from its snapshot or could not be read
	// (the volume-files check); the message names the volume.
	ReasonVolumeFilesCheckFailed = "VolumeFilesCheckFailed"
	// ReasonRepositoryPasswordMismatch (LastDrillPassed False): Velero's
	// repository password (Secret velero-repo-credentials) is not the one
	// the sealed repository was written with, so Velero could not open
	// the staged copy; nothing was restored.
	ReasonRepositoryPasswordMismatch = "RepositoryPasswordMismatch"
	// ReasonDrillError (LastDrillPassed False): the run could not be
	// carried out (staging or API failure, timeout); the message says why.
	ReasonDrillError = "DrillError"
	// ReasonNoSealedBackup (LastDrillPassed False): the schedule has no
	// sealed backup to drill.
	ReasonNoSealedBackup = "NoSealedBackup"
	// ReasonDrillInterrupted (LastDrillPassed False): the controller
	// stopped while the run was in flight; its leftovers are deleted and
	// the next run starts on schedule.
	ReasonDrillInterrupted = "DrillInterrupted"
	// ReasonDrillDeleted (an audit failure entry): the RestoreDrill was
	// deleted while a run was in flight; the run has no verdict.
	ReasonDrillDeleted = "DrillDeleted"
)
