package volume_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// sealShortLock seals backup with a governance lock that ends about
// `ends` from now: the sealer's clock is set a day (its retention) back.
func sealShortLock(t *testing.T, b *sealtest.Bed, backup string, ends time.Duration) *seal.Seal {
	t.Helper()
	s := volumeSealer(b)
	s.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}
	s.Now = func() time.Time { return time.Now().AddDate(0, 0, -1).Add(ends) }
	sl, err := s.Seal(t.Context(), "nightly", backup)
	if err != nil {
		t.Fatalf("seal %s: %v", backup, err)
	}
	return sl
}

// twoBackupsSharing seals b1 (one snapshot) and then b2 (that snapshot and
// another) of one repository, b2's lock ending after b1's, and returns
// their seals.
func twoBackupsSharing(t *testing.T, b *sealtest.Bed) (*seal.Seal, *seal.Seal) {
	t.Helper()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	b.VeleroBackup(t, "b2", "Completed", 1<<10)
	first, second, _ := twoSnapshots(t, b)
	volumetest.WriteBackup(t, b.Source, "b2", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", SnapshotID: first},
		{Namespace: "phi-app", Pod: "scanner-0", Volume: "cache", SnapshotID: second},
	})
	// Long enough for a seal under -race on a busy machine: every put must
	// come before its retain-until.
	sl1 := sealShortLock(t, b, "b1", 30*time.Second)
	sl2 := sealShortLock(t, b, "b2", 45*time.Second)
	if !sl1.Lock.RetainUntil.Before(sl2.Lock.RetainUntil) {
		t.Fatalf("b1 locked until %v, b2 until %v: want b1 first", sl1.Lock.RetainUntil, sl2.Lock.RetainUntil)
	}
	return sl1, sl2
}

// deleteSeal deletes a sealed backup's folder as retention does (every
// version by its ID), once its lock has ended.
func deleteSeal(t *testing.T, b *sealtest.Bed, sl *seal.Seal) {
	t.Helper()
	time.Sleep(time.Until(sl.Lock.RetainUntil) + time.Second)
	if _, err := storage.Purge(t.Context(), b.Offsite, seal.BackupPrefix(sl.Schedule, sl.Backup)); err != nil {
		t.Fatalf("delete %s: %v", sl.Backup, err)
	}
}

func collect(t *testing.T, b *sealtest.Bed, trusted ...crypto.VerifyKey) seal.VolumeGC {
	t.Helper()
	gc, err := seal.CollectVolumeBlobs(t.Context(), b.Offsite, trusted, time.Now())
	if err != nil {
		t.Fatalf("CollectVolumeBlobs: %v", err)
	}
	return gc
}

func names(objs []seal.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Name
	}
	return out
}

func stat(t *testing.T, st storage.Store, key string) (storage.ObjectInfo, bool) {
	t.Helper()
	info, err := st.Stat(t.Context(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return info, false
	}
	if err != nil {
		t.Fatalf("stat %s: %v", key, err)
	}
	return info, true
}

// forge writes seal.json of schedule/backup listing blobs, signed by a key
// the target does not trust: what someone who can write to the bucket can do.
func forge(t *testing.T, b *sealtest.Bed, like *seal.Seal, schedule, backup string, blobs []seal.Object) {
	t.Helper()
	doc := like.Document
	doc.Schedule, doc.Backup, doc.VolumeBlobs = schedule, backup, blobs
	raw, err := seal.MarshalSeal(doc, sealtest.NewSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	sealtest.Put(t, b.Offsite, seal.SealKey(schedule, backup), raw)
}

// TestVolumeRetentionIsReferenceCounted: deleting the first of two backups
// that share blobs deletes none of them (a collection that counted only
// the deleted seal's blobs would delete every one: b1 needs nothing b2 does
// not), and the shared blobs stay locked past b1's lock, until b2's; a
// forged seal listing b2's blobs keeps none of them once b2 goes, and
// deleting b2 deletes every blob and receipt once their lock allows.
func TestVolumeRetentionIsReferenceCounted(t *testing.T) {
	b := sealtest.NewBed(t, true)
	ctx := t.Context()
	pub := b.Signer.Public()
	sl1, sl2 := twoBackupsSharing(t, b)
	shared := names(sl1.VolumeBlobs)
	only2 := slices.DeleteFunc(names(sl2.VolumeBlobs), func(k string) bool { return slices.Contains(shared, k) })
	if len(only2) == 0 || len(shared) == 0 {
		t.Fatalf("b1 has %d blobs, b2 %d more: want both", len(shared), len(only2))
	}
	for _, k := range shared {
		if info, _ := stat(t, b.Offsite, k); !info.RetainUntil.Equal(sl2.Lock.RetainUntil) {
			t.Fatalf("shared blob %s locked until %v, want b2's %v", k, info.RetainUntil, sl2.Lock.RetainUntil)
		}
	}
	forge(t, b, sl2, "forged", "f1", sl2.VolumeBlobs)

	deleteSeal(t, b, sl1)
	gc := collect(t, b, pub)
	if gc.Deleted != 0 || gc.Needed != len(sl2.VolumeBlobs) || gc.InProgress != "" {
		t.Fatalf("after b1 went: %+v, want nothing deleted and %d needed", gc, len(sl2.VolumeBlobs))
	}
	for _, k := range shared {
		if _, ok := stat(t, b.Offsite, k); !ok {
			t.Fatalf("shared blob %s deleted with b1", k)
		}
		if err := b.Offsite.Delete(ctx, k); !errors.Is(err, storage.ErrLocked) {
			t.Fatalf("shared blob %s after b1's lock ended: delete = %v, want ErrLocked", k, err)
		}
	}
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "b2", seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities}); err != nil {
		t.Fatalf("b2 after b1 went: %v", err)
	}

	// A blob locked longer than b2 (as a resumed seal's writes are) waits.
	longer := only2[0]
	if err := b.Offsite.ExtendLock(ctx, longer, storage.LockGovernance, sl2.Lock.RetainUntil.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	deleteSeal(t, b, sl2)
	gc = collect(t, b, pub)
	if gc.Deleted != len(sl2.VolumeBlobs)-1 || gc.Locked != 1 || gc.Needed != 0 || gc.DeletedBytes <= 0 {
		t.Fatalf("after b2 went: %+v, want %d deleted (the forged seal keeps none), 1 locked", gc, len(sl2.VolumeBlobs)-1)
	}
	if _, ok := stat(t, b.Offsite, longer); !ok {
		t.Fatalf("%s deleted while locked", longer)
	}
	time.Sleep(time.Until(sl2.Lock.RetainUntil.Add(4 * time.Second)))
	if gc = collect(t, b, pub); gc.Deleted != 1 || gc.Locked != 0 {
		t.Fatalf("once unlocked: %+v, want the last blob deleted", gc)
	}
	for _, o := range sealtest.Snapshot(t, b.Offsite, seal.VolumesDir) {
		t.Errorf("%s left after every seal went", o.Key)
	}
	if len(receipts(t, b.Offsite)) != 0 {
		t.Error("receipts left")
	}
}

// TestVolumeRetentionDeletesNothingUnsure: no trusted key, a seal in
// progress, and a blob no trusted receipt vouches for: nothing is deleted.
func TestVolumeRetentionDeletesNothingUnsure(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	pub := b.Signer.Public()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	twoSnapshots(t, b)
	sl, err := volumeSealer(b).Seal(ctx, "nightly", "b1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.CollectVolumeBlobs(ctx, b.Offsite, nil, time.Now()); !errors.Is(err, seal.ErrNoTrustedKey) {
		t.Fatalf("with no trusted key: %v, want ErrNoTrustedKey", err)
	}
	other := sealtest.NewSigner(t).Public()
	if gc := collect(t, b, other); gc.Deleted != 0 || gc.Foreign != len(sl.VolumeBlobs) {
		t.Fatalf("trusting another key: %+v, want every blob foreign, none deleted", gc)
	}
	// A seal in progress (its marker, young) holds every deletion off.
	if _, err := storage.Purge(ctx, b.Offsite, seal.SealKey("nightly", "b1")); err != nil {
		t.Fatal(err)
	}
	sealtest.Put(t, b.Offsite, seal.PendingKey("nightly", "b1"), []byte("{}"))
	if gc := collect(t, b, pub); gc.InProgress != "nightly/b1" || gc.Deleted != 0 {
		t.Fatalf("with a seal in progress: %+v, want none deleted", gc)
	}
	gc, err := seal.CollectVolumeBlobs(ctx, b.Offsite, []crypto.VerifyKey{pub}, time.Now().Add(seal.AbandonedAfter+time.Minute))
	if err != nil || gc.Deleted != len(sl.VolumeBlobs) {
		t.Fatalf("once the marker is abandoned: %+v, %v; want every blob deleted", gc, err)
	}
	for _, o := range sealtest.Snapshot(t, b.Offsite, seal.VolumesDir) {
		if !strings.Contains(o.Key, "/receipts/") {
			t.Errorf("%s left", o.Key)
		}
	}
	if n := len(receipts(t, b.Offsite)); n != 0 {
		t.Errorf("%d receipts left", n)
	}
}

// TestVolumeRetentionVersioned: on a versioned bucket a forged version put
// over a retained seal's seal.json frees none of its blobs, a needed blob
// hidden by a delete marker stays, and blobs are deleted by version ID,
// leaving no delete marker.
func TestVolumeRetentionVersioned(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	pub := b.Signer.Public()
	sl1, sl2 := twoBackupsSharing(t, b)
	forge(t, b, sl2, "nightly", "b2", nil) // a new version on top of b2's seal.json
	hidden := sl2.VolumeBlobs[len(sl2.VolumeBlobs)-1].Name
	sealtest.Hide(t, b.Offsite, hidden)
	time.Sleep(time.Until(sl2.Lock.RetainUntil) + time.Second)
	if gc := collect(t, b, pub); gc.Deleted != 0 || gc.Needed != len(sl2.VolumeBlobs) {
		t.Fatalf("with b2's seal.json overwritten by a forged version: %+v, want every blob of b2 needed", gc)
	}
	if vs := sealtest.Versions(t, b.Offsite, hidden); len(vs) != 2 {
		t.Fatalf("hidden needed blob: %d versions, want its own and the marker", len(vs))
	}
	for _, sl := range []*seal.Seal{sl1, sl2} {
		deleteSeal(t, b, sl)
	}
	gc := collect(t, b, pub)
	if gc.Deleted != len(sl2.VolumeBlobs) || gc.Locked != 0 {
		t.Fatalf("after both went: %+v, want all %d deleted", gc, len(sl2.VolumeBlobs))
	}
	for _, k := range names(sl2.VolumeBlobs) {
		if vs := sealtest.Versions(t, b.Offsite, k); len(vs) != 0 {
			t.Errorf("%s: %d versions left (markers included)", k, len(vs))
		}
	}
}
