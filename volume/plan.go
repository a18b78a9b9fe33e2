package volume

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/blob"
	"github.com/kopia/kopia/repo/content"
	"github.com/kopia/kopia/repo/manifest"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/snapshotfs"

	"github.com/safekeep-dev/safekeep/storage"
)

// Snapshot is one kopia snapshot as read from its repository.
type Snapshot struct {
	ID           string // manifest ID, as Velero records it
	RootObjectID string
	Files        int64 // regular files
	Bytes        int64 // their total size
	Names        NameLoss
}

// NameLoss counts what kopia's reader of a snapshot does not give back as
// it was backed up (names.go): names stored altered (not valid UTF-8 on
// the volume), and entries hidden by a later one of the same name in
// their folder, with the regular files and bytes under them (sealed too,
// and not in Files and Bytes).
type NameLoss struct {
	Altered, Shadowed            int64
	ShadowedFiles, ShadowedBytes int64
}

// Plan is the set of repository blobs that restores some snapshots: the
// identity blobs, every index blob, the packs holding the repository's
// manifests, and the packs holding every content the snapshots reach.
type Plan struct {
	Prefix    string // the repository's, in its storage location
	UniqueID  string // hex of kopia's repository unique ID
	Snapshots []Snapshot
	Blobs     []blob.Metadata // sorted by ID
}

// DefaultAttempts is how many times PlanRepository lists the repository
// before giving up on blobs that vanish (maintenance deleting them).
const DefaultAttempts = 3

// PlanRepository opens the kopia repository of namespace in store (a backup
// storage location, rooted at its prefix) read-only, with password, and
// returns the blobs that restore the snapshots named by snapshotIDs.
//
// A blob that disappears while it runs (maintenance deleting what a newer
// index no longer names) makes it list the repository again and start over,
// up to DefaultAttempts; a plan is returned only when every blob it names
// was present in one listing and every pack the snapshots' index entries
// name is among them. Errors wrap ErrIncomplete or ErrNoSnapshot.
func PlanRepository(ctx context.Context, store storage.Store, namespace, password string, snapshotIDs []string) (*Plan, error) {
	prefix := RepositoryPrefix(namespace)
	var last error
	for range DefaultAttempts {
		src, err := newFrozenSource(ctx, store, prefix)
		if err != nil {
			return nil, err
		}
		p, err := planOnce(ctx, src, password, snapshotIDs)
		if err == nil {
			p.Prefix = prefix
			return p, nil
		}
		if !errors.Is(err, blob.ErrBlobNotFound) {
			return nil, err
		}
		last = err
	}
	return nil, fmt.Errorf("%w: %s after %d listings: %w", ErrIncomplete, prefix, DefaultAttempts, last)
}

func planOnce(ctx context.Context, src *frozenSource, password string, snapshotIDs []string) (p *Plan, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	src.missing = cancel
	defer func() {
		if cause := context.Cause(ctx); err != nil && errors.Is(cause, blob.ErrBlobNotFound) {
			err = cause
		}
	}()
	r, err := openRepo(ctx, src, password)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close(ctx) }() // read-only: nothing to flush
	need := make(map[blob.ID]bool)
	for _, id := range identityBlobs {
		if _, ok := src.blobs[id]; ok {
			need[id] = true
		}
	}
	for _, md := range src.sorted {
		if isIndex(md.BlobID) {
			need[md.BlobID] = true
		}
	}
	// kopia loads every manifest when it opens a repository's snapshots, so
	// the packs of all of them are needed, not only the backup's.
	err = r.ContentReader().IterateContents(ctx, content.IterateOptions{}, func(ci content.Info) error {
		if ci.ContentID.Prefix() == manifest.ContentPrefix {
			need[ci.PackBlobID] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list manifests in %s: %w", src.name(), err)
	}
	w := &walker{r: r, contents: make(map[content.ID]bool)}
	p = &Plan{UniqueID: hex.EncodeToString(r.UniqueID())}
	for _, id := range snapshotIDs {
		s, err := w.snapshot(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.name(), err)
		}
		p.Snapshots = append(p.Snapshots, s)
	}
	for cid := range w.contents {
		ci, err := r.ContentInfo(ctx, cid)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: content %s: %w", ErrIncomplete, src.name(), cid, err)
		}
		need[ci.PackBlobID] = true
	}
	for id := range need {
		md, ok := src.blobs[id]
		if !ok {
			// An index names a pack the listing did not see: it was
			// deleted after the index was listed. List again.
			return nil, fmt.Errorf("pack %s named by an index: %w", id, blob.ErrBlobNotFound)
		}
		p.Blobs = append(p.Blobs, md)
	}
	slices.SortFunc(p.Blobs, func(a, b blob.Metadata) int { return cmp.Compare(a.BlobID, b.BlobID) })
	return p, nil
}

// walker collects the contents a snapshot's tree reaches.
type walker struct {
	r        repo.DirectRepository
	contents map[content.ID]bool
	objects  map[object.ID]bool
}

func (w *walker) snapshot(ctx context.Context, id string) (Snapshot, error) {
	man, err := snapshot.LoadSnapshot(ctx, w.r, manifest.ID(id))
	if errors.Is(err, snapshot.ErrSnapshotNotFound) {
		return Snapshot{}, fmt.Errorf("%w: %s", ErrNoSnapshot, id)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", id, err)
	}
	root, err := snapshotfs.SnapshotRoot(w.r, man)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", id, err)
	}
	s := Snapshot{ID: id, RootObjectID: man.RootObjectID().String()}
	if err := w.entry(ctx, root, &s); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", id, err)
	}
	loss, err := findNameLoss(ctx, w.r, root)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", id, err)
	}
	s.Names = NameLoss{Altered: loss.altered, Shadowed: int64(len(loss.shadowed))}
	for _, sh := range loss.shadowed {
		var under Snapshot
		if err := w.entry(ctx, sh.entry, &under); err != nil {
			return Snapshot{}, fmt.Errorf("snapshot %s: %w", id, err)
		}
		s.Names.ShadowedFiles += under.Files
		s.Names.ShadowedBytes += under.Bytes
	}
	return s, nil
}

// entry records the contents of e (and, for a directory, of everything
// under it) and counts its regular files.
func (w *walker) entry(ctx context.Context, e fs.Entry, s *Snapshot) error {
	if h, ok := e.(object.HasObjectID); ok {
		if err := w.object(ctx, h.ObjectID()); err != nil {
			return err
		}
	}
	if d, ok := e.(fs.Directory); ok {
		return fs.IterateEntries(ctx, d, func(ctx context.Context, c fs.Entry) error { return w.entry(ctx, c, s) })
	}
	if e.Mode().IsRegular() {
		s.Files++
		s.Bytes += e.Size()
	}
	return nil
}

func (w *walker) object(ctx context.Context, oid object.ID) error {
	if w.objects == nil {
		w.objects = make(map[object.ID]bool)
	}
	if w.objects[oid] {
		return nil
	}
	w.objects[oid] = true
	cids, err := w.r.VerifyObject(ctx, oid)
	if err != nil {
		return fmt.Errorf("object %s: %w", oid, err)
	}
	for _, cid := range cids {
		w.contents[cid] = true
	}
	return nil
}
