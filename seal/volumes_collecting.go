package seal

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// Without object lock nothing stops a volume retention pass from deleting
// a blob that a seal which started after the pass's listing has just
// reused (docs/volumes.md, "Retention"). The pass and the seal each write
// their own flag, then read the other's, so at least one sees the other:
//
//   - the pass puts collectingKey, then lists backups/: a seal in progress
//     (a fresh sealing.json) makes it delete nothing, and a seal.json
//     written since its listing keeps the blobs it lists;
//   - the seal writes sealing.json before it reuses any blob, and reads
//     collectingKey after its last blob and before seal.json: when a pass
//     is collecting, it waits for the pass to end (at most CollectWindow
//     and a margin) and seals again each of its blobs that is gone.
const collectingKey = VolumesDir + "collecting.json"

// CollectWindow bounds how long after its notice a volume retention pass
// goes on deleting blobs: what is left is deferred to the next pass, and a
// seal that sees the notice waits no longer than this (and a minute).
const CollectWindow = 10 * time.Minute

// collectingWait is how long a seal waits past CollectWindow, and
// collectingPoll how often it looks whether the pass ended.
const (
	collectingWait = CollectWindow + time.Minute
	collectingPoll = 500 * time.Millisecond
)

// formatCollectingV1 is the notice's format; it holds nothing else.
const formatCollectingV1 = "safekeep.dev/volume-collecting/v1"

// postCollecting puts the pass's notice.
func postCollecting(ctx context.Context, offsite storage.Store) error {
	data := []byte(`{"format":"` + formatCollectingV1 + `"}` + "\n")
	if err := putSmall(ctx, offsite, collectingKey, data, storage.PutOptions{}); err != nil {
		return fmt.Errorf("volume retention: put %s: %w", collectingKey, err)
	}
	return nil
}

// dropCollecting removes the notice, every version of it. A leftover one
// (the delete failed) makes seals wait; the next pass replaces and
// removes it.
func dropCollecting(offsite storage.Store) {
	// The pass's context may be done: the notice must go all the same.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) //nolint:contextcheck // see above
	defer cancel()
	_, _ = storage.PurgeKey(ctx, offsite, collectingKey) // see above: harmless when it fails
}

// sealedSince lists backups/ again, once the pass's notice is there. It
// returns a seal in progress ("<schedule>/<backup>": a fresh sealing.json)
// or, when none is, the volume blobs listed by the trusted seal.json files
// of folders the listing l did not find sealed (seals completed since).
func (l *Listing) sealedSince(ctx context.Context, now time.Time) (string, []string, error) {
	known := make(map[string]bool, len(l.all))
	for _, e := range l.all {
		if e.State != StateIncomplete {
			known[e.Schedule+"/"+e.Backup] = true
		}
	}
	var blobs []string
	for info, err := range l.offsite.List(ctx, BackupsDir) {
		if err != nil {
			return "", nil, fmt.Errorf("volume retention: list %s: %w", BackupsDir, err)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(info.Key, BackupsDir), "/"+path.Base(info.Key))
		switch path.Base(info.Key) {
		case pendingName:
			if info.LastModified.IsZero() || now.Sub(info.LastModified) < AbandonedAfter {
				return id, nil, nil
			}
		case sealName:
			if known[id] {
				continue
			}
			data, err := getSmall(ctx, l.offsite, info.Key, maxSealSize)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return "", nil, fmt.Errorf("volume retention: read %s: %w", info.Key, err)
			}
			if sl, err := ParseSeal(data); err == nil && sl.Schedule+"/"+sl.Backup == id && sl.Trusted(l.keys) == nil {
				for _, o := range sl.VolumeBlobs {
					blobs = append(blobs, o.Name)
				}
			}
		}
	}
	return "", blobs, nil
}

// awaitCollecting reports whether a volume retention pass was collecting
// when this seal's blobs were all sealed, after waiting for it to end (its
// notice gone, or collectingWait passed). A notice older than this seal's
// marker by more than collectingWait is a pass's that ended long before
// this seal began (its removal failed): ignored.
func (r *run) awaitCollecting(ctx context.Context) (bool, error) {
	start := time.Now()
	for first := true; ; first = false {
		info, err := r.offsite.Stat(ctx, collectingKey)
		if errors.Is(err, storage.ErrNotFound) {
			return !first, nil
		}
		if err != nil {
			return false, fmt.Errorf("check %s: %w", collectingKey, err)
		}
		if first {
			marker, err := r.offsite.Stat(ctx, PendingKey(r.schedule, r.backup))
			if err == nil && info.LastModified.Add(collectingWait).Before(marker.LastModified) {
				return false, nil
			}
		}
		if time.Since(start) > collectingWait {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(collectingPoll):
		}
	}
}

// volumeBlobHeld reports whether the sealed blob vb is still offsite with
// the receipt this seal recorded for it.
func (r *run) volumeBlobHeld(ctx context.Context, repoPath string, vb VolumeBlob) (bool, error) {
	for _, key := range []string{vb.Key, VolumeReceiptKey(repoPath, vb.ID, vb.CipherSHA256)} {
		_, err := r.offsite.Stat(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}
