package storage

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
)

// RetryPolicy is exponential backoff with jitter over a bounded number of
// attempts. The zero value means the defaults of DefaultRetryPolicy.
type RetryPolicy struct {
	// Attempts is the most tries of one operation, the first included;
	// 0 means 5, 1 disables retries.
	Attempts int
	// Initial is the wait before the second try; 0 means 250ms. Each later
	// wait doubles, up to Max (0 means 10s). A wait is drawn uniformly from
	// [d/2, d] so that clients do not retry in step.
	Initial, Max time.Duration
	// OnRetry, when set, is called before each wait with the operation
	// ("stat KEY"), the attempt that failed (1-based), its error and the
	// wait. For logs and metrics; it must not block.
	OnRetry func(op string, attempt int, err error, wait time.Duration)
}

// DefaultRetryPolicy is 5 attempts, waits from 250ms doubling up to 10s
// (about 4 s of waiting in all).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 5, Initial: 250 * time.Millisecond, Max: 10 * time.Second}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.Attempts <= 0 {
		p.Attempts = d.Attempts
	}
	if p.Initial <= 0 {
		p.Initial = d.Initial
	}
	if p.Max <= 0 {
		p.Max = d.Max
	}
	return p
}

// wait returns the jittered wait after the given failed attempt (1-based).
func (p RetryPolicy) wait(attempt int) time.Duration {
	d := p.Initial
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	return d/2 + rand.N(d/2+1)
}

// do runs f until it succeeds, fails permanently (IsPermanent), runs out of
// attempts or ctx ends, and returns f's last error.
func (p RetryPolicy) do(ctx context.Context, f func() error) error {
	return p.doOp(ctx, "", f)
}

func (p RetryPolicy) doOp(ctx context.Context, op string, f func() error) error {
	p = p.withDefaults()
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || IsPermanent(err) {
			return err
		}
		if attempt >= p.Attempts {
			if attempt == 1 {
				return err
			}
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		if ctx.Err() != nil {
			return err
		}
		wait := p.wait(attempt)
		if p.OnRetry != nil {
			p.OnRetry(op, attempt, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retry stopped: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// retryableCodes are S3 error codes that a later try may not get.
var retryableCodes = map[string]bool{
	"RequestTimeout":             true,
	"RequestTimeTooSkewed":       true,
	"SlowDown":                   true,
	"SlowDownRead":               true,
	"SlowDownWrite":              true,
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"XMinioServerNotInitialized": true,
	"XAmzContentSHA256Mismatch":  true, // corruption in transit
	"BadDigest":                  true, // corruption in transit
	"IncompleteBody":             true, // a body cut short in transit: nothing stored
}

// IsPermanent reports whether retrying err is pointless: the sentinels
// (not found, exists, locked, access denied, bucket missing), a canceled
// context, a body that does not match its declared size, TLS certificate
// failures and S3 answers with a 4xx status other than 408 and 429. Network
// errors, timeouts, answers cut short (XML that ends early), 5xx, 408, 429
// and ErrCorrupt are transient. Errors of no known kind
// count as permanent.
func IsPermanent(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrCorrupt), errors.Is(err, ErrRemovedWrong): // ErrCorrupt: maybe damaged in transit
		return false
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrExists), errors.Is(err, ErrLocked),
		errors.Is(err, ErrAccessDenied), errors.Is(err, ErrBucketMissing),
		errors.Is(err, context.Canceled), errors.Is(err, errBodySize), errors.Is(err, ErrStoredWrong):
		return true
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.Code != "" || resp.StatusCode != 0) {
		if retryableCodes[resp.Code] {
			return false
		}
		switch s := resp.StatusCode; {
		case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
			return false
		case s >= 400:
			return true
		}
		// minio-go's own client-side errors (invalid argument...) have
		// no status: fall through to the transport checks.
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return true
	}
	var netErr net.Error
	var urlErr *url.Error
	var xmlErr *xml.SyntaxError // an answer cut short: a list page, an error body
	switch {
	case errors.As(err, &xmlErr):
		return false
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr), errors.As(err, &urlErr),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ETIMEDOUT):
		return false
	}
	return true
}

// WithRetry returns s with p applied to every operation that can be repeated
// safely: Stat, Get (opening, not reading), List, Delete, ObjectLockEnabled,
// and Put when the body is an io.ReadSeeker (it is sought back to where it
// stood before each try). A Put of any other body is tried once.
//
// A List that fails part way is restarted and resumes after the last key it
// yielded, so no key is yielded twice.
//
// A conditional create (PutOptions.IfAbsent) retried after a lost answer may
// fail with ErrExists for the object its own earlier try wrote.
func WithRetry(s Store, p RetryPolicy) Store {
	return &retryStore{s: s, p: p.withDefaults()}
}

type retryStore struct {
	s Store
	p RetryPolicy
}

func (r *retryStore) String() string { return r.s.String() }

func (r *retryStore) Put(ctx context.Context, key string, body io.Reader, opts PutOptions) (ObjectInfo, error) {
	rs, ok := body.(io.ReadSeeker)
	if !ok {
		return r.s.Put(ctx, key, body, opts)
	}
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return r.s.Put(ctx, key, body, opts)
	}
	var info ObjectInfo
	first := true
	err = r.p.doOp(ctx, "put "+key, func() error {
		if !first {
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return fmt.Errorf("put %s: rewind body: %w", key, err)
			}
		}
		first = false
		body := newAttemptBody(rs) // rs is sought back for the next try
		defer body.end()
		var err error
		info, err = r.s.Put(ctx, key, body, opts)
		return err
	})
	return info, err
}

func (r *retryStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	var rc io.ReadCloser
	var info ObjectInfo
	err := r.p.doOp(ctx, "get "+key, func() error {
		var err error
		rc, info, err = r.s.Get(ctx, key)
		return err
	})
	return rc, info, err
}

func (r *retryStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	var info ObjectInfo
	err := r.p.doOp(ctx, "stat "+key, func() error {
		var err error
		info, err = r.s.Stat(ctx, key)
		return err
	})
	return info, err
}

func (r *retryStore) Delete(ctx context.Context, key string) error {
	return r.p.doOp(ctx, "delete "+key, func() error { return r.s.Delete(ctx, key) })
}

func (r *retryStore) ObjectLockEnabled(ctx context.Context) (bool, error) {
	var on bool
	err := r.p.doOp(ctx, "object lock config", func() error {
		var err error
		on, err = r.s.ObjectLockEnabled(ctx)
		return err
	})
	return on, err
}

// errYieldStopped ends a List attempt because the consumer stopped.
var errYieldStopped = errors.New("consumer stopped")

func (r *retryStore) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		var last string // the last key yielded; a restart skips up to it
		seen := false
		err := r.p.doOp(ctx, "list "+prefix, func() error {
			for info, err := range r.s.List(ctx, prefix) {
				if err != nil {
					return err
				}
				if seen && info.Key <= last {
					continue
				}
				if !yield(info, nil) {
					return errYieldStopped
				}
				last, seen = info.Key, true
			}
			return nil
		})
		if err != nil && !errors.Is(err, errYieldStopped) {
			yield(ObjectInfo{}, err)
		}
	}
}

func (r *retryStore) GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error) {
	var rc io.ReadCloser
	var info ObjectInfo
	err := r.p.doOp(ctx, "get "+key, func() error {
		var err error
		rc, info, err = r.s.GetVersion(ctx, key, versionID)
		return err
	})
	return rc, info, err
}

func (r *retryStore) DeleteVersion(ctx context.Context, key, versionID string) error {
	return r.p.doOp(ctx, "delete "+key, func() error { return r.s.DeleteVersion(ctx, key, versionID) })
}

func (r *retryStore) Versioning(ctx context.Context) (bool, error) {
	var on bool
	err := r.p.doOp(ctx, "versioning", func() error {
		var err error
		on, err = r.s.Versioning(ctx)
		return err
	})
	return on, err
}

// ListVersions restarts a failed listing and skips the versions it
// already yielded (listings need not be in key order, so it remembers them).
func (r *retryStore) ListVersions(ctx context.Context, prefix string) iter.Seq2[Version, error] {
	return func(yield func(Version, error) bool) {
		type id struct{ key, version string }
		seen := map[id]bool{}
		err := r.p.doOp(ctx, "list versions "+prefix, func() error {
			for v, err := range r.s.ListVersions(ctx, prefix) {
				if err != nil {
					return err
				}
				if seen[id{v.Key, v.VersionID}] {
					continue
				}
				if !yield(v, nil) {
					return errYieldStopped
				}
				seen[id{v.Key, v.VersionID}] = true
			}
			return nil
		})
		if err != nil && !errors.Is(err, errYieldStopped) {
			yield(Version{}, err)
		}
	}
}
