package seal

import "errors"

// Sentinel errors, wrapped by the errors this package returns; test with errors.Is.
var (
	// ErrNotSealed: the backup has no seal.json (it was never sealed, or a
	// seal is incomplete). It must not be restored.
	ErrNotSealed = errors.New("backup is not sealed")
	// ErrBadSeal: seal.json is malformed, names another backup, or its
	// signature does not verify.
	ErrBadSeal = errors.New("seal is invalid")
	// ErrBadManifest: the manifest is malformed or disagrees with the seal.
	ErrBadManifest = errors.New("manifest is invalid")
	// ErrObjectMissing: an object the seal lists is not in the bucket.
	ErrObjectMissing = errors.New("sealed object is missing")
	// ErrObjectMismatch: an object's ciphertext size or SHA-256 differs
	// from the seal's.
	ErrObjectMismatch = errors.New("object does not match its seal")
	// ErrUnreadable: an object could not be read, and trying again did not
	// help (the bucket or the network failing). It is no finding about the
	// object's contents: a later check may pass.
	ErrUnreadable = errors.New("object could not be read")
	// ErrPlaintextMismatch: a decrypted object's size or SHA-256 differs
	// from the manifest's.
	ErrPlaintextMismatch = errors.New("decrypted object does not match the manifest")
	// ErrNotCompleted: the Velero backup's phase is not Completed.
	ErrNotCompleted = errors.New("velero backup is not completed")
	// ErrNoObjects: the Velero backup has no objects.
	ErrNoObjects = errors.New("velero backup has no objects")
	// ErrNotVeleroBackup: the source folder has no readable velero-backup.json.
	ErrNotVeleroBackup = errors.New("not a velero backup")
	// ErrSealConflict: what is already offsite cannot be completed into a
	// seal of this backup with these settings (another recipient list, an
	// object the source does not have, a size that does not fit).
	ErrSealConflict = errors.New("offsite copy conflicts with this seal")
	// ErrLockUnavailable: object lock was asked for but the offsite bucket
	// does not have it enabled.
	ErrLockUnavailable = errors.New("object lock is not enabled on the offsite bucket")
	// ErrSigningKey: the bucket's published signing key is missing or bad.
	ErrSigningKey = errors.New("signing key is unavailable")
)
