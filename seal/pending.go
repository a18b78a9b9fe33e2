package seal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// formatPendingV1 is the format of sealing.json, the marker of a seal in
// progress.
const formatPendingV1 = "safekeep.dev/sealing/v1"

// pending is sealing.json: written (plaintext, unlocked) before the first
// object, deleted after seal.json. It pins what a resumed run must keep so
// that objects uploaded by an interrupted run are reused only when they are
// what this run would upload: the same recipients (an age file does not say
// whom it is encrypted to, so this cannot be checked on the objects) and the
// same retention.
type pending struct {
	Format     string    `json:"format"`
	StartedAt  time.Time `json:"startedAt"`
	Recipients []string  `json:"recipients"`
	Lock       *LockInfo `json:"lock,omitempty"`
}

// claimPending writes the marker for a new seal, or reads the marker of an
// interrupted one and checks that it is compatible. It returns the marker in
// force and whether this call created it.
func claimPending(ctx context.Context, offsite storage.Store, key string, want pending) (pending, bool, error) {
	data, err := json.Marshal(want)
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
		got, err := readPending(ctx, offsite, key, want)
		if errors.Is(err, storage.ErrNotFound) && attempt < 2 {
			continue // a concurrent sealer just finished and removed it
		}
		return got, false, err
	}
}

// readPending reads the marker an interrupted run left and checks that this
// run may complete what it started.
func readPending(ctx context.Context, offsite storage.Store, key string, want pending) (pending, error) {
	data, err := getSmall(ctx, offsite, key, maxKeyFile)
	if err != nil {
		return pending{}, err
	}
	var got pending
	if err := decodeStrict(data, &got); err != nil || got.Format != formatPendingV1 {
		return pending{}, fmt.Errorf("%w: %s is not a %s marker", ErrSealConflict, key, formatPendingV1)
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
