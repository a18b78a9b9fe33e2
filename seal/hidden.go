package seal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// Hidden is an object of a sealed backup whose current version is a delete
// marker: on a versioned bucket (AWS's object-locked buckets all are) a
// plain DELETE is not refused by object lock, it hides the locked version
// under a marker. Readers recover the newest version under the marker whose
// bytes the seal vouches for; a version that does not match is never used.
type Hidden struct {
	// Key is the offsite key (relative to the store), Object the Velero
	// object name, ManifestObject or SealObject.
	Key, Object string
	// MarkerID and MarkerAt are the delete marker's version ID and time;
	// when Overwritten, the current version's that does not match.
	MarkerID string
	MarkerAt time.Time
	// Overwritten says the current version is no marker but bytes the seal
	// does not vouch for, put over the sealed version (an attacker's
	// overwrite, which object lock does not refuse on a versioned bucket).
	Overwritten bool
	// VersionID is the version recovered; empty when none matched.
	VersionID string
	// Refused are versions under the marker whose bytes did not match.
	Refused []string
}

// SealObject is the Object name a hidden seal.json carries.
const SealObject = sealName

// Recovered reports whether a version matching the seal was found.
func (h Hidden) Recovered() bool { return h.VersionID != "" }

// String says what happened, for output: "KEY: hidden by a delete marker
// at TIME; recovered from version ID".
func (h Hidden) String() string {
	s := fmt.Sprintf("%s: %s at %s; ", h.Key, h.How(), h.MarkerAt.UTC().Format(time.RFC3339))
	switch {
	case h.Recovered():
		s += "recovered from version " + h.VersionID
	case h.Object == SealObject:
		s += "no version under it verifies with a trusted key"
	default:
		s += "no version under it matches the seal"
	}
	if len(h.Refused) > 0 {
		s += fmt.Sprintf(" (refused %d version(s) whose bytes do not match: %s)", len(h.Refused), strings.Join(h.Refused, ", "))
	}
	return s
}

// How says what hides the sealed version: "hidden by a delete marker", or
// "overwritten with other bytes (version ID)".
func (h Hidden) How() string {
	if h.Overwritten {
		return "overwritten with other bytes (version " + h.MarkerID + ")"
	}
	return "hidden by a delete marker"
}

// Kind names what hides the sealed version, for labels and reasons:
// KindDeleteMarker or KindOverwritten.
func (h Hidden) Kind() string {
	if h.Overwritten {
		return KindOverwritten
	}
	return KindDeleteMarker
}

// Kinds of Hidden.
const (
	// KindDeleteMarker: a delete marker is the current version.
	KindDeleteMarker = "delete-marker"
	// KindOverwritten: other bytes were put over the sealed version.
	KindOverwritten = "overwritten"
)

// HiddenNote is a clause for a one-line summary, "; N object(s) hidden by
// delete markers, recovered from locked versions" (or "overwritten with
// other bytes", or both, by kind), or "" when none was.
func HiddenNote(hidden []Hidden) string {
	markers, over := 0, 0
	for _, h := range hidden {
		switch {
		case !h.Recovered():
		case h.Overwritten:
			over++
		default:
			markers++
		}
	}
	switch {
	case markers == 0 && over == 0:
		return ""
	case over == 0:
		return fmt.Sprintf("; %d object(s) hidden by delete markers, recovered from locked versions", markers)
	case markers == 0:
		return fmt.Sprintf("; %d object(s) overwritten with other bytes, recovered from locked versions", over)
	}
	return fmt.Sprintf("; %d object(s) hidden by delete markers and %d overwritten with other bytes, recovered from locked versions", markers, over)
}

// versionsOf groups the versions under prefix by key, each newest first.
// It returns nil when the bucket keeps no versions.
func versionsOf(ctx context.Context, offsite storage.Store, prefix string) (map[string][]storage.Version, error) {
	on, err := offsite.Versioning(ctx)
	if err != nil || !on {
		return nil, err
	}
	out := map[string][]storage.Version{}
	for v, err := range offsite.ListVersions(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		out[v.Key] = append(out[v.Key], v)
	}
	return out, nil
}

// recoverHidden finds, for each sealed object, volume blob and the manifest whose
// current version is a delete marker or an overwrite (overwritten), the
// newest version under it whose ciphertext size and SHA-256 are the seal's.
// It returns a view of offsite where those keys read (Get, Stat, List) as
// the recovered versions, and what it found. Hidden objects with no
// matching version stay missing (or mismatched) in the view.
func recoverHidden(ctx context.Context, offsite storage.Store, sl *Seal) (storage.Store, []Hidden, error) {
	all, err := versionsOf(ctx, offsite, BackupPrefix(sl.Schedule, sl.Backup))
	if err == nil && all != nil {
		err = addVolumeVersions(ctx, offsite, sl, all)
	}
	if err != nil || len(all) == 0 {
		return offsite, nil, err
	}
	want := map[string]Object{ManifestKey(sl.Schedule, sl.Backup): {Name: ManifestObject, Size: sl.Manifest.Size, SHA256: sl.Manifest.SHA256}}
	for _, o := range sl.Objects {
		want[ObjectKey(sl.Schedule, sl.Backup, o.Name)] = o
	}
	for _, o := range sl.VolumeBlobs { // named by their key
		want[o.Name] = o
	}
	var pins []storage.Version
	var found []Hidden
	for _, key := range slices.Sorted(mapKeys(all)) {
		o, sealed := want[key]
		if !sealed {
			continue
		}
		matches := func(got Blob) bool { return got.Size == o.Size && got.SHA256 == o.SHA256 }
		marker, hidden := storage.Hidden(all[key])
		over := false
		if !hidden {
			marker, over, err = overwritten(ctx, offsite, all[key], matches)
			if err != nil {
				return nil, nil, err
			}
			if !over {
				continue
			}
		}
		h := Hidden{Key: key, Object: o.Name, MarkerID: marker.VersionID, MarkerAt: marker.LastModified, Overwritten: over}
		v, refused, err := matchingVersion(ctx, offsite, all[key], matches)
		if err != nil {
			return nil, nil, err
		}
		h.Refused = refused
		if v != nil {
			h.VersionID = v.VersionID
			pins = append(pins, *v)
		}
		found = append(found, h)
	}
	return storage.Pinned(offsite, pins), found, nil
}

// overwritten returns the current version of a key among versions when
// older versions hold bytes too and the current one's are not what ok
// accepts: an overwrite of a sealed object. A key with one version is left
// to the reader, which reports a mismatch as before.
func overwritten(ctx context.Context, offsite storage.Store, versions []storage.Version, ok func(Blob) bool) (storage.Version, bool, error) {
	cur, maybe := overwriteOf(versions)
	if !maybe {
		return storage.Version{}, false, nil
	}
	b, err := hashVersion(ctx, offsite, cur)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Version{}, false, nil // replaced meanwhile: the reader sees what is there
	}
	if err != nil {
		return storage.Version{}, false, err
	}
	return cur, !ok(b), nil
}

// overwriteOf returns the current version of a key among versions when it
// holds bytes and older versions hold bytes too: it may be an overwrite,
// which the caller checks.
func overwriteOf(versions []storage.Version) (storage.Version, bool) {
	var cur *storage.Version
	held := 0
	for i, v := range versions {
		if !v.DeleteMarker {
			held++
		}
		if v.Latest {
			cur = &versions[i]
		}
	}
	if cur == nil || cur.DeleteMarker || held < 2 {
		return storage.Version{}, false
	}
	return *cur, true
}

// matchingVersion reads the versions that hold bytes, newest first, and
// returns the first that ok accepts, and the IDs of those it did not.
func matchingVersion(ctx context.Context, offsite storage.Store, versions []storage.Version, ok func(Blob) bool) (*storage.Version, []string, error) {
	var refused []string
	for _, v := range versions {
		if v.DeleteMarker {
			continue
		}
		b, err := hashVersion(ctx, offsite, v)
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted by ID meanwhile
		}
		if err != nil {
			return nil, nil, err
		}
		if ok(b) {
			return &v, refused, nil
		}
		refused = append(refused, v.VersionID)
	}
	return nil, refused, nil
}

func hashVersion(ctx context.Context, offsite storage.Store, v storage.Version) (Blob, error) {
	rc, _, err := offsite.GetVersion(ctx, v.Key, v.VersionID)
	if err != nil {
		return Blob{}, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	h := newHashingReader(rc)
	if _, err := io.Copy(io.Discard, h); err != nil {
		return Blob{}, fmt.Errorf("read %s version %s: %w", v.Key, v.VersionID, err)
	}
	return h.blob(), nil
}

func mapKeys[V any](m map[string]V) iter.Seq[string] {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// hiddenSeal recovers seal.json when its current version is a delete
// marker: the newest version under it that parses, names this backup and
// verifies against a pinned key. seal.json has no digest elsewhere, so
// without pinned keys nothing is recovered (a version signed by a key
// published in the bucket proves nothing). It returns nil, "", nil when
// seal.json is not hidden, and an error wrapping ErrNotSealed that says
// why when it is hidden and nothing under the marker can be used.
func hiddenSeal(ctx context.Context, offsite storage.Store, schedule, backup string, opts VerifyOptions) (*Seal, string, error) {
	key := SealKey(schedule, backup)
	all, err := versionsOf(ctx, offsite, key)
	if err != nil {
		return nil, "", err
	}
	marker, hidden := storage.Hidden(all[key])
	if !hidden {
		return nil, "", nil
	}
	h := Hidden{Key: key, Object: SealObject, MarkerID: marker.VersionID, MarkerAt: marker.LastModified}
	if len(opts.pinned()) == 0 {
		return nil, "", fmt.Errorf("%w: backup %s/%s: %s; only a pinned signing key can vouch for a version under it",
			ErrNotSealed, schedule, backup, h)
	}
	sl, keyID, err := verifiedUnder(ctx, offsite, schedule, backup, all[key], &h, opts)
	if err != nil || sl == nil {
		return nil, "", cmp.Or(err, fmt.Errorf("%w: backup %s/%s: %s", ErrNotSealed, schedule, backup, h))
	}
	return sl, keyID, nil
}

// replacedSeal recovers seal.json when its current version, which did not
// verify (bad says why), was put over older ones: an attacker's overwrite,
// which object lock does not refuse on a versioned bucket. The newest older
// version that verifies against a pinned key is used, as under a delete
// marker; when none does (or nothing is pinned, or there is no older
// version) the error is bad.
func replacedSeal(ctx context.Context, offsite storage.Store, schedule, backup string, opts VerifyOptions, bad error) (*Seal, string, error) {
	if len(opts.pinned()) == 0 {
		return nil, "", bad
	}
	key := SealKey(schedule, backup)
	all, err := versionsOf(ctx, offsite, key)
	if err != nil {
		return nil, "", err
	}
	cur, ok := overwriteOf(all[key])
	if !ok {
		return nil, "", bad
	}
	h := Hidden{Key: key, Object: SealObject, MarkerID: cur.VersionID, MarkerAt: cur.LastModified, Overwritten: true}
	sl, keyID, err := verifiedUnder(ctx, offsite, schedule, backup, all[key], &h, opts)
	if err != nil || sl == nil {
		return nil, "", cmp.Or(err, bad)
	}
	return sl, keyID, nil
}

// verifiedUnder is the newest version of seal.json among vs that verifies
// as loadSeal's would, marked as recovered through h; nil when none does.
func verifiedUnder(ctx context.Context, offsite storage.Store, schedule, backup string, vs []storage.Version, h *Hidden, opts VerifyOptions) (*Seal, string, error) {
	var keyID string
	sl, err := sealUnder(ctx, offsite, vs, h, func(data []byte) (*Seal, error) {
		sl, id, err := checkSeal(ctx, offsite, schedule, backup, data, opts)
		keyID = id
		return sl, err
	})
	if err != nil || sl == nil {
		return nil, "", err
	}
	sl.hidden = h
	return sl, keyID, nil
}

// sealUnder returns the newest version of seal.json among vs that accept
// takes, recording in h the version used and those refused; nil when none.
func sealUnder(ctx context.Context, offsite storage.Store, vs []storage.Version, h *Hidden, accept func([]byte) (*Seal, error)) (*Seal, error) {
	for _, v := range vs {
		if v.DeleteMarker || v.Size > maxSealSize {
			continue
		}
		data, err := getVersionSmall(ctx, offsite, v)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sl, err := accept(data)
		if err != nil {
			h.Refused = append(h.Refused, v.VersionID)
			continue
		}
		h.VersionID = v.VersionID
		return sl, nil
	}
	return nil, nil
}

func getVersionSmall(ctx context.Context, offsite storage.Store, v storage.Version) ([]byte, error) {
	rc, _, err := offsite.GetVersion(ctx, v.Key, v.VersionID)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	data, err := io.ReadAll(io.LimitReader(rc, maxSealSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s version %s: %w", v.Key, v.VersionID, err)
	}
	if len(data) > maxSealSize {
		return nil, permanent(fmt.Errorf("%s version %s is larger than %d bytes", v.Key, v.VersionID, maxSealSize))
	}
	return data, nil
}

// recoverBackup is recoverHidden, with a hidden seal.json that loadSeal
// recovered listed first.
func recoverBackup(ctx context.Context, offsite storage.Store, sl *Seal) (storage.Store, []Hidden, error) {
	view, found, err := recoverHidden(ctx, offsite, sl)
	if err != nil {
		return nil, nil, err
	}
	if sl.hidden != nil {
		found = append([]Hidden{*sl.hidden}, found...)
	}
	return view, found, nil
}
