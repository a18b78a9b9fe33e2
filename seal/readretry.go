package seal

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// IsRetryable reports whether reading an object again may succeed where
// err failed: a failure of the bucket or network that is not permanent, or
// bytes that failed the server's stored checksum (storage.ErrCorrupt: a read
// damaged in transit looks the same as damage at rest until it repeats).
// Findings about an object (a digest that does not match its seal, a
// plaintext that does not match its manifest) are not retryable.
func IsRetryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, storage.ErrCorrupt):
		return true
	case errors.Is(err, ErrObjectMismatch), errors.Is(err, ErrPlaintextMismatch), errors.Is(err, ErrObjectMissing),
		errors.Is(err, crypto.ErrCorrupt), errors.Is(err, crypto.ErrWrongIdentity), errors.As(err, new(permanentError)):
		return false
	}
	return !storage.IsPermanent(err)
}

// RetryRead runs fn, which reads one object from the start, up to three
// times in all, backing off, while its failure is one IsRetryable says
// another read may not have. It returns fn's last error.
func RetryRead(ctx context.Context, fn func() error) error {
	err := retry(ctx, func() error {
		err := fn()
		if err != nil && !IsRetryable(err) {
			return permanent(err)
		}
		return err
	})
	if p, ok := err.(permanentError); ok { //nolint:errorlint // only the marker added above
		err = p.error
	}
	return err
}

// readRetried is readObject under RetryRead; reset empties w before each
// new try.
func readRetried(ctx context.Context, offsite storage.Store, key string, size int64, ids []crypto.Identity, w io.Writer, reset func(), progress func(int64)) (readResult, error) {
	var res readResult
	first := true
	err := RetryRead(ctx, func() error {
		if !first && reset != nil {
			reset()
		}
		first = false
		var err error
		res, err = readObject(ctx, offsite, key, size, ids, w, progress)
		return err
	})
	return res, err
}

// readProblem turns a read that kept failing into a problem about the
// object it read, or returns ok false when the failure says nothing about
// that object (ctx ended, credentials refused...), which stops the check.
func readProblem(ctx context.Context, key string, err error) (ProblemKind, error, bool) {
	switch {
	case ctx.Err() != nil:
		return "", nil, false
	case errors.Is(err, storage.ErrNotFound):
		return ProblemMissing, fmt.Errorf("%w: %s", ErrObjectMissing, key), true
	case errors.Is(err, storage.ErrCorrupt):
		return ProblemDamaged, damaged(key, err), true
	case IsRetryable(err):
		return ProblemUnreadable, fmt.Errorf("%w: %s: %w", ErrUnreadable, key, err), true
	}
	return "", nil, false
}

// damaged is the finding about an object whose stored bytes fail the
// server's checksum on every read.
func damaged(key string, err error) error {
	return fmt.Errorf("%w: %s is damaged in the bucket (its bytes fail the checksum stored with it on every read): %w", ErrObjectMismatch, key, err)
}
