package seal_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

func TestSealAndVerify(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	var last seal.Progress
	s := b.Sealer()
	s.Progress = func(p seal.Progress) { last = p }
	objs := b.VeleroBackup(t, "nightly-1", "Completed", 3<<20)
	sl, err := s.Seal(ctx, "nightly", "nightly-1")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if len(sl.Objects) != len(objs) || sl.Schedule != "nightly" || sl.Backup != "nightly-1" || sl.Cluster != "cluster-a" {
		t.Errorf("seal = %+v", sl.Document)
	}
	if sl.Velero == nil || sl.Velero.Phase != "Completed" || sl.Velero.ItemsBackedUp != 3 {
		t.Errorf("velero info = %+v", sl.Velero)
	}
	if want := []string{b.Recipients[0].Fingerprint()}; !equal(sl.Recipients, want) {
		t.Errorf("recipients = %v, want %v", sl.Recipients, want)
	}
	var plain int64
	for _, data := range objs {
		plain += int64(len(data))
	}
	if last.BytesDone != plain || last.BytesTotal != plain || last.ObjectsDone != len(objs) {
		t.Errorf("last progress = %+v, want %d bytes, %d objects", last, plain, len(objs))
	}

	// Layout: every object, the manifest, the seal, the published key.
	all := sealtest.Snapshot(t, b.Offsite, "")
	for name := range objs {
		if !sealtest.HasKey(all, seal.ObjectKey("nightly", "nightly-1", name)) {
			t.Errorf("no offsite object for %s in %v", name, sealtest.Keys(all))
		}
	}
	for _, k := range []string{seal.ManifestKey("nightly", "nightly-1"), seal.SealKey("nightly", "nightly-1"), seal.SigningKeyKey} {
		if !sealtest.HasKey(all, k) {
			t.Errorf("missing %s", k)
		}
	}
	if sealtest.HasKey(all, seal.PendingKey("nightly", "nightly-1")) {
		t.Error("the in-progress marker outlived the seal")
	}
	// Nothing offsite holds the plaintext marker or a plaintext digest.
	for _, info := range all {
		data := sealtest.Get(t, b.Offsite, info.Key)
		if bytes.Contains(data, []byte(sealtest.Marker)) {
			t.Errorf("offsite %s contains plaintext", info.Key)
		}
		for name, content := range objs {
			if bytes.Contains(data, []byte(sealtest.SHA256(content))) {
				t.Errorf("offsite %s contains the plaintext digest of %s", info.Key, name)
			}
		}
	}

	for _, tc := range []struct {
		name string
		opts seal.VerifyOptions
	}{
		{"keyless from bucket key", seal.VerifyOptions{TrustBucketKey: true}},
		{"pinned key", seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public())}},
		// After a rotation: the current key pinned, the old one trusted.
		{"trusted previous key", seal.VerifyOptions{VerifyKey: ptr(sealtest.NewSigner(t).Public()), TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}}},
		{"trusted keys only", seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{sealtest.NewSigner(t).Public(), b.Signer.Public()}}},
		{"quick", seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public()), Quick: true}},
		{"with identity", seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public()), Identities: b.Identities, Concurrency: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := seal.Verify(ctx, b.Offsite, "nightly", "nightly-1", tc.opts)
			if err != nil || !rep.OK() {
				t.Fatalf("Verify: %v %v", err, rep.Problems)
			}
			if rep.KeyID != b.Signer.Public().KeyID() || rep.Objects != len(objs) {
				t.Errorf("report = %+v", rep)
			}
			if rep.Decrypted != (tc.opts.Identities != nil) || (rep.Decrypted && rep.PlaintextBytes != plain) {
				t.Errorf("decrypted %v, %d plaintext bytes; want %d", rep.Decrypted, rep.PlaintextBytes, plain)
			}
		})
	}
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "nightly-1", seal.VerifyOptions{VerifyKey: ptr(sealtest.NewSigner(t).Public())}); !errors.Is(err, seal.ErrBadSeal) {
		t.Errorf("Verify pinned to another key: %v, want ErrBadSeal", err)
	}
	others := []crypto.VerifyKey{sealtest.NewSigner(t).Public(), sealtest.NewSigner(t).Public()}
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "nightly-1", seal.VerifyOptions{TrustedKeys: others}); !errors.Is(err, seal.ErrBadSeal) {
		t.Errorf("Verify with other trusted keys: %v, want ErrBadSeal", err)
	}

	// The objects are standard age files.
	if _, err := exec.LookPath("age"); err == nil {
		dir := t.TempDir()
		idFile := filepath.Join(dir, "key.txt")
		if err := os.WriteFile(idFile, []byte(b.IdentityText), 0o600); err != nil {
			t.Fatal(err)
		}
		enc := filepath.Join(dir, "tar.age")
		if err := os.WriteFile(enc, sealtest.Get(t, b.Offsite, seal.ObjectKey("nightly", "nightly-1", "nightly-1.tar.gz")), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(ctx, "age", "-d", "-i", idFile, enc).Output()
		if err != nil || !bytes.Equal(out, objs["nightly-1.tar.gz"]) {
			t.Errorf("age -d: %v, identical %v", err, bytes.Equal(out, objs["nightly-1.tar.gz"]))
		}
	} else {
		t.Log("age CLI not installed: skipping the interop check")
	}
}

func TestSealIsIdempotent(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	first, _ := b.MustSeal(t, ctx, "nightly", "n-1")
	before := sealtest.Snapshot(t, b.Offsite, "")
	time.Sleep(1100 * time.Millisecond) // a rewrite would show a later LastModified
	s := b.Sealer()
	var moved int64
	s.Progress = func(p seal.Progress) { moved = p.BytesDone }
	second, err := s.Seal(ctx, "nightly", "n-1")
	if err != nil {
		t.Fatalf("second Seal: %v", err)
	}
	if !bytes.Equal(first.Raw, second.Raw) || first.Digest() != second.Digest() {
		t.Error("second Seal returned another seal")
	}
	if moved != 0 {
		t.Errorf("second Seal read %d bytes", moved)
	}
	after := sealtest.Snapshot(t, b.Offsite, "")
	if len(before) != len(after) {
		t.Fatalf("objects: %d before, %d after", len(before), len(after))
	}
	for i := range before {
		if before[i].Key != after[i].Key || before[i].ETag != after[i].ETag || !before[i].LastModified.Equal(after[i].LastModified) {
			t.Errorf("%s changed: %+v -> %+v", before[i].Key, before[i], after[i])
		}
	}
}

// crashStore is the real offsite store with a fault: it cancels the run's
// context when a Put or Delete of a matching key starts, as a killed process
// would stop there.
type crashStore struct {
	storage.Store
	cancel context.CancelFunc
	at     func(op, key string) bool
}

func (c *crashStore) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	if c.at("put", key) {
		c.cancel()
	}
	return c.Store.Put(ctx, key, r, opts)
}

func (c *crashStore) Delete(ctx context.Context, key string) error {
	if c.at("delete", key) {
		c.cancel()
	}
	return c.Store.Delete(ctx, key)
}

func TestSealResumesAfterInterruption(t *testing.T) {
	b := sealtest.NewBed(t, true) // locked: objects of the first run cannot be replaced
	lock := &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}
	for _, tc := range []struct {
		name string
		// crash sets up the interruption of the first run.
		crash func(s *seal.Sealer, cancel context.CancelFunc, backup string)
		// sealed: the crash came after seal.json was written.
		sealed bool
	}{
		{name: "mid-object", crash: func(s *seal.Sealer, cancel context.CancelFunc, _ string) {
			s.Progress = func(p seal.Progress) {
				if p.BytesDone >= 4<<20 {
					cancel()
				}
			}
		}},
		{name: "first put", crash: func(s *seal.Sealer, cancel context.CancelFunc, backup string) {
			s.Offsite = &crashStore{Store: s.Offsite, cancel: cancel, at: func(op, key string) bool {
				return op == "put" && strings.Contains(key, "/objects/")
			}}
		}},
		{name: "before manifest", crash: func(s *seal.Sealer, cancel context.CancelFunc, backup string) {
			s.Offsite = &crashStore{Store: s.Offsite, cancel: cancel, at: func(op, key string) bool {
				return op == "put" && key == seal.ManifestKey("nightly", backup)
			}}
		}},
		{name: "before seal", crash: func(s *seal.Sealer, cancel context.CancelFunc, backup string) {
			s.Offsite = &crashStore{Store: s.Offsite, cancel: cancel, at: func(op, key string) bool {
				return op == "put" && key == seal.SealKey("nightly", backup)
			}}
		}},
		{name: "after seal", sealed: true, crash: func(s *seal.Sealer, cancel context.CancelFunc, backup string) {
			s.Offsite = &crashStore{Store: s.Offsite, cancel: cancel, at: func(op, key string) bool {
				return op == "delete" && key == seal.PendingKey("nightly", backup)
			}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backup := strings.ReplaceAll(tc.name, " ", "-")
			objs := b.VeleroBackup(t, backup, "Completed", 6<<20)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s := b.Sealer()
			s.Lock, s.Concurrency = lock, 2
			tc.crash(s, cancel, backup)
			_, err := s.Seal(ctx, "nightly", backup)
			if !tc.sealed && !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted Seal: %v, want context.Canceled", err)
			}
			partial := sealtest.Snapshot(t, b.Offsite, seal.BackupPrefix("nightly", backup))
			uploaded := 0
			for _, info := range partial {
				if strings.HasPrefix(info.Key, seal.ObjectsPrefix("nightly", backup)) {
					uploaded++
				}
			}
			t.Logf("interrupted with %d of %d objects offsite: %v", uploaded, len(objs), err)
			_, verr := seal.Verify(t.Context(), b.Offsite, "nightly", backup, seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public())})
			if tc.sealed {
				if verr != nil {
					t.Errorf("Verify after a crash past seal.json: %v", verr)
				}
			} else {
				checkInterrupted(t, b, lock, backup, partial, verr)
			}

			s = b.Sealer()
			s.Lock = lock
			sl, err := s.Seal(t.Context(), "nightly", backup)
			if err != nil {
				t.Fatalf("resumed Seal: %v", err)
			}
			after := sealtest.Snapshot(t, b.Offsite, seal.BackupPrefix("nightly", backup))
			for _, info := range partial { // what the first run uploaded was reused, not replaced
				for _, a := range after {
					if a.Key == info.Key && a.Key != seal.PendingKey("nightly", backup) && (a.ETag != info.ETag || !a.LastModified.Equal(info.LastModified)) {
						t.Errorf("%s was rewritten", info.Key)
					}
				}
			}
			if !tc.sealed && sealtest.HasKey(after, seal.PendingKey("nightly", backup)) {
				t.Error("the in-progress marker outlived the seal")
			}
			rep, err := seal.Verify(t.Context(), b.Offsite, "nightly", backup, seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public()), Identities: b.Identities})
			if err != nil || !rep.Decrypted {
				t.Fatalf("Verify of the resumed seal: %v %v", err, rep.Problems)
			}
			if len(sl.Objects) != len(objs) || listEntry(t, b, backup).State != seal.StateSealed {
				t.Errorf("resumed seal has %d objects, want %d", len(sl.Objects), len(objs))
			}
		})
	}
}

// checkInterrupted checks a seal interrupted before seal.json: none was
// written, Verify says ErrNotSealed (verr), List shows it incomplete, and
// another recipient list cannot complete it.
func checkInterrupted(t *testing.T, b *sealtest.Bed, lock *seal.Lock, backup string, partial []storage.ObjectInfo, verr error) {
	t.Helper()
	if sealtest.HasKey(partial, seal.SealKey("nightly", backup)) {
		t.Fatal("an interrupted seal left seal.json")
	}
	if !errors.Is(verr, seal.ErrNotSealed) {
		t.Errorf("Verify of the interrupted seal: %v, want ErrNotSealed", verr)
	}
	entry := listEntry(t, b, backup)
	if entry.State != seal.StateIncomplete || entry.Restorable() {
		t.Errorf("List shows the interrupted seal as %+v", entry)
	}
	// Another recipient list cannot complete it: its objects are not encrypted to it.
	other := b.Sealer()
	other.Lock = lock
	other.Recipients, _, _ = sealtest.NewKeys(t)
	if _, err := other.Seal(t.Context(), "nightly", backup); !errors.Is(err, seal.ErrSealConflict) {
		t.Errorf("resume with other recipients: %v, want ErrSealConflict", err)
	}
}

func listEntry(t *testing.T, b *sealtest.Bed, backup string) seal.Entry {
	t.Helper()
	entries, err := seal.List(t.Context(), b.Offsite)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Backup == backup {
			return e
		}
	}
	t.Fatalf("List has no %s: %+v", backup, entries)
	return seal.Entry{}
}

func TestSealObjectLock(t *testing.T) {
	b := sealtest.NewBed(t, true)
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b.VeleroBackup(t, "n-1", "Completed", 100<<10)
	s := b.Sealer()
	s.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 2}
	s.Now = func() time.Time { return now }
	sl, err := s.Seal(ctx, "nightly", "n-1")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if sl.Lock == nil || sl.Lock.Mode != storage.LockGovernance || !sl.Lock.RetainUntil.Equal(now.AddDate(0, 0, 2)) {
		t.Errorf("seal lock = %+v", sl.Lock)
	}
	for _, key := range []string{
		seal.ObjectKey("nightly", "n-1", "n-1.tar.gz"),
		seal.ManifestKey("nightly", "n-1"),
		seal.SealKey("nightly", "n-1"),
	} {
		if err := b.Offsite.Delete(ctx, key); !errors.Is(err, storage.ErrLocked) {
			t.Errorf("delete %s: %v, want ErrLocked", key, err)
		}
		if _, err := b.Offsite.Put(ctx, key, strings.NewReader("x"), storage.PutOptions{Size: 1}); err == nil {
			t.Errorf("overwrite of %s succeeded", key)
		}
	}
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "n-1", seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public()), Identities: b.Identities}); err != nil {
		t.Errorf("Verify after the refused deletes: %v", err)
	}

	// A target asking for object lock on a bucket without it is refused.
	plain := sealtest.NewBed(t, false)
	plain.VeleroBackup(t, "n-1", "Completed", 1<<10)
	ps := plain.Sealer()
	ps.Lock = s.Lock
	if _, err := ps.Seal(ctx, "nightly", "n-1"); !errors.Is(err, seal.ErrLockUnavailable) {
		t.Errorf("Seal with lock on an unlocked bucket: %v, want ErrLockUnavailable", err)
	}
}

func TestSealRefuses(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.VeleroBackup(t, "inprogress", "InProgress", 1<<10)
	b.VeleroBackup(t, "partial", "PartiallyFailed", 1<<10)
	sealtest.Put(t, b.Source, seal.SourcePrefix("nometa")+"nometa.tar.gz", []byte("x"))
	for _, tc := range []struct {
		schedule, backup string
		want             error
		substr           string
	}{
		{"nightly", "inprogress", seal.ErrNotCompleted, "phase InProgress"},
		{"nightly", "partial", seal.ErrNotCompleted, "phase PartiallyFailed"},
		{"nightly", "absent", seal.ErrNotVeleroBackup, "no velero-backup.json"},
		{"nightly", "nometa", seal.ErrNotVeleroBackup, "no velero-backup.json"},
		{"Nightly", "x", nil, `invalid schedule name "Nightly"`},
		{"nightly", "../x", nil, `invalid backup name "../x"`},
	} {
		_, err := b.Sealer().Seal(ctx, tc.schedule, tc.backup)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("Seal(%s/%s) = %v, want %v mentioning %q", tc.schedule, tc.backup, err, tc.want, tc.substr)
		}
	}
	if all := sealtest.Snapshot(t, b.Offsite, ""); len(all) != 0 {
		t.Errorf("refused seals wrote %v", sealtest.Keys(all))
	}
	// No objects at all: a velero-backup.json only counts as objects, so list an empty folder.
	if _, err := b.Sealer().Seal(ctx, "nightly", "empty"); !errors.Is(err, seal.ErrNotVeleroBackup) && !errors.Is(err, seal.ErrNoObjects) {
		t.Errorf("Seal of an empty backup: %v", err)
	}
	if _, err := (&seal.Sealer{Source: b.Source, Offsite: b.Offsite, Signer: b.Signer}).Seal(ctx, "nightly", "partial"); !errors.Is(err, crypto.ErrNoRecipients) {
		t.Errorf("Seal without recipients: %v", err)
	}
	if _, err := (&seal.Sealer{Source: b.Source, Offsite: b.Offsite, Recipients: b.Recipients}).Seal(ctx, "nightly", "partial"); err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Errorf("Seal without a signing key: %v", err)
	}
}

func TestSealConcurrentSealers(t *testing.T) {
	b := sealtest.NewBed(t, false)
	b.VeleroBackup(t, "n-1", "Completed", 2<<20)
	var wg sync.WaitGroup
	seals := make([]*seal.Seal, 3)
	errs := make([]error, 3)
	for i := range seals {
		wg.Go(func() { seals[i], errs[i] = b.Sealer().Seal(t.Context(), "nightly", "n-1") })
	}
	wg.Wait()
	for i := range seals {
		if errs[i] != nil {
			t.Fatalf("sealer %d: %v", i, errs[i])
		}
		if !bytes.Equal(seals[i].Raw, seals[0].Raw) {
			t.Errorf("sealer %d returned another seal", i)
		}
	}
	if _, err := seal.Verify(t.Context(), b.Offsite, "nightly", "n-1", seal.VerifyOptions{VerifyKey: ptr(b.Signer.Public()), Identities: b.Identities}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestSigningKeyRotation(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	first := b.Signer
	b.MustSeal(t, ctx, "nightly", "n-1")
	b.Signer = sealtest.NewSigner(t)
	sl, _ := b.MustSeal(t, ctx, "nightly", "n-2")
	if sl.Signature.KeyID != b.Signer.Public().KeyID() {
		t.Errorf("new seal signed by %s", sl.Signature.KeyID)
	}
	pub, err := crypto.ParseVerifyKey(sealtest.Get(t, b.Offsite, seal.SigningKeyKey))
	if err != nil || pub.KeyID() != first.Public().KeyID() {
		t.Errorf("keys/signing.pub = %v, %v; want the first key", pub, err)
	}
	for _, name := range []string{"n-1", "n-2"} {
		if _, err := seal.Verify(ctx, b.Offsite, "nightly", name, seal.VerifyOptions{TrustBucketKey: true}); err != nil {
			t.Errorf("Verify %s from the bucket's keys: %v", name, err)
		}
	}
	// Sealing n-1 again with the new key returns the old seal untouched
	// when the old key is still trusted, and refuses it when not.
	s := b.Sealer()
	if _, err := s.Seal(ctx, "nightly", "n-1"); !errors.Is(err, seal.ErrUntrusted) {
		t.Errorf("re-seal after rotation, old key not trusted: %v, want ErrUntrusted", err)
	}
	s.TrustedKeys = []crypto.VerifyKey{first.Public()}
	again, err := s.Seal(ctx, "nightly", "n-1")
	if err != nil || again.Signature.KeyID != first.Public().KeyID() {
		t.Errorf("re-seal after rotation: %v, %v", again, err)
	}
	// A tampered archive entry is refused.
	sealtest.Put(t, b.Offsite, seal.SigningKeyArchiveKey(b.Signer.Public().KeyID()), []byte(first.Public().String()+"\n"))
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "n-2", seal.VerifyOptions{TrustBucketKey: true}); !errors.Is(err, seal.ErrBadSeal) || !errors.Is(err, seal.ErrSigningKey) {
		t.Errorf("Verify with a swapped archive key: %v", err)
	}
}

func TestList(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.MustSeal(t, ctx, "nightly", "n-1")
	b.MustSeal(t, ctx, "weekly", "w-1")
	sealtest.Put(t, b.Offsite, seal.ObjectKey("nightly", "n-0", "x"), []byte("partial"))
	sealtest.Put(t, b.Offsite, seal.SealKey("manual", "bad"), []byte("{}"))
	entries, err := seal.List(ctx, b.Offsite)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		schedule, backup string
		state            seal.EntryState
	}{
		{"manual", "bad", seal.StateInvalid},
		{"nightly", "n-0", seal.StateIncomplete},
		{"nightly", "n-1", seal.StateSealed},
		{"weekly", "w-1", seal.StateSealed},
	}
	if len(entries) != len(want) {
		t.Fatalf("List = %+v", entries)
	}
	for i, w := range want {
		e := entries[i]
		if e.Schedule != w.schedule || e.Backup != w.backup || e.State != w.state || e.Restorable() != (w.state == seal.StateSealed) {
			t.Errorf("entry %d = %+v, want %+v", i, e, w)
		}
		if e.State == seal.StateSealed && (e.SealedAt.IsZero() || e.Objects == 0 || e.Bytes == 0) {
			t.Errorf("sealed entry without details: %+v", e)
		}
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func ptr[T any](v T) *T { return &v }
