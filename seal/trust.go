package seal

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	l, err := ScanTrusted(ctx, offsite, keys)
	if err != nil {
		return nil, err
	}
	return l.Bound(ctx, bind)
}

// Listing is one read of a bucket's backup folders (one listing, each
// seal.json read once) with their seals checked against trusted keys, from
// which a retention pass takes both what its schedule's retention acts on
// (Bound) and what keeps volume blobs (CollectVolumeBlobs), so the bucket
// is listed once per pass. It also records the seals the pass deletes
// (Drop). Not safe for concurrent use.
type Listing struct {
	offsite storage.Store
	keys    []crypto.VerifyKey
	folders []scanned
	// all are the folders' entries with seals checked against keys only
	// (Binding{}): of any place or cluster.
	all []Entry
	// vouched are the seals any view of the listing vouched for, and
	// every version of a seal.json with several that verifies against the
	// keys, by "<schedule>/<backup>": what keeps volume blobs.
	vouched map[string][]*Seal
	// dropped are the folders whose seal.json was deleted since.
	dropped map[string]bool
}

// ScanTrusted lists the bucket's backup folders once and checks each seal
// against keys, as ListTrusted(ctx, offsite, keys, Binding{}) does.
func ScanTrusted(ctx context.Context, offsite storage.Store, keys []crypto.VerifyKey) (*Listing, error) {
	return scanTrusted(ctx, offsite, keys, false)
}

// scanTrusted is ScanTrusted; readOn as for list.
func scanTrusted(ctx context.Context, offsite storage.Store, keys []crypto.VerifyKey, readOn bool) (*Listing, error) {
	if len(keys) == 0 {
		return nil, ErrNoTrustedKey
	}
	folders, err := scan(ctx, offsite, readOn)
	if err != nil {
		return nil, err
	}
	l := &Listing{offsite: offsite, keys: keys, folders: folders, vouched: map[string][]*Seal{}, dropped: map[string]bool{}}
	check := l.check(Binding{})
	l.all = make([]Entry, len(folders))
	for i, f := range folders {
		if l.all[i], err = l.entry(ctx, f, check); err != nil {
			return nil, err
		}
		if err := l.vouchVersions(ctx, f); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// errNextVersion makes sealUnder read on.
var errNextVersion = errors.New("read the next version")

// vouchVersions records every version of f's seal.json, under a delete
// marker or an overwrite, that parses as f's seal and verifies against the
// keys, whatever place or cluster it names: each keeps its volume blobs
// (neededVolumeBlobs), since whichever of them a reader takes must
// restore. Only a seal.json with more than one version is read again: on
// a bucket nobody tampered with there is none.
func (l *Listing) vouchVersions(ctx context.Context, f scanned) error {
	vs := f.hidden
	if len(vs) == 0 {
		vs = f.overwritten
	}
	if len(vs) == 0 {
		return nil
	}
	e := f.entry
	id := e.Schedule + "/" + e.Backup
	_, err := sealUnder(ctx, l.offsite, vs, &Hidden{}, func(data []byte) (*Seal, error) {
		sl, err := ParseSeal(data)
		if err == nil && sl.Schedule == e.Schedule && sl.Backup == e.Backup && sl.Trusted(l.keys) == nil {
			l.vouched[id] = append(l.vouched[id], sl)
		}
		return nil, errNextVersion
	})
	if err != nil {
		return fmt.Errorf("read seal of %s/%s: %w", e.Schedule, e.Backup, err)
	}
	return nil
}

// Bound returns the listing's entries as ListTrusted(ctx, offsite, keys,
// bind) would: a seal that verifies against the keys but names another
// place or cluster is StateUntrusted, and for a hidden or overwritten
// seal.json the newest older version that also passes bind is looked for
// again (reading versions, not listing).
func (l *Listing) Bound(ctx context.Context, bind Binding) ([]Entry, error) {
	out := slices.Clone(l.all)
	if bind == (Binding{}) {
		return out, nil
	}
	check := l.check(bind)
	for i, e := range out {
		if !e.Restorable() && !e.Recoverable() || bind.Check(e.Seal) == nil {
			continue // the same under bind: a version that fails the keys fails bind's check too
		}
		var err error
		if out[i], err = l.entry(ctx, l.folders[i], check); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Drop records that the seal.json of schedule/backup was deleted after the
// listing: its seals keep no volume blob any more.
func (l *Listing) Drop(schedule, backup string) { l.dropped[schedule+"/"+backup] = true }

// check is what a seal must pass to count: a trusted key's signature, and bind.
func (l *Listing) check(bind Binding) func(*Seal) error {
	return func(sl *Seal) error {
		if err := sl.Trusted(l.keys); err != nil {
			return err
		}
		return bind.Check(sl)
	}
}

// entry is f's entry under check, and records the seal it vouches for.
func (l *Listing) entry(ctx context.Context, f scanned, check func(*Seal) error) (Entry, error) {
	e, err := f.vouched(ctx, l.offsite, check)
	if err != nil {
		return e, err
	}
	if e.State == StateSealed {
		if err := check(e.Seal); err != nil {
			e.State, e.Err = StateUntrusted, err
		}
	}
	if e.Restorable() || e.Recoverable() {
		id := e.Schedule + "/" + e.Backup
		l.vouched[id] = append(l.vouched[id], e.Seal)
	}
	return e, nil
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
