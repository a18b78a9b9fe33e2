package volume_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
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
	gc, err := collectAt(t, b, time.Now(), trusted...)
	if err != nil {
		t.Fatalf("CollectVolumeBlobs: %v", err)
	}
	return gc
}

// collectAt lists the bucket's seals and collects its volume blobs, as a
// retention pass that deleted no seal does.
func collectAt(t *testing.T, b *sealtest.Bed, now time.Time, trusted ...crypto.VerifyKey) (seal.VolumeGC, error) {
	t.Helper()
	l, err := seal.ScanTrusted(t.Context(), b.Offsite, trusted)
	if err != nil {
		return seal.VolumeGC{}, err
	}
	return seal.CollectVolumeBlobs(t.Context(), l, now)
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

// sealedOnPlainBucket seals nightly/b1 with a volume, on a bucket without
// object lock or versions.
func sealedOnPlainBucket(t *testing.T) (*sealtest.Bed, *seal.Seal, string) {
	t.Helper()
	b := sealtest.NewBed(t, false)
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	first, _, _ := twoSnapshots(t, b)
	sl, err := volumeSealer(b).Seal(t.Context(), "nightly", "b1")
	if err != nil {
		t.Fatal(err)
	}
	return b, sl, first
}

// TestVolumeRetentionDeletesNothingUnsure: no trusted key, a seal in
// progress, and a blob no trusted receipt vouches for: nothing is deleted.
func TestVolumeRetentionDeletesNothingUnsure(t *testing.T) {
	b, sl, _ := sealedOnPlainBucket(t)
	ctx := t.Context()
	pub := b.Signer.Public()
	if _, err := collectAt(t, b, time.Now()); !errors.Is(err, seal.ErrNoTrustedKey) {
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
	gc, err := collectAt(t, b, time.Now().Add(seal.AbandonedAfter+time.Minute), pub)
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
// over a retained seal's seal.json frees none of its blobs, nor does a
// version signed by a trusted key but sealed for another place put over
// that (whichever version a reader takes must restore: what is kept is a
// superset of what every verifying version lists, with the bucket's
// binding or without); a needed blob hidden by a delete marker stays, and
// blobs are deleted by version ID, leaving no delete marker. Once no seal
// references any blob, the pass still finds and deletes the one hidden
// under a marker: nothing is skipped on the strength of an empty listing
// of current objects.
func TestVolumeRetentionVersioned(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	pub := b.Signer.Public()
	sl1, sl2 := twoBackupsSharing(t, b)
	forge(t, b, sl2, "nightly", "b2", nil) // a new version on top of b2's seal.json
	misplaced(t, b, sl2, sl1.VolumeBlobs)  // and a trusted one of another place on top
	hidden := sl2.VolumeBlobs[len(sl2.VolumeBlobs)-1].Name
	sealtest.Hide(t, b.Offsite, hidden)
	time.Sleep(time.Until(sl2.Lock.RetainUntil) + time.Second)
	bind := seal.Binding{Place: seal.PlaceOf(b.OffsiteBucket, "cluster-a"), Cluster: "cluster-a"}
	for _, how := range []struct {
		name string
		bind *seal.Binding
	}{{"without binding", nil}, {"bound", &bind}} {
		l, err := seal.ScanTrusted(t.Context(), b.Offsite, []crypto.VerifyKey{pub})
		if err != nil {
			t.Fatal(err)
		}
		if how.bind != nil {
			entries, err := l.Bound(t.Context(), *how.bind)
			if err != nil {
				t.Fatal(err)
			}
			if e := entry(entries, "nightly", "b2"); !e.Recoverable() || len(e.Seal.VolumeBlobs) != len(sl2.VolumeBlobs) {
				t.Fatalf("bound: b2 is %s, recoverable %v: want recovered from its own seal", e.State, e.Recoverable())
			}
		}
		gc, err := seal.CollectVolumeBlobs(t.Context(), l, time.Now())
		if err != nil || gc.Deleted != 0 || gc.Needed != len(sl2.VolumeBlobs) {
			t.Fatalf("%s, with b2's seal.json overwritten by a forged and a misplaced version: %+v, %v; want every blob of b2 needed",
				how.name, gc, err)
		}
		wantSuperset(t, b, pub)
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

// misplaced puts over like's seal.json a version signed by the bed's
// (trusted) key but sealed for another bucket, listing blobs: another
// target's genuine seal of a backup of the same name, copied here by
// someone who can write to the bucket.
func misplaced(t *testing.T, b *sealtest.Bed, like *seal.Seal, blobs []seal.Object) {
	t.Helper()
	doc := like.Document
	doc.Target, doc.VolumeBlobs = &seal.Place{Bucket: "elsewhere"}, blobs
	raw, err := seal.MarshalSeal(doc, b.Signer)
	if err != nil {
		t.Fatal(err)
	}
	sealtest.Put(t, b.Offsite, seal.SealKey(like.Schedule, like.Backup), raw)
}

func entry(entries []seal.Entry, schedule, backup string) seal.Entry {
	for _, e := range entries {
		if e.Schedule == schedule && e.Backup == backup {
			return e
		}
	}
	return seal.Entry{}
}

// wantSuperset fails the test unless every volume blob listed by any
// version of any seal.json in the bucket that verifies against trusted
// (read here version by version, not through the listing under test) is
// still there, a version holding its bytes.
func wantSuperset(t *testing.T, b *sealtest.Bed, trusted crypto.VerifyKey) {
	t.Helper()
	ctx := t.Context()
	for v, err := range b.Offsite.ListVersions(ctx, seal.BackupsDir) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(v.Key, "/"+seal.SealObject) || v.DeleteMarker {
			continue
		}
		rc, _, err := b.Offsite.GetVersion(ctx, v.Key, v.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close() // read-only
		if err != nil {
			t.Fatal(err)
		}
		sl, err := seal.ParseSeal(data)
		if err != nil || sl.Trusted([]crypto.VerifyKey{trusted}) != nil {
			continue
		}
		for _, o := range sl.VolumeBlobs {
			held := slices.ContainsFunc(sealtest.Versions(t, b.Offsite, o.Name), func(v storage.Version) bool { return !v.DeleteMarker })
			if !held {
				t.Errorf("%s, listed by %s version %s (verifies), is gone", o.Name, v.Key, v.VersionID)
			}
		}
	}
}

// TestVolumeRetentionSealCompletedAfterListing: a seal in progress when the
// pass listed the bucket (its folder incomplete, its marker there) that
// completes before the pass collects (seal.json written, marker removed)
// keeps its blobs: they are in a seal.json the listing did not see. Taking
// the missing marker for an abandoned run deleted them.
func TestVolumeRetentionSealCompletedAfterListing(t *testing.T) {
	b, sl, _ := sealedOnPlainBucket(t)
	ctx := t.Context()
	pub := b.Signer.Public()
	key := seal.SealKey("nightly", "b1")
	raw := sealtest.Get(t, b.Offsite, key)
	if _, err := storage.PurgeKey(ctx, b.Offsite, key); err != nil {
		t.Fatal(err)
	}
	sealtest.Put(t, b.Offsite, seal.PendingKey("nightly", "b1"), []byte("{}"))
	l, err := seal.ScanTrusted(ctx, b.Offsite, []crypto.VerifyKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	// The seal completes: seal.json written, then its marker removed.
	sealtest.Put(t, b.Offsite, key, raw)
	if _, err := storage.PurgeKey(ctx, b.Offsite, seal.PendingKey("nightly", "b1")); err != nil {
		t.Fatal(err)
	}
	gc, err := seal.CollectVolumeBlobs(ctx, l, time.Now())
	if err != nil || gc.Deleted != 0 || gc.Needed != len(sl.VolumeBlobs) {
		t.Fatalf("seal completed after the listing: %+v, %v; want nothing deleted, its blobs needed", gc, err)
	}
	for _, o := range sl.VolumeBlobs {
		if _, ok := stat(t, b.Offsite, o.Name); !ok {
			t.Errorf("%s of the completed seal deleted", o.Name)
		}
	}
	if gc := collect(t, b, pub); gc.Deleted != 0 || gc.Needed != len(sl.VolumeBlobs) {
		t.Fatalf("next pass: %+v, want every blob needed", gc)
	}
}

// hookStore calls its hooks before a DeleteVersion and a Stat go on.
type hookStore struct {
	storage.Store
	onDelete, onStat func(key string)
}

func (h hookStore) DeleteVersion(ctx context.Context, key, versionID string) error {
	if h.onDelete != nil {
		h.onDelete(key)
	}
	return h.Store.DeleteVersion(ctx, key, versionID)
}

func (h hookStore) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if h.onStat != nil {
		h.onStat(key)
	}
	return h.Store.Stat(ctx, key)
}

// TestVolumeRetentionRacesASeal, on a bucket without object lock, where
// nothing refuses a delete: a seal that begins after a retention pass
// listed the bucket reuses the blobs the pass is about to delete (no
// retained seal needs them). Completed before the pass deletes, its
// seal.json keeps them; still sealing while the pass deletes, it sees the
// pass's notice before writing seal.json, waits for the pass to end and
// seals again what the pass deleted. Either way the new seal verifies,
// every blob read back. Before, the pass deleted them under it.
func TestVolumeRetentionRacesASeal(t *testing.T) {
	b, sl1, first := sealedOnPlainBucket(t)
	ctx := t.Context()
	pub := b.Signer.Public()
	for _, name := range []string{"b2", "b3"} {
		b.VeleroBackup(t, name, "Completed", 1<<10)
		volumetest.WriteBackup(t, b.Source, name, "default", []volumetest.PodVolume{
			{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: first}})
	}
	if _, err := storage.Purge(ctx, b.Offsite, seal.BackupPrefix("nightly", "b1")); err != nil {
		t.Fatal(err)
	}
	verify := func(backup string) {
		t.Helper()
		if _, err := seal.Verify(ctx, b.Offsite, "nightly", backup, seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities}); err != nil {
			t.Fatalf("%s after the pass: %v", backup, err)
		}
	}

	// Completed between the listing and the deletes.
	l, err := seal.ScanTrusted(ctx, b.Offsite, []crypto.VerifyKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	sl2, err := volumeSealer(b).Seal(ctx, "nightly", "b2")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(sl1.VolumeBlobs), names(sl2.VolumeBlobs)) {
		t.Fatal("b2 does not reuse b1's blobs: the race is not set up")
	}
	if gc, err := seal.CollectVolumeBlobs(ctx, l, time.Now()); err != nil || gc.Deleted != 0 {
		t.Fatalf("seal completed before the deletes: %+v, %v; want none deleted", gc, err)
	}
	verify("b2")

	// Sealing while the pass deletes: the pass stops before its first
	// delete until the seal has adopted every blob and looks for the notice.
	if _, err := storage.Purge(ctx, b.Offsite, seal.BackupPrefix("nightly", "b2")); err != nil {
		t.Fatal(err)
	}
	deleting, adopted := make(chan struct{}), make(chan struct{})
	var onceDel, onceStat sync.Once
	gcStore := hookStore{Store: b.Offsite, onDelete: func(key string) {
		if strings.Contains(key, "/blobs/") {
			onceDel.Do(func() {
				close(deleting)
				select {
				case <-adopted:
				case <-time.After(20 * time.Second): // the seal never looked
				}
			})
		}
	}}
	l, err = seal.ScanTrusted(ctx, gcStore, []crypto.VerifyKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan seal.VolumeGC)
	go func() {
		gc, err := seal.CollectVolumeBlobs(ctx, l, time.Now())
		if err != nil {
			t.Errorf("pass: %v", err)
		}
		done <- gc
	}()
	<-deleting
	s := volumeSealer(b)
	s.Offsite = hookStore{Store: b.Offsite, onStat: func(key string) {
		if strings.HasSuffix(key, "collecting.json") {
			onceStat.Do(func() { close(adopted) })
		}
	}}
	sl3, err := s.Seal(ctx, "nightly", "b3")
	if err != nil {
		t.Fatal(err)
	}
	gc := <-done
	if gc.Deleted == 0 {
		t.Fatalf("pass: %+v, want it to have deleted b1's blobs under the seal", gc)
	}
	verify("b3")
	for _, o := range sl3.VolumeBlobs {
		if _, ok := stat(t, b.Offsite, o.Name); !ok {
			t.Errorf("%s, listed by b3, is gone", o.Name)
		}
	}
	t.Logf("the pass deleted %d blobs under the seal; b3 lists %d", gc.Deleted, len(sl3.VolumeBlobs))
}
