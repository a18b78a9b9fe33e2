package backupschedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestDeleteBackupVersioned: on a versioned, object-locked bucket (as every
// AWS one is) retention deletes by version ID: while seal.json's lock holds
// nothing goes and no delete marker is added (a marker there would hide the
// backup and look like an attack); once it expires nothing is left, not a
// version holding ciphertext, not a marker. A plain delete there would only
// have hidden everything and reported it deleted.
func TestDeleteBackupVersioned(t *testing.T) {
	bed := sealtest.NewVersionedBed(t)
	ctx := t.Context()
	st := bed.Offsite
	until := time.Now().Add(3 * time.Second)
	locked := storage.PutOptions{Size: 2, LockMode: storage.LockGovernance, RetainUntil: until}
	for _, key := range []string{seal.SealKey("s", "a"), seal.ManifestKey("s", "a"), seal.ObjectKey("s", "a", "x")} {
		if _, err := st.Put(ctx, key, strings.NewReader("{}"), locked); err != nil {
			t.Fatal(err)
		}
	}
	// An older, unlocked version under the current one, as a resumed seal leaves.
	sealtest.Put(t, st, seal.ObjectKey("s", "a", "y"), []byte("old"))
	sealtest.Put(t, st, seal.ObjectKey("s", "a", "y"), []byte("new"))

	if err := deleteBackup(ctx, st, "s", "a"); !errors.Is(err, errSealLocked) {
		t.Fatalf("deleteBackup with a locked seal.json = %v, want errSealLocked", err)
	}
	assertNoMarkers(t, st, seal.BackupPrefix("s", "a"))
	if _, err := st.Stat(ctx, seal.SealKey("s", "a")); err != nil {
		t.Fatalf("seal.json after a refused delete: %v", err)
	}

	time.Sleep(time.Until(until) + 500*time.Millisecond)
	if err := deleteBackup(ctx, st, "s", "a"); err != nil {
		t.Fatalf("deleteBackup after the lock expired: %v", err)
	}
	var left []string
	for v, err := range st.ListVersions(ctx, seal.BackupPrefix("s", "a")) {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, v.Key+"@"+v.VersionID)
	}
	if len(left) != 0 {
		t.Fatalf("after retention deleted the backup, versions or markers remain: %v", left)
	}
}

func assertNoMarkers(t *testing.T, st storage.Store, prefix string) {
	t.Helper()
	for v, err := range st.ListVersions(t.Context(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		if v.DeleteMarker {
			t.Errorf("a delete marker over %s: Safekeep's own deletes must go by version ID", v.Key)
		}
	}
}
