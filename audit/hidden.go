package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	if h.VersionID == "" {
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

// Recover makes every hidden entry's matching version current again
// (storage.MakeCurrent, copyOpts for a copy back). With dryRun it only
// finds them. Entries with no matching version are listed, untouched.
func Recover(ctx context.Context, store storage.Store, dryRun bool, copyOpts storage.PutOptions) ([]Recovered, error) {
	_, hidden, err := FindHidden(ctx, store)
	if err != nil {
		return nil, err
	}
	out := make([]Recovered, 0, len(hidden))
	for _, h := range hidden {
		r := Recovered{Hidden: h}
		if h.VersionID != "" && !dryRun {
			r.Copied, r.Removed, r.Err = storage.MakeCurrent(ctx, store, h.Key, h.VersionID, copyOpts)
		}
		out = append(out, r)
	}
	return out, nil
}
