package seal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// storedWrong handles a Put of key that the server accepted but stored
// wrong (storage.ErrStoredWrong: a server that skipped its checksum check
// kept a body cut or changed on the way). The wrong object is removed and
// the error returned is retryable, so the upload is tried again. When
// object lock keeps it, nothing can remove or replace it before the lock
// ends: the error is a permanent ErrSealConflict that says so and what to
// do, rather than advice impossible under lock.
func (r *run) storedWrong(ctx context.Context, key string, err error) error {
	if err = storage.RemoveStoredWrong(ctx, r.offsite, key, err); !errors.Is(err, storage.ErrStoredWrong) {
		return err
	}
	return r.lockedWrong(key, err)
}

// lockedWrong is the error of a wrong object at key that object lock keeps.
func (r *run) lockedWrong(key string, err error) error {
	return permanent(fmt.Errorf("%w: %w; object lock keeps it, so %s: the S3 server did not check the upload's checksum, fix or replace it",
		ErrSealConflict, err, r.blockedBy(key)))
}

// lockAdvice is what to do about a wrong or unknown object at key found
// offsite: delete it, or, when object lock keeps it, that nothing can
// before the lock ends and what that blocks.
func (r *run) lockAdvice(ctx context.Context, key string) string {
	info, err := r.offsite.Stat(ctx, key)
	if err != nil || !info.RetainUntil.After(time.Now()) {
		return "delete the incomplete copy first"
	}
	return fmt.Sprintf("it is locked (%s) until %s and nothing can remove it before then, so %s",
		info.LockMode, info.RetainUntil.UTC().Format(time.RFC3339), r.blockedBy(key))
}

// blockedBy says what a locked wrong object at key blocks: this backup, or,
// for a content-addressed volume blob, every backup that needs it.
func (r *run) blockedBy(key string) string {
	if !strings.HasPrefix(key, BackupPrefix(r.schedule, r.backup)) {
		return fmt.Sprintf("no backup that needs %s can be sealed to this target until the lock ends", key)
	}
	return fmt.Sprintf("backup %s/%s cannot be sealed to this target; the next backup is sealed under its own name", r.schedule, r.backup)
}
