package storagetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

func testRoundTrip(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	for _, tc := range []struct {
		name      string
		size      int64
		knownSize bool
		multipart bool // spans several parts (unknown size above PartSize)
	}{
		{name: "empty-known", size: 0, knownSize: true},
		{name: "empty-unknown", size: 0},
		{name: "small-known", size: 1000, knownSize: true},
		{name: "small-unknown", size: 1000},
		{name: "one-part-unknown", size: PartSize},
		{name: "parts-unknown", size: 2*PartSize + 12345, multipart: true},
		{name: "large-known", size: 3*PartSize + 1, knownSize: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "obj/" + tc.name
			seed := byte(len(tc.name))
			size := int64(-1)
			if tc.knownSize {
				size = tc.size
			}
			start := time.Now().Add(-time.Minute)
			info, err := s.Put(t.Context(), key, body(seed, tc.size), storage.PutOptions{Size: size, ContentType: "application/x-test"})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if info.Key != key || info.Size != tc.size {
				t.Errorf("Put returned key %q size %d, want %q %d", info.Key, info.Size, key, tc.size)
			}
			// S3 convention: a multipart ETag ends in -<parts>, a single PUT's does not.
			if got := strings.Contains(info.ETag, "-"); got != tc.multipart {
				t.Errorf("Put ETag %q: multipart = %v, want %v", info.ETag, got, tc.multipart)
			}

			st, err := s.Stat(t.Context(), key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if st.Key != key || st.Size != tc.size || st.ETag == "" || st.LastModified.Before(start) {
				t.Errorf("Stat = %+v, want key %q size %d, an ETag and a recent time", st, key, tc.size)
			}

			rc, gi, err := s.Get(t.Context(), key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			got, n := sum(rc)
			if err := rc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			want, _ := digest(seed, tc.size)
			if got != want || n != tc.size {
				t.Fatalf("Get returned %d bytes that differ from the %d put", n, tc.size)
			}
			if gi.Key != key || gi.Size != tc.size || gi.ETag != st.ETag {
				t.Errorf("Get info = %+v, want key %q size %d ETag %q", gi, key, tc.size, st.ETag)
			}
		})
	}
}

func testSizeMismatch(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	for _, tc := range []struct {
		name           string
		declared, real int64
	}{
		{"shorter", 1000, 999},
		{"longer", 1000, 1001},
		{"longer-by-a-part", 1000, PartSize + 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Put(t.Context(), tc.name, body(1, tc.real), storage.PutOptions{Size: tc.declared})
			if err == nil {
				t.Fatalf("Put of %d bytes declared as %d succeeded", tc.real, tc.declared)
			}
			if !storage.IsPermanent(err) {
				t.Errorf("IsPermanent(%v) = false, want true", err)
			}
			if _, err := s.Stat(t.Context(), tc.name); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("after a failed Put, Stat: %v, want ErrNotFound (nothing stored)", err)
			}
		})
	}
}

func testOverwrite(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	put(t, s, "k", []byte("first"))
	put(t, s, "k", []byte("second, longer"))
	if got := get(t, s, "k"); string(got) != "second, longer" {
		t.Fatalf("after overwrite Get = %q", got)
	}
}

func testIfAbsent(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		size int64 // of the second attempt's body; above PartSize it is multipart
	}{
		{"single", 10},
		{"multipart", 2*PartSize + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "once/" + tc.name
			opts := storage.PutOptions{Size: -1, IfAbsent: true}
			if _, err := s.Put(ctx, key, body(7, tc.size), opts); err != nil {
				t.Fatalf("first conditional Put: %v", err)
			}
			_, err := s.Put(ctx, key, bytes.NewReader([]byte("other")), storage.PutOptions{Size: 5, IfAbsent: true})
			wantErr(t, "second conditional Put (single)", err, storage.ErrExists)
			_, err = s.Put(ctx, key, body(8, 2*PartSize+1), opts)
			wantErr(t, "second conditional Put (multipart)", err, storage.ErrExists)
			rc, _, err := s.Get(ctx, key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			defer func() { _ = rc.Close() }() // read-only
			if got, _ := sum(rc); got != mustDigest(7, tc.size) {
				t.Fatal("a refused conditional Put changed the object")
			}
		})
	}
}

func mustDigest(seed byte, n int64) [32]byte {
	d, _ := digest(seed, n)
	return d
}

func testNotFound(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	_, err := s.Stat(t.Context(), "missing")
	wantErr(t, "Stat of a missing key", err, storage.ErrNotFound)
	if errors.Is(err, storage.ErrBucketMissing) {
		t.Errorf("Stat of a missing key in an existing bucket: %v wraps ErrBucketMissing", err)
	}
	if !strings.Contains(err.Error(), "missing") {
		t.Errorf("Stat error %q does not name the key", err)
	}
	rc, _, err := s.Get(t.Context(), "missing")
	if err == nil {
		_ = rc.Close() // read-only; the Get should have failed
	}
	wantErr(t, "Get of a missing key", err, storage.ErrNotFound)
}

func testDelete(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	ctx := t.Context()
	put(t, s, "k", []byte("x"))
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete of a deleted key: %v, want nil", err)
	}
	if err := s.Delete(ctx, "never-was"); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
}

func testCanceled(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Put(ctx, "k", body(1, 100), storage.PutOptions{Size: -1})
	wantErr(t, "Put with a canceled context", err, context.Canceled)
	_, err = s.Stat(ctx, "k")
	wantErr(t, "Stat with a canceled context", err, context.Canceled)
	var listErr error
	for _, err := range s.List(ctx, "") {
		listErr = err
	}
	wantErr(t, "List with a canceled context", listErr, context.Canceled)
}

func testString(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	str := s.String()
	if str == "" || !strings.Contains(str, prefixFor(t)) {
		t.Fatalf("String() = %q, want it to name the prefix %q", str, prefixFor(t))
	}
}
