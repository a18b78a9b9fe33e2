package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Get opens key for reading in one GET request; the caller must Close the
// reader. When the object carries a full-object checksum (every single-PUT
// object this package writes does), reading to the end verifies it and a
// mismatch is a read error.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	rc, oi, _, err := s.core.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{Checksum: true})
	if err != nil {
		return nil, ObjectInfo{}, s.wrapErr("get", key, err, false)
	}
	return &checkedBody{rc}, s.info(oi), nil
}

// checkedBody marks minio-go's checksum failure at the end of a body with
// ErrCorrupt, so that a damaged object is told from a failed read.
type checkedBody struct{ rc io.ReadCloser }

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && isChecksumMismatch(err) {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return n, err
}

func (b *checkedBody) Close() error { return b.rc.Close() }

// isChecksumMismatch recognizes minio-go's checksum failure, which has no
// type of its own: "checksum mismatch, expected X, got Y"
// (checksumVerifyingReader.VerifyChecksum).
func isChecksumMismatch(err error) bool {
	return strings.HasPrefix(err.Error(), "checksum mismatch")
}

// Stat returns key's metadata, or an error wrapping ErrNotFound. A HEAD
// answer carries no error code, so a key in a missing bucket reports
// ErrNotFound only (not ErrBucketMissing).
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	obj, err := s.object(key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	oi, err := s.client.StatObject(ctx, s.bucket, obj, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.wrapErr("stat", key, err, false)
	}
	return s.info(oi), nil
}

// List yields every object under prefix (relative to the store's prefix) in
// key order, a page of up to 1,000 keys per request. Breaking out of the loop
// stops the listing; an error is the last element yielded.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		noOwner := false
		objects := s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
			Prefix:     s.prefix + prefix,
			Recursive:  true,
			FetchOwner: &noOwner,
		})
		for oi := range objects {
			if oi.Err != nil {
				yield(ObjectInfo{}, s.wrapErr("list", s.prefix+prefix, oi.Err, false))
				return
			}
			if !yield(s.info(oi), nil) {
				return
			}
		}
		if err := ctx.Err(); err != nil { // minio-go ends quietly on cancel
			yield(ObjectInfo{}, fmt.Errorf("list %s: %w", s.prefix+prefix, err))
		}
	}
}

// Delete removes key; a missing key is not an error. Object lock refusing
// the delete is ErrLocked.
func (s *S3) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	err = s.client.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{})
	if err == nil {
		return nil
	}
	if sen := sentinel(err, false); errors.Is(sen, ErrNotFound) && !errors.Is(sen, ErrBucketMissing) { // a missing key, not bucket
		return nil
	}
	return s.wrapErr("delete", key, err, false)
}

// ObjectLockEnabled reports whether the bucket has object lock enabled:
// false, nil when it has no object-lock configuration.
func (s *S3) ObjectLockEnabled(ctx context.Context) (bool, error) {
	enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.bucket)
	if err != nil {
		if isNoLockConfig(err) {
			return false, nil
		}
		return false, s.wrapErr("object lock config of", s.bucket, err, false)
	}
	return enabled == "Enabled", nil
}

// isNoLockConfig tells "this bucket has no object-lock configuration" apart
// from other failures. S3 says ObjectLockConfigurationNotFoundError; others
// vary in code, so the message is checked too.
func isNoLockConfig(err error) bool {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	if resp.Code == "ObjectLockConfigurationNotFoundError" || resp.Code == "ObjectLockConfigurationNotFound" {
		return true
	}
	msg := strings.ToLower(resp.Message)
	return resp.Code != "NoSuchBucket" && strings.Contains(msg, "object lock configuration") &&
		(strings.Contains(msg, "not exist") || strings.Contains(msg, "not found"))
}

// info converts minio-go's ObjectInfo, making the key relative.
func (s *S3) info(oi minio.ObjectInfo) ObjectInfo {
	mode, until := lockOf(oi.Metadata)
	return ObjectInfo{
		Key:          strings.TrimPrefix(oi.Key, s.prefix),
		Size:         oi.Size,
		ETag:         oi.ETag,
		LastModified: oi.LastModified,
		LockMode:     mode,
		RetainUntil:  until,
	}
}
