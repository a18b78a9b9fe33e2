package seal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// Trust errors: what the bucket holds is signed, but not by a key the caller
// trusts. See docs/threat-model.md.
var (
	// ErrUntrusted: a seal (or an in-progress marker, or a receipt) is
	// signed by a key that is not among the trusted keys. Errors wrapping it
	// also wrap ErrBadSeal.
	ErrUntrusted = errors.New("signed by a key the target does not trust")
	// ErrNoTrustedKey: verification was asked for with no trusted key and
	// without VerifyOptions.TrustBucketKey.
	ErrNoTrustedKey = errors.New("no trusted signing key")
)

// trustedKey returns the key sl must verify with: the pinned key its
// signature names, or, when nothing is pinned and opts.TrustBucketKey, the
// key published in the bucket. A seal naming a key that is not pinned wraps
// ErrUntrusted and ErrBadSeal; nothing pinned without TrustBucketKey is
// ErrNoTrustedKey.
func trustedKey(ctx context.Context, offsite storage.Store, sl *Seal, opts VerifyOptions) (crypto.VerifyKey, error) {
	pinned := opts.pinned()
	if len(pinned) == 0 {
		if !opts.TrustBucketKey {
			return crypto.VerifyKey{}, fmt.Errorf("%w: pin the target's signing keys, or trust the key published in the bucket explicitly", ErrNoTrustedKey)
		}
		k, err := SigningKeyFor(ctx, offsite, sl.Signature.KeyID)
		if err != nil {
			return crypto.VerifyKey{}, fmt.Errorf("%w: %w", ErrBadSeal, err)
		}
		return k, nil
	}
	if k, ok := findKey(pinned, sl.Signature.KeyID); ok {
		return k, nil
	}
	return crypto.VerifyKey{}, fmt.Errorf("%w: %w: key %s is not one of the %d trusted", ErrBadSeal, ErrUntrusted, sl.Signature.KeyID, len(pinned))
}

// findKey returns the key of keys with id.
func findKey(keys []crypto.VerifyKey, id string) (crypto.VerifyKey, bool) {
	for _, k := range keys {
		if k.KeyID() == id {
			return k, true
		}
	}
	return crypto.VerifyKey{}, false
}

// Trusted reports whether sl's signature verifies with one of keys; the
// error says why not (wrapping ErrUntrusted or ErrBadSeal).
func (s *Seal) Trusted(keys []crypto.VerifyKey) error {
	k, ok := findKey(keys, s.Signature.KeyID)
	if !ok {
		return fmt.Errorf("%w: %w: key %s is not one of the %d trusted", ErrBadSeal, ErrUntrusted, s.Signature.KeyID, len(keys))
	}
	return s.VerifySignature(k)
}

// StateUntrusted: seal.json is well formed but not signed by a trusted key
// (ListTrusted). Never restorable, never counted by retention or drills.
const StateUntrusted EntryState = "untrusted"

// ListTrusted is List with each sealed entry's signature checked against
// keys: an entry whose seal is not signed by one of them is StateUntrusted,
// its Err saying why. A hidden entry is Recoverable only from the newest
// version of its seal.json under the marker that verifies the same way; a
// forged version on top is refused (Hidden.Refused). Only ListTrusted's sealed entries may drive anything
// (retention, records, drill choice, listings): List's may be forged by
// anyone who can write to the bucket.
//
// bind refuses seals of another place or cluster the same way (copied
// folders; clusters sharing a bucket and a key).
func ListTrusted(ctx context.Context, offsite storage.Store, keys []crypto.VerifyKey, bind Binding) ([]Entry, error) {
	if len(keys) == 0 {
		return nil, ErrNoTrustedKey
	}
	check := func(sl *Seal) error {
		if err := sl.Trusted(keys); err != nil {
			return err
		}
		return bind.Check(sl)
	}
	entries, err := list(ctx, offsite, check)
	if err != nil {
		return nil, err
	}
	for i := range entries {
		e := &entries[i]
		if e.State != StateSealed {
			continue
		}
		if err := check(e.Seal); err != nil {
			e.State, e.Err = StateUntrusted, err
		}
	}
	return entries, nil
}

// ErrMisplaced: a seal names another bucket and prefix, or another cluster,
// than where it is read: a folder copied from elsewhere. Errors wrapping it
// also wrap ErrUntrusted and ErrBadSeal.
var ErrMisplaced = errors.New("sealed for another target or cluster")

// Place is an offsite bucket and the prefix under it (spec.s3.bucket and
// spec.s3.prefix of an OffsiteTarget).
type Place struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix,omitempty"`
}

// PlaceOf normalizes a bucket and prefix as seals record them.
func PlaceOf(bucket, prefix string) Place {
	return Place{Bucket: bucket, Prefix: strings.Trim(prefix, "/")}
}

func (p Place) orNil() *Place {
	if p == (Place{}) {
		return nil
	}
	return &p
}

// Binding is where seals must belong to count: a place and a cluster. A
// zero field checks nothing; a seal that records no place (made before
// seals recorded one) passes the place check.
type Binding struct {
	Place   Place
	Cluster string
}

// Check refuses sl when it names another place or cluster than b
// (ErrMisplaced, ErrUntrusted, ErrBadSeal).
func (b Binding) Check(sl *Seal) error {
	if b.Place != (Place{}) && sl.Target != nil && *sl.Target != b.Place {
		return fmt.Errorf("%w: %w: %w: sealed for bucket %q prefix %q, read from bucket %q prefix %q",
			ErrBadSeal, ErrUntrusted, ErrMisplaced, sl.Target.Bucket, sl.Target.Prefix, b.Place.Bucket, b.Place.Prefix)
	}
	if b.Cluster != "" && sl.Cluster != "" && sl.Cluster != b.Cluster {
		return fmt.Errorf("%w: %w: %w: sealed by cluster %q, not %q", ErrBadSeal, ErrUntrusted, ErrMisplaced, sl.Cluster, b.Cluster)
	}
	return nil
}
