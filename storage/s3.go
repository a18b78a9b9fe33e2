package storage

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

const (
	// DefaultRegion is used when Config.Region is empty.
	DefaultRegion = "us-east-1"
	// DefaultPartSize is used when Config.PartSize is 0.
	DefaultPartSize = 64 << 20
	// MinPartSize and MaxPartSize are S3's limits on a multipart part.
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
	// MaxSinglePutSize is the largest body sent in one PUT (S3's limit).
	MaxSinglePutSize = 5 << 30
	// maxParts is S3's limit on the parts of one multipart upload.
	maxParts = 10000
	// maxIdleConnsPerHost is how many idle connections to the endpoint
	// are kept for reuse.
	maxIdleConnsPerHost = 64
)

// S3 is a Store over minio-go. It is safe for concurrent use.
type S3 struct {
	client   *minio.Client
	core     minio.Core
	bucket   string
	prefix   string // "" or ending in "/"
	endpoint string // redacted URL, for String
	storage  string // storage class
	partSize int64
	// maxSinglePut is the largest known size sent in one PUT:
	// MaxSinglePutSize, lowered by tests.
	maxSinglePut int64
	secrets      []string // credential strings scrubbed from error messages
	// partRetry retries one part of a multipart upload from its in-memory
	// copy; the whole Put is retried only by WithRetry.
	partRetry RetryPolicy
}

var _ Store = (*S3)(nil)

// New validates cfg and returns a Store for its bucket and prefix. It does
// not contact the endpoint. Errors name the offending Config field.
//
// minio-go's own request retries are turned off: retries belong to
// WithRetry, so the two never multiply. The exception is a part of a
// multipart upload, which New's Store retries itself under
// DefaultRetryPolicy from the part's buffer.
func New(cfg Config) (*S3, error) {
	u, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if err := s3utils.CheckValidBucketName(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("storage config: bucket %q: %s", cfg.Bucket, lowerFirst(err.Error()))
	}
	partSize := cfg.PartSize
	switch {
	case partSize == 0:
		partSize = DefaultPartSize
	case partSize < MinPartSize || partSize > MaxPartSize:
		return nil, fmt.Errorf("storage config: partSize %d: must be between %d (5 MiB) and %d (5 GiB)", partSize, MinPartSize, MaxPartSize)
	}
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	secure := u.Scheme == "https"
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("storage config: transport: %w", err)
	}
	// Keep a connection per concurrent request (readers of many small
	// objects run 32 at once): minio-go keeps 16, and every request past
	// them would dial a new connection and close it after.
	transport.MaxIdleConnsPerHost = max(transport.MaxIdleConnsPerHost, maxIdleConnsPerHost)
	transport.DialContext = dialBigWrites(transport.DialContext)
	if cfg.ResponseTimeout > 0 {
		transport.ResponseHeaderTimeout = cfg.ResponseTimeout
	}
	if secure {
		if err := configureTLS(transport.TLSClientConfig, cfg); err != nil {
			return nil, err
		}
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c := cfg.Credentials
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		Secure:       secure,
		Transport:    transport,
		Region:       region,
		BucketLookup: lookup,
		// Checksums travel as trailers computed while streaming (CRC32C),
		// so no body is hashed twice or buffered to compute an MD5.
		TrailingHeaders: true,
		MaxRetries:      1, // no retries inside minio-go; see WithRetry
	})
	if err != nil {
		return nil, fmt.Errorf("storage config: endpoint %s: %w", u.Redacted(), err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	var secrets []string
	for _, s := range []string{c.SecretAccessKey, c.SessionToken} {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	return &S3{
		client:       client,
		core:         minio.Core{Client: client},
		bucket:       cfg.Bucket,
		prefix:       prefix,
		endpoint:     u.Redacted(),
		storage:      cfg.StorageClass,
		partSize:     partSize,
		maxSinglePut: MaxSinglePutSize,
		secrets:      secrets,
		partRetry:    DefaultRetryPolicy(),
	}, nil
}

// parseEndpoint checks that endpoint is an http(s) URL naming only a host.
func parseEndpoint(endpoint string) (*url.URL, error) {
	if endpoint == "" {
		return nil, errors.New("storage config: endpoint: empty")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		// url errors quote the input, which may hold userinfo: do not echo it.
		return nil, errors.New("storage config: endpoint: not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("storage config: endpoint %s: scheme must be http or https", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("storage config: endpoint %s: must not hold credentials", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("storage config: endpoint %s: no host", u.Redacted())
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("storage config: endpoint %s: must be scheme://host[:port] with no path or query", u.Redacted())
	}
	return u, nil
}

// configureTLS applies cfg's CA bundle (which replaces the system roots) and
// InsecureSkipTLSVerify to tc, minio-go's default TLS settings.
func configureTLS(tc *tls.Config, cfg Config) error {
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	tc.InsecureSkipVerify = cfg.InsecureSkipTLSVerify //nolint:gosec // opt-in, tests only
	if len(cfg.CABundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CABundle) {
			return errors.New("storage config: caBundle: no PEM certificate found")
		}
		tc.RootCAs = pool
	}
	return nil
}

// String names the store as endpoint/bucket/prefix, never with credentials.
func (s *S3) String() string {
	return "s3 " + strings.TrimSuffix(s.endpoint, "/") + "/" + s.bucket + "/" + s.prefix
}

// object returns the bucket key of the relative key, refusing empty keys.
func (s *S3) object(key string) (string, error) {
	if key == "" {
		return "", errors.New("empty key")
	}
	return s.prefix + key, nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
