package storage

import "time"

// Config locates a bucket (and prefix) on an S3-compatible endpoint.
type Config struct {
	// Endpoint is the S3 URL: http://127.0.0.1:7070, https://s3.amazonaws.com.
	Endpoint string
	// Bucket name.
	Bucket string
	// Prefix under which every key of the Store lives ("" for the bucket root).
	// Leading and trailing slashes are ignored.
	Prefix string
	// Region of the bucket; empty means us-east-1.
	Region string
	// PathStyle forces path-style requests (Velero's s3ForcePathStyle).
	PathStyle bool
	// Credentials to sign requests with.
	Credentials Credentials
	// CABundle is PEM certificates trusted for the endpoint, in addition to
	// none other (when set, system roots are not used).
	CABundle []byte
	// InsecureSkipTLSVerify disables certificate checks (tests only).
	InsecureSkipTLSVerify bool
	// StorageClass for new objects; empty means the bucket default.
	StorageClass string
	// ResponseTimeout bounds the wait for an answer's headers once a
	// request is sent; a request past it fails as a transient timeout.
	// 0 means one minute.
	ResponseTimeout time.Duration
	// PartSize for multipart uploads of unknown size; 0 means 64 MiB.
	// Memory per upload in flight is about one part.
	PartSize int64
}

// Credentials are static S3 credentials. They print as **redacted**.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

func (Credentials) String() string   { return "**redacted**" }
func (Credentials) GoString() string { return "**redacted**" }
