package storage_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/safekeep-dev/safekeep/storage"
)

// ListDir lists one level: folders and the objects directly under the
// prefix, the same on S3 (delimiter), through the retry decorator, and (by
// folding a full listing) on a store without it.
func TestListDir(t *testing.T) {
	srv := startS3(t)
	s3 := newS3(t, srv.Config(plainBucket, "dir"))
	keys := []string{"a/1", "a/b/1", "a/b/2", "a/b!", "a/c/d/1", "a/z", "b/1"}
	// Enough keys in one folder for more than one page of a listing.
	for i := range 1005 {
		keys = append(keys, fmt.Sprintf("a/m/%04d", i))
	}
	for _, k := range keys {
		if _, err := s3.Put(t.Context(), k, bytes.NewReader([]byte(k)), storage.PutOptions{Size: int64(len(k))}); err != nil {
			t.Fatal(err)
		}
	}
	type lister struct {
		name string
		st   storage.Store
	}
	for _, l := range []lister{{"s3", s3}, {"retry", storage.WithRetry(s3, storage.RetryPolicy{})}, {"plain", onlyStore{s3}}} {
		for _, tc := range []struct {
			prefix      string
			dirs, files []string
		}{
			{"a/", []string{"a/b/", "a/c/", "a/m/"}, []string{"a/1", "a/b!", "a/z"}},
			{"a/c/", []string{"a/c/d/"}, nil},
			{"x/", nil, nil},
		} {
			dirs, objs, err := storage.ListDir(t.Context(), l.st, tc.prefix)
			if err != nil {
				t.Fatalf("%s: ListDir(%s): %v", l.name, tc.prefix, err)
			}
			var files []string
			for _, o := range objs {
				files = append(files, o.Key)
				if o.Size != int64(len(o.Key)) || o.ETag == "" {
					t.Errorf("%s: ListDir(%s): object %+v: want size %d and an ETag", l.name, tc.prefix, o, len(o.Key))
				}
			}
			if !slices.Equal(dirs, tc.dirs) || !slices.Equal(files, tc.files) {
				t.Errorf("%s: ListDir(%s) = %v, %v; want %v, %v", l.name, tc.prefix, dirs, files, tc.dirs, tc.files)
			}
		}
	}
}
