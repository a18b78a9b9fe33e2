package seal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// formatPendingV2 is the format of sealing.json, the marker of a seal in
// progress, signed by the sealer. (v1 markers were unsigned: anyone who
// could write to the bucket could plant one, and a resumed seal took its
// retention; they are not trusted.)
const formatPendingV2 = "safekeep.dev/sealing/v2"

// pending is sealing.json: written (signed, unlocked) before the first
// object, deleted after seal.json. It pins what a resumed run must keep so
// that objects uploaded by an interrupted run are reused only when they are
// what this run would upload: the same recipients (an age file does not say
// whom it is encrypted to, so this cannot be checked on the objects) and the
// same lock mode. Retention is never taken from it: new writes are retained
// for the target's full period from the time of writing.
type pending struct {
	Format     string    `json:"format"`
	Schedule   string    `json:"schedule"`
	Backup     string    `json:"backup"`
	StartedAt  time.Time `json:"startedAt"`
	Recipients []string  `json:"recipients"`
	Lock       *LockInfo `json:"lock,omitempty"`
}

// markerTrust is what claimPending needs to sign and check markers.
type markerTrust struct {
	signer crypto.SigningKey
	keys   []crypto.VerifyKey // the signer's public key and the target's previous keys
	// objectsPresent: objects of this backup are already offsite, so a
	// marker that cannot be trusted cannot be replaced either.
	objectsPresent bool
}

// claimPending writes the signed marker for a new seal, or reads the marker
// of an interrupted one and checks that it is trusted and compatible. It
// returns the marker in force and whether this call created it.
//
// A marker not signed by a trusted key (planted, or from an older version)
// is removed and claimed again when no object of the backup is offsite yet;
// otherwise it is refused with an error wrapping ErrUntrusted.
func claimPending(ctx context.Context, offsite storage.Store, key string, want pending, mt markerTrust) (pending, bool, error) {
	data, err := marshalSigned(want, mt.signer)
	if err != nil {
		return pending{}, false, err
	}
	for attempt := 0; ; attempt++ {
		err = putSmall(ctx, offsite, key, data, storage.PutOptions{IfAbsent: true})
		if err == nil {
			return want, true, nil
		}
		if !errors.Is(err, storage.ErrExists) {
			return pending{}, false, err
		}
		got, err := readPending(ctx, offsite, key, want, mt.keys)
		switch {
		case errors.Is(err, storage.ErrNotFound) && attempt < 2:
			continue // a concurrent sealer just finished and removed it
		case errors.Is(err, ErrUntrusted) && !mt.objectsPresent && attempt < 2:
			// Nothing of ours is there: the marker was planted ahead.
			if derr := offsite.Delete(ctx, key); derr == nil {
				continue
			}
			return pending{}, false, fmt.Errorf("%s is refused and cannot be removed: %w", key, err)
		case errors.Is(err, ErrUntrusted):
			return pending{}, false, fmt.Errorf("%s is refused, and objects of unknown origin are offsite beside it; delete that incomplete copy first: %w", key, err)
		}
		return got, false, err
	}
}

// readPending reads the marker an interrupted run left and checks that it
// is signed by a trusted key and that this run may complete what it started.
func readPending(ctx context.Context, offsite storage.Store, key string, want pending, keys []crypto.VerifyKey) (pending, error) {
	data, err := getSmall(ctx, offsite, key, maxKeyFile)
	if err != nil {
		return pending{}, err
	}
	var got pending
	if err := parseSigned(data, formatPendingV2, keys, &got); err != nil {
		return pending{}, fmt.Errorf("in-progress marker %s: %w", key, err)
	}
	if got.Schedule != want.Schedule || got.Backup != want.Backup {
		return pending{}, fmt.Errorf("in-progress marker %s: %w: it is the marker of %s/%s", key, ErrUntrusted, got.Schedule, got.Backup)
	}
	if !slices.Equal(got.Recipients, want.Recipients) {
		return pending{}, fmt.Errorf("%w: an interrupted seal of this backup encrypted to recipients %v, not %v; seal it with those recipients, or delete its objects first",
			ErrSealConflict, got.Recipients, want.Recipients)
	}
	if (got.Lock == nil) != (want.Lock == nil) || (got.Lock != nil && got.Lock.Mode != want.Lock.Mode) {
		return pending{}, fmt.Errorf("%w: an interrupted seal of this backup used object lock %s, not %s",
			ErrSealConflict, describeLock(got.Lock), describeLock(want.Lock))
	}
	return got, nil
}

func describeLock(l *LockInfo) string {
	if l == nil {
		return "none"
	}
	return string(l.Mode)
}
