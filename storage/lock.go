package storage

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
)

// lockHeaders are the object-lock headers a HEAD or GET answers with.
const (
	headerLockMode  = "X-Amz-Object-Lock-Mode"
	headerLockUntil = "X-Amz-Object-Lock-Retain-Until-Date"
)

// lockOf reads an object's retention from its HEAD (or GET) headers; zero
// when it has none or the date does not parse.
func lockOf(h http.Header) (LockMode, time.Time) {
	until, err := time.Parse(time.RFC3339, h.Get(headerLockUntil))
	if err != nil {
		return "", time.Time{}
	}
	return LockMode(h.Get(headerLockMode)), until.UTC()
}

// ExtendLock makes key's object-lock retention last until at least until
// (S3 PutObjectRetention on its current version). A retention already as
// long is left alone: it never shortens one. It keeps the mode the object
// was locked with, else uses mode: S3 takes any mode change as a weakening,
// which COMPLIANCE never allows.
func (s *S3) ExtendLock(ctx context.Context, key string, mode LockMode, until time.Time) error {
	until = until.UTC().Truncate(time.Second)
	info, err := s.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("extend lock: %w", err)
	}
	if !info.RetainUntil.Before(until) {
		return nil
	}
	if info.LockMode != "" {
		mode = info.LockMode
	}
	obj, err := s.object(key)
	if err != nil {
		return fmt.Errorf("extend lock of %s: %w", key, err)
	}
	m := minio.RetentionMode(mode)
	err = s.client.PutObjectRetention(ctx, s.bucket, obj, minio.PutObjectRetentionOptions{Mode: &m, RetainUntilDate: &until})
	if err == nil {
		return nil
	}
	// A concurrent extension past until makes this one a shortening, which
	// is refused; what is there is then enough.
	if again, serr := s.Stat(ctx, key); serr == nil && !again.RetainUntil.Before(until) {
		return nil
	}
	return s.wrapErr("extend lock of", key, err, false)
}

// ExtendLock implements Store.
func (s *memStore) ExtendLock(ctx context.Context, key string, mode LockMode, until time.Time) error {
	if err := s.check(ctx, "extend lock of", key, ErrNotFound); err != nil {
		return err
	}
	if !s.b.opts.ObjectLock {
		return fmt.Errorf("extend lock of %s: object lock is not enabled on the bucket", key)
	}
	o, err := s.lookup("extend lock of", key)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if o.lockMode == "" {
		o.lockMode = mode
	}
	if until = until.UTC().Truncate(time.Second); o.retainUntil.Before(until) {
		o.retainUntil = until
	}
	o.info.LockMode, o.info.RetainUntil = o.lockMode, o.retainUntil
	return nil
}

func (r *retryStore) ExtendLock(ctx context.Context, key string, mode LockMode, until time.Time) error {
	return r.p.doOp(ctx, "extend lock of "+key, func() error { return r.s.ExtendLock(ctx, key, mode, until) })
}
