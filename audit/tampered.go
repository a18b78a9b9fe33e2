package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// ErrTampered: on a versioned bucket, a key under audit/ holds a delete
// marker or more than one version. The claim protocol writes every object
// once, with a conditional create, and never deletes one: either is a
// write made outside it (an attacker hiding the newest entries, or adding
// versions over entries, claims or segments). The chain may still verify.
var ErrTampered = errors.New("audit objects written outside the claim protocol")

// Tampered is one key under audit/ whose versions show such a write.
type Tampered struct {
	Key string `json:"key"`
	// Object is what the key names: entry, claim, segment or other.
	Object string `json:"object"`
	// Markers counts its delete markers; Hidden says one is its current
	// version.
	Markers int  `json:"deleteMarkers"`
	Hidden  bool `json:"hidden"`
	// Versions counts its versions that hold bytes.
	Versions int `json:"versions"`
	// Latest is when its newest version or marker was written.
	Latest time.Time `json:"latest"`
}

// String says what was found, for output.
func (t Tampered) String() string {
	var parts []string
	if t.Markers > 0 {
		m := fmt.Sprintf("%d delete marker(s)", t.Markers)
		if t.Hidden {
			m += ", the newest current (hidden)"
		}
		parts = append(parts, m)
	}
	if t.Versions > 1 {
		parts = append(parts, fmt.Sprintf("%d versions (written once by the log)", t.Versions))
	}
	return fmt.Sprintf("%s %s: %s, latest at %s", t.Object, t.Key, strings.Join(parts, ", "), t.Latest.UTC().Format(time.RFC3339))
}

// objectKind names what key is under audit/.
func objectKind(key string) string {
	if _, _, ok := parseEntryKey(key); ok {
		return "entry"
	}
	if _, ok := parseClaimKey(key); ok {
		return "claim"
	}
	if _, _, ok := parseSegmentKey(key); ok {
		return "segment"
	}
	return "other"
}

// tampered finds the keys of versions (each key's versions, newest
// first) that hold a delete marker or more than one version, in order.
func tampered(order []string, versions map[string][]storage.Version) []Tampered {
	var out []Tampered
	for _, key := range order {
		t := Tampered{Key: key, Object: objectKind(key)}
		for _, v := range versions[key] {
			if v.DeleteMarker {
				t.Markers++
				t.Hidden = t.Hidden || v.Latest
			} else {
				t.Versions++
			}
			if v.LastModified.After(t.Latest) {
				t.Latest = v.LastModified
			}
		}
		if t.Markers > 0 || t.Versions > 1 {
			out = append(out, t)
		}
	}
	return out
}

// listVersions lists every version under Dir, grouped by key (newest
// first, as ListVersions gives them), keys in listing order.
func listVersions(ctx context.Context, store storage.Store) ([]string, map[string][]storage.Version, error) {
	all := map[string][]storage.Version{}
	var order []string
	for v, err := range store.ListVersions(ctx, Dir) {
		if err != nil {
			return nil, nil, fmt.Errorf("list versions of %s: %w", Dir, err)
		}
		if _, seen := all[v.Key]; !seen {
			order = append(order, v.Key)
		}
		all[v.Key] = append(all[v.Key], v)
	}
	return order, all, nil
}

// FindTampered lists the versions under audit/ (one listing, reading no
// object) and returns the keys that hold a delete marker or more than one
// version: entries, claims, segments and anything else. A bucket that
// keeps no versions has none to find.
func FindTampered(ctx context.Context, store storage.Store) ([]Tampered, error) {
	on, err := store.Versioning(ctx)
	if err != nil || !on {
		return nil, err
	}
	order, all, err := listVersions(ctx, store)
	if err != nil {
		return nil, err
	}
	return tampered(order, all), nil
}
