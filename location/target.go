package location

import (
	"net/url"
	"strings"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
)

// LoadOffsiteTarget reads an OffsiteTarget object (apiVersion
// safekeep.dev/v1alpha1) from a YAML or JSON file and validates what file mode
// needs: spec.s3.endpoint (an http or https URL), spec.s3.bucket, at least one
// parseable age recipient in spec.recipients, and a well-formed
// spec.objectLock when set. spec.signingKeySecretRef and
// spec.s3.credentialsSecretRef name cluster Secrets and are not used in file
// mode. Every error names the file and the field; content errors wrap
// ErrInvalid.
func LoadOffsiteTarget(path string) (*v1alpha1.OffsiteTarget, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseOffsiteTarget(data)
	if err != nil {
		return nil, &fileError{path: path, err: err}
	}
	return t, nil
}

// ParseOffsiteTarget is LoadOffsiteTarget on bytes; errors do not name a file.
func ParseOffsiteTarget(data []byte) (*v1alpha1.OffsiteTarget, error) {
	var t v1alpha1.OffsiteTarget
	if err := decodeStrict(data, v1alpha1.GroupVersion.String(), "OffsiteTarget", &t); err != nil {
		return nil, err
	}
	if err := ValidateOffsiteTarget(&t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ValidateOffsiteTarget checks the fields file mode relies on (see
// LoadOffsiteTarget). Errors name the field and wrap ErrInvalid.
func ValidateOffsiteTarget(t *v1alpha1.OffsiteTarget) error {
	s3 := t.Spec.S3
	if err := validateEndpoint("spec.s3.endpoint", s3.Endpoint); err != nil {
		return err
	}
	if err := validateBucket("spec.s3.bucket", s3.Bucket); err != nil {
		return err
	}
	if len(t.Spec.Recipients) == 0 {
		return invalidf("spec.recipients is required (at least one age public key)")
	}
	for i, r := range t.Spec.Recipients {
		if _, err := crypto.ParseRecipient(r); err != nil {
			return invalidf("spec.recipients[%d]: %v", i, err)
		}
	}
	if ol := t.Spec.ObjectLock; ol != nil {
		switch ol.Mode {
		case v1alpha1.ObjectLockGovernance, v1alpha1.ObjectLockCompliance:
		case "":
			return invalidf("spec.objectLock.mode is required (Governance or Compliance)")
		default:
			return invalidf("spec.objectLock.mode is %q, want Governance or Compliance", ol.Mode)
		}
		if ol.RetainDays < 1 {
			return invalidf("spec.objectLock.retainDays must be at least 1, got %d", ol.RetainDays)
		}
	}
	return nil
}

// validateEndpoint checks that s is an http(s) URL with a host and no
// credentials in it.
func validateEndpoint(field, s string) error {
	if s == "" {
		return invalidf("%s is required", field)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidf("%s %q is not an http:// or https:// URL", field, redactURL(s))
	}
	if u.User != nil {
		return invalidf("%s must not hold credentials (user:password@); use the AWS environment", field)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return invalidf("%s %q must not have a query or fragment", field, redactURL(s))
	}
	return nil
}

// validateBucket applies S3's bucket naming rules loosely: 3 to 63 characters
// of lower-case letters, digits, dots and hyphens.
func validateBucket(field, s string) error {
	if s == "" {
		return invalidf("%s is required", field)
	}
	if len(s) < 3 || len(s) > 63 {
		return invalidf("%s %q must be 3 to 63 characters", field, s)
	}
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return invalidf("%s %q may hold only lower-case letters, digits, '.' and '-'", field, s)
	}
	return nil
}

// redactURL hides a password an operator may have pasted into a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); i >= 0 {
			return "..." + s[i:]
		}
		return s
	}
	return u.Redacted()
}
