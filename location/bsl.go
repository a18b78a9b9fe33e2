package location

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
)

// Velero AWS plugin config keys (velero-plugin-for-aws object_store.go).
const (
	bslRegion                = "region"
	bslS3URL                 = "s3Url"
	bslS3ForcePathStyle      = "s3ForcePathStyle"
	bslProfile               = "profile"
	bslInsecureSkipTLSVerify = "insecureSkipTLSVerify"
	bslCredentialsFile       = "credentialsFile"
	bslSSECFile              = "customerKeyEncryptionFile"
	bslSSECSecret            = "customerKeyEncryptionSecret"
)

// bslIgnoredKeys are plugin keys that matter only when Velero writes, so
// reading a backup can ignore them.
var bslIgnoredKeys = []string{
	"publicUrl", "kmsKeyId", "signatureVersion", "serverSideEncryption",
	"enableSharedConfig", "tagging", "checksumAlgorithm",
}

// LoadBSL reads a Velero BackupStorageLocation (apiVersion velero.io/v1) from a
// YAML or JSON file, as Velero users write it. It accepts provider aws (or
// velero.io/aws), requires spec.objectStorage.bucket, and checks the config
// keys the AWS plugin knows: s3Url, region, s3ForcePathStyle, profile,
// insecureSkipTLSVerify, and ignores those that matter only for writing.
// spec.objectStorage.caCert is used as the endpoint's CA bundle. Keys that
// cannot work without a cluster or that Safekeep cannot honour (caCertRef,
// credentialsFile, SSE-C keys) are errors that say what to do instead.
// Every error names the file and the field.
func LoadBSL(path string) (*velerov1.BackupStorageLocation, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	b, err := ParseBSL(data)
	if err != nil {
		return nil, &fileError{path: path, err: err}
	}
	return b, nil
}

// ParseBSL is LoadBSL on bytes; errors do not name a file.
func ParseBSL(data []byte) (*velerov1.BackupStorageLocation, error) {
	var b velerov1.BackupStorageLocation
	if err := decodeStrict(data, velerov1.SchemeGroupVersion.String(), "BackupStorageLocation", &b); err != nil {
		return nil, err
	}
	if err := ValidateBSL(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ValidateBSL checks what reading a backup from the location needs (see
// LoadBSL). Errors name the field and wrap ErrInvalid.
func ValidateBSL(b *velerov1.BackupStorageLocation) error {
	switch b.Spec.Provider {
	case "aws", "velero.io/aws":
	case "":
		return invalidf("spec.provider is required (aws)")
	default:
		return invalidf("spec.provider is %q: only aws (S3-compatible) locations are supported", b.Spec.Provider)
	}
	obs := b.Spec.ObjectStorage
	if obs == nil {
		return invalidf("spec.objectStorage is required")
	}
	if err := validateBucket("spec.objectStorage.bucket", obs.Bucket); err != nil {
		return err
	}
	if obs.CACertRef != nil {
		return invalidf("spec.objectStorage.caCertRef names a cluster Secret; in file mode put the PEM bundle in spec.objectStorage.caCert")
	}
	cfg := b.Spec.Config
	for _, k := range sortedKeys(cfg) {
		switch k {
		case bslRegion, bslProfile:
		case bslS3URL:
			if err := validateEndpoint("spec.config.s3Url", cfg[k]); err != nil {
				return err
			}
		case bslS3ForcePathStyle, bslInsecureSkipTLSVerify:
			if _, err := strconv.ParseBool(cfg[k]); err != nil {
				return invalidf("spec.config.%s is %q, want true or false", k, cfg[k])
			}
		case bslCredentialsFile:
			return invalidf("spec.config.credentialsFile is not supported in file mode; set AWS_SHARED_CREDENTIALS_FILE (and config.profile) instead")
		case bslSSECFile, bslSSECSecret:
			return invalidf("spec.config.%s: SSE-C encrypted locations are not supported", k)
		default:
			if !slices.Contains(bslIgnoredKeys, k) {
				return invalidf("spec.config: unknown key %q (the aws plugin knows %s)", k, strings.Join(knownBSLKeys(), ", "))
			}
		}
	}
	if cfg[bslS3URL] == "" && cfg[bslRegion] == "" {
		return invalidf("spec.config.region is required when spec.config.s3Url is not set")
	}
	return nil
}

func knownBSLKeys() []string {
	keys := append([]string{bslRegion, bslS3URL, bslS3ForcePathStyle, bslProfile, bslInsecureSkipTLSVerify}, bslIgnoredKeys...)
	sort.Strings(keys)
	return keys
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
