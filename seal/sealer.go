package seal

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// DefaultConcurrency is how many objects a Sealer copies at once by default.
const DefaultConcurrency = 4

// Lock asks for S3 object lock retention on everything a seal writes
// (objects, manifest, seal.json).
type Lock struct {
	Mode       storage.LockMode
	RetainDays int
}

// Sealer copies Velero backups offsite, encrypted and sealed. Its fields are
// read, never changed, so one Sealer may seal several backups at once.
type Sealer struct {
	// Source is the Velero backup storage location, rooted at its prefix.
	Source storage.Store
	// Offsite is the offsite store, rooted at <prefix>/safekeep/v1/.
	Offsite storage.Store
	// Recipients every object is encrypted to; at least one.
	Recipients []crypto.Recipient
	// Signer signs seal.json; its public key is published in the bucket.
	Signer crypto.SigningKey
	// TrustedKeys are the keys, besides Signer's, whose seals count as
	// "already sealed" (a target's previous signing keys). A seal signed by
	// any other key is refused (ErrUntrusted), never adopted.
	TrustedKeys []crypto.VerifyKey
	// Lock, when set, puts object-lock retention on every object written;
	// the offsite bucket must have object lock enabled.
	Lock *Lock
	// Concurrency is how many objects are in flight; 0 means
	// DefaultConcurrency. Memory is about 2 MiB per object in flight,
	// whatever the objects' sizes.
	Concurrency int
	// ClusterID names the source cluster in the seal; may be empty. An
	// existing seal of another cluster is never adopted.
	ClusterID string
	// Place is the offsite bucket and prefix the seal records; an existing
	// seal that names another is never adopted. Zero records none.
	Place Place
	// Progress, when set, is called as plaintext bytes are read from the
	// source and as objects finish; calls never overlap. An object copy
	// that is retried takes its bytes back, so BytesDone can go down. It may
	// cancel the seal's context.
	Progress func(Progress)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Volumes, when set, finds the backup's volume data (kopia
	// repositories), which is sealed with it (docs/volumes.md).
	Volumes VolumePlanner
}

// run is the state of one Seal call.
type run struct {
	src, offsite     storage.Store
	recipients       []crypto.Recipient
	schedule, backup string
	meter            *meter
	signer           crypto.SigningKey  // signs receipts
	trusted          []crypto.VerifyKey // whose receipts and markers count
	headerLen        int64              // age header length for these recipients
	lock             *LockInfo          // what the seal records
	putRetain        time.Time          // retain-until of new writes
}

// Seal copies the Velero backup named backup from Source to Offsite under
// schedule, then writes the encrypted manifest and, last, the signed
// seal.json, and returns the seal.
//
// It is idempotent: when the backup is already sealed and the seal
// verifies (signature, every object present with its size), it returns
// that seal and writes nothing. A run stopped at any point leaves no
// seal.json; the next run reuses what is already offsite (re-reading it
// rather than uploading it again) and completes the seal. See docs/seal.md.
//
// It refuses a backup that is not Completed (ErrNotCompleted), that has no
// objects (ErrNoObjects) or no velero-backup.json (ErrNotVeleroBackup), and
// offsite leftovers it cannot complete (ErrSealConflict).
func (s *Sealer) Seal(ctx context.Context, schedule, backup string) (*Seal, error) {
	if err := ValidateName("schedule", schedule); err != nil {
		return nil, err
	}
	if err := ValidateName("backup", backup); err != nil {
		return nil, err
	}
	pub, err := s.check()
	if err != nil {
		return nil, err
	}
	if existing, err := s.existingSeal(ctx, pub, schedule, backup); existing != nil || err != nil {
		if existing != nil {
			// A run killed between seal.json and its marker's removal
			// left the marker: nothing can resume it any more.
			s.dropPending(ctx, schedule, backup)
		}
		return existing, err
	}
	sl, err := s.seal(ctx, pub, schedule, backup)
	if err != nil {
		return nil, fmt.Errorf("seal %s/%s: %w", schedule, backup, err)
	}
	return sl, nil
}

func (s *Sealer) seal(ctx context.Context, pub crypto.VerifyKey, schedule, backup string) (*Seal, error) {
	info, err := readVeleroInfo(ctx, s.Source, backup)
	if err != nil {
		return nil, err
	}
	objects, err := listSource(ctx, s.Source, backup)
	if err != nil {
		return nil, err
	}
	present, err := s.offsiteObjects(ctx, schedule, backup, objects)
	if err != nil {
		return nil, err
	}
	r, created, err := s.newRun(ctx, pub, schedule, backup, objects, len(present) > 0)
	if err != nil {
		return nil, err
	}
	if created && len(present) > 0 {
		return s.orphans(ctx, pub, schedule, backup)
	}
	if err := publishSigningKey(ctx, s.Offsite, pub); err != nil {
		return nil, err
	}
	results, err := r.sealObjects(ctx, objects, present, s.concurrency())
	if err != nil {
		return nil, err
	}
	var resources map[string][]string
	err = retry(ctx, func() (err error) {
		resources, err = readResourceList(ctx, s.Source, objects, backup)
		return err
	})
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: FormatManifestV1, Schedule: schedule, Backup: backup, Resources: resources}
	doc := Document{
		Format: FormatSealV1, Schedule: schedule, Backup: backup, Cluster: s.ClusterID, Target: s.Place.orNil(),
		Velero: info, Recipients: fingerprints(s.Recipients), Lock: r.lock,
	}
	for _, res := range results {
		m.Objects = append(m.Objects, Object{Name: res.name, Size: res.plain.Size, SHA256: res.plain.SHA256})
		doc.Objects = append(doc.Objects, Object{Name: res.name, Size: res.cipher.Size, SHA256: res.cipher.SHA256})
	}
	if err := s.sealPlannedVolumes(ctx, r, m, &doc); err != nil {
		return nil, err
	}
	if doc.Manifest, err = r.sealManifest(ctx, m); err != nil {
		return nil, err
	}
	doc.SealedAt = s.now().UTC().Truncate(time.Second)
	return s.writeSeal(ctx, r, pub, doc)
}

// writeSeal signs doc and writes seal.json, last and only if absent.
func (s *Sealer) writeSeal(ctx context.Context, r *run, pub crypto.VerifyKey, doc Document) (*Seal, error) {
	raw, err := MarshalSeal(doc, s.Signer)
	if err != nil {
		return nil, err
	}
	key := SealKey(doc.Schedule, doc.Backup)
	err = retry(ctx, func() error {
		err := putSmall(ctx, s.Offsite, key, raw, r.putOptions(0))
		if errors.Is(err, storage.ErrStoredWrong) { // putSmall could not remove it
			err = r.lockedWrong(key, err)
		}
		return err
	})
	if errors.Is(err, storage.ErrExists) { // a concurrent sealer finished first
		s.dropPending(ctx, doc.Schedule, doc.Backup)
		existing, err := s.existingSeal(ctx, pub, doc.Schedule, doc.Backup)
		if err == nil && existing == nil {
			err = fmt.Errorf("%s exists but cannot be read", key)
		}
		return existing, err
	}
	if err != nil {
		return nil, err
	}
	// The marker has done its job. It is not locked; a leftover one beside a
	// seal.json is harmless, so a failed delete is not an error.
	s.dropPending(ctx, doc.Schedule, doc.Backup)
	return ParseSeal(raw)
}

// existingSeal returns the backup's seal when there is one that verifies
// (signed by a trusted key, objects present with their sizes), nil when
// there is none, and an error when there is one that does not verify: one
// signed by a key the target does not trust wraps ErrUntrusted.
func (s *Sealer) existingSeal(ctx context.Context, pub crypto.VerifyKey, schedule, backup string) (*Seal, error) {
	rep, err := Verify(ctx, s.Offsite, schedule, backup, VerifyOptions{VerifyKey: &pub, TrustedKeys: s.TrustedKeys, Quick: true,
		Binding: Binding{Place: s.Place, Cluster: s.ClusterID}})
	if errors.Is(err, ErrNotSealed) {
		return nil, nil
	}
	if errors.Is(err, ErrUntrusted) {
		return nil, fmt.Errorf("backup %s/%s: %s is there, but refused: %w", schedule, backup, SealKey(schedule, backup), err)
	}
	if err != nil {
		return nil, fmt.Errorf("backup %s/%s is already sealed, but its seal does not verify: %w", schedule, backup, err)
	}
	return rep.Seal, nil
}

// offsiteObjects lists objects already offsite (from an interrupted run) and
// refuses any the source backup does not have.
func (s *Sealer) offsiteObjects(ctx context.Context, schedule, backup string, objects []sourceObject) (map[string]bool, error) {
	prefix := ObjectsPrefix(schedule, backup)
	present := map[string]bool{}
	for info, err := range s.Offsite.List(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		name, ok := objectNameFromKey(prefix, info.Key)
		if !ok || !slices.ContainsFunc(objects, func(o sourceObject) bool { return o.Name == name }) {
			return nil, fmt.Errorf("%w: offsite %s is not an object of backup %s; delete the incomplete copy first", ErrSealConflict, info.Key, backup)
		}
		present[name] = true
	}
	return present, nil
}

// newRun fixes the run's recipients and retention, claiming the
// in-progress marker or checking the one an interrupted run left.
func (s *Sealer) newRun(ctx context.Context, pub crypto.VerifyKey, schedule, backup string, objects []sourceObject, present bool) (*run, bool, error) {
	var total int64
	for _, o := range objects {
		total += o.Size
	}
	r := &run{
		src: s.Source, offsite: s.Offsite, recipients: s.Recipients,
		schedule: schedule, backup: backup,
		signer: s.Signer, trusted: trustedKeysOf(pub, s.TrustedKeys),
		meter: newMeter(s.Progress, schedule, backup, len(objects), total),
	}
	var hdr bytes.Buffer
	if _, err := crypto.Encrypt(&hdr, s.Recipients); err != nil {
		return nil, false, err
	}
	r.headerLen = int64(hdr.Len())
	now := s.now().UTC().Truncate(time.Second)
	want := pending{Format: formatPendingV2, Schedule: schedule, Backup: backup, StartedAt: now, Recipients: fingerprints(s.Recipients)}
	if s.Lock != nil {
		on, err := s.Offsite.ObjectLockEnabled(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("check object lock of %s: %w", s.Offsite, err)
		}
		if !on {
			return nil, false, fmt.Errorf("%w: %s", ErrLockUnavailable, s.Offsite)
		}
		want.Lock = &LockInfo{Mode: s.Lock.Mode, RetainUntil: now.AddDate(0, 0, s.Lock.RetainDays)}
	}
	mt := markerTrust{signer: s.Signer, keys: r.trusted, objectsPresent: present}
	got, created, err := claimPending(ctx, s.Offsite, PendingKey(schedule, backup), want, mt)
	if err != nil {
		return nil, false, err
	}
	if got.Lock != nil {
		// The seal records the first run's date, which every object is
		// retained until at least; new writes get the target's full
		// retention from now, never less (docs/seal.md).
		r.lock = got.Lock
		if want.Lock.RetainUntil.Before(got.Lock.RetainUntil) {
			r.lock = want.Lock
		}
		r.putRetain = want.Lock.RetainUntil
	}
	return r, created, nil
}

// orphans handles objects found offsite with no in-progress marker: either
// a concurrent sealer finished (and removed its marker) meanwhile, or they
// are of unknown origin (a deleted seal.json, say) and must not be reused,
// since nothing says whom they are encrypted to.
func (s *Sealer) orphans(ctx context.Context, pub crypto.VerifyKey, schedule, backup string) (*Seal, error) {
	existing, err := s.existingSeal(ctx, pub, schedule, backup)
	if existing != nil || err != nil {
		s.dropPending(ctx, schedule, backup)
		return existing, err
	}
	s.dropPending(ctx, schedule, backup)
	return nil, fmt.Errorf("%w: %s holds objects but neither a seal.json nor an in-progress marker; delete that incomplete copy first",
		ErrSealConflict, BackupPrefix(schedule, backup))
}

// sealObjects seals every object, the largest first, a few at a time, and
// returns the results in name order.
func (r *run) sealObjects(ctx context.Context, objects []sourceObject, present map[string]bool, limit int) ([]objectResult, error) {
	order := make([]int, len(objects))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(objects[b].Size, objects[a].Size) })
	results := make([]objectResult, len(objects))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, i := range order {
		g.Go(func() (err error) {
			results[i], err = r.sealObject(gctx, objects[i], present[objects[i].Name])
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// sealManifest encrypts and uploads the manifest, or reuses the one an
// interrupted run uploaded (its bytes are deterministic), and returns the
// ciphertext's size and digest.
func (r *run) sealManifest(ctx context.Context, m *Manifest) (Blob, error) {
	data, err := m.Marshal()
	if err != nil {
		return Blob{}, err
	}
	key := ManifestKey(r.schedule, r.backup)
	var cipher Blob
	err = retry(ctx, func() error {
		_, err := r.offsite.Stat(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			_, cipher, err = r.encryptPut(ctx, key, r.receiptFor(ctx, ManifestObject), bytes.NewReader(data), int64(len(data)), nil)
		}
		if err == nil || errors.Is(err, storage.ErrExists) {
			cipher, err = r.offsiteDigest(ctx, key, int64(len(data)))
		}
		if err == nil {
			err = r.checkReceipt(ctx, key, ManifestObject, cipher)
		}
		return err
	})
	if err != nil {
		return Blob{}, fmt.Errorf("seal manifest: %w", err)
	}
	return cipher, nil
}

// check validates the Sealer's settings and returns the signer's public key.
func (s *Sealer) check() (crypto.VerifyKey, error) {
	if s.Source == nil || s.Offsite == nil {
		return crypto.VerifyKey{}, errors.New("sealer: source and offsite stores are required")
	}
	if len(s.Recipients) == 0 {
		return crypto.VerifyKey{}, fmt.Errorf("sealer: %w", crypto.ErrNoRecipients)
	}
	if l := s.Lock; l != nil {
		if l.Mode != storage.LockGovernance && l.Mode != storage.LockCompliance {
			return crypto.VerifyKey{}, fmt.Errorf("sealer: object lock mode %q is not %s or %s", l.Mode, storage.LockGovernance, storage.LockCompliance)
		}
		if l.RetainDays < 1 {
			return crypto.VerifyKey{}, fmt.Errorf("sealer: object lock retain days %d is less than 1", l.RetainDays)
		}
	}
	pub, err := verifyKeyOf(s.Signer)
	if err != nil {
		return crypto.VerifyKey{}, fmt.Errorf("sealer: %w", err)
	}
	return pub, nil
}

func (s *Sealer) concurrency() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	return DefaultConcurrency
}

func (s *Sealer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// fingerprints returns the recipients' fingerprints, sorted and unique.
func fingerprints(rs []crypto.Recipient) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Fingerprint())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// dropPending removes the in-progress marker, every version of it, so no
// delete marker of Safekeep's own is left to look like an attacker's. It
// is not locked; a leftover one beside a seal.json is harmless, so a failed
// delete is not an error.
func (s *Sealer) dropPending(ctx context.Context, schedule, backup string) {
	_, _ = storage.PurgeKey(ctx, s.Offsite, PendingKey(schedule, backup)) // see above: harmless when it fails
}
