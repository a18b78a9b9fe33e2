package seal

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// RecoverAction says how Recover brought a hidden object back.
type RecoverAction string

const (
	// ActionRemoveMarkers: the delete marker (and any newer version over
	// the recovered one) was deleted by version ID; the recovered version
	// is current again, untouched, its lock as it was.
	ActionRemoveMarkers RecoverAction = "remove-markers"
	// ActionCopyBack: removing what lies over it was refused (a locked
	// forged version, or a bucket policy that forbids deleting versions),
	// so the recovered version's bytes were written again as the current
	// version, under the seal's lock when it has not expired.
	ActionCopyBack RecoverAction = "copy-back"
	// ActionNone: nothing under the marker matches: nothing was done.
	ActionNone RecoverAction = "none"
)

// Recovery is what Recover did (or, in a dry run, would do) for one hidden
// object.
type Recovery struct {
	Hidden
	Action RecoverAction
	// Removed are the version IDs deleted (markers and newer versions).
	Removed []string
	// Err is set when the action failed.
	Err error
}

// RecoverOptions tune Recover.
type RecoverOptions struct {
	VerifyOptions
	// DryRun finds what is hidden and plans, changing nothing.
	DryRun bool
}

// Recover finds what delete markers hide in a sealed backup (as Verify
// does, with the same checks: an object only from a version the seal's
// digest matches, seal.json only from a version that verifies with a
// pinned key) and makes each recovered version current again: it deletes
// the markers and any newer version over it by version ID, and when that is
// refused copies the version back as a new current object. Hidden receipts
// come back too, each from a version signed by a pinned key for the digest
// its name carries (a resumed seal needs them; verify does not). The report
// is Verify's after the recovery (before it, in a dry run).
func Recover(ctx context.Context, offsite storage.Store, schedule, backup string, opts RecoverOptions) ([]Recovery, *Report, error) {
	vo := opts.VerifyOptions
	vo.Quick = true
	rep, err := Verify(ctx, offsite, schedule, backup, vo)
	var verr *VerifyError
	if err != nil && !errors.As(err, &verr) {
		return nil, rep, err
	}
	receipts, rerr := hiddenReceipts(ctx, offsite, schedule, backup, vo.pinned())
	if rerr != nil {
		return nil, rep, rerr
	}
	if rep != nil {
		vreceipts, rerr := hiddenVolumeReceipts(ctx, offsite, rep.Seal, vo.pinned())
		if rerr != nil {
			return nil, rep, rerr
		}
		receipts = append(receipts, vreceipts...)
	}
	out := make([]Recovery, 0, len(rep.Hidden)+len(receipts))
	for _, h := range append(slices.Clone(rep.Hidden), receipts...) {
		r := Recovery{Hidden: h, Action: ActionNone}
		if h.Recovered() {
			r.Action = ActionRemoveMarkers
			if !opts.DryRun {
				r.Action, r.Removed, r.Err = bringBack(ctx, offsite, h, lockOf(rep))
			}
		}
		out = append(out, r)
	}
	if opts.DryRun || len(out) == 0 {
		return out, rep, err
	}
	after, err := Verify(ctx, offsite, schedule, backup, vo)
	return out, after, err
}

// lockOf is the lock rep's seal records, nil when none or no seal.
func lockOf(rep *Report) *LockInfo {
	if rep == nil || rep.Seal == nil {
		return nil
	}
	return rep.Seal.Lock
}

// bringBack makes h's recovered version current (storage.MakeCurrent), a
// copy put back locked as the seal says while its lock lasts.
func bringBack(ctx context.Context, offsite storage.Store, h Hidden, lock *LockInfo) (RecoverAction, []string, error) {
	var opts storage.PutOptions
	if lock != nil && lock.RetainUntil.After(time.Now()) {
		opts.LockMode, opts.RetainUntil = lock.Mode, lock.RetainUntil
	}
	copied, removed, err := storage.MakeCurrent(ctx, offsite, h.Key, h.VersionID, opts)
	if copied {
		return ActionCopyBack, removed, err
	}
	return ActionRemoveMarkers, removed, err
}
