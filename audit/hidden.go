package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// Hidden is an entry object whose current version is a delete marker: on a
// versioned bucket a plain DELETE of a locked entry is not refused, it hides
// it. Verify reads the newest version under the marker that parses, hashes
// to the hash its name carries and has its sequence number (the chain then
// checks its signature and links as any entry's); a version that does not
// is never used.
type Hidden struct {
	Key      string    `json:"key"`
	MarkerID string    `json:"markerVersion"`
	MarkerAt time.Time `json:"markerTime"`
	// VersionID is the version read instead; empty when none matched.
	VersionID string `json:"version,omitempty"`
	// Refused are versions under the marker that did not match.
	Refused []string `json:"refused,omitempty"`
}

// String says what happened, for output.
func (h Hidden) String() string {
	s := fmt.Sprintf("%s: hidden by a delete marker at %s; ", h.Key, h.MarkerAt.UTC().Format(time.RFC3339))
	switch {
	case h.VersionID == "" && strings.HasPrefix(h.Key, ClaimDir):
		return s + "no version under it is an entry for its number signed by a trusted key"
	case h.VersionID == "":
		return s + "no version under it matches its name"
	}
	return s + "recovered from version " + h.VersionID
}

// FindHidden finds the entry objects delete markers hide and the version
// under each marker that is the entry its name commits to. It returns store
// itself when the bucket keeps no versions or nothing is hidden, else a
// view where those entries read as their recovered versions.
func FindHidden(ctx context.Context, store storage.Store) (storage.Store, []Hidden, error) {
	st, hidden, _, err := findVersions(ctx, store)
	return st, hidden, err
}

// findVersions is FindHidden that also returns what FindTampered would,
// from the same listing.
func findVersions(ctx context.Context, store storage.Store) (storage.Store, []Hidden, []Tampered, error) {
	on, err := store.Versioning(ctx)
	if err != nil || !on {
		return store, nil, nil, err
	}
	order, all, err := listVersions(ctx, store)
	if err != nil {
		return nil, nil, nil, err
	}
	var pins []storage.Version
	var found []Hidden
	for _, key := range order {
		seq, want, ok := parseEntryKey(key)
		marker, hidden := storage.Hidden(all[key])
		if !ok || !hidden {
			continue
		}
		h := Hidden{Key: key, MarkerID: marker.VersionID, MarkerAt: marker.LastModified}
		for _, v := range all[key] {
			if v.DeleteMarker {
				continue
			}
			e, err := readVersion(ctx, store, v)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if isStorageErr(err) {
				return nil, nil, nil, err
			}
			if err != nil || e.Seq != seq || short(e.Hash) != want {
				h.Refused = append(h.Refused, v.VersionID)
				continue
			}
			h.VersionID = v.VersionID
			pins = append(pins, v)
			break
		}
		found = append(found, h)
	}
	return storage.Pinned(store, pins), found, tampered(order, all), nil
}

// readVersion reads and parses one version of an entry object.
func readVersion(ctx context.Context, store storage.Store, v storage.Version) (*Entry, error) {
	data, err := getObject(ctx, storage.Pinned(store, []storage.Version{v}), v.Key)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Recovered is what Recover did for one hidden entry.
type Recovered struct {
	Hidden
	// Copied says the version was copied back (removing what lay over it
	// was refused); else the markers over it were deleted by ID.
	Copied  bool
	Removed []string
	Err     error
}

// RecoverOptions tune Recover.
type RecoverOptions struct {
	// DryRun only finds what is hidden.
	DryRun bool
	// CopyOpts are the options of a copy back (storage.MakeCurrent).
	CopyOpts storage.PutOptions
	// TrustedKeys are the keys a hidden claim's version must be signed by
	// to be brought back (the target's keys for audit entries). Without
	// them no claim is.
	TrustedKeys []crypto.VerifyKey
}

// Recover makes every hidden entry's matching version current again
// (storage.MakeCurrent), and every hidden claim's version that is an entry
// for its sequence number signed by one of opts.TrustedKeys: a writer
// probes claims to find the head, so a hidden claim could make it take a
// number again. With DryRun it only finds them. Those with no matching
// version are listed, untouched: an unverified claim is never adopted.
func Recover(ctx context.Context, store storage.Store, opts RecoverOptions) ([]Recovered, error) {
	_, hidden, err := FindHidden(ctx, store)
	if err != nil {
		return nil, err
	}
	claims, err := hiddenClaims(ctx, store, opts.TrustedKeys)
	if err != nil {
		return nil, err
	}
	hidden = append(hidden, claims...)
	out := make([]Recovered, 0, len(hidden))
	for _, h := range hidden {
		r := Recovered{Hidden: h}
		if h.VersionID != "" && !opts.DryRun {
			r.Copied, r.Removed, r.Err = storage.MakeCurrent(ctx, store, h.Key, h.VersionID, opts.CopyOpts)
		}
		out = append(out, r)
	}
	return out, nil
}

// hiddenClaims finds the claims (ClaimDir) delete markers hide and, for
// each, the newest version under the marker that is an entry for its
// sequence number signed by one of keys (parseTrusted). A claim has no
// digest elsewhere, so without keys none is recovered. Nil when the bucket
// keeps no versions.
func hiddenClaims(ctx context.Context, store storage.Store, keys []crypto.VerifyKey) ([]Hidden, error) {
	on, err := store.Versioning(ctx)
	if err != nil || !on {
		return nil, err
	}
	all := map[string][]storage.Version{}
	var order []string
	for v, err := range store.ListVersions(ctx, ClaimDir) {
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", ClaimDir, err)
		}
		if _, seen := all[v.Key]; !seen {
			order = append(order, v.Key)
		}
		all[v.Key] = append(all[v.Key], v)
	}
	var found []Hidden
	for _, key := range order {
		seq, ok := parseClaimKey(key)
		marker, hidden := storage.Hidden(all[key])
		if !ok || !hidden {
			continue
		}
		h := Hidden{Key: key, MarkerID: marker.VersionID, MarkerAt: marker.LastModified}
		for _, v := range all[key] {
			if v.DeleteMarker || len(keys) == 0 {
				continue
			}
			data, err := getObject(ctx, storage.Pinned(store, []storage.Version{v}), key)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if isStorageErr(err) {
				return nil, err
			}
			var e *Entry
			if err == nil {
				e, err = parseTrusted(data, keys)
			}
			if err != nil || e.Seq != seq {
				h.Refused = append(h.Refused, v.VersionID)
				continue
			}
			h.VersionID = v.VersionID
			break
		}
		found = append(found, h)
	}
	return found, nil
}
