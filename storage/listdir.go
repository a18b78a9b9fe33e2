package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
)

// DirLister is implemented by stores that can list one level of a prefix
// (S3's delimiter "/"), so that a caller can find the folders under a
// prefix without paging through every object in them.
type DirLister interface {
	// ListDir returns the folders directly under prefix (each the common
	// prefix of some objects, ending in "/") and the objects directly
	// under it, each sorted by key.
	ListDir(ctx context.Context, prefix string) (dirs []string, objects []ObjectInfo, err error)
}

var (
	_ DirLister = (*S3)(nil)
	_ DirLister = (*retryStore)(nil)
)

// ListDir lists one level under prefix (which should end in "/"): the
// folders (common prefixes with delimiter "/", keys relative to the
// store's prefix, ending in "/") and the objects directly under prefix,
// each sorted by key. It asks s's own ListDir when it has one, else lists
// everything under prefix and folds the deeper keys into their folders.
func ListDir(ctx context.Context, s Store, prefix string) ([]string, []ObjectInfo, error) {
	if dl, ok := s.(DirLister); ok {
		return dl.ListDir(ctx, prefix)
	}
	var dirs []string
	var objects []ObjectInfo
	for info, err := range s.List(ctx, prefix) {
		if err != nil {
			return nil, nil, err
		}
		rest := info.Key[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			if d := prefix + rest[:i+1]; len(dirs) == 0 || dirs[len(dirs)-1] != d {
				dirs = append(dirs, d)
			}
			continue
		}
		objects = append(objects, info)
	}
	return dirs, objects, nil
}

// ListDir lists one level under prefix with delimiter "/".
func (s *S3) ListDir(ctx context.Context, prefix string) ([]string, []ObjectInfo, error) {
	noOwner := false
	var dirs []string
	var objects []ObjectInfo
	for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix:     s.prefix + prefix,
		Recursive:  false, // delimiter "/"
		FetchOwner: &noOwner,
	}) {
		if oi.Err != nil {
			return nil, nil, s.wrapErr("list", s.prefix+prefix, oi.Err, false)
		}
		// minio-go yields a common prefix as an ObjectInfo holding only
		// its key; an object has a modification time.
		if oi.LastModified.IsZero() && strings.HasSuffix(oi.Key, "/") {
			dirs = append(dirs, strings.TrimPrefix(oi.Key, s.prefix))
			continue
		}
		objects = append(objects, s.info(oi))
	}
	if err := ctx.Err(); err != nil { // minio-go ends quietly on cancel
		return nil, nil, fmt.Errorf("list %s: %w", s.prefix+prefix, err)
	}
	// A page holds its objects, then its prefixes: sort across pages.
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	slices.SortFunc(objects, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return dirs, objects, nil
}

// ListDir retries the whole (one-level) listing as List does.
func (r *retryStore) ListDir(ctx context.Context, prefix string) (dirs []string, objects []ObjectInfo, err error) {
	err = r.p.doOp(ctx, "list "+prefix, func() error {
		var err error
		dirs, objects, err = ListDir(ctx, r.s, prefix)
		return err
	})
	return dirs, objects, err
}
