package storage

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestSentinel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		resp     minio.ErrorResponse
		ifAbsent bool
		want     []error // every sentinel that must match
		not      []error // sentinels that must not
	}{
		{"no such key", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, false, []error{ErrNotFound}, []error{ErrBucketMissing}},
		{"no such bucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, false, []error{ErrBucketMissing, ErrNotFound}, nil},
		{"precondition on create", minio.ErrorResponse{Code: "PreconditionFailed", StatusCode: 412}, true, []error{ErrExists}, nil},
		{"precondition otherwise", minio.ErrorResponse{Code: "PreconditionFailed", StatusCode: 412}, false, nil, []error{ErrExists}},
		{"lock (VersityGW)", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403, Message: "Access Denied because object protected by object lock"}, false, []error{ErrLocked}, []error{ErrAccessDenied}},
		{"lock (MinIO)", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403, Message: "Object is WORM protected and cannot be overwritten"}, false, []error{ErrLocked}, []error{ErrAccessDenied}},
		{"lock config missing is no lock refusal", minio.ErrorResponse{Code: "InvalidRequest", StatusCode: 400, Message: "Bucket is missing Object Lock Configuration"}, false, nil, []error{ErrLocked}},
		{"access denied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403, Message: "Access Denied."}, false, []error{ErrAccessDenied}, []error{ErrLocked}},
		{"bad signature", minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, false, []error{ErrAccessDenied}, nil},
		{"unknown key id", minio.ErrorResponse{Code: "InvalidAccessKeyId", StatusCode: 403}, false, []error{ErrAccessDenied}, nil},
		{"bare 403", minio.ErrorResponse{StatusCode: 403}, false, []error{ErrAccessDenied}, nil},
		{"bare 404", minio.ErrorResponse{StatusCode: 404}, false, []error{ErrNotFound}, nil},
		{"server error", minio.ErrorResponse{Code: "InternalError", StatusCode: 500}, false, nil, []error{ErrNotFound, ErrAccessDenied}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &S3{}
			err := s.wrapErr("put", "k", tc.resp, tc.ifAbsent)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("%v does not wrap %q", err, w)
				}
			}
			for _, n := range tc.not {
				if errors.Is(err, n) {
					t.Errorf("%v wraps %q", err, n)
				}
			}
			if !strings.HasPrefix(err.Error(), "put k: ") {
				t.Errorf("%q does not start with the operation and key", err)
			}
			var resp minio.ErrorResponse
			if !errors.As(err, &resp) || resp.Code != tc.resp.Code {
				t.Errorf("the S3 error is not reachable with errors.As")
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	inner := errors.New(`Connection closed by foreign host http://user:pw@h:9000/b/k?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=abc. Retry again.`)
	err := &url.Error{Op: "Get", URL: "http://h:9000/b/k?X-Amz-Credential=AKIAEXAMPLE%2F20250101&X-Amz-Signature=deadbeef", Err: inner}
	s := &S3{secrets: []string{secret}}
	for _, e := range []error{err, errors.Join(err, errors.New("token "+secret))} {
		got := s.wrapErr("get", "k", e, false)
		msg := got.Error()
		for _, leak := range []string{"AKIAEXAMPLE", "X-Amz-Signature", "deadbeef", "pw@", secret} {
			if strings.Contains(msg, leak) {
				t.Errorf("sanitized error %q still holds %q", msg, leak)
			}
		}
		if !strings.Contains(msg, "http://h:9000/b/k") {
			t.Errorf("sanitized error %q lost the URL's path", msg)
		}
		var ue *url.Error
		if !errors.As(got, &ue) {
			t.Errorf("the url.Error is not reachable with errors.As")
		}
	}
	plain := errors.New("nothing to hide")
	if got := sanitize(plain, nil); got != plain { //nolint:errorlint // identity is the point: the very same error back, not one wrapping it
		t.Errorf("sanitize changed a clean error")
	}
}
