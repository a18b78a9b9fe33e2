package seal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// AbandonedAfter is how long a seal in progress (its marker, sealing.json)
// is taken to be still running: a day is longer than any seal. An older
// marker is an abandoned run's.
const AbandonedAfter = 24 * time.Hour

// VolumeGC counts what CollectVolumeBlobs found and did.
type VolumeGC struct {
	// Needed counts the volume blobs the retained seals list.
	Needed int
	// Deleted counts the blobs deleted (every version, by its ID), and
	// DeletedBytes their ciphertext.
	Deleted      int
	DeletedBytes int64
	// Receipts counts the receipts deleted: those of deleted blobs, and
	// those of uploads that never completed.
	Receipts int
	// Locked counts blobs no retained seal needs that object lock still
	// holds: a later pass deletes them.
	Locked int
	// Foreign counts blobs no retained seal needs and no receipt signed by
	// a trusted key vouches for (not written by a trusted sealer): they
	// are left alone.
	Foreign int
	// InProgress names the seal in progress ("<schedule>/<backup>") that
	// made the pass delete nothing: the blobs it adopts or uploads are in
	// no seal.json yet. Empty when the pass ran.
	InProgress string
}

// CollectVolumeBlobs deletes the sealed volume blobs (docs/volumes.md,
// "Retention") that no retained seal needs, with their receipts. A seal is
// retained while its seal.json is in the bucket (or hidden under a delete
// marker with a version that verifies: recoverable); only seals signed by
// one of trusted count, of any schedule, cluster or place: an unverified
// seal.json neither keeps a blob nor frees one, so a forged seal can make
// nothing go. A blob is deleted only when a receipt signed by a trusted
// key shows a trusted sealer wrote it, every version by its ID (no delete
// marker is left), and only once its object lock allows (Locked until
// then: sealing extends a reused blob's lock to the new seal's).
//
// It deletes nothing when the bucket cannot be listed or a seal of the
// bucket is in progress (InProgress), since that seal's blobs are in no
// seal.json yet. Other failures are joined in the error; what it did is
// counted.
func CollectVolumeBlobs(ctx context.Context, offsite storage.Store, trusted []crypto.VerifyKey, now time.Time) (VolumeGC, error) {
	var gc VolumeGC
	entries, err := ListTrusted(ctx, offsite, trusted, Binding{})
	if err != nil {
		return gc, fmt.Errorf("volume retention: %w", err)
	}
	needed := map[string]bool{}
	for _, e := range entries {
		if e.State == StateIncomplete {
			running, err := sealRunning(ctx, offsite, e, now)
			if err != nil {
				return gc, fmt.Errorf("volume retention: %w", err)
			}
			if running {
				gc.InProgress = e.Schedule + "/" + e.Backup
				return gc, nil
			}
			continue
		}
		sl := e.Seal
		if !e.Restorable() && !e.Recoverable() {
			if sl, err = overwrittenSeal(ctx, offsite, e, trusted); err != nil {
				return gc, fmt.Errorf("volume retention: %w", err)
			}
		}
		if sl != nil {
			for _, o := range sl.VolumeBlobs {
				needed[o.Name] = true
			}
		}
	}
	gc.Needed = len(needed)
	found, err := listVolumeVersions(ctx, offsite)
	if err != nil {
		return gc, fmt.Errorf("volume retention: %w", err)
	}
	c := collector{offsite: offsite, trusted: trusted, found: found, gc: &gc, gone: map[string]bool{}, receipts: map[string]bool{}}
	for key, vk := range found.keys {
		if vk.kind == volumeBlobKind && !needed[key] {
			c.collectBlob(ctx, key, vk)
		}
	}
	c.collectOrphanReceipts(ctx)
	if err := errors.Join(c.errs...); err != nil {
		return gc, fmt.Errorf("volume retention: %w", err)
	}
	return gc, nil
}

// sealRunning reports whether the incomplete entry e is a seal in progress:
// its marker is there and younger than AbandonedAfter (or of unknown age).
func sealRunning(ctx context.Context, offsite storage.Store, e Entry, now time.Time) (bool, error) {
	info, err := offsite.Stat(ctx, PendingKey(e.Schedule, e.Backup))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check seal in progress %s/%s: %w", e.Schedule, e.Backup, err)
	}
	return info.LastModified.IsZero() || now.Sub(info.LastModified) < AbandonedAfter, nil
}

// overwrittenSeal returns, for an entry whose current seal.json does not
// verify (untrusted, invalid, hidden with nothing verifying under the
// marker), the newest older version of it that verifies against trusted:
// on a versioned bucket, whoever holds the bucket's credentials can put a
// forged version on top of a retained seal, which must not free the blobs
// that seal needs. Nil when none does (always, without versions).
func overwrittenSeal(ctx context.Context, offsite storage.Store, e Entry, trusted []crypto.VerifyKey) (*Seal, error) {
	if e.State != StateUntrusted && e.State != StateInvalid && e.State != StateHidden {
		return nil, nil
	}
	vs, err := storage.Versions(ctx, offsite, SealKey(e.Schedule, e.Backup))
	if err != nil {
		return nil, fmt.Errorf("versions of the seal of %s/%s: %w", e.Schedule, e.Backup, err)
	}
	o, err := vouchedUnder(ctx, offsite, Entry{Schedule: e.Schedule, Backup: e.Backup, Hidden: &Hidden{}}, vs,
		func(sl *Seal) error { return sl.Trusted(trusted) })
	return o.Seal, err
}

// Kinds of keys under VolumesDir.
const (
	volumeBlobKind    = "blobs/"
	volumeReceiptKind = "receipts/"
)

// volumeKey is a key under VolumesDir, split: its repository folder
// (VolumeRepoPath), its kind, the kopia blob ID it is of, and its versions.
type volumeKey struct {
	repo, kind, id string
	versions       []storage.Version
}

// volumeVersions is every version of every key under VolumesDir.
type volumeVersions struct {
	keys map[string]*volumeKey
}

// listVolumeVersions lists every version under VolumesDir (on a bucket
// without versions, each object as its one version), by key. Keys not
// shaped as sealed blobs or receipts are left out: nothing touches them.
func listVolumeVersions(ctx context.Context, offsite storage.Store) (volumeVersions, error) {
	vv := volumeVersions{keys: map[string]*volumeKey{}}
	for v, err := range offsite.ListVersions(ctx, VolumesDir) {
		if err != nil {
			return vv, fmt.Errorf("list %s: %w", VolumesDir, err)
		}
		k := vv.keys[v.Key]
		if k == nil {
			parsed, ok := parseVolumeKey(v.Key)
			if !ok {
				continue
			}
			k = &parsed
			vv.keys[v.Key] = k
		}
		k.versions = append(k.versions, v)
	}
	return vv, nil
}

// parseVolumeKey splits a key of a sealed volume blob
// (<repo>blobs/<id>.age, <repo>blobs/<id>.<sha256>.age) or receipt
// (<repo>receipts/<id>.<sha256>.json).
func parseVolumeKey(key string) (volumeKey, bool) {
	parts := strings.SplitN(strings.TrimPrefix(key, VolumesDir), "/", 6)
	if !strings.HasPrefix(key, VolumesDir) || len(parts) != 6 {
		return volumeKey{}, false
	}
	k := volumeKey{repo: VolumeRepoPath(parts[0], parts[1], parts[2], parts[3]), kind: parts[4] + "/"}
	name := parts[5]
	switch k.kind {
	case volumeBlobKind:
		id, ok := strings.CutSuffix(name, objectSuffix)
		if i := strings.LastIndex(id, "."); i > 0 && mutableBlobs[id[:i]] {
			id = id[:i]
		}
		k.id = id
		return k, ok && k.id != "" && key == VolumeBlobKey(k.repo, k.id, strings.TrimSuffix(strings.TrimPrefix(name, k.id+"."), objectSuffix))
	case volumeReceiptKind:
		rest, ok := strings.CutSuffix(name, ".json")
		i := strings.LastIndex(rest, ".")
		if !ok || i <= 0 || !isLowerHex(rest[i+1:]) || len(rest[i+1:]) != 64 {
			return volumeKey{}, false
		}
		k.id = rest[:i]
		return k, true
	}
	return volumeKey{}, false
}

// collector deletes unneeded volume blobs and their receipts.
type collector struct {
	offsite storage.Store
	trusted []crypto.VerifyKey
	found   volumeVersions
	gc      *VolumeGC
	errs    []error
	// gone are the blob keys deleted, receipts the receipt keys.
	gone, receipts map[string]bool
}

// collectBlob deletes the blob at key, which no retained seal needs, when a
// trusted receipt vouches for it, then its receipts.
func (c *collector) collectBlob(ctx context.Context, key string, vk *volumeKey) {
	receipts, err := c.trustedReceipts(ctx, key, vk)
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	if len(receipts) == 0 {
		c.gc.Foreign++
		return
	}
	bytes, locked, err := c.purge(ctx, key, vk.versions)
	switch {
	case err != nil:
		c.errs = append(c.errs, err)
		return
	case locked:
		c.gc.Locked++
		return
	}
	c.gc.Deleted++
	c.gc.DeletedBytes += bytes
	c.gone[key] = true
	for _, r := range receipts {
		c.deleteReceipt(ctx, r)
	}
}

// trustedReceipts returns the receipt keys of the blob at key whose
// current version is signed by a trusted key and names this blob.
func (c *collector) trustedReceipts(ctx context.Context, key string, vk *volumeKey) ([]string, error) {
	var out []string
	prefix := vk.repo + volumeReceiptKind + vk.id + "."
	for rk, r := range c.found.keys {
		if r.kind != volumeReceiptKind || r.repo != vk.repo || r.id != vk.id || !strings.HasPrefix(rk, prefix) {
			continue
		}
		data, err := getSmall(ctx, c.offsite, rk, maxKeyFile)
		if errors.Is(err, storage.ErrNotFound) { // hidden under a marker, or gone
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read receipt %s: %w", rk, err)
		}
		var rc volumeReceipt
		if parseSigned(data, formatVolumeReceiptV1, c.trusted, &rc) == nil && rc.Key == key {
			out = append(out, rk)
		}
	}
	return out, nil
}

// purge deletes every version of key by its ID, and returns the bytes
// deleted and whether object lock kept some.
func (c *collector) purge(ctx context.Context, key string, versions []storage.Version) (int64, bool, error) {
	var bytes int64
	locked := false
	for _, v := range versions {
		err := c.offsite.DeleteVersion(ctx, key, v.VersionID)
		switch {
		case errors.Is(err, storage.ErrLocked):
			locked = true
		case err != nil:
			return bytes, locked, err
		case !v.DeleteMarker:
			bytes += v.Size
		}
	}
	return bytes, locked, nil
}

// deleteReceipt deletes every version of the receipt at key.
func (c *collector) deleteReceipt(ctx context.Context, key string) {
	vk := c.found.keys[key]
	if vk == nil {
		return
	}
	if _, _, err := c.purge(ctx, key, vk.versions); err != nil {
		c.errs = append(c.errs, err)
		return
	}
	c.receipts[key] = true
	c.gc.Receipts++
}

// collectOrphanReceipts deletes the receipts of content-named blobs that
// are not offsite at all: left by uploads that never completed (a seal
// writes the receipt before the blob's last byte), or by blobs deleted
// above. A receipt of an identity blob (kopia.repository, ...) does not
// name its blob's key, so it goes only with its blob (collectBlob).
func (c *collector) collectOrphanReceipts(ctx context.Context) {
	for key, vk := range c.found.keys {
		if vk.kind != volumeReceiptKind || mutableBlobs[vk.id] {
			continue
		}
		blob := VolumeBlobKey(vk.repo, vk.id, "")
		if _, there := c.found.keys[blob]; (there && !c.gone[blob]) || c.receipts[key] {
			continue
		}
		c.deleteReceipt(ctx, key)
	}
}
