package location

import (
	"context"
	"net/url"
	"path"
	"strconv"
	"strings"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/storage"
)

// OffsiteRoot is where Safekeep's layout starts under an OffsiteTarget's
// prefix: <prefix>/safekeep/v1/.
const OffsiteRoot = "safekeep/v1"

// DefaultRegion is used when a location names none.
const DefaultRegion = "us-east-1"

// OffsiteConfig returns the storage configuration of t's offsite store,
// rooted at <spec.s3.prefix>/safekeep/v1, signed with creds. t should have
// passed ValidateOffsiteTarget.
func OffsiteConfig(t *v1alpha1.OffsiteTarget, creds storage.Credentials) storage.Config {
	s3 := t.Spec.S3
	region := s3.Region
	if region == "" {
		region = DefaultRegion
	}
	return storage.Config{
		Endpoint:              s3.Endpoint,
		Bucket:                s3.Bucket,
		Prefix:                joinPrefix(s3.Prefix, OffsiteRoot),
		Region:                region,
		PathStyle:             !isAWS(s3.Endpoint),
		Credentials:           creds,
		CABundle:              s3.CAPEM(),
		InsecureSkipTLSVerify: s3.InsecureSkipTLSVerify,
		StorageClass:          s3.StorageClass,
	}
}

// OffsiteConfigFromEnv is OffsiteConfig with file-mode credentials, found as
// AWS tools find them (storage.CredentialsFromEnv): AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, else profile AWS_PROFILE (or default) of the shared
// credentials file.
func OffsiteConfigFromEnv(ctx context.Context, t *v1alpha1.OffsiteTarget) (storage.Config, error) {
	creds, err := storage.CredentialsFromEnv(ctx, "")
	if err != nil {
		return storage.Config{}, err
	}
	return OffsiteConfig(t, creds), nil
}

// BSLConfig returns the storage configuration of b's bucket, rooted at
// spec.objectStorage.prefix (Velero's own root: backups/<name>/ lies under
// it), signed with creds. b should have passed ValidateBSL.
func BSLConfig(b *velerov1.BackupStorageLocation, creds storage.Credentials) storage.Config {
	cfg := b.Spec.Config
	region := cfg[bslRegion]
	if region == "" {
		region = DefaultRegion
	}
	endpoint := cfg[bslS3URL]
	if endpoint == "" {
		endpoint = "https://s3." + region + ".amazonaws.com"
	}
	obs := b.Spec.ObjectStorage
	return storage.Config{
		Endpoint:              endpoint,
		Bucket:                obs.Bucket,
		Prefix:                strings.Trim(obs.Prefix, "/"),
		Region:                region,
		PathStyle:             parseBool(cfg[bslS3ForcePathStyle]),
		Credentials:           creds,
		CABundle:              obs.CACert,
		InsecureSkipTLSVerify: parseBool(cfg[bslInsecureSkipTLSVerify]),
	}
}

// BSLConfigFromEnv is BSLConfig with file-mode credentials: when the location
// names a profile (spec.config.profile), that profile of the shared
// credentials file, as Velero's AWS plugin reads it; otherwise as
// OffsiteConfigFromEnv finds them.
func BSLConfigFromEnv(ctx context.Context, b *velerov1.BackupStorageLocation) (storage.Config, error) {
	creds, err := storage.CredentialsFromEnv(ctx, b.Spec.Config[bslProfile])
	if err != nil {
		return storage.Config{}, err
	}
	return BSLConfig(b, creds), nil
}

// isAWS reports whether endpoint is Amazon S3 itself, which prefers
// virtual-hosted requests; every other S3-compatible store gets path style.
func isAWS(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && strings.HasSuffix(u.Hostname(), ".amazonaws.com")
}

func parseBool(s string) bool {
	v, _ := strconv.ParseBool(s) // validated by ValidateBSL
	return v
}

// joinPrefix joins key prefixes, ignoring empty parts and stray slashes.
func joinPrefix(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			keep = append(keep, p)
		}
	}
	return path.Join(keep...)
}
