package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// targetManifest is the OffsiteTarget a test hands the CLI with --target-file,
// written as a user would: named offsite, in region us-east-1, its signing
// key in Secret safekeep-signing and its public key pinned.
type targetManifest struct {
	endpoint, bucket, prefix string
	recipients               []string
	// locked asks for Governance object lock for one day.
	locked           bool
	signingPublicKey string
	// auditKeys, when set, are the keys trusted for audit entries.
	auditKeys []string
}

// write writes the target as target.yaml under dir and returns its path.
func (f targetManifest) write(t *testing.T, dir string) string {
	t.Helper()
	lock, audit := "", ""
	if f.locked {
		lock = "  objectLock: {mode: Governance, retainDays: 1}\n"
	}
	if len(f.auditKeys) > 0 {
		audit = "  auditKeys: [" + quotedList(f.auditKeys) + "]\n"
	}
	return writeFile(t, dir, "target.yaml", fmt.Sprintf(`apiVersion: safekeep.dev/v1alpha1
kind: OffsiteTarget
metadata:
  name: offsite
spec:
  s3:
    endpoint: %s
    bucket: %s
    prefix: %s
    region: us-east-1
  recipients: [%s]
%s  signingKeySecretRef: {name: safekeep-signing}
  signingPublicKey: %q
%s`, f.endpoint, f.bucket, f.prefix, quotedList(f.recipients), lock, f.signingPublicKey, audit))
}

// quotedList is ss as the items of a YAML flow sequence.
func quotedList(ss []string) string {
	quoted := make([]string, len(ss))
	for i, s := range ss {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(quoted, ", ")
}
