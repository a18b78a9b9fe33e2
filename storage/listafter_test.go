package storage_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/safekeep-dev/safekeep/storage"
)

// ListAfter starts after the key given, on S3, through the retry
// decorator, and (by listing and skipping) on a store without it.
func TestListAfter(t *testing.T) {
	srv := startS3(t)
	s3 := newS3(t, srv.Config(plainBucket, "after"))
	for _, k := range []string{"a/1", "a/2", "a/3", "a/4", "b/1"} {
		if _, err := s3.Put(t.Context(), k, bytes.NewReader(nil), storage.PutOptions{Size: 0}); err != nil {
			t.Fatal(err)
		}
	}
	type lister struct {
		name string
		st   storage.Store
	}
	for _, l := range []lister{{"s3", s3}, {"retry", storage.WithRetry(s3, storage.RetryPolicy{})}, {"plain", onlyStore{s3}}} {
		for _, tc := range []struct {
			after string
			want  []string
		}{
			{"", []string{"a/1", "a/2", "a/3", "a/4"}},
			{"a/2", []string{"a/3", "a/4"}},
			{"a/4", nil},
		} {
			var got []string
			for info, err := range storage.ListAfter(t.Context(), l.st, "a/", tc.after) {
				if err != nil {
					t.Fatalf("%s: ListAfter: %v", l.name, err)
				}
				got = append(got, info.Key)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: ListAfter(a/, %q) = %v, want %v", l.name, tc.after, got, tc.want)
			}
		}
	}
}

// onlyStore hides every method but the Store interface's.
type onlyStore struct{ storage.Store }
