package storagetest

import (
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// testExtendLock checks ExtendLock: it lengthens a retention (Stat reports
// it, and a delete stays refused past the old date), never shortens one,
// keeps a COMPLIANCE mode when asked for GOVERNANCE, locks an unlocked
// object, and reports a missing key as ErrNotFound.
func testExtendLock(t *testing.T, newStore NewStore) {
	s := newStore(t, Want{Bucket: Locked, Prefix: prefixFor(t)})
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	put := func(key string, mode storage.LockMode, until time.Time) {
		t.Helper()
		if _, err := s.Put(ctx, key, strings.NewReader("x"), storage.PutOptions{Size: 1, LockMode: mode, RetainUntil: until}); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	lock := func(key string) (storage.LockMode, time.Time) {
		t.Helper()
		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatalf("Stat %s: %v", key, err)
		}
		return info.LockMode, info.RetainUntil
	}

	put("gov", storage.LockGovernance, now.Add(time.Hour))
	if mode, until := lock("gov"); mode != storage.LockGovernance || !until.Equal(now.Add(time.Hour)) {
		t.Fatalf("Stat of a locked object: %s until %v, want GOVERNANCE until %v", mode, until, now.Add(time.Hour))
	}
	if err := s.ExtendLock(ctx, "gov", storage.LockGovernance, now.Add(3*time.Hour)); err != nil {
		t.Fatalf("ExtendLock: %v", err)
	}
	if _, until := lock("gov"); !until.Equal(now.Add(3 * time.Hour)) {
		t.Fatalf("after ExtendLock the retention ends %v, want %v", until, now.Add(3*time.Hour))
	}
	if err := s.ExtendLock(ctx, "gov", storage.LockGovernance, now.Add(2*time.Hour)); err != nil {
		t.Fatalf("ExtendLock to an earlier date: %v, want nothing done", err)
	}
	if _, until := lock("gov"); !until.Equal(now.Add(3 * time.Hour)) {
		t.Fatalf("ExtendLock to an earlier date shortened the retention to %v", until)
	}

	put("comp", storage.LockCompliance, now.Add(time.Hour))
	if err := s.ExtendLock(ctx, "comp", storage.LockGovernance, now.Add(2*time.Hour)); err != nil {
		t.Fatalf("ExtendLock of a COMPLIANCE object: %v", err)
	}
	if mode, until := lock("comp"); mode != storage.LockCompliance || !until.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("COMPLIANCE object after ExtendLock: %s until %v", mode, until)
	}

	put("free", "", time.Time{})
	if err := s.ExtendLock(ctx, "free", storage.LockGovernance, now.Add(time.Hour)); err != nil {
		t.Fatalf("ExtendLock of an unlocked object: %v", err)
	}
	if mode, until := lock("free"); mode != storage.LockGovernance || !until.Equal(now.Add(time.Hour)) {
		t.Fatalf("unlocked object after ExtendLock: %s until %v", mode, until)
	}
	if versioned, err := s.Versioning(ctx); err != nil {
		t.Fatal(err)
	} else if !versioned {
		wantErr(t, "Delete of an object whose lock was extended", s.Delete(ctx, "free"), storage.ErrLocked)
	}
	wantErr(t, "ExtendLock of a missing key", s.ExtendLock(ctx, "missing", storage.LockGovernance, now.Add(time.Hour)), storage.ErrNotFound)
}
