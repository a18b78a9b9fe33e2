package storagetest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

func testObjectLock(t *testing.T, newStore NewStore) {
	s := newStore(t, Want{Bucket: Locked, Prefix: prefixFor(t)})
	ctx := t.Context()
	on, err := s.ObjectLockEnabled(ctx)
	if err != nil || !on {
		t.Fatalf("ObjectLockEnabled on a locked bucket = %v, %v; want true", on, err)
	}
	if on, err := fresh(t, newStore).ObjectLockEnabled(ctx); err != nil || on {
		t.Fatalf("ObjectLockEnabled on a plain bucket = %v, %v; want false, nil", on, err)
	}

	versioned, err := s.Versioning(ctx)
	if err != nil {
		t.Fatalf("Versioning: %v", err)
	}
	until := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		size int64 // above PartSize: multipart, retention set when the upload starts
	}{
		{"single", 100},
		{"multipart", 2*PartSize + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "locked/" + tc.name
			_, err := s.Put(ctx, key, body(3, tc.size), storage.PutOptions{Size: -1, LockMode: storage.LockGovernance, RetainUntil: until})
			if err != nil {
				t.Fatalf("Put with retention: %v", err)
			}
			if versioned {
				lockedVersionSurvives(t, s, key, tc.size)
				return
			}
			err = s.Delete(ctx, key)
			wantErr(t, "Delete of a locked object", err, storage.ErrLocked)
			if errors.Is(err, storage.ErrAccessDenied) {
				t.Errorf("Delete of a locked object: %v also wraps ErrAccessDenied", err)
			}
			_, err = s.Put(ctx, key, bytes.NewReader([]byte("overwrite")), storage.PutOptions{Size: 9})
			wantErr(t, "overwrite of a locked object", err, storage.ErrLocked)
			if st, err := s.Stat(ctx, key); err != nil || st.Size != tc.size {
				t.Fatalf("locked object after refused delete and overwrite: %+v, %v", st, err)
			}
		})
	}
	// An unlocked object in a locked bucket deletes normally.
	put(t, s, "free", []byte("x"))
	if err := s.Delete(ctx, "free"); err != nil {
		t.Fatalf("Delete of an object without retention: %v", err)
	}
}

// lockedVersionSurvives checks a locked object on a versioned bucket: a
// plain Delete and an overwrite succeed (a marker, a new version) and the
// locked version stays, whole, and cannot be deleted by its ID.
func lockedVersionSurvives(t *testing.T, s storage.Store, key string, size int64) {
	t.Helper()
	ctx := t.Context()
	id := versions(t, s, key)[0].VersionID
	if _, err := s.Put(ctx, key, bytes.NewReader([]byte("overwrite")), storage.PutOptions{Size: 9}); err != nil {
		t.Fatalf("overwrite on a versioned bucket: %v, want a new version", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete on a versioned bucket: %v, want a delete marker", err)
	}
	wantErr(t, "DeleteVersion of a locked version", s.DeleteVersion(ctx, key, id), storage.ErrLocked)
	rc, info, err := s.GetVersion(ctx, key, id)
	if err != nil {
		t.Fatalf("GetVersion of the locked version: %v", err)
	}
	defer func() { _ = rc.Close() }() // read-only
	if _, n := sum(rc); n != size || info.Size != size {
		t.Fatalf("locked version reads %d bytes (info %d), want %d", n, info.Size, size)
	}
}

func testLockOnPlainBucket(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	_, err := s.Put(t.Context(), "k", strings.NewReader("x"), storage.PutOptions{
		Size: 1, LockMode: storage.LockGovernance, RetainUntil: time.Now().Add(time.Hour),
	})
	if err == nil {
		t.Fatal("Put with retention into a bucket without object lock succeeded; want an error, never a silently unlocked object")
	}
	for _, opts := range []storage.PutOptions{
		{Size: 1, LockMode: storage.LockGovernance},
		{Size: 1, RetainUntil: time.Now().Add(time.Hour)},
		{Size: 1, LockMode: "FOREVER", RetainUntil: time.Now().Add(time.Hour)},
		{Size: -2},
	} {
		if _, err := s.Put(t.Context(), "k", strings.NewReader("x"), opts); err == nil {
			t.Errorf("Put with invalid options %+v succeeded", opts)
		}
	}
}

func testBucketMissing(t *testing.T, newStore NewStore) {
	s := newStore(t, Want{Bucket: Missing, Prefix: prefixFor(t)})
	ctx := t.Context()
	_, err := s.Put(ctx, "k", strings.NewReader("x"), storage.PutOptions{Size: 1})
	wantErr(t, "Put", err, storage.ErrBucketMissing)
	_, err = s.Put(ctx, "k", body(1, 2*PartSize+1), storage.PutOptions{Size: -1})
	wantErr(t, "multipart Put", err, storage.ErrBucketMissing)
	rc, _, err := s.Get(ctx, "k")
	if err == nil {
		_ = rc.Close() // read-only; the Get should have failed
	}
	wantErr(t, "Get", err, storage.ErrBucketMissing)
	wantErr(t, "Delete", s.Delete(ctx, "k"), storage.ErrBucketMissing)
	_, err = s.ObjectLockEnabled(ctx)
	wantErr(t, "ObjectLockEnabled", err, storage.ErrBucketMissing)
	var listErr error
	for _, err := range s.List(ctx, "") {
		listErr = err
	}
	wantErr(t, "List", listErr, storage.ErrBucketMissing)
	// A HEAD answer has no body to say which is missing: Stat may only say not found.
	_, err = s.Stat(ctx, "k")
	wantErr(t, "Stat", err, storage.ErrNotFound)
}

func testAccessDenied(t *testing.T, newStore NewStore) {
	s := newStore(t, Want{Bucket: Plain, Prefix: prefixFor(t), WrongSecret: true})
	ctx := t.Context()
	_, err := s.Put(ctx, "k", strings.NewReader("x"), storage.PutOptions{Size: 1})
	wantErr(t, "Put", err, storage.ErrAccessDenied)
	_, err = s.Put(ctx, "k", body(1, 2*PartSize+1), storage.PutOptions{Size: -1})
	wantErr(t, "multipart Put", err, storage.ErrAccessDenied)
	rc, _, err := s.Get(ctx, "k")
	if err == nil {
		_ = rc.Close() // read-only; the Get should have failed
	}
	wantErr(t, "Get", err, storage.ErrAccessDenied)
	_, err = s.Stat(ctx, "k")
	wantErr(t, "Stat", err, storage.ErrAccessDenied)
	wantErr(t, "Delete", s.Delete(ctx, "k"), storage.ErrAccessDenied)
	_, err = s.ObjectLockEnabled(ctx)
	wantErr(t, "ObjectLockEnabled", err, storage.ErrAccessDenied)
	var listErr error
	for _, err := range s.List(ctx, "") {
		listErr = err
	}
	wantErr(t, "List", listErr, storage.ErrAccessDenied)
}
