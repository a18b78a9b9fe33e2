package storagetest

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// versions lists key's versions and fails the test on error.
func versions(t *testing.T, s storage.Store, key string) []storage.Version {
	t.Helper()
	vs, err := storage.Versions(t.Context(), s, key)
	if err != nil {
		t.Fatalf("Versions(%s): %v", key, err)
	}
	return vs
}

// getVersion reads one version whole and fails the test on error.
func getVersion(t *testing.T, s storage.Store, key, id string) []byte {
	t.Helper()
	rc, _, err := s.GetVersion(t.Context(), key, id)
	if err != nil {
		t.Fatalf("GetVersion(%s, %s): %v", key, id, err)
	}
	defer func() { _ = rc.Close() }() // read-only
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("GetVersion(%s, %s): read: %v", key, id, err)
	}
	return b
}

// testVersionsUnversioned: a bucket without versioning shows each object as
// its only version, readable and deletable by that version's ID.
func testVersionsUnversioned(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	ctx := t.Context()
	if on, err := s.Versioning(ctx); err != nil || on {
		t.Fatalf("Versioning of a plain bucket = %v, %v; want false, nil", on, err)
	}
	put(t, s, "k", []byte("first"))
	put(t, s, "k", []byte("second"))
	put(t, s, "k2", []byte("other key, same prefix"))
	vs := versions(t, s, "k")
	if len(vs) != 1 || !vs[0].Latest || vs[0].DeleteMarker || vs[0].VersionID == "" || vs[0].Size != 6 {
		t.Fatalf("versions of an overwritten key on a plain bucket = %+v, want one current version of 6 bytes", vs)
	}
	if _, hidden := storage.Hidden(vs); hidden {
		t.Fatal("Hidden on a plain bucket's object = true")
	}
	if got := getVersion(t, s, "k", vs[0].VersionID); string(got) != "second" {
		t.Fatalf("GetVersion = %q, want second", got)
	}
	if err := s.DeleteVersion(ctx, "k", vs[0].VersionID); err != nil {
		t.Fatalf("DeleteVersion: %v", err)
	}
	if vs := versions(t, s, "k"); len(vs) != 0 {
		t.Fatalf("versions after DeleteVersion = %+v, want none", vs)
	}
	if got := get(t, s, "k2"); string(got) != "other key, same prefix" {
		t.Fatalf("DeleteVersion of k touched k2: %q", got)
	}
	if err := s.DeleteVersion(ctx, "k", ""); err == nil {
		t.Fatal("DeleteVersion with an empty version ID succeeded")
	}
}

// testVersionsLocked: on an object-locked bucket that keeps versions (as
// AWS's always does), a plain DELETE of a locked object succeeds and only
// hides it behind a delete marker; the locked version stays readable by
// ID, cannot be deleted by ID before its retention ends, and can after.
func testVersionsLocked(t *testing.T, newStore NewStore) {
	s := newStore(t, Want{Bucket: Locked, Prefix: prefixFor(t)})
	ctx := t.Context()
	on, err := s.Versioning(ctx)
	if err != nil {
		t.Fatalf("Versioning: %v", err)
	}
	if !on {
		t.Skip("this backend's object-locked bucket keeps no versions")
	}
	key := "sealed/obj"
	_, err = s.Put(ctx, key, strings.NewReader("locked bytes"), storage.PutOptions{
		Size: 12, LockMode: storage.LockGovernance, RetainUntil: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatalf("Put with retention: %v", err)
	}
	locked := versions(t, s, key)
	if len(locked) != 1 || !locked[0].Latest || locked[0].VersionID == "" || locked[0].VersionID == storage.NullVersion {
		t.Fatalf("versions after one Put = %+v, want one current version with a real ID", locked)
	}
	lockedID := locked[0].VersionID

	// An overwrite adds a version; the locked one stays.
	put(t, s, key, []byte("attacker"))
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("plain Delete of a locked object on a versioned bucket: %v, want a delete marker", err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat under a delete marker: %v, want ErrNotFound", err)
	}
	if got := keys(collect(t, s, "sealed/")); len(got) != 0 {
		t.Fatalf("List under a delete marker = %v, want nothing", got)
	}
	vs := versions(t, s, key)
	if len(vs) != 3 {
		t.Fatalf("versions = %+v, want marker, overwrite, locked", vs)
	}
	checkHiddenLocked(t, s, key, lockedID, vs)
	bringBackLocked(t, s, key, lockedID, vs[:2])
}

// checkHiddenLocked checks versions vs of key: a current delete marker, an
// overwrite, the locked version, readable by ID and not deletable.
func checkHiddenLocked(t *testing.T, s storage.Store, key, lockedID string, vs []storage.Version) {
	t.Helper()
	ctx := t.Context()
	marker, hidden := storage.Hidden(vs)
	if !hidden || marker != vs[0] || !vs[0].DeleteMarker || vs[1].DeleteMarker || vs[2].VersionID != lockedID {
		t.Fatalf("versions = %+v, want the current delete marker first, then the overwrite, then the locked version", vs)
	}
	if vs[0].LastModified.IsZero() {
		t.Errorf("delete marker %+v has no time", vs[0])
	}
	if got := getVersion(t, s, key, lockedID); string(got) != "locked bytes" {
		t.Fatalf("GetVersion of the locked version = %q", got)
	}
	if rc, _, err := s.GetVersion(ctx, key, marker.VersionID); !errors.Is(err, storage.ErrNotFound) {
		if err == nil {
			_ = rc.Close() // read-only; should have failed
		}
		t.Fatalf("GetVersion of a delete marker: %v, want ErrNotFound", err)
	}
	wantErr(t, "DeleteVersion of a locked version", s.DeleteVersion(ctx, key, lockedID), storage.ErrLocked)
	// A conditional create does not take a hidden key for a free one: the
	// sealer and the audit log rely on If-None-Match: * refusing a key a
	// marker hides (VersityGW 1.8.0 answers 412, as for a present key), or
	// a re-seal would bury the locked version under a new current one.
	_, err := s.Put(ctx, key, strings.NewReader("new"), storage.PutOptions{Size: 3, IfAbsent: true})
	wantErr(t, "conditional create over a delete marker", err, storage.ErrExists)
	if got := versions(t, s, key); len(got) != len(vs) {
		t.Fatalf("versions after a refused conditional create = %+v, want the %d before", got, len(vs))
	}
}

// bringBackLocked deletes the versions over the locked one by ID (a marker
// and an overwrite), and the locked one is current again.
func bringBackLocked(t *testing.T, s storage.Store, key, lockedID string, over []storage.Version) {
	t.Helper()
	ctx := t.Context()
	for _, v := range over {
		if err := s.DeleteVersion(ctx, key, v.VersionID); err != nil {
			t.Fatalf("DeleteVersion(%s): %v", v.VersionID, err)
		}
	}
	if got := get(t, s, key); string(got) != "locked bytes" {
		t.Fatalf("Get after the marker and overwrite were removed = %q", got)
	}
	if vs := versions(t, s, key); len(vs) != 1 || vs[0].VersionID != lockedID || !vs[0].Latest {
		t.Fatalf("versions after = %+v, want only the locked one, current", vs)
	}
}

// testVersionsExpire: once a version's retention has passed, DeleteVersion
// removes it for good, leaving no version and no marker behind.
func testVersionsExpire(t *testing.T, newStore NewStore) {
	s := newStore(t, Want{Bucket: Locked, Prefix: prefixFor(t)})
	ctx := t.Context()
	if on, err := s.Versioning(ctx); err != nil || !on {
		t.Skipf("this backend's object-locked bucket keeps no versions (%v)", err)
	}
	until := time.Now().Add(2 * time.Second)
	for _, mode := range []storage.LockMode{storage.LockGovernance, storage.LockCompliance} {
		_, err := s.Put(ctx, "exp/"+string(mode), strings.NewReader("x"), storage.PutOptions{Size: 1, LockMode: mode, RetainUntil: until})
		if err != nil {
			t.Fatalf("Put %s: %v", mode, err)
		}
	}
	time.Sleep(time.Until(until) + 500*time.Millisecond)
	for _, mode := range []storage.LockMode{storage.LockGovernance, storage.LockCompliance} {
		key := "exp/" + string(mode)
		if err := s.Delete(ctx, key); err != nil { // a marker over it too
			t.Fatal(err)
		}
		for _, v := range versions(t, s, key) {
			if err := s.DeleteVersion(ctx, key, v.VersionID); err != nil {
				t.Fatalf("DeleteVersion of an expired %s version: %v", mode, err)
			}
		}
		if vs := versions(t, s, key); len(vs) != 0 {
			t.Fatalf("versions left after deleting each by ID = %+v", vs)
		}
	}
}

// testComplianceLock: a compliance-mode version can be neither deleted nor
// replaced before it expires, by the store's credentials (the suite's are
// the server's root ones) or by a governance bypass.
func testComplianceLock(t *testing.T, newStore NewStore) {
	s := newStore(t, Want{Bucket: Locked, Prefix: prefixFor(t)})
	ctx := t.Context()
	key := "compliance/obj"
	_, err := s.Put(ctx, key, strings.NewReader("evidence"), storage.PutOptions{
		Size: 8, LockMode: storage.LockCompliance, RetainUntil: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatalf("Put with compliance retention: %v", err)
	}
	id := versions(t, s, key)[0].VersionID
	wantErr(t, "DeleteVersion of a compliance-locked version", s.DeleteVersion(ctx, key, id), storage.ErrLocked)
	_, err = s.Put(ctx, key, bytes.NewReader([]byte("replaced")), storage.PutOptions{Size: 8})
	versioned, verr := s.Versioning(ctx)
	if verr != nil {
		t.Fatal(verr)
	}
	if !versioned {
		wantErr(t, "overwrite of a compliance-locked object", err, storage.ErrLocked)
	} else if err != nil {
		t.Fatalf("overwrite on a versioned bucket: %v, want a new version", err)
	}
	if got := getVersion(t, s, key, id); string(got) != "evidence" {
		t.Fatalf("compliance-locked version now reads %q", got)
	}
	if vs := versions(t, s, key); !slices.ContainsFunc(vs, func(v storage.Version) bool { return v.VersionID == id }) {
		t.Fatalf("compliance-locked version gone: %+v", vs)
	}
}
