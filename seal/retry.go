package seal

import (
	"context"
	"errors"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// Retry policy for whole-object copies: the storage client already retries
// single requests; this covers a stream that breaks mid-object.
const (
	maxAttempts  = 3
	firstBackoff = 500 * time.Millisecond
)

// permanentError marks a failure another attempt cannot fix (a size or
// digest that does not fit, a conflict); storage.IsPermanent covers storage
// errors.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// permanent marks err as not worth retrying.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// retry runs fn up to maxAttempts times while it fails with a transient
// error, backing off between attempts, and returns the last error.
func retry(ctx context.Context, fn func() error) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || !transient(ctx, err) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.As(err, new(permanentError)) {
		return false
	}
	return !storage.IsPermanent(err)
}
