package seal

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// Deferred counts blobs left for the next pass: CollectWindow ended.
	Deferred int
	// Hidden are the blobs retained seals need whose current version is a
	// delete marker (someone deleted them with the bucket's credentials;
	// verify, drills and restores read the version under it), by key.
	// Counted even when a seal in progress stops the deletes.
	Hidden map[string]Hidden
}

// HiddenBlobs returns the blobs of sl that delete markers hide (Hidden),
// sorted by key.
func (gc VolumeGC) HiddenBlobs(sl *Seal) []Hidden {
	if sl == nil || len(gc.Hidden) == 0 {
		return nil
	}
	var out []Hidden
	for _, o := range sl.VolumeBlobs {
		if h, ok := gc.Hidden[o.Name]; ok {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b Hidden) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// CollectVolumeBlobs deletes the sealed volume blobs (docs/volumes.md,
// "Retention") that no retained seal needs, with their receipts. The
// retained seals are those l vouched for (see Listing), less those
// dropped since: a seal is retained while its seal.json is in the bucket
// (or hidden under a delete marker or a forged version, with a version
// that verifies: recoverable); only seals signed by one of l's keys count,
// of any schedule, cluster or place: an unverified seal.json neither keeps
// a blob nor frees one, so a forged seal can make nothing go. A blob is
// deleted only when a receipt signed by a trusted key shows a trusted
// sealer wrote it, every version by its ID (no delete marker is left), and
// only once its object lock allows (Locked until then: sealing extends a
// reused blob's lock to the new seal's).
//
// Before deleting anything it puts a notice that it is collecting, then
// lists backups/ again: it deletes nothing when the bucket cannot be
// listed or a seal of the bucket is in progress (InProgress), since that
// seal's blobs are in no seal.json yet, and a seal.json written since l
// keeps its blobs. A seal that began after that look sees the notice
// (volumes_collecting.go). Blobs are deleted for CollectWindow at most
// (Deferred after). Other failures are joined in the error; what it did
// is counted.
func CollectVolumeBlobs(ctx context.Context, l *Listing, now time.Time) (VolumeGC, error) {
	var gc VolumeGC
	offsite := l.offsite
	needed := l.neededVolumeBlobs()
	gc.Needed = len(needed)
	// The versions listing is also the test for skipping the rest: nothing
	// can be skipped before it. A target with no volume data answers it
	// with one empty page, and then nothing more is read. Without it, no
	// seal referencing volume blobs would not mean none is there: a seal
	// this pass (or one cut short) deleted, a seal cut short before its
	// seal.json, or a blob hidden under a delete marker by someone holding
	// the bucket's credentials leaves unneeded blobs of PHI that only a
	// listing of versions shows (a listing of current objects does not
	// show a key whose current version is a marker): skipping would keep
	// them past retention.
	found, err := listVolumeVersions(ctx, offsite)
	if err != nil {
		return gc, fmt.Errorf("volume retention: %w", err)
	}
	gc.Hidden = found.hidden(needed)
	if !found.anyToDelete(needed) {
		return gc, nil
	}
	// Before any delete: the notice, then a look for seals begun or
	// completed since the listing (volumes_collecting.go).
	if err := postCollecting(ctx, offsite); err != nil {
		return gc, err
	}
	defer dropCollecting(offsite)
	running, since, err := l.sealedSince(ctx, now)
	if err != nil || running != "" {
		gc.InProgress = running
		return gc, err
	}
	for _, k := range since {
		needed[k] = true
	}
	gc.Needed = len(needed)
	c := collector{offsite: offsite, trusted: l.keys, found: found, gc: &gc, gone: map[string]bool{}, receipts: map[string]bool{},
		until: time.Now().Add(CollectWindow)}
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

// neededVolumeBlobs are the keys of the volume blobs the retained seals
// list: every seal l vouched for (current, or any version of a seal.json
// with several, that verifies against l's keys, whatever place or cluster
// it names) of a folder not dropped since. A seal that verifies under one
// view but not another (another place's seal, signed by a trusted key,
// copied over this one's seal.json) keeps its blobs too: erring towards
// keeping, never towards deleting.
func (l *Listing) neededVolumeBlobs() map[string]bool {
	needed := map[string]bool{}
	for id, seals := range l.vouched {
		if l.dropped[id] {
			continue
		}
		for _, sl := range seals {
			for _, o := range sl.VolumeBlobs {
				needed[o.Name] = true
			}
		}
	}
	return needed
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

// hidden returns the keys among needed whose current version is a delete
// marker, each as a Hidden naming the marker.
func (vv volumeVersions) hidden(needed map[string]bool) map[string]Hidden {
	out := map[string]Hidden{}
	for key := range needed {
		k := vv.keys[key]
		if k == nil {
			continue
		}
		if marker, ok := storage.Hidden(k.versions); ok {
			out[key] = Hidden{Key: key, Object: key, MarkerID: marker.VersionID, MarkerAt: marker.LastModified}
		}
	}
	return out
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
	// until is when the pass stops deleting blobs (CollectWindow).
	until time.Time
}

// collectBlob deletes the blob at key, which no retained seal needs, when a
// trusted receipt vouches for it, then its receipts.
func (c *collector) collectBlob(ctx context.Context, key string, vk *volumeKey) {
	if time.Now().After(c.until) {
		c.gc.Deferred++
		return
	}
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

// anyToDelete reports whether the pass may delete something: a blob not
// needed, or a receipt of a content-named blob that is not offsite.
func (vv volumeVersions) anyToDelete(needed map[string]bool) bool {
	for key, vk := range vv.keys {
		if vk.kind == volumeBlobKind && !needed[key] {
			return true
		}
		if vk.kind == volumeReceiptKind && !mutableBlobs[vk.id] {
			if _, there := vv.keys[VolumeBlobKey(vk.repo, vk.id, "")]; !there {
				return true
			}
		}
	}
	return false
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
