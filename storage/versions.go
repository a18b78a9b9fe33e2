package storage

import (
	"context"
	"errors"
	"fmt"
)

// NullVersion is the version ID S3 gives an object written while the bucket
// had no versioning: on a bucket that never had it, every object is its
// only version, "null".
const NullVersion = "null"

// Version is one version of a key in a versioned bucket: stored bytes, or a
// delete marker (no bytes; it hides the versions under it from Get, Stat
// and List).
type Version struct {
	ObjectInfo // Key relative to the store's prefix; Size 0 for a marker
	// VersionID names the version for GetVersion and DeleteVersion.
	VersionID string
	// Latest says this is the key's current version: what Get reads, or,
	// for a delete marker, why Get finds nothing.
	Latest bool
	// DeleteMarker says the version holds no bytes: a plain DELETE on a
	// versioned bucket adds one instead of removing anything.
	DeleteMarker bool
}

// Versions returns every version of exactly key (not of keys it prefixes),
// newest first. An empty result means the key never existed, or every
// version of it was deleted by version ID.
func Versions(ctx context.Context, s Store, key string) ([]Version, error) {
	var out []Version
	for v, err := range s.ListVersions(ctx, key) {
		if err != nil {
			return nil, err
		}
		if v.Key == key {
			out = append(out, v)
		}
	}
	return out, nil
}

// Hidden reports whether key's current version is a delete marker, and
// which it is, from versions as Versions returns them.
func Hidden(versions []Version) (Version, bool) {
	for _, v := range versions {
		if v.Latest {
			return v, v.DeleteMarker
		}
	}
	return Version{}, false
}

// checkVersionID refuses an empty version ID: a versioned call without one
// would act on the current version, which is what Get and Delete are for.
func checkVersionID(op, key, versionID string) error {
	if versionID == "" {
		return fmt.Errorf("%s %s: empty version ID", op, key)
	}
	return nil
}

// MakeCurrent makes version versionID of key its current version again:
// it deletes by ID every version and delete marker newer than it (they are
// newest first in Versions). When one of those deletes is refused (a newer
// version under object lock, or a policy forbidding version deletes) it
// copies the version's bytes back as a new current version, put with
// copyOpts (Size is set here). It returns whether it copied and the IDs it
// deleted. Callers check the version's bytes before asking.
func MakeCurrent(ctx context.Context, s Store, key, versionID string, copyOpts PutOptions) (copied bool, removed []string, err error) {
	vs, err := Versions(ctx, s, key)
	if err != nil {
		return false, nil, err
	}
	for _, v := range vs {
		if v.VersionID == versionID {
			return false, removed, nil
		}
		err := s.DeleteVersion(ctx, key, v.VersionID)
		if errors.Is(err, ErrLocked) || errors.Is(err, ErrAccessDenied) {
			return true, removed, copyBack(ctx, s, key, versionID, copyOpts)
		}
		if err != nil {
			return false, removed, err
		}
		removed = append(removed, v.VersionID)
	}
	return false, removed, fmt.Errorf("make %s version %s current: %w", key, versionID, ErrNotFound)
}

func copyBack(ctx context.Context, s Store, key, versionID string, opts PutOptions) error {
	rc, info, err := s.GetVersion(ctx, key, versionID)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	opts.Size = info.Size
	if _, err := s.Put(ctx, key, rc, opts); err != nil {
		return fmt.Errorf("copy %s version %s back: %w", key, versionID, err)
	}
	return nil
}
