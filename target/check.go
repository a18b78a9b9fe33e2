package target

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/storage"
)

// probeRetry is the retry policy of Check: one quick second try, so that a
// single dropped connection does not flip a target, while a controller's own
// requeue handles longer outages.
var probeRetry = storage.RetryPolicy{Attempts: 2, Initial: 200 * time.Millisecond, Max: time.Second}

// probePrefix is the folder Check lists: the published signing keys, a
// handful of small objects in any bucket that Safekeep writes to.
const probePrefix = "keys/"

// rejectedCodes are S3 error codes saying the credentials themselves are
// wrong (unknown key, bad secret, expired token), as opposed to valid
// credentials without permission (AccessDenied).
var rejectedCodes = map[string]bool{
	"InvalidAccessKeyId":           true,
	"SignatureDoesNotMatch":        true,
	"ExpiredToken":                 true,
	"InvalidToken":                 true,
	"TokenRefreshRequired":         true,
	"InvalidSecurity":              true,
	"MissingSecurityHeader":        true,
	"AuthorizationHeaderMalformed": true,
	"InvalidClientTokenId":         true,
	// VersityGW answers an unknown access key with 404 and this code.
	"XAdminUserNotFound": true,
}

// Check probes the offsite bucket read-only and returns nil when it is
// usable: the endpoint answers, the credentials are accepted and may list
// the bucket, which exists, and it has object lock enabled when
// spec.objectLock is set. Failures are *Error with a KindRemote reason:
// Unreachable, ServerError, CredentialsRejected, AccessDenied,
// BucketMissing, ObjectLockOff. When ctx is canceled (not timed out) its
// error is returned as it is. ctx's deadline bounds the probe; the caller
// should set one.
func (t *Target) Check(ctx context.Context) error {
	st, err := storage.New(t.Config)
	if err != nil {
		return newError(v1alpha1.ReasonInvalidSpec, err, "spec.s3: %s", strings.TrimPrefix(err.Error(), "storage config: "))
	}
	probe := storage.WithRetry(st, probeRetry)
	for _, err := range probe.List(ctx, probePrefix) {
		if err != nil {
			return t.classify(ctx, "list bucket", err)
		}
		break // one answer is enough
	}
	if t.Lock == nil {
		return nil
	}
	on, err := probe.ObjectLockEnabled(ctx)
	if err != nil {
		return t.classify(ctx, "read the object-lock configuration of bucket", err)
	}
	if !on {
		return newError(v1alpha1.ReasonObjectLockOff, nil,
			"spec.objectLock asks for %s retention but bucket %s at %s does not have object lock enabled: object lock can only be enabled when a bucket is created, so create a new bucket with it (or remove spec.objectLock)",
			t.Object.Spec.ObjectLock.Mode, t.Config.Bucket, t.endpoint())
	}
	return nil
}

// classify maps a failed probe to an *Error. what names the operation for
// messages ("list bucket").
func (t *Target) classify(ctx context.Context, what string, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return err
	}
	ep, bucket := t.endpoint(), t.Config.Bucket
	var resp minio.ErrorResponse
	isResp := errors.As(err, &resp) && resp.StatusCode != 0
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return newError(v1alpha1.ReasonUnreachable, err, "%s did not answer in time (%s %s): check spec.s3.endpoint and that the network allows the controller to reach it", ep, what, bucket)
	case errors.Is(err, storage.ErrBucketMissing):
		return newError(v1alpha1.ReasonBucketMissing, err, "bucket %s does not exist at %s: create it%s, or fix spec.s3.bucket", bucket, ep, t.lockHint())
	case isResp && rejectedCodes[resp.Code]:
		return newError(v1alpha1.ReasonCredentialsRejected, err, "%s rejected the credentials from %s (%s): check the access key and the secret key",
			ep, t.credentialsSource(), resp.Code)
	case errors.Is(err, storage.ErrAccessDenied):
		return newError(v1alpha1.ReasonAccessDenied, err, "the credentials from %s may not %s %s at %s (%s): allow s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject and s3:GetBucketObjectLockConfiguration on it",
			t.credentialsSource(), what, bucket, ep, t.serverSays(resp, isResp))
	case isResp && resp.StatusCode >= http.StatusInternalServerError:
		return newError(v1alpha1.ReasonServerError, err, "%s answered HTTP %d to %s %s (%s); it is checked again shortly",
			ep, resp.StatusCode, what, bucket, t.serverSays(resp, isResp))
	case isResp:
		return newError(v1alpha1.ReasonServerError, err, "%s answered HTTP %d to %s %s (%s): is spec.s3.endpoint an S3 endpoint?",
			ep, resp.StatusCode, what, bucket, t.serverSays(resp, isResp))
	}
	return newError(v1alpha1.ReasonUnreachable, err, "%s %s", ep, netProblem(err))
}

// netProblem says in a few words why a request got no answer.
func netProblem(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		dnsErr    *net.DNSError
		opErr     *net.OpError
		urlErr    *url.Error
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &verify):
		return "has a TLS certificate not signed by a trusted CA: set spec.s3.caBundle to the CA's PEM"
	case errors.As(err, &hostname):
		return "has a TLS certificate not valid for this host name: " + scrub(hostname.Error())
	case errors.As(err, &invalid):
		return "has an invalid TLS certificate: " + scrub(invalid.Error())
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "speaks plain HTTP, not TLS (use http:// in spec.s3.endpoint, or enable TLS on the server)"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "is unreachable: host " + dnsErr.Name + " not found (DNS)"
		}
		return "is unreachable: DNS lookup of " + dnsErr.Name + " failed: " + scrub(dnsErr.Err)
	case errors.As(err, &opErr) && opErr.Err != nil:
		return "is unreachable (" + opErr.Op + ": " + scrub(opErr.Err.Error()) + "): check spec.s3.endpoint and that the network lets the controller reach it"
	case errors.As(err, &urlErr): // drop the request URL
		return "is unreachable: " + scrub(urlErr.Err.Error())
	}
	return "is unreachable: " + scrub(err.Error())
}

// serverSays quotes an S3 error's code and message, scrubbed.
func (t *Target) serverSays(resp minio.ErrorResponse, ok bool) string {
	if !ok {
		return "access denied"
	}
	c := t.Config.Credentials
	code := resp.Code
	if code == "" || strings.Contains(code, " ") { // not an S3 code: "500 Internal Server Error"
		code = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	msg := resp.Message
	if msg == "" || strings.HasPrefix(strings.TrimSpace(msg), "<") || msg == resp.Code { // an HTML page or the status again
		return scrub(code, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	}
	return scrub(code+": "+msg, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

// endpoint is the endpoint for messages (it never holds credentials: the
// spec refuses user:password@).
func (t *Target) endpoint() string {
	return strings.TrimSuffix(t.Config.Endpoint, "/")
}

// credentialsSource names where the credentials came from.
func (t *Target) credentialsSource() string {
	if t.credsFrom == "" {
		return "the configured credentials"
	}
	return t.credsFrom
}

// lockHint reminds that object lock must be enabled at bucket creation.
func (t *Target) lockHint() string {
	if t.Lock != nil {
		return " with object lock enabled (spec.objectLock needs it)"
	}
	return ""
}
