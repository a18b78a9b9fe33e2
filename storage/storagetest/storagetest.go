// Package storagetest is the contract test suite every storage.Store must
// pass. A backend's own test calls Run with a function that makes stores as
// the suite asks (see Want); the suite covers every method and every
// sentinel error of package storage.
package storagetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/storage"
)

// PartSize is the multipart part size stores made for the suite must use
// (storage.Config.PartSize), so that the suite's bodies span several parts.
const PartSize = storage.MinPartSize

// BucketKind selects the bucket a store of the suite lives in.
type BucketKind int

const (
	// Plain is a bucket without object lock, shared by the suite's stores
	// (each asks for its own prefix).
	Plain BucketKind = iota
	// Locked is a bucket with object lock enabled. Whether it keeps
	// versions (AWS's always do) is the backend's: the suite asks
	// Store.Versioning and expects what each answer implies.
	Locked
	// Missing is a bucket that does not exist.
	Missing
)

// Want describes the store the suite asks for.
type Want struct {
	Bucket BucketKind
	// Prefix is the store's prefix within the bucket; the suite gives every
	// test its own, so one Plain bucket serves them all.
	Prefix string
	// WrongSecret asks for a store whose secret key is wrong, so that
	// every request is refused.
	WrongSecret bool
}

// NewStore makes the store w describes, cleaning up with t.Cleanup. It may
// t.Skip a kind its backend cannot make; it must set PartSize.
type NewStore func(t *testing.T, w Want) storage.Store

// Run runs the contract suite as subtests of t.
func Run(t *testing.T, newStore NewStore) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore) })
	t.Run("SizeMismatch", func(t *testing.T) { testSizeMismatch(t, newStore) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, newStore) })
	t.Run("IfAbsent", func(t *testing.T) { testIfAbsent(t, newStore) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore) })
	t.Run("List", func(t *testing.T) { testList(t, newStore) })
	t.Run("ListPagination", func(t *testing.T) { testListPagination(t, newStore) })
	t.Run("PrefixIsolation", func(t *testing.T) { testPrefixIsolation(t, newStore) })
	t.Run("ObjectLock", func(t *testing.T) { testObjectLock(t, newStore) })
	t.Run("LockOnPlainBucket", func(t *testing.T) { testLockOnPlainBucket(t, newStore) })
	t.Run("BucketMissing", func(t *testing.T) { testBucketMissing(t, newStore) })
	t.Run("AccessDenied", func(t *testing.T) { testAccessDenied(t, newStore) })
	t.Run("Canceled", func(t *testing.T) { testCanceled(t, newStore) })
	t.Run("String", func(t *testing.T) { testString(t, newStore) })
	t.Run("VersionsUnversioned", func(t *testing.T) { testVersionsUnversioned(t, newStore) })
	t.Run("VersionsLocked", func(t *testing.T) { testVersionsLocked(t, newStore) })
	t.Run("VersionsExpire", func(t *testing.T) { testVersionsExpire(t, newStore) })
	t.Run("ComplianceLock", func(t *testing.T) { testComplianceLock(t, newStore) })
	t.Run("ExtendLock", func(t *testing.T) { testExtendLock(t, newStore) })
}

// fresh returns a store on the Plain bucket under a prefix of its own.
func fresh(t *testing.T, newStore NewStore) storage.Store {
	t.Helper()
	return newStore(t, Want{Bucket: Plain, Prefix: prefixFor(t)})
}

// prefixFor derives a unique, valid prefix from the test's name.
func prefixFor(t *testing.T) string {
	r := strings.NewReplacer("/", "-", " ", "_", "#", "_")
	return "storagetest/" + r.Replace(t.Name())
}

// body is n deterministic pseudo-random bytes from seed, as a reader that
// is neither a Seeker nor a ReaderAt (like an encryption stream).
func body(seed byte, n int64) io.Reader {
	return struct{ io.Reader }{io.LimitReader(rand.NewChaCha8([32]byte{seed}), n)}
}

// digest returns the SHA-256 and length of what body(seed, n) yields.
func digest(seed byte, n int64) ([32]byte, int64) {
	return sum(body(seed, n))
}

func sum(r io.Reader) ([32]byte, int64) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		panic(err)
	}
	return [32]byte(h.Sum(nil)), n
}

// put stores data at key and fails the test on error.
func put(t *testing.T, s storage.Store, key string, data []byte) storage.ObjectInfo {
	t.Helper()
	info, err := s.Put(t.Context(), key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	return info
}

// get reads key whole and fails the test on error.
func get(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	rc, _, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer func() { _ = rc.Close() }() // read-only
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s): read: %v", key, err)
	}
	return b
}

// wantErr fails the test unless err wraps target and is permanent.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one wrapping %q", what, err, target)
	}
	if !storage.IsPermanent(err) {
		t.Errorf("%s: IsPermanent(%v) = false, want true", what, err)
	}
}
