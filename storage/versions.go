package storage

import (
	"context"
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
