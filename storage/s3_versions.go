package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
)

// ListVersions yields every version under prefix with S3's ListObjectVersions:
// each key's versions newest first, delete markers among them (see
// Store.ListVersions on the order of keys).
func (s *S3) ListVersions(ctx context.Context, prefix string) iter.Seq2[Version, error] {
	return func(yield func(Version, error) bool) {
		noOwner := false
		for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
			Prefix:       s.prefix + prefix,
			Recursive:    true,
			WithVersions: true,
			FetchOwner:   &noOwner,
		}) {
			if oi.Err != nil {
				yield(Version{}, s.wrapErr("list versions", s.prefix+prefix, oi.Err, false))
				return
			}
			v := Version{ObjectInfo: s.info(oi), VersionID: oi.VersionID, Latest: oi.IsLatest, DeleteMarker: oi.IsDeleteMarker}
			if v.VersionID == "" {
				v.VersionID = NullVersion
			}
			if !yield(v, nil) {
				return
			}
		}
		if err := ctx.Err(); err != nil { // minio-go ends quietly on cancel
			yield(Version{}, fmt.Errorf("list versions %s: %w", s.prefix+prefix, err))
		}
	}
}

// GetVersion opens one version of key, verifying its full-object checksum
// as Get does. A delete marker has no bytes: asking for one is ErrNotFound.
func (s *S3) GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error) {
	obj, err := s.object(key)
	if err == nil {
		err = checkVersionID("get", key, versionID)
	}
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	rc, oi, _, err := s.core.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{Checksum: true, VersionID: versionID})
	if versionID == NullVersion && refusesVersionID(err) {
		return s.Get(ctx, key)
	}
	if err != nil {
		if isDeleteMarkerAnswer(err) {
			return nil, ObjectInfo{}, fmt.Errorf("get %s version %s: a delete marker: %w", key, versionID, ErrNotFound)
		}
		return nil, ObjectInfo{}, s.wrapErr("get", key+" version "+versionID, err, false)
	}
	return &checkedBody{rc}, s.info(oi), nil
}

// DeleteVersion removes one version (or delete marker) of key for good. It
// never bypasses governance retention: a version still under its lock is
// ErrLocked. A version that is not there is not an error.
func (s *S3) DeleteVersion(ctx context.Context, key, versionID string) error {
	obj, err := s.object(key)
	if err == nil {
		err = checkVersionID("delete", key, versionID)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	err = s.client.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{VersionID: versionID})
	if versionID == NullVersion && refusesVersionID(err) {
		return s.Delete(ctx, key)
	}
	if err == nil {
		return nil
	}
	if sen := sentinel(err, false); errors.Is(sen, ErrNotFound) && !errors.Is(sen, ErrBucketMissing) {
		return nil
	}
	return s.wrapErr("delete", key+" version "+versionID, err, false)
}

// Versioning reports whether the bucket keeps versions: its versioning is
// Enabled or Suspended (versions written before stay). Object lock turns it
// on for good.
func (s *S3) Versioning(ctx context.Context) (bool, error) {
	cfg, err := s.client.GetBucketVersioning(ctx, s.bucket)
	if err != nil {
		return false, s.wrapErr("versioning of", s.bucket, err, false)
	}
	return cfg.Status == "Enabled" || cfg.Status == "Suspended", nil
}

// isDeleteMarkerAnswer tells S3's answer to a GET of a delete marker by
// version ID (405 MethodNotAllowed) from other failures.
func isDeleteMarkerAnswer(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && resp.Code == "MethodNotAllowed"
}

// refusesVersionID tells a server that keeps no versions at all refusing a
// version ID (VersityGW without a versioning folder answers 400 even to
// "null"), where the null version is simply the object.
func refusesVersionID(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && resp.StatusCode == http.StatusBadRequest &&
		(resp.Code == "InvalidArgument" || strings.Contains(strings.ToLower(resp.Message), "version id"))
}
