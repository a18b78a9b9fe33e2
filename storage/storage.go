// Package storage is Safekeep's view of an S3-compatible bucket: a small
// interface with ctx first, implemented over minio-go, and a retry policy that
// tells transient failures from permanent ones.
//
// Keys passed to a Store are relative to the Store's prefix; ObjectInfo.Key is
// relative too, so callers never see or build the prefix themselves.
package storage

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"
)

// Sentinel errors. Implementations wrap them so callers test with errors.Is.
var (
	// ErrNotFound: the object (or bucket) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a conditional create (PutOptions.IfAbsent) found the key taken.
	ErrExists = errors.New("object already exists")
	// ErrLocked: object lock refused a delete or overwrite.
	ErrLocked = errors.New("object is locked")
	// ErrAccessDenied: credentials missing, wrong or not allowed.
	ErrAccessDenied = errors.New("access denied")
	// ErrBucketMissing: the bucket does not exist.
	ErrBucketMissing = errors.New("bucket does not exist")
	// ErrCorrupt: the bytes read do not match the checksum the server
	// stored with the object. Damage at rest and in transit look the same
	// on one read, so it is retryable: a reader tries again before calling
	// the object damaged.
	ErrCorrupt = errors.New("object bytes do not match their stored checksum")
)

// LockMode is an S3 object-lock retention mode.
type LockMode string

const (
	LockGovernance LockMode = "GOVERNANCE"
	LockCompliance LockMode = "COMPLIANCE"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string // relative to the Store's prefix
	Size         int64
	ETag         string
	LastModified time.Time
	// LockMode and RetainUntil are the object's object-lock retention, as
	// Stat and Get report it (List need not); zero when it has none.
	LockMode    LockMode
	RetainUntil time.Time
}

// PutOptions tune Put. The zero value means: size unknown is not implied
// (use Size -1 for unknown), no lock, overwrite allowed.
type PutOptions struct {
	// Size of the body in bytes, or -1 when unknown. A known size streams the
	// body in a single request (up to the S3 single-PUT limit) with no buffering.
	// A body shorter or longer than a known Size fails the Put, stores
	// nothing, and is a permanent error.
	Size int64
	// ContentType of the object; empty means application/octet-stream.
	ContentType string
	// IfAbsent makes the put a conditional create (If-None-Match: *):
	// it fails with ErrExists when the key is already there.
	IfAbsent bool
	// LockMode and RetainUntil set object-lock retention on the new object.
	// Both or neither.
	LockMode    LockMode
	RetainUntil time.Time
}

// Store is a bucket (plus prefix).
type Store interface {
	// Put streams r to key. The caller keeps ownership of r. An S3 store
	// then checks what the server stored (size, and checksum when it
	// reports one): an object other than the one sent is ErrStoredWrong,
	// and stays there.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error)
	// Get opens key for reading; the caller must Close the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat returns key's metadata, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List yields every object whose key starts with prefix, in key order,
	// following pagination. A non-nil error ends the sequence.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	// Delete removes key. Deleting a missing key is not an error. On a
	// versioned bucket it only adds a delete marker: the bytes stay, as
	// versions, until DeleteVersion removes each.
	Delete(ctx context.Context, key string) error
	// ListVersions yields every version of every key under prefix, delete
	// markers included, each key's versions newest first. Keys may come out
	// of order and their versions interleaved (VersityGW lists current
	// versions first, older ones after): gather by key.
	// On a bucket that never had versioning each object is one version,
	// NullVersion. A non-nil error ends the sequence.
	ListVersions(ctx context.Context, prefix string) iter.Seq2[Version, error]
	// GetVersion opens one version of key; the caller must Close the
	// reader. A delete marker or a missing version is ErrNotFound.
	GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error)
	// DeleteVersion removes one version or delete marker of key for good.
	// A version still under object lock is ErrLocked (governance is never
	// bypassed); a missing version is not an error.
	DeleteVersion(ctx context.Context, key, versionID string) error
	// Versioning reports whether the bucket keeps versions (S3 versioning
	// Enabled or Suspended), where Delete only adds a delete marker.
	Versioning(ctx context.Context) (bool, error)
	// ExtendLock makes key's object-lock retention last until at least
	// until, keeping the mode it has (mode when it has none); it never
	// shortens one. A missing key is ErrNotFound.
	ExtendLock(ctx context.Context, key string, mode LockMode, until time.Time) error
	// ObjectLockEnabled reports whether the bucket has object lock enabled.
	ObjectLockEnabled(ctx context.Context) (bool, error)
	// String names the store for messages (endpoint, bucket, prefix; never credentials).
	String() string
}
