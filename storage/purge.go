package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// PurgeResult counts what Purge did.
type PurgeResult struct {
	// Keys is how many keys had a version or marker under the prefix.
	Keys int
	// Deleted counts versions and delete markers removed by version ID.
	Deleted int
	// Locked counts versions object lock still holds; they stay.
	Locked int
}

// Purge removes for good every version and delete marker of every key
// under prefix, each by its version ID, so that on a versioned bucket
// nothing is left holding the data (a plain Delete there only adds a
// marker, the bytes stay) and no delete marker is added that would look
// like an attacker's. On a bucket without versions it deletes each object.
// Versions still under object lock are kept, counted in Locked; the error
// then wraps ErrLocked. Other failures are joined, the rest deleted.
func Purge(ctx context.Context, s Store, prefix string) (PurgeResult, error) {
	return purge(ctx, s, prefix, func(string) bool { return true })
}

// PurgeKey is Purge of exactly key (not of other keys it prefixes).
func PurgeKey(ctx context.Context, s Store, key string) (PurgeResult, error) {
	return purge(ctx, s, key, func(k string) bool { return k == key })
}

func purge(ctx context.Context, s Store, prefix string, match func(string) bool) (PurgeResult, error) {
	var res PurgeResult
	var vs []Version
	for v, err := range s.ListVersions(ctx, prefix) {
		if err != nil {
			return res, fmt.Errorf("purge %s: %w", prefix, err)
		}
		if match(v.Key) {
			vs = append(vs, v)
		}
	}
	var errs []error
	keys := map[string]bool{}
	for _, v := range vs {
		if !keys[v.Key] {
			res.Keys++
			keys[v.Key] = true
		}
		err := s.DeleteVersion(ctx, v.Key, v.VersionID)
		switch {
		case err == nil:
			res.Deleted++
		case errors.Is(err, ErrLocked):
			res.Locked++
		default:
			errs = append(errs, err)
		}
	}
	if res.Locked > 0 {
		errs = append(errs, fmt.Errorf("%w: %d version(s) under %s", ErrLocked, res.Locked, strings.TrimSuffix(prefix, "/")))
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("purge %s: %w", prefix, err)
	}
	return res, nil
}
