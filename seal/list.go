package seal

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// EntryState says whether a backup folder offsite holds a restorable seal.
type EntryState string

const (
	// StateSealed: seal.json is there and well formed (List does not check
	// its signature or objects: Verify does).
	StateSealed EntryState = "sealed"
	// StateIncomplete: no seal.json, as a seal in progress or interrupted
	// leaves it. Never restorable.
	StateIncomplete EntryState = "incomplete"
	// StateInvalid: seal.json is there but does not parse. Never restorable.
	StateInvalid EntryState = "invalid"
	// StateHidden: seal.json's current version is a delete marker (an
	// attack on a versioned bucket: see Hidden). ListTrusted sets
	// Entry.Seal to the newest version under it that verifies against the
	// trusted keys, when one does (Recoverable); List vouches for none.
	StateHidden EntryState = "hidden"
	// StateUnreadable: seal.json is there but every read of it failed on
	// the way (retried), so whether the backup is sealed is unknown; Err
	// wraps ErrUnreadable. Only ListReadingOn yields it. Never restorable.
	StateUnreadable EntryState = "unreadable"
)

// Entry is one backup folder offsite.
type Entry struct {
	Schedule, Backup string
	State            EntryState
	// SealedAt is the seal's time (sealed entries only).
	SealedAt time.Time
	// Objects and Bytes count encrypted objects and their ciphertext: as
	// sealed for sealed entries, as found under objects/ otherwise.
	Objects int
	Bytes   int64
	// Seal is the parsed seal (sealed entries only).
	Seal *Seal
	// Err says why an invalid entry is invalid.
	Err error
	// Hidden is set for a hidden entry: the marker, and (ListTrusted only)
	// the version of seal.json that verifies against the trusted keys
	// (VersionID empty when none does).
	Hidden *Hidden
	// Markers are the delete markers that are the current version of keys
	// in the folder, seal.json's included (versioned buckets only): what a
	// plain DELETE by someone holding the bucket's credentials leaves.
	// Safekeep's own deletes go by version ID and leave none.
	Markers []storage.Version
}

// Recoverable reports whether a hidden entry has a version of seal.json
// under its marker that verifies against the keys ListTrusted was given.
// List's entries never are: a version that merely parses proves nothing.
func (e Entry) Recoverable() bool { return e.Hidden != nil && e.Hidden.Recovered() }

// HiddenObjects returns what delete markers hide of e's seal: seal.json,
// the manifest and each sealed object whose current version is a marker,
// sorted by key. It reads nothing: whether a version under a marker
// matches the seal is Verify's to find out. Without a seal (an invalid
// entry, a hidden one nothing vouches for) only seal.json can be named.
func (e Entry) HiddenObjects() []Hidden {
	sealed := map[string]string{SealKey(e.Schedule, e.Backup): SealObject}
	if e.Seal != nil {
		sealed[ManifestKey(e.Schedule, e.Backup)] = ManifestObject
		for _, o := range e.Seal.Objects {
			sealed[ObjectKey(e.Schedule, e.Backup, o.Name)] = o.Name
		}
	}
	var out []Hidden
	if e.Hidden != nil && e.Hidden.Overwritten {
		out = append(out, *e.Hidden)
	}
	for _, m := range e.Markers {
		name, ok := sealed[m.Key]
		switch {
		case !ok:
		case name == SealObject && e.Hidden != nil:
			out = append(out, *e.Hidden)
		default:
			out = append(out, Hidden{Key: m.Key, Object: name, MarkerID: m.VersionID, MarkerAt: m.LastModified})
		}
	}
	slices.SortFunc(out, func(a, b Hidden) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Restorable reports whether the entry is sealed. Verify it before use.
func (e Entry) Restorable() bool { return e.State == StateSealed }

// List returns every backup folder in the offsite store, sorted by schedule
// then backup name: sealed ones, and separately marked the incomplete and
// invalid ones, which must never be restored, and (on a versioned bucket)
// the hidden ones, whose seal.json a delete marker hides. It reads each
// seal.json but verifies nothing; use Verify for that, or ListTrusted.
func List(ctx context.Context, offsite storage.Store) ([]Entry, error) {
	return list(ctx, offsite, nil, false)
}

// ListReadingOn is List (no keys) or ListTrusted(ctx, offsite, keys,
// Binding{}), except that a seal.json every read of which failed on the
// way (a transient failure, retried) is an entry in StateUnreadable
// rather than the listing's error, and the listing goes on with the other
// folders. For reports, which name it; never for what acts on entries
// (retention, records): an unreadable seal is neither sealed nor
// incomplete.
func ListReadingOn(ctx context.Context, offsite storage.Store, keys []crypto.VerifyKey) ([]Entry, error) {
	if len(keys) == 0 {
		return list(ctx, offsite, nil, true)
	}
	l, err := scanTrusted(ctx, offsite, keys, true)
	if err != nil {
		return nil, err
	}
	return l.Bound(ctx, Binding{})
}

// list is List; vouch, when not nil, says whether a seal read from a
// version under a marker over seal.json may be recovered from (nil: none
// may); readOn, whether an unreadable seal.json is an entry (see
// ListReadingOn).
func list(ctx context.Context, offsite storage.Store, vouch func(*Seal) error, readOn bool) ([]Entry, error) {
	folders, err := scan(ctx, offsite, readOn)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(folders))
	for i, f := range folders {
		if out[i], err = f.vouched(ctx, offsite, vouch); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanned is one backup folder as the listing found it, its current
// seal.json read, before any older version of seal.json is vouched for.
type scanned struct {
	entry Entry
	// hidden are the versions of seal.json when its current version is a
	// delete marker; overwritten, when it holds bytes over older ones.
	hidden, overwritten []storage.Version
}

// scan lists the backup folders once (one listing; each current seal.json
// read once), sorted by schedule then backup name. What it returns can be
// vouched for more than once (scanned.vouched) without listing again.
func scan(ctx context.Context, offsite storage.Store, readOn bool) ([]scanned, error) {
	current, sealVersions, err := listCurrent(ctx, offsite)
	if err != nil {
		return nil, err
	}
	folders := folderSet{}
	for info, err := range current {
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", BackupsDir, offsite, err)
		}
		f, rest := folders.of(info.Key)
		switch {
		case f == nil: // not ours
		case rest == sealName:
			f.sealed = true
		case strings.HasPrefix(rest, objectsDir):
			f.entry.Objects++
			f.entry.Bytes += info.Size
		}
	}
	for key := range sealVersions.hidden { // a folder whose every object is hidden
		folders.of(key)
	}
	for _, m := range sealVersions.markers {
		if f := folders.find(m.Key); f != nil {
			f.entry.Markers = append(f.entry.Markers, m)
		}
	}
	out := make([]scanned, 0, len(folders))
	for _, f := range folders {
		s := scanned{entry: f.entry}
		key := SealKey(s.entry.Schedule, s.entry.Backup)
		if vs := sealVersions.hidden[key]; !f.sealed && len(vs) > 0 {
			s.hidden = vs
		} else if f.sealed {
			if s.entry, err = sealedEntry(ctx, offsite, s.entry, readOn); err != nil {
				return nil, err
			}
			s.overwritten = sealVersions.overwritten[key]
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b scanned) int {
		if c := strings.Compare(a.entry.Schedule, b.entry.Schedule); c != 0 {
			return c
		}
		return strings.Compare(a.entry.Backup, b.entry.Backup)
	})
	return out, nil
}

// vouched is s's entry once vouch (nil: none) is asked about the versions
// of its seal.json under a delete marker or an overwrite. It reads those
// versions, never lists.
func (s scanned) vouched(ctx context.Context, offsite storage.Store, vouch func(*Seal) error) (Entry, error) {
	switch {
	case len(s.hidden) > 0:
		return hiddenEntry(ctx, offsite, s.entry, s.hidden, vouch)
	case len(s.overwritten) > 0 && vouch != nil:
		return overwrittenEntry(ctx, offsite, s.entry, s.overwritten, vouch)
	}
	return s.entry, nil
}

// folder is one backup folder List found.
type folder struct {
	entry  Entry
	sealed bool
}

// folderSet holds List's folders by "<schedule>/<backup>".
type folderSet map[string]*folder

// of returns the folder of an offsite key (made on first sight) and the
// key's rest within it, or nil when the key is not in a backup folder.
func (fs folderSet) of(key string) (*folder, string) {
	parts := strings.SplitN(strings.TrimPrefix(key, BackupsDir), "/", 3)
	if len(parts) != 3 || ValidateName("schedule", parts[0]) != nil || ValidateName("backup", parts[1]) != nil {
		return nil, ""
	}
	id := parts[0] + "/" + parts[1]
	f := fs[id]
	if f == nil {
		f = &folder{entry: Entry{Schedule: parts[0], Backup: parts[1], State: StateIncomplete}}
		fs[id] = f
	}
	return f, parts[2]
}

// find returns the folder of an offsite key, nil when none was seen.
func (fs folderSet) find(key string) *folder {
	parts := strings.SplitN(strings.TrimPrefix(key, BackupsDir), "/", 3)
	if len(parts) != 3 {
		return nil
	}
	return fs[parts[0]+"/"+parts[1]]
}

// sealedEntry reads e's seal.json: sealed when it parses as e's, else invalid.
func sealedEntry(ctx context.Context, offsite storage.Store, e Entry, readOn bool) (Entry, error) {
	key := SealKey(e.Schedule, e.Backup)
	var data []byte
	err := RetryRead(ctx, func() error {
		var err error
		data, err = getSmall(ctx, offsite, key, maxSealSize)
		return err
	})
	if errors.Is(err, storage.ErrCorrupt) && ctx.Err() == nil {
		// Damaged at rest: a finding about this seal, not a reason to
		// stop listing the others.
		e.State, e.Err = StateInvalid, fmt.Errorf("%w: %w", ErrBadSeal, damaged(key, err))
		return e, nil
	}
	if err != nil && readOn && ctx.Err() == nil && IsRetryable(err) {
		e.State, e.Err = StateUnreadable, fmt.Errorf("%w: seal.json of %s/%s, every read failed on the way (transient): %w", ErrUnreadable, e.Schedule, e.Backup, err)
		return e, nil
	}
	if err != nil {
		return e, fmt.Errorf("read seal of %s/%s: %w", e.Schedule, e.Backup, err)
	}
	sl, err := ParseSeal(data)
	if err == nil && (sl.Schedule != e.Schedule || sl.Backup != e.Backup) {
		err = fmt.Errorf("%w: it seals %s/%s", ErrBadSeal, sl.Schedule, sl.Backup)
	}
	if err != nil {
		e.State, e.Err = StateInvalid, err
		return e, nil
	}
	e.State, e.Seal, e.SealedAt = StateSealed, sl, sl.SealedAt
	e.Objects, e.Bytes = len(sl.Objects), sl.CiphertextBytes()
	return e, nil
}

// markerSet is what listCurrent finds on a versioned bucket, once its
// iterator has run: the versions of each seal.json whose current version is
// a delete marker, and every current delete marker.
type markerSet struct {
	hidden  map[string][]storage.Version
	markers []storage.Version
	// overwritten are the versions of each seal.json whose current version
	// holds bytes over older ones (overwriteOf).
	overwritten map[string][]storage.Version
}

// listCurrent yields the current objects under BackupsDir. On a versioned
// bucket it lists versions instead, in the same one pass, and fills the
// markerSet it returns.
func listCurrent(ctx context.Context, offsite storage.Store) (iter.Seq2[storage.ObjectInfo, error], *markerSet, error) {
	found := &markerSet{hidden: map[string][]storage.Version{}, overwritten: map[string][]storage.Version{}}
	on, err := offsite.Versioning(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("versioning of %s: %w", offsite, err)
	}
	if !on {
		return offsite.List(ctx, BackupsDir), found, nil
	}
	// VersityGW lists current versions first and older ones after, so a
	// key's versions are gathered, not taken as consecutive.
	seals := map[string][]storage.Version{}
	return func(yield func(storage.ObjectInfo, error) bool) {
		defer func() {
			for k, vs := range seals {
				if _, ok := storage.Hidden(vs); ok {
					found.hidden[k] = vs
				} else if _, ok := overwriteOf(vs); ok {
					found.overwritten[k] = vs
				}
			}
		}()
		for v, err := range offsite.ListVersions(ctx, BackupsDir) {
			if err != nil {
				yield(storage.ObjectInfo{}, err)
				return
			}
			if path.Base(v.Key) == sealName {
				seals[v.Key] = append(seals[v.Key], v)
			}
			if v.Latest && v.DeleteMarker {
				found.markers = append(found.markers, v)
			}
			if v.Latest && !v.DeleteMarker && !yield(v.ObjectInfo, nil) {
				return
			}
		}
	}, found, nil
}

// hiddenEntry marks e hidden and, when vouch is not nil, reads the newest
// version of seal.json under the marker that parses as e's seal and that
// vouch accepts.
func hiddenEntry(ctx context.Context, offsite storage.Store, e Entry, vs []storage.Version, vouch func(*Seal) error) (Entry, error) {
	marker, _ := storage.Hidden(vs)
	h := &Hidden{Key: marker.Key, Object: SealObject, MarkerID: marker.VersionID, MarkerAt: marker.LastModified}
	e.State, e.Hidden = StateHidden, h
	if vouch == nil {
		return e, nil
	}
	return vouchedUnder(ctx, offsite, e, vs, vouch)
}

// overwrittenEntry is e when its current seal.json is one vouch accepts;
// otherwise, when an older version parses as e's seal and vouch accepts it,
// e hidden behind the current version (Hidden.Overwritten), recoverable
// from that version as from under a delete marker.
func overwrittenEntry(ctx context.Context, offsite storage.Store, e Entry, vs []storage.Version, vouch func(*Seal) error) (Entry, error) {
	if e.State == StateSealed && vouch(e.Seal) == nil {
		return e, nil
	}
	cur, _ := overwriteOf(vs)
	o := Entry{Schedule: e.Schedule, Backup: e.Backup, State: StateHidden, Markers: e.Markers,
		Hidden: &Hidden{Key: cur.Key, Object: SealObject, MarkerID: cur.VersionID, MarkerAt: cur.LastModified, Overwritten: true}}
	o, err := vouchedUnder(ctx, offsite, o, vs, vouch)
	if err != nil || o.Seal == nil {
		return e, err // nothing older verifies: ListTrusted says why the current one does not
	}
	return o, nil
}

// vouchedUnder sets e's seal to the newest version of seal.json among vs
// that parses as e's seal and that vouch accepts, recording it in e.Hidden.
func vouchedUnder(ctx context.Context, offsite storage.Store, e Entry, vs []storage.Version, vouch func(*Seal) error) (Entry, error) {
	h := e.Hidden
	sl, err := sealUnder(ctx, offsite, vs, h, func(data []byte) (*Seal, error) {
		sl, err := ParseSeal(data)
		if err == nil && (sl.Schedule != e.Schedule || sl.Backup != e.Backup) {
			err = fmt.Errorf("%w: it seals %s/%s", ErrBadSeal, sl.Schedule, sl.Backup)
		}
		if err == nil {
			err = vouch(sl)
		}
		return sl, err
	})
	if err != nil {
		return e, fmt.Errorf("read seal of %s/%s: %w", e.Schedule, e.Backup, err)
	}
	if sl != nil {
		e.Seal, e.SealedAt = sl, sl.SealedAt
		e.Objects, e.Bytes = len(sl.Objects), sl.CiphertextBytes()
	}
	return e, nil
}
