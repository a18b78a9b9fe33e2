package storage

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/minio/minio-go/v7"
)

// AfterLister is implemented by stores that can start a listing after a
// given key (S3's StartAfter), so that a caller who knows where it stopped
// need not page through what it has seen.
type AfterLister interface {
	// ListAfter yields, in key order, every object whose key starts with
	// prefix and sorts after startAfter (a key relative to the store's
	// prefix). It ends as List does.
	ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error]
}

// ListAfter yields the objects under prefix whose keys sort after
// startAfter, in key order: through s's own ListAfter when it has one,
// else by listing everything under prefix and skipping.
func ListAfter(ctx context.Context, s Store, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	if al, ok := s.(AfterLister); ok {
		return al.ListAfter(ctx, prefix, startAfter)
	}
	return func(yield func(ObjectInfo, error) bool) {
		for info, err := range s.List(ctx, prefix) {
			if err == nil && info.Key <= startAfter {
				continue
			}
			if !yield(info, err) || err != nil {
				return
			}
		}
	}
}

var (
	_ AfterLister = (*S3)(nil)
	_ AfterLister = (*retryStore)(nil)
)

// ListAfter is List starting after startAfter (S3's StartAfter: the server
// skips the keys up to it).
func (s *S3) ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		noOwner := false
		opts := minio.ListObjectsOptions{
			Prefix:     s.prefix + prefix,
			Recursive:  true,
			FetchOwner: &noOwner,
		}
		if startAfter != "" {
			opts.StartAfter = s.prefix + startAfter
		}
		for oi := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
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

// ListAfter retries as List does, resuming after the last key yielded.
func (r *retryStore) ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		last := startAfter
		err := r.p.doOp(ctx, "list "+prefix, func() error {
			for info, err := range ListAfter(ctx, r.s, prefix, last) {
				if err != nil {
					return err
				}
				if !yield(info, nil) {
					return errYieldStopped
				}
				last = info.Key
			}
			return nil
		})
		if err != nil && !errors.Is(err, errYieldStopped) {
			yield(ObjectInfo{}, err)
		}
	}
}
