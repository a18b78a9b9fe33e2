package backupschedule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// lockRetryInterval is when a delete refused by object lock is tried again
// when the lock's end is not known (an object written by a resumed seal
// can be locked longer than its seal records).
const lockRetryInterval = time.Hour

// retentionOutcome is what a retention pass over one schedule's offsite
// backups found and did. The bucket is the source of truth: Entries are
// read from it with seal.List, not from OffsiteBackup objects.
type retentionOutcome struct {
	// Listed is set when the bucket was listed: Entries is then complete.
	Listed bool
	// Entries are the schedule's sealed backups still in the bucket after
	// the pass, by backup name; those whose seal.json a delete marker hides
	// are among them when a version under it verifies (seal.Entry's
	// Recoverable): the attack object lock survived does not unseal them.
	Entries map[string]seal.Entry
	// TargetHidden counts the objects of every trusted seal in the bucket
	// (every schedule's) that delete markers hide or that were overwritten,
	// the volume blobs they need included.
	TargetHidden int
	// Kept says, for each kept backup, the rules that keep it.
	Kept map[string][]retention.Reason
	// Waiting are backups retention dropped that object lock still holds,
	// with the lock's end (zero when unknown). They stay sealed.
	Waiting map[string]time.Time
	// Deleted are backups retention dropped and the pass deleted.
	Deleted []string
	// Untrusted are the schedule's backups whose seal.json is not signed
	// by a key the target trusts (planted, or copied from elsewhere): never
	// counted by retention, recorded, drilled or deleted; reported.
	Untrusted []string
	// Leftovers counts incomplete folders (no seal.json, no seal in
	// progress) that could not be removed yet.
	Leftovers int
	// Volumes is what the pass did to the target's sealed volume blobs
	// once its seals were deleted: those no retained seal (of any
	// schedule) needs are deleted once their lock allows.
	Volumes seal.VolumeGC
	// Err is set when the pass could not decide or delete something; what
	// it did before stays valid.
	Err error
}

// nextRetry is when the pass should run again for the backups object lock
// holds: the earliest known lock end, or lockRetryInterval after now when
// one is unknown. Zero when nothing waits.
func (o *retentionOutcome) nextRetry(now time.Time) time.Time {
	var at time.Time
	for _, until := range o.Waiting {
		if until.IsZero() || !until.After(now) {
			until = now.Add(lockRetryInterval)
		}
		if at.IsZero() || until.Before(at) {
			at = until
		}
	}
	if (o.Leftovers > 0 || o.Volumes.Locked > 0 || o.Volumes.Deferred > 0) && (at.IsZero() || now.Add(lockRetryInterval).Before(at)) {
		at = now.Add(lockRetryInterval)
	}
	return at
}

// retentionPolicy converts the API's policy; nil keeps everything.
func retentionPolicy(p *v1alpha1.RetentionPolicy, loc *time.Location) retention.Policy {
	if p == nil {
		return retention.Policy{Location: loc}
	}
	return retention.Policy{
		KeepLast: int(p.KeepLast), KeepDaily: int(p.KeepDaily), KeepWeekly: int(p.KeepWeekly),
		KeepMonthly: int(p.KeepMonthly), KeepYearly: int(p.KeepYearly), Location: loc,
	}
}

// applyRetention applies policy to the sealed backups of schedule (the
// offsite <schedule> folder) in offsite whose seals verify against trusted
// (seal.ListTrusted), and deletes those it drops once their object lock
// allows. A dropped backup loses its seal.json first, so
// that a deletion cut short never leaves a copy listed as restorable; its
// other objects follow. Incomplete folders with no seal in progress (what
// such a cut leaves) are removed too, and so are those whose seal marker
// is older than abandonedSealAfter (runs that ended unsealed), except
// active's, the backup being sealed now, and those recorded as sealed
// (recorded: the schedule's OffsiteBackups): a sealed backup whose
// seal.json disappeared is evidence, never cleaned up (syncGoneRecords).
//
// Then it deletes the target's volume blobs no retained seal needs
// (seal.CollectVolumeBlobs), from the same listing of seals less those it
// deleted.
//
// Each deletion is recorded (record) before it starts, so a
// crash mid-deletion cannot lose the record; the record must not repeat
// itself when a later pass completes the deletion.
func applyRetention(ctx context.Context, offsite storage.Store, trusted []crypto.VerifyKey, bind seal.Binding, schedule, active string, policy retention.Policy, now time.Time,
	record func(backup string), recorded map[string]bool) retentionOutcome {
	out := retentionOutcome{
		Entries: map[string]seal.Entry{},
		Kept:    map[string][]retention.Reason{},
		Waiting: map[string]time.Time{},
	}
	// One listing serves the pass: the schedule's retention and the volume
	// blobs' reference counting (seal.Listing).
	listing, err := seal.ScanTrusted(ctx, offsite, trusted)
	var entries []seal.Entry
	if err == nil {
		entries, err = listing.Bound(ctx, bind)
	}
	if err != nil {
		out.Err = fmt.Errorf("list offsite backups: %w", err)
		return out
	}
	out.Listed = true
	items, incomplete := out.sort(entries, schedule, active)
	res, err := retention.Apply(items, policy)
	if err != nil {
		out.Err = err
		return out
	}
	for _, k := range res.Keep {
		out.Kept[k.ID] = k.Reasons
	}
	var errs []error
	for _, d := range res.Drop {
		e := out.Entries[d.ID]
		if l := e.Seal.Lock; l != nil && now.Before(l.RetainUntil) {
			out.Waiting[d.ID] = l.RetainUntil
			continue
		}
		record(d.ID)
		err := deleteBackup(ctx, offsite, schedule, d.ID)
		switch {
		case errors.Is(err, errSealLocked):
			out.Waiting[d.ID] = time.Time{}
			continue
		case errors.Is(err, errSealKept):
			errs = append(errs, err)
			continue
		case errors.Is(err, storage.ErrLocked):
			// Objects of a resumed seal can be locked longer than the seal.
			out.Leftovers++
		case err != nil:
			out.Leftovers++
			errs = append(errs, err)
		}
		// seal.json is gone: the backup is no longer restorable, whatever
		// is left of it is an incomplete folder, removed by later passes.
		listing.Drop(schedule, d.ID)
		delete(out.Entries, d.ID)
		out.Deleted = append(out.Deleted, d.ID)
	}
	for _, b := range incomplete {
		if recorded[b] {
			continue // was sealed: its seal is gone, its objects are evidence (syncGoneRecords)
		}
		if err := cleanIncomplete(ctx, offsite, schedule, b, now); errors.Is(err, storage.ErrLocked) {
			out.Leftovers++
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	// Last, when the seals that go are gone: a blob one of them shared
	// with a retained seal stays.
	if out.Volumes, err = seal.CollectVolumeBlobs(ctx, listing, now); err != nil {
		errs = append(errs, err)
	}
	out.TargetHidden += len(out.Volumes.Hidden) // shared blobs count once

	out.Err = errors.Join(errs...)
	return out
}

// sort files the listed entries of schedule: sealed ones (into Entries,
// and returned for retention), untrusted ones, and incomplete folders to
// clean (but active's). It counts the target's hidden objects over every
// schedule.
func (o *retentionOutcome) sort(entries []seal.Entry, schedule, active string) (items []retention.Item, incomplete []string) {
	for _, e := range entries {
		if e.Restorable() || e.Recoverable() {
			o.TargetHidden += len(e.HiddenObjects())
		}
		switch {
		case e.Schedule != schedule:
		case e.Restorable() || e.Recoverable():
			o.Entries[e.Backup] = e
			items = append(items, retention.Item{ID: e.Backup, Time: backupTime(e)})
		case e.State == seal.StateIncomplete && e.Backup != active:
			incomplete = append(incomplete, e.Backup)
		case e.State == seal.StateUntrusted:
			o.Untrusted = append(o.Untrusted, e.Backup)
		}
	}
	return items, incomplete
}

// backupTime is when a sealed backup was taken, for retention's calendar:
// Velero's start time, else the seal's time.
func backupTime(e seal.Entry) time.Time {
	if v := e.Seal.Velero; v != nil && v.StartTimestamp != nil {
		return *v.StartTimestamp
	}
	return e.SealedAt
}

// Errors of deleteBackup that leave the backup sealed: nothing of it was
// deleted.
var (
	// errSealLocked: object lock refused deleting seal.json.
	errSealLocked = errors.New("seal.json is locked")
	// errSealKept: deleting seal.json failed otherwise.
	errSealKept = errors.New("seal.json was not deleted")
)

// deleteBackup deletes a sealed backup: seal.json first (after which the
// copy is incomplete and never restorable), then every other object in its
// folder. When seal.json cannot be deleted it stops, and the error wraps
// errSealLocked or errSealKept. Other errors come after seal.json is gone:
// objects refused by object lock (wrapping storage.ErrLocked) or failed
// deletes, the others deleted.
func deleteBackup(ctx context.Context, offsite storage.Store, schedule, backup string) error {
	// By version ID: a plain delete on a versioned bucket would leave the
	// seal under a marker, and the marker would look like an attack.
	if _, err := storage.PurgeKey(ctx, offsite, seal.SealKey(schedule, backup)); err != nil {
		kept := errSealKept
		if errors.Is(err, storage.ErrLocked) {
			kept = errSealLocked
		}
		return fmt.Errorf("delete offsite backup %s/%s: %w: %w", schedule, backup, kept, err)
	}
	return deleteFolder(ctx, offsite, seal.BackupPrefix(schedule, backup))
}

// abandonedSealAfter is how long an incomplete folder's seal marker
// (sealing.json) is left alone when its backup is not the schedule's run in
// flight. The controller resumes only that run's seal, so such a marker is
// an abandoned run's (ended while the controller was down, the Velero
// backup gone), or a seal running elsewhere (the CLI) that may still be
// writing: a day is longer than any seal.
const abandonedSealAfter = seal.AbandonedAfter

// cleanIncomplete removes an incomplete backup folder (callers skip the
// run in flight's) unless a seal may still be in progress there: its
// marker is present and younger than abandonedSealAfter (or its age is
// unknown). An older marker can no longer be resumed and goes with the
// folder.
func cleanIncomplete(ctx context.Context, offsite storage.Store, schedule, backup string, now time.Time) error {
	info, err := offsite.Stat(ctx, seal.PendingKey(schedule, backup))
	switch {
	case err == nil && (info.LastModified.IsZero() || now.Sub(info.LastModified) < abandonedSealAfter):
		return nil
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("check incomplete offsite backup %s/%s: %w", schedule, backup, err)
	}
	return deleteFolder(ctx, offsite, seal.BackupPrefix(schedule, backup))
}

// deleteFolder deletes every object under prefix, every version of each by
// its ID (storage.Purge: on a versioned bucket a plain delete would leave
// the ciphertext as a version under a marker), going on past locked ones.
func deleteFolder(ctx context.Context, offsite storage.Store, prefix string) error {
	res, err := storage.Purge(ctx, offsite, prefix)
	if err != nil {
		return fmt.Errorf("delete %s (%d locked versions among %d objects): %w", strings.TrimSuffix(prefix, "/"), res.Locked, res.Keys, err)
	}
	return nil
}

// describeReasons renders the rules keeping a backup, for a condition.
func describeReasons(rs []retention.Reason) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}
