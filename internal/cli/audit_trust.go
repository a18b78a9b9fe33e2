package cli

import (
	"fmt"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/target"
)

// auditKeyTrust collects the keys `audit verify` trusts, and why: those
// --verify-key pins, else those the target trusts for audit entries
// (target.AuditTrust). With neither it fails unless trustBucket asks for
// the keys published in the bucket, which anyone who can write there could
// have put.
func auditKeyTrust(off *offsite, pinned []string, trustBucket bool) (keyTrust, error) {
	kt := keyTrust{why: map[string]string{}}
	for _, p := range pinned {
		k, err := loadVerifyKey(p)
		if err != nil {
			return kt, err
		}
		kt.add(*k, "--verify-key")
	}
	if len(kt.keys) == 0 {
		named, err := target.AuditTrust(off.target)
		if err != nil {
			return kt, fmt.Errorf("%s: %w", off.describe(), err)
		}
		for _, n := range named {
			kt.add(n.Key, n.Why+" of "+off.describe())
		}
	}
	switch {
	case len(kt.keys) > 0 && trustBucket:
		return kt, usagef("--trust-bucket-key is only for a target that names no key: %s names %d", off.describe(), len(kt.keys))
	case len(kt.keys) == 0 && !trustBucket:
		return kt, fmt.Errorf("%w: %s names no key to trust for audit entries: set its spec.signingPublicKey or spec.auditKeys, or give --verify-key, or --trust-bucket-key to trust the keys published in the bucket (which anyone who can write there could have replaced)",
			seal.ErrNoTrustedKey, off.describe())
	}
	kt.bucket = len(kt.keys) == 0
	return kt, nil
}

// statusAnchor is the head the controller recorded in the OffsiteTarget's
// status (cluster mode), when it is of the log the target names now, and
// where it came from.
func statusAnchor(off *offsite) (*audit.Anchor, string) {
	h := off.target.Status.AuditHead
	spec := off.target.Spec.S3
	if off.cluster == nil || h == nil || h.Seq == 0 || h.Bucket != spec.Bucket || h.Prefix != spec.Prefix {
		return nil, ""
	}
	return &audit.Anchor{Seq: h.Seq, Hash: h.Hash}, "status.auditHead of " + off.describe()
}
