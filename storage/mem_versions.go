package storage

import (
	"context"
	"fmt"
	"io"
	"iter"
)

// A MemBucket keeps no versions, as an S3 bucket that never had versioning:
// each object is its one version, NullVersion.

// ListVersions implements Store: each object once, current, NullVersion.
func (s *memStore) ListVersions(ctx context.Context, prefix string) iter.Seq2[Version, error] {
	return func(yield func(Version, error) bool) {
		for info, err := range s.List(ctx, prefix) {
			if err != nil {
				yield(Version{}, err)
				return
			}
			if !yield(Version{ObjectInfo: info, VersionID: NullVersion, Latest: true}, nil) {
				return
			}
		}
	}
}

// GetVersion implements Store: NullVersion is the object; any other ID is
// not found.
func (s *memStore) GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error) {
	if err := checkVersionID("get", key, versionID); err != nil {
		return nil, ObjectInfo{}, err
	}
	if versionID != NullVersion {
		return nil, ObjectInfo{}, fmt.Errorf("get %s version %q: %w", key, versionID, ErrNotFound)
	}
	return s.Get(ctx, key)
}

// DeleteVersion implements Store: NullVersion deletes the object; any other
// ID names no version, which is not an error; an empty ID is.
func (s *memStore) DeleteVersion(ctx context.Context, key, versionID string) error {
	if err := checkVersionID("delete", key, versionID); err != nil {
		return err
	}
	if versionID == NullVersion {
		return s.Delete(ctx, key)
	}
	return s.check(ctx, "delete", key, errBucketMissing)
}

// Versioning implements Store: a MemBucket keeps no versions.
func (s *memStore) Versioning(ctx context.Context) (bool, error) {
	if err := s.check(ctx, "versioning of", "bucket", errBucketMissing); err != nil {
		return false, err
	}
	return false, nil
}
