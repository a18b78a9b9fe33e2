package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// VerifyOptions tune Verify. The zero value verifies nothing: a seal is
// checked against pinned keys (VerifyKey, TrustedKeys), or against the key
// published in the bucket only when TrustBucketKey asks for it.
type VerifyOptions struct {
	// VerifyKey pins the signing key: the seal must be signed by it (or by
	// one of TrustedKeys).
	VerifyKey *crypto.VerifyKey
	// TrustedKeys are more pinned keys: the seal must be signed by
	// VerifyKey or one of these (a target's current key and the keys it
	// signed with before a rotation).
	TrustedKeys []crypto.VerifyKey
	// TrustBucketKey, when no key is pinned, takes the signing key from
	// the bucket (see SigningKeyFor). That guards against accidents, not
	// against someone who can write to the bucket: only an explicit choice
	// of the user (a CLI flag) sets it. Without it, and no key pinned,
	// Verify fails with ErrNoTrustedKey.
	TrustBucketKey bool
	// Binding, when set, refuses a seal made for another bucket and
	// prefix, or by another cluster (ErrMisplaced).
	Binding Binding
	// Identities, when set, also decrypt the manifest and every object and
	// check each plaintext's size and SHA-256 against the manifest.
	Identities []crypto.Identity
	// Quick checks the signature and that every object is present with its
	// sealed size, downloading nothing else.
	Quick bool
	// Concurrency is how many objects are read at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Progress, when set, is called as ciphertext is read; calls never overlap.
	Progress func(Progress)
}

// Verify checks a sealed backup: the seal's signature, every object present
// with the sealed ciphertext size and SHA-256, the manifest's ciphertext;
// and with identities, every plaintext against the manifest. Objects under
// objects/ that the seal does not list are named in Report.Extra and
// otherwise ignored.
//
// The Report lists each problem found. The error is nil when there is none;
// it wraps ErrNotSealed or ErrBadSeal when the seal itself is missing or
// invalid (nothing else is checked then), is a *VerifyError wrapping each
// problem's sentinel when objects are wrong, and is a plain error when the
// bucket cannot be read.
func Verify(ctx context.Context, offsite storage.Store, schedule, backup string, opts VerifyOptions) (*Report, error) {
	rep := &Report{Schedule: schedule, Backup: backup}
	sl, keyID, err := loadSeal(ctx, offsite, schedule, backup, opts)
	if err != nil {
		return rep, err
	}
	rep.Seal, rep.KeyID, rep.Objects, rep.CiphertextBytes = sl, keyID, len(sl.Objects), sl.CiphertextBytes()
	offsite, rep.Hidden, err = recoverBackup(ctx, offsite, sl)
	if err != nil {
		return rep, err
	}
	good, manifestOK, err := checkListing(ctx, offsite, sl, rep)
	if err != nil || opts.Quick {
		if err == nil {
			err = rep.err()
		}
		return rep, err
	}
	m := newMeter(opts.Progress, schedule, backup, len(sl.Objects)+1, rep.CiphertextBytes+sl.Manifest.Size)
	var manifest *Manifest
	if manifestOK {
		if manifest, err = checkManifest(ctx, offsite, sl, opts.Identities, rep, m); err != nil {
			return rep, err
		}
	}
	var ids []crypto.Identity
	if manifest != nil {
		ids = opts.Identities // without the manifest there is nothing to check plaintext against
		rep.Decrypted = len(ids) > 0
	}
	if err := checkObjects(ctx, offsite, sl, manifest, ids, good, opts.concurrency(), rep, m); err != nil {
		return rep, err
	}
	if err := checkVolumeBlobs(ctx, offsite, sl, manifest, ids, opts.concurrency(), rep); err != nil {
		return rep, err
	}
	return rep, rep.err()
}

// loadSeal reads, parses and verifies seal.json, and returns the seal and
// the id of the key that verified it.
func loadSeal(ctx context.Context, offsite storage.Store, schedule, backup string, opts VerifyOptions) (*Seal, string, error) {
	if err := ValidateName("schedule", schedule); err != nil {
		return nil, "", err
	}
	if err := ValidateName("backup", backup); err != nil {
		return nil, "", err
	}
	key := SealKey(schedule, backup)
	var data []byte
	err := retry(ctx, func() error {
		var err error
		data, err = getSmall(ctx, offsite, key, maxSealSize)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		sl, keyID, herr := hiddenSeal(ctx, offsite, schedule, backup, opts)
		if herr != nil || sl != nil {
			return sl, keyID, herr
		}
		return nil, "", fmt.Errorf("%w: backup %s/%s has no seal.json", ErrNotSealed, schedule, backup)
	}
	if errors.Is(err, storage.ErrCorrupt) {
		return nil, "", fmt.Errorf("backup %s/%s: %w: %w", schedule, backup, ErrBadSeal, damaged(key, err))
	}
	if err != nil && IsRetryable(err) && ctx.Err() == nil {
		return nil, "", fmt.Errorf("backup %s/%s: %w: %s: %w", schedule, backup, ErrUnreadable, key, err)
	}
	if err != nil {
		return nil, "", err
	}
	sl, keyID, err := checkSeal(ctx, offsite, schedule, backup, data, opts)
	if err != nil {
		return replacedSeal(ctx, offsite, schedule, backup, opts, err)
	}
	return sl, keyID, nil
}

// checkSeal parses seal.json's bytes and verifies its signature.
func checkSeal(ctx context.Context, offsite storage.Store, schedule, backup string, data []byte, opts VerifyOptions) (*Seal, string, error) {
	sl, err := ParseSeal(data)
	if err != nil {
		return nil, "", fmt.Errorf("backup %s/%s: %w", schedule, backup, err)
	}
	if sl.Schedule != schedule || sl.Backup != backup {
		return nil, "", fmt.Errorf("backup %s/%s: %w: it seals %s/%s", schedule, backup, ErrBadSeal, sl.Schedule, sl.Backup)
	}
	vk, err := trustedKey(ctx, offsite, sl, opts)
	if err != nil {
		return nil, "", fmt.Errorf("backup %s/%s: %w", schedule, backup, err)
	}
	if err := sl.VerifySignature(vk); err != nil {
		return nil, "", fmt.Errorf("backup %s/%s: %w", schedule, backup, err)
	}
	if err := opts.Binding.Check(sl); err != nil {
		return nil, "", fmt.Errorf("backup %s/%s: %w", schedule, backup, err)
	}
	return sl, vk.KeyID(), nil
}

// pinned is VerifyKey and TrustedKeys, the keys a seal must be signed by;
// empty when none is pinned.
func (o VerifyOptions) pinned() []crypto.VerifyKey {
	if o.VerifyKey == nil {
		return o.TrustedKeys
	}
	return append([]crypto.VerifyKey{*o.VerifyKey}, o.TrustedKeys...)
}

// checkListing compares the objects under objects/ and the manifest with the
// seal by name and size. It returns the sealed objects present with their
// sealed size, and whether the manifest is.
func checkListing(ctx context.Context, offsite storage.Store, sl *Seal, rep *Report) (map[string]bool, bool, error) {
	prefix := ObjectsPrefix(sl.Schedule, sl.Backup)
	sealed := make(map[string]Object, len(sl.Objects))
	for _, o := range sl.Objects {
		sealed[o.Name] = o
	}
	good := make(map[string]bool, len(sl.Objects))
	seen := make(map[string]bool, len(sl.Objects))
	for info, err := range offsite.List(ctx, prefix) {
		if err != nil {
			return nil, false, err
		}
		name, ok := objectNameFromKey(prefix, info.Key)
		want, sealedHere := sealed[name]
		switch {
		case !ok || !sealedHere:
			// Anyone who can write to the bucket can add one: named,
			// never read, never a reason to refuse a restore.
			rep.Extra = append(rep.Extra, info.Key)
			continue
		case info.Size != want.Size:
			rep.add(ProblemSize, name, fmt.Errorf("%w: ciphertext is %d bytes, sealed %d", ErrObjectMismatch, info.Size, want.Size))
		default:
			good[name] = true
		}
		seen[name] = true
	}
	for _, o := range sl.Objects {
		if !seen[o.Name] {
			rep.add(ProblemMissing, o.Name, fmt.Errorf("%w: %s", ErrObjectMissing, ObjectKey(sl.Schedule, sl.Backup, o.Name)))
		}
	}
	mkey := ManifestKey(sl.Schedule, sl.Backup)
	info, err := offsite.Stat(ctx, mkey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		rep.add(ProblemMissing, ManifestObject, fmt.Errorf("%w: %s", ErrObjectMissing, mkey))
		return good, false, nil
	case err != nil:
		return nil, false, err
	case info.Size != sl.Manifest.Size:
		rep.add(ProblemSize, ManifestObject, fmt.Errorf("%w: ciphertext is %d bytes, sealed %d", ErrObjectMismatch, info.Size, sl.Manifest.Size))
		return good, false, nil
	}
	return good, true, nil
}

// checkManifest reads the manifest, checks its ciphertext against the seal
// and, with identities, decrypts and parses it and checks it against the
// seal. It returns the manifest when it decrypted and checked out.
func checkManifest(ctx context.Context, offsite storage.Store, sl *Seal, ids []crypto.Identity, rep *Report, m *meter) (*Manifest, error) {
	var buf cappedBuffer
	key := ManifestKey(sl.Schedule, sl.Backup)
	res, err := readRetried(ctx, offsite, key, sl.Manifest.Size, ids, &buf, buf.Reset, func(n int64) { m.add(ManifestObject, n) })
	if errors.Is(err, errManifestTooLarge) {
		rep.add(ProblemManifest, ManifestObject, fmt.Errorf("%w: %w", ErrBadManifest, err))
		return nil, nil
	}
	if err != nil {
		kind, perr, ok := readProblem(ctx, key, err)
		if !ok {
			return nil, err
		}
		rep.add(kind, ManifestObject, perr)
		return nil, nil
	}
	m.done(ManifestObject)
	if kind, err := checkCipher(Object{Name: ManifestObject, Size: sl.Manifest.Size, SHA256: sl.Manifest.SHA256}, res.cipher); err != nil {
		rep.add(kind, ManifestObject, err)
		return nil, nil
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if res.decryptErr != nil {
		rep.add(ProblemDecrypt, ManifestObject, decryptProblem(res.decryptErr))
		return nil, nil
	}
	manifest, err := ParseManifest(buf.Bytes())
	if err == nil {
		err = manifest.matches(sl)
	}
	if err != nil {
		rep.add(ProblemManifest, ManifestObject, err)
		return nil, nil
	}
	return manifest, nil
}

// checkObjects reads every sealed object present with its sealed size and
// checks its ciphertext, and with identities its plaintext.
func checkObjects(ctx context.Context, offsite storage.Store, sl *Seal, manifest *Manifest, ids []crypto.Identity,
	good map[string]bool, limit int, rep *Report, m *meter) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, o := range sl.Objects {
		if !good[o.Name] {
			continue
		}
		g.Go(func() error {
			key := ObjectKey(sl.Schedule, sl.Backup, o.Name)
			res, err := readRetried(gctx, offsite, key, o.Size, ids, io.Discard, nil, func(n int64) { m.add(o.Name, n) })
			if err != nil {
				// A damaged or unreadable object is a problem about it
				// alone: the others are still checked.
				kind, perr, ok := readProblem(gctx, key, err)
				if !ok {
					return err
				}
				mu.Lock()
				rep.add(kind, o.Name, perr)
				mu.Unlock()
				return nil
			}
			m.done(o.Name)
			mu.Lock()
			defer mu.Unlock()
			if kind, err := checkCipher(o, res.cipher); err != nil {
				rep.add(kind, o.Name, err)
			}
			if len(ids) == 0 {
				return nil
			}
			if res.decryptErr != nil {
				rep.add(ProblemDecrypt, o.Name, decryptProblem(res.decryptErr))
				return nil
			}
			want, _ := manifest.Object(o.Name) // matches() made sure it is there
			if err := checkPlain(want, res.plain); err != nil {
				rep.add(ProblemPlaintext, o.Name, err)
			}
			rep.PlaintextBytes += res.plain.Size
			return nil
		})
	}
	return g.Wait()
}

func (o VerifyOptions) concurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return DefaultConcurrency
}

// errManifestTooLarge: a decrypted manifest exceeds maxSealSize.
var errManifestTooLarge = fmt.Errorf("manifest is larger than %d bytes", maxSealSize)

// cappedBuffer is a bytes.Buffer that refuses to grow past maxSealSize.
type cappedBuffer struct{ bytes.Buffer }

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > maxSealSize {
		return 0, errManifestTooLarge
	}
	return c.Buffer.Write(p)
}
