package storage_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
)

func TestIsPermanent(t *testing.T) {
	s3err := func(status int, code string) error {
		return minio.ErrorResponse{StatusCode: status, Code: code, Message: code}
	}
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"nil", nil, false},
		{"not found", fmt.Errorf("stat k: %w", storage.ErrNotFound), true},
		{"exists", fmt.Errorf("put k: %w", storage.ErrExists), true},
		{"locked", fmt.Errorf("delete k: %w", storage.ErrLocked), true},
		{"access denied", fmt.Errorf("get k: %w", storage.ErrAccessDenied), true},
		{"bucket missing", fmt.Errorf("list: %w", storage.ErrBucketMissing), true},
		{"canceled", fmt.Errorf("put k: %w", context.Canceled), true},
		{"deadline", fmt.Errorf("put k: %w", context.DeadlineExceeded), false},
		{"404 NoSuchKey", s3err(404, "NoSuchKey"), true},
		{"400 InvalidArgument", s3err(400, "InvalidArgument"), true},
		{"409 conflict", s3err(409, "OperationAborted"), true},
		{"412 precondition", s3err(412, "PreconditionFailed"), true},
		{"408 timeout", s3err(408, "RequestTimeout"), false},
		{"429 too many", s3err(429, "TooManyRequests"), false},
		{"500 internal", s3err(500, "InternalError"), false},
		{"503 slow down", s3err(503, "SlowDown"), false},
		{"502 no code", s3err(502, ""), false},
		{"403 clock skew", s3err(403, "RequestTimeTooSkewed"), false},
		{"400 bad digest", s3err(400, "BadDigest"), false},
		{"400 body cut short", s3err(400, "IncompleteBody"), false},
		{"wrapped 503", fmt.Errorf("put k: %w", s3err(503, "ServiceUnavailable")), false},
		{"connection refused", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/b", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, false},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), false},
		{"list page cut short", fmt.Errorf("list p: %w", &xml.SyntaxError{Msg: "unexpected EOF", Line: 2}), false},
		{"checksum mismatch", fmt.Errorf("read k: %w", storage.ErrCorrupt), false},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false},
		{"url error", &url.Error{Op: "Put", URL: "http://h/b/k", Err: errors.New("Connection closed by foreign host")}, false},
		{"unknown CA", &url.Error{Op: "Get", URL: "https://h/", Err: x509.UnknownAuthorityError{}}, true},
		{"hostname", &url.Error{Op: "Get", URL: "https://h/", Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}}, true},
		{"mystery", errors.New("mystery"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := storage.IsPermanent(tc.err); got != tc.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.permanent)
			}
		})
	}
}

// fastRetry retries quickly and counts retries.
func fastRetry(attempts int, retries *atomic.Int32) storage.RetryPolicy {
	return storage.RetryPolicy{
		Attempts: attempts, Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond,
		OnRetry: func(string, int, error, time.Duration) { retries.Add(1) },
	}
}

// TestRetryAcrossRestart stops the server and brings it back while
// operations are retrying: each must succeed after at least one retry.
func TestRetryAcrossRestart(t *testing.T) {
	srv := startS3(t)
	var retries atomic.Int32
	s := storage.WithRetry(newS3(t, srv.Config(plainBucket, "restart")), fastRetry(100, &retries))
	ctx := t.Context()
	if _, err := s.Put(ctx, "k", bytes.NewReader([]byte("v1")), storage.PutOptions{Size: 2}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"stat", func() error { _, err := s.Stat(ctx, "k"); return err }},
		{"get", func() error {
			rc, _, err := s.Get(ctx, "k")
			if err == nil {
				_ = rc.Close() // read-only; only the error matters here
			}
			return err
		}},
		{"put-seeker", func() error {
			r := bytes.NewReader([]byte("xxv2"))
			if _, err := r.Seek(2, io.SeekStart); err != nil { // retries rewind to here, not to 0
				return err
			}
			_, err := s.Put(ctx, "k", r, storage.PutOptions{Size: 2})
			return err
		}},
		{"list", func() error {
			for _, err := range s.List(ctx, "") {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"object-lock", func() error { _, err := s.ObjectLockEnabled(ctx); return err }},
		{"delete", func() error { return s.Delete(ctx, "gone") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := retries.Load()
			srv.Stop(t)
			result := make(chan error, 1)
			go func() { result <- tc.op() }()
			time.Sleep(300 * time.Millisecond)
			srv.Restart(t)
			if err := <-result; err != nil {
				t.Fatalf("%s across a restart: %v", tc.name, err)
			}
			if retries.Load() == before {
				t.Fatalf("%s succeeded without a retry: the server was not down", tc.name)
			}
		})
	}
	rc, _, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }() // read-only
	if b, _ := io.ReadAll(rc); string(b) != "v2" {
		t.Fatalf("after the retried Put, k = %q, want v2", b)
	}
}

// TestRetryUnreachable: a port nobody listens on is transient; attempts are
// bounded and the error says so.
func TestRetryUnreachable(t *testing.T) {
	cfg := storage.Config{Endpoint: "http://127.0.0.1:" + strconv.Itoa(testbed.FreePort(t)), Bucket: "nobody"}
	var retries atomic.Int32
	s := storage.WithRetry(newS3(t, cfg), fastRetry(3, &retries))
	_, err := s.Stat(t.Context(), "k")
	if err == nil || storage.IsPermanent(err) {
		t.Fatalf("Stat on an unreachable endpoint: %v (permanent %v), want a transient error", err, storage.IsPermanent(err))
	}
	if got := retries.Load(); got != 2 {
		t.Fatalf("%d retries, want 2 (3 attempts)", got)
	}
	if !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("error %q does not say how many attempts were made", err)
	}

	// A body that cannot be rewound is tried once.
	retries.Store(0)
	if _, err := s.Put(t.Context(), "k", io.MultiReader(strings.NewReader("x")), storage.PutOptions{Size: 1}); err == nil {
		t.Fatal("Put to an unreachable endpoint succeeded")
	}
	if got := retries.Load(); got != 0 {
		t.Fatalf("Put of a plain reader was retried %d times, want 0", got)
	}
}

// TestRetryStopsOnCancel: canceling the context ends the backoff at once.
func TestRetryStopsOnCancel(t *testing.T) {
	cfg := storage.Config{Endpoint: "http://127.0.0.1:" + strconv.Itoa(testbed.FreePort(t)), Bucket: "nobody"}
	s := storage.WithRetry(newS3(t, cfg), storage.RetryPolicy{Attempts: 100, Initial: 10 * time.Second, Max: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Stat(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat: %v, want it to wrap the context's end", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stat took %s after its context ended", d)
	}
}

// TestRetryPermanentNotRetried: permanent errors return on the first try.
func TestRetryPermanentNotRetried(t *testing.T) {
	srv := startS3(t)
	var retries atomic.Int32
	s := storage.WithRetry(newS3(t, srv.Config(plainBucket, "perm")), fastRetry(5, &retries))
	_, err := s.Stat(t.Context(), "missing")
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat: %v, want ErrNotFound", err)
	}
	if _, err := s.Put(t.Context(), "k", strings.NewReader("x"), storage.PutOptions{Size: 1, IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(t.Context(), "k", strings.NewReader("x"), storage.PutOptions{Size: 1, IfAbsent: true})
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second conditional Put: %v, want ErrExists", err)
	}
	if got := retries.Load(); got != 0 {
		t.Fatalf("%d retries of permanent errors, want 0", got)
	}
}

// TestRetryListResumes stops the server between the first and second page
// of a listing: the listing resumes and yields every key once, in order.
func TestRetryListResumes(t *testing.T) {
	srv := startS3(t)
	var retries atomic.Int32
	raw := newS3(t, srv.Config(plainBucket, "resume"))
	s := storage.WithRetry(raw, fastRetry(100, &retries))
	// Files written straight into VersityGW's posix folder are objects:
	// much quicker than 1,100 PUTs, and this test is about listing.
	dir := filepath.Join(srv.Dir, plainBucket, "resume")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	want := make([]string, 1100)
	for i := range want {
		want[i] = fmt.Sprintf("k%05d", i)
		if err := os.WriteFile(filepath.Join(dir, want[i]), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	firstSeen, stopped := make(chan struct{}), make(chan struct{})
	listed := make(chan error, 1)
	go func() {
		for info, err := range s.List(t.Context(), "") {
			if err != nil {
				listed <- err
				return
			}
			got = append(got, info.Key)
			if len(got) == 1 { // the first page is in hand; the second is not
				close(firstSeen)
				<-stopped
			}
		}
		listed <- nil
	}()
	select {
	case <-firstSeen:
	case err := <-listed:
		t.Fatalf("List ended before its first key: %v", err)
	}
	srv.Stop(t)
	close(stopped)
	time.Sleep(300 * time.Millisecond)
	srv.Restart(t)
	if err := <-listed; err != nil {
		t.Fatalf("List: %v", err)
	}
	if retries.Load() == 0 {
		t.Fatal("List completed without a retry: the server was not down")
	}
	if !slices.Equal(got, want) {
		t.Fatalf("resumed List yielded %d keys, want %d in order", len(got), len(want))
	}
}
