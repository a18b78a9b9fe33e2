package storage

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/minio/minio-go/v7"
)

// S3 error codes that say the credentials are missing, wrong or not allowed.
var accessDeniedCodes = map[string]bool{
	"AccessDenied":          true,
	"SignatureDoesNotMatch": true,
	"InvalidAccessKeyId":    true,
	"ExpiredToken":          true,
	"InvalidToken":          true,
	"TokenRefreshRequired":  true,
	"AllAccessDisabled":     true,
	"AccountProblem":        true,
	"InvalidSecurity":       true,
	"MissingSecurityHeader": true,
}

// sentinel returns the sentinel error (or errors) an S3 error maps to, or
// nil. ifAbsent says the request was a conditional create, where a failed
// precondition means the key is taken.
func sentinel(err error, ifAbsent bool) error {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return nil
	}
	switch {
	case resp.Code == "NoSuchBucket":
		// ErrNotFound documents "(or bucket)": both match.
		return errBucketMissing
	case resp.Code == "NoSuchKey" || resp.Code == "NoSuchVersion":
		return ErrNotFound
	case ifAbsent && (resp.Code == "PreconditionFailed" || resp.StatusCode == http.StatusPreconditionFailed):
		return ErrExists
	case isLockRefusal(resp):
		return ErrLocked
	case accessDeniedCodes[resp.Code]:
		return ErrAccessDenied
	case resp.Code == "" && resp.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case resp.Code == "" && resp.StatusCode == http.StatusForbidden:
		return ErrAccessDenied
	}
	return nil
}

// errBucketMissing matches both ErrBucketMissing and ErrNotFound.
var errBucketMissing = fmt.Errorf("%w (%w)", ErrBucketMissing, ErrNotFound)

// isLockRefusal tells an object-lock refusal from other access denials. S3,
// VersityGW and MinIO all answer AccessDenied and say why only in the message.
func isLockRefusal(resp minio.ErrorResponse) bool {
	if resp.Code == "ObjectLocked" {
		return true
	}
	if resp.Code != "AccessDenied" {
		return false
	}
	msg := strings.ToLower(resp.Message)
	return strings.Contains(msg, "object lock") || strings.Contains(msg, "worm protected")
}

// wrapErr turns a minio-go error from op on key into the error a Store
// returns: "op key: <sentinel>: <server message>", sanitized so that it never
// holds credentials or signed query strings.
func (s *S3) wrapErr(op, key string, err error, ifAbsent bool) error {
	if err == nil {
		return nil
	}
	clean := sanitize(err, s.secrets)
	if sent := sentinel(err, ifAbsent); sent != nil {
		return fmt.Errorf("%s %s: %w: %w", op, key, sent, clean)
	}
	return fmt.Errorf("%s %s: %w", op, key, clean)
}

// urlQuery matches the query string and userinfo of URLs inside a message.
var (
	urlUserinfo = regexp.MustCompile(`(?i)\b(https?://)[^/\s"'@]*@`)
	urlQuery    = regexp.MustCompile(`(?i)(https?://[^\s"'?]*)\?[^\s"']*`)
)

// sanitize returns err with a message stripped of URL query strings (where
// presigned signatures and credentials travel), URL userinfo, and any of the
// given secrets. The original stays reachable through Unwrap for errors.Is
// and errors.As, and is never what prints.
func sanitize(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := urlUserinfo.ReplaceAllString(msg, "$1")
	clean = urlQuery.ReplaceAllString(clean, "$1")
	for _, s := range secrets {
		clean = strings.ReplaceAll(clean, s, "**redacted**")
	}
	if clean == msg {
		return err
	}
	return &sanitizedError{msg: clean, err: err}
}

type sanitizedError struct {
	msg string
	err error
}

func (e *sanitizedError) Error() string { return e.msg }
func (e *sanitizedError) Unwrap() error { return e.err }
