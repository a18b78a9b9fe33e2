package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/target"
)

// pinFlags say which signing keys the CLI trusts: --verify-key pins one;
// else those the target names (spec.signingPublicKey,
// spec.previousSigningKeys); --trust-bucket-key, only when neither names a
// key, takes the key published in the bucket, which anyone who can write
// there could have put.
type pinFlags struct {
	verifyKey   string
	trustBucket bool
}

func (f *pinFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.verifyKey, "verify-key", "", "trust only seals signed by this key: `FILE` or ed25519:<base64> (default: the keys the target names in spec.signingPublicKey and spec.previousSigningKeys)")
	fl.BoolVar(&f.trustBucket, "trust-bucket-key", false, "when the target names no signing key and --verify-key is not given, trust the key published in the bucket (anyone who can write to the bucket could have put it there)")
}

// keyTrust is the set of trusted keys, and why each is trusted.
type keyTrust struct {
	keys []crypto.VerifyKey
	why  map[string]string // key id -> reason
	// bucket: nothing pinned, the bucket's published key is trusted on
	// --trust-bucket-key.
	bucket bool
}

// trust collects the trusted keys for off. With none named and no
// --trust-bucket-key it fails, saying how to pin.
func (f *pinFlags) trust(off *offsite) (keyTrust, error) {
	kt := keyTrust{why: map[string]string{}}
	named, err := target.Trust(off.target)
	if err != nil {
		return kt, fmt.Errorf("%s: %w", off.describe(), err)
	}
	if f.verifyKey != "" {
		k, err := loadVerifyKey(f.verifyKey)
		if err != nil {
			return kt, err
		}
		kt.add(*k, "--verify-key")
		named = nil
	}
	for _, n := range named {
		kt.add(n.Key, n.Why+" of "+off.describe())
	}
	switch {
	case len(kt.keys) > 0 && f.trustBucket:
		return kt, usagef("--trust-bucket-key is only for a target that names no signing key: %s names %d", off.describe(), len(kt.keys))
	case len(kt.keys) == 0 && !f.trustBucket:
		return kt, fmt.Errorf("%w: %s names no signing key to trust: set its spec.signingPublicKey (the ed25519:... line 'safekeep keygen --signing' printed), or give --verify-key, or --trust-bucket-key to trust the key published in the bucket (which anyone who can write there could have replaced)",
			seal.ErrNoTrustedKey, off.describe())
	}
	kt.bucket = len(kt.keys) == 0
	return kt, nil
}

func (kt *keyTrust) add(k crypto.VerifyKey, why string) {
	if _, dup := kt.why[k.KeyID()]; dup {
		return
	}
	kt.keys = append(kt.keys, k)
	kt.why[k.KeyID()] = why
}

// apply pins the keys in vo, and the place the seal must name.
func (kt keyTrust) apply(vo *seal.VerifyOptions, off *offsite) {
	vo.VerifyKey, vo.TrustedKeys, vo.TrustBucketKey = nil, kt.keys, kt.bucket
	vo.Binding = off.binding()
}

// binding is where the target's seals belong: its bucket and prefix. The
// CLI checks no cluster: a responder may restore any cluster's backup.
func (o *offsite) binding() seal.Binding {
	return seal.Binding{Place: seal.PlaceOf(o.target.Spec.S3.Bucket, o.target.Spec.S3.Prefix)}
}

// explain says which key was trusted and why, for a verdict line.
func (kt keyTrust) explain(keyID string) string {
	if kt.bucket {
		return fmt.Sprintf("key %s, published in the bucket, trusted on --trust-bucket-key only", keyID)
	}
	return fmt.Sprintf("key %s, trusted: %s", keyID, kt.why[keyID])
}

// list lists the backups whose seals count: signed by a trusted key (any
// well-formed seal with --trust-bucket-key, which checks nothing).
func (kt keyTrust) list(ctx context.Context, off *offsite) ([]seal.Entry, error) {
	if kt.bucket {
		return seal.List(ctx, off.store)
	}
	return seal.ListTrusted(ctx, off.store, kt.keys, off.binding())
}

// describe names the target for messages: the file, or the OffsiteTarget.
func (o *offsite) describe() string {
	if o.cluster != nil {
		return fmt.Sprintf("OffsiteTarget %s/%s", o.target.Namespace, o.target.Name)
	}
	return "target file " + o.file
}
