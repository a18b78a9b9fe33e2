package seal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// attacker seals into the bed's offsite bucket with a key of its own and the
// target's recipients (public, printed in every seal): what anyone who can
// write to the bucket can do.
func attacker(t *testing.T, b *sealtest.Bed) *seal.Sealer {
	s := b.Sealer()
	s.Signer = sealtest.NewSigner(t)
	return s
}

// A seal planted under the next backup's name, signed by a key the target
// does not trust, is refused, not taken as "already sealed" (which would
// keep the real backup from ever going offsite).
func TestForeignSealRefused(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.VeleroBackup(t, "nightly-2", "Completed", 64<<10)
	if _, err := attacker(t, b).Seal(ctx, "nightly", "nightly-2"); err != nil {
		t.Fatalf("attacker's seal: %v", err)
	}
	sl, err := b.Sealer().Seal(ctx, "nightly", "nightly-2")
	if !errors.Is(err, seal.ErrUntrusted) {
		t.Fatalf("Seal over a foreign seal returned a seal: %v, err %v; want ErrUntrusted", sl != nil, err)
	}
	t.Logf("refused: %v", err)
	// Verify pinned to the target's key refuses it too, and names why.
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "nightly-2", seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public())}); !errors.Is(err, seal.ErrUntrusted) || !errors.Is(err, seal.ErrBadSeal) {
		t.Errorf("Verify pinned: %v, want ErrUntrusted and ErrBadSeal", err)
	}
}

// With no key pinned, Verify refuses to pick the bucket's key on its own.
func TestVerifyPinsByDefault(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.MustSeal(t, ctx, "nightly", "n-1")
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "n-1", seal.VerifyOptions{}); !errors.Is(err, seal.ErrNoTrustedKey) {
		t.Errorf("Verify with no key: %v, want ErrNoTrustedKey", err)
	}
	if _, err := seal.Open(ctx, b.Offsite, "nightly", "n-1", seal.VerifyOptions{Identities: b.Identities}); !errors.Is(err, seal.ErrNoTrustedKey) {
		t.Errorf("Open with no key: %v, want ErrNoTrustedKey", err)
	}
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "n-1", seal.VerifyOptions{TrustBucketKey: true}); err != nil {
		t.Errorf("Verify trusting the bucket's key: %v", err)
	}
}

// Forged seals with future times are listed as untrusted by ListTrusted,
// so nothing downstream (retention, drills, listings) counts them.
func TestListTrustedForged(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.MustSeal(t, ctx, "nightly", "n-1")
	evil := attacker(t, b)
	evil.Now = func() time.Time { return time.Now().AddDate(1, 0, 0) }
	b.VeleroBackup(t, "n-9", "Completed", 1<<10)
	if _, err := evil.Seal(ctx, "nightly", "n-9"); err != nil {
		t.Fatal(err)
	}
	entries, err := seal.ListTrusted(ctx, b.Offsite, []crypto.VerifyKey{b.Signer.Public()}, seal.Binding{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]seal.EntryState{}
	for _, e := range entries {
		got[e.Backup] = e.State
	}
	if got["n-1"] != seal.StateSealed || got["n-9"] != seal.StateUntrusted {
		t.Errorf("ListTrusted states = %v", got)
	}
	if _, err := seal.ListTrusted(ctx, b.Offsite, nil, seal.Binding{}); !errors.Is(err, seal.ErrNoTrustedKey) {
		t.Errorf("ListTrusted with no key: %v", err)
	}
}

// A marker planted ahead of a backup (unsigned, with the target's
// recipients and lock mode, both printed in every seal, and a retention of
// minutes) must not shorten the backup's retention: it is removed and the
// seal retains everything for the target's full period.
func TestPlantedMarkerRefused(t *testing.T) {
	b := sealtest.NewBed(t, true)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	planted := fmt.Sprintf(`{"format":"safekeep.dev/sealing/v1","startedAt":%q,"recipients":[%q],"lock":{"mode":"GOVERNANCE","retainUntil":%q}}`,
		now.Format(time.RFC3339), b.Recipients[0].Fingerprint(), now.Add(2*time.Minute).Format(time.RFC3339))
	sealtest.Put(t, b.Offsite, seal.PendingKey("nightly", "nightly-3"), []byte(planted))
	b.VeleroBackup(t, "nightly-3", "Completed", 64<<10)
	s := b.Sealer()
	s.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 30}
	sl, err := s.Seal(ctx, "nightly", "nightly-3")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if min := now.AddDate(0, 0, 30).Add(-time.Minute); sl.Lock == nil || sl.Lock.RetainUntil.Before(min) {
		t.Fatalf("seal retained until %v, want at least %v", sl.Lock, min)
	}
	mc := b.S3.Minio(t)
	info, err := mc.StatObject(ctx, b.OffsiteBucket, "cluster-a/safekeep/v1/"+seal.ObjectKey("nightly", "nightly-3", "nightly-3.tar.gz"), minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	until, err := time.Parse(time.RFC3339, info.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	if err != nil || until.Before(now.AddDate(0, 0, 29)) {
		t.Errorf("sealed object retained until %v (%v), want 30 days", until, err)
	}

	// Beside objects of unknown origin an untrusted marker is refused, named.
	b.VeleroBackup(t, "nightly-4", "Completed", 64<<10)
	sealtest.Put(t, b.Offsite, seal.PendingKey("nightly", "nightly-4"), []byte(planted))
	sealtest.Put(t, b.Offsite, seal.ObjectKey("nightly", "nightly-4", "nightly-4.tar.gz"), []byte("not ours"))
	if _, err := s.Seal(ctx, "nightly", "nightly-4"); !errors.Is(err, seal.ErrUntrusted) || !strings.Contains(err.Error(), seal.PendingKey("nightly", "nightly-4")) {
		t.Errorf("Seal beside a planted marker and objects: %v, want ErrUntrusted naming the marker", err)
	}
}

// An object planted beside an interrupted seal (the marker is ours, the
// object is not: right name, right size, encrypted to the target's public
// recipients) is not reused on resume: it has no receipt from a trusted
// sealer. Before, any object of the right size was taken into the seal.
func TestPlantedObjectNotReused(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	objs := b.VeleroBackup(t, "n-5", "Completed", 64<<10)
	s := b.Sealer()
	s.Concurrency = 1
	cctx, cancel := context.WithCancel(ctx)
	s.Progress = func(p seal.Progress) {
		if p.ObjectsDone >= 1 {
			cancel()
		}
	}
	if _, err := s.Seal(cctx, "nightly", "n-5"); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Seal: %v", err)
	}
	present := sealtest.Keys(sealtest.Snapshot(t, b.Offsite, seal.ObjectsPrefix("nightly", "n-5")))
	planted := ""
	for name, data := range objs {
		key := seal.ObjectKey("nightly", "n-5", name)
		if slices.Contains(present, key) {
			continue
		}
		var buf bytes.Buffer
		w, err := crypto.Encrypt(&buf, b.Recipients)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(bytes.Repeat([]byte("x"), len(data)))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sealtest.Put(t, b.Offsite, key, buf.Bytes())
		planted = key
		break
	}
	if planted == "" {
		t.Fatalf("every object went offsite before the cancel: %v", present)
	}
	_, err := b.Sealer().Seal(ctx, "nightly", "n-5")
	if !errors.Is(err, seal.ErrUntrusted) || !errors.Is(err, seal.ErrSealConflict) || !strings.Contains(err.Error(), planted) {
		t.Fatalf("resumed Seal beside a planted object: %v, want ErrUntrusted naming %s", err, planted)
	}
	t.Logf("refused: %v", err)
}

// An object someone added to a sealed backup's folder is named and ignored:
// it blocks neither verify, nor a restore (Open), nor a re-seal.
func TestExtraObjectIgnored(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.MustSeal(t, ctx, "nightly", "n-1")
	extra := seal.ObjectKey("nightly", "n-1", "smuggled")
	sealtest.Put(t, b.Offsite, extra, []byte("x"))
	pin := seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public()), Identities: b.Identities}
	rep, err := seal.Verify(ctx, b.Offsite, "nightly", "n-1", pin)
	if err != nil || !slices.Equal(rep.Extra, []string{extra}) {
		t.Errorf("Verify with an extra object: %v, extra %v", err, rep.Extra)
	}
	if _, err := seal.Open(ctx, b.Offsite, "nightly", "n-1", pin); err != nil {
		t.Errorf("Open with an extra object: %v", err)
	}
	if _, err := b.Sealer().Seal(ctx, "nightly", "n-1"); err != nil {
		t.Errorf("Seal again with an extra object: %v", err)
	}
}

// Object names that could print as other names are refused.
func TestObjectNameControlCharacters(t *testing.T) {
	for _, name := range []string{"a\u202egz.tar", "a\u2066b", "a\u200fb", "a\u0085b", "a\x1bb", "a\u061cb"} {
		if err := seal.ValidateObjectName(name); err == nil {
			t.Errorf("ValidateObjectName(%q) accepted it", name)
		}
	}
	if err := seal.ValidateObjectName("sub/b-1.tar.gz"); err != nil {
		t.Errorf("a plain name: %v", err)
	}
}

// A sealed folder copied to another prefix does not verify there, and a
// cluster sharing the bucket (and even the key) never adopts another
// cluster's seal as its own.
func TestSealBoundToPlaceAndCluster(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	sl, _ := b.MustSeal(t, ctx, "nightly", "n-1")
	if sl.Target == nil || *sl.Target != seal.PlaceOf("offsite", "cluster-a") || sl.Cluster != "cluster-a" {
		t.Fatalf("seal records target %v, cluster %q", sl.Target, sl.Cluster)
	}
	other := sealtest.OpenStore(t, b.S3.Config(b.OffsiteBucket, "cluster-b/safekeep/v1"))
	for _, info := range sealtest.Snapshot(t, b.Offsite, seal.BackupPrefix("nightly", "n-1")) {
		sealtest.Put(t, other, info.Key, sealtest.Get(t, b.Offsite, info.Key))
	}
	pin := seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public())}
	pin.Binding = seal.Binding{Place: seal.PlaceOf("offsite", "cluster-b")}
	if _, err := seal.Verify(ctx, other, "nightly", "n-1", pin); !errors.Is(err, seal.ErrMisplaced) || !errors.Is(err, seal.ErrUntrusted) {
		t.Errorf("Verify of a copied folder: %v, want ErrMisplaced", err)
	}
	pin.Binding = seal.Binding{Place: seal.PlaceOf("offsite", "cluster-a")}
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "n-1", pin); err != nil {
		t.Errorf("Verify in place: %v", err)
	}
	// Another cluster, same bucket, prefix and key: refused, not adopted.
	s := b.Sealer()
	s.ClusterID = "cluster-b"
	if _, err := s.Seal(ctx, "nightly", "n-1"); !errors.Is(err, seal.ErrMisplaced) {
		t.Errorf("Seal by another cluster over this one's seal: %v, want ErrMisplaced", err)
	}
	entries, err := seal.ListTrusted(ctx, b.Offsite, []crypto.VerifyKey{b.Signer.Public()}, seal.Binding{Cluster: "cluster-b"})
	if err != nil || len(entries) != 1 || entries[0].State != seal.StateUntrusted {
		t.Errorf("ListTrusted for another cluster: %+v, %v", entries, err)
	}
}
