package volume

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/manifest"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/restore"
	"github.com/kopia/kopia/snapshot/snapshotfs"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// VolumesDir is the folder, in a restore directory, of the volumes' files:
// volumes/<namespace>/<pod>/<volume>/.
const VolumesDir = "volumes"

// ErrNoVolume: a volume asked for is not in the backup.
var ErrNoVolume = errors.New("no such volume in the backup")

// Restored is one volume restored to a directory.
type Restored struct {
	Volume   seal.VolumeRecord
	Dir      string // relative to the restore directory
	Files    int64
	Bytes    int64
	Symlinks int64
	// Skipped are symlinks not created because their target leaves the
	// volume's folder (absolute, or climbing out with ..), relative to Dir.
	Skipped []string
	// AlteredNames counts names kopia stored with U+FFFD (not valid UTF-8
	// on the volume): they are written as stored.
	AlteredNames int64
	// Shadowed are the entries a later same-named entry hides from
	// kopia's reader, written as <path>.safekeep-shadowed-<n>, relative
	// to Dir (names.go). Their files are in Files and Bytes.
	Shadowed []string
}

// Name is namespace/pod/volume, as --volume takes it; for a volume Velero's
// data mover moved, namespace/_pvc/<pvc> (no pod's name has a "_").
func Name(v seal.VolumeRecord) string { return strings.Join(pathParts(v), "/") }

// DataMoverDir stands for the pod in the path of a data mover volume.
const DataMoverDir = "_pvc"

func pathParts(v seal.VolumeRecord) []string {
	if v.IsDataMover() {
		return []string{v.Namespace, DataMoverDir, v.PVC}
	}
	return []string{v.Namespace, v.Pod, v.Volume}
}

// RestoreToDir writes the files of the sealed backup's volumes (those of m,
// a verified manifest) under dir/volumes/<namespace>/<pod>/<volume>/,
// (dir/volumes/<namespace>/_pvc/<pvc>/ for a data mover volume), keeping
// modes and times, reading the sealed blobs from offsite with the
// age identities alone (the repository password is in the manifest).
// only, when not empty, selects one volume by Name. Symlinks whose target
// leaves the volume's folder are not created (listed in Skipped). A blob
// that is missing or does not match the manifest fails the restore
// (ErrDamaged, naming it), as does a snapshot whose root object is not the
// manifest's.
func RestoreToDir(ctx context.Context, offsite storage.Store, m *seal.Manifest, ids []crypto.Identity, dir, only string) ([]Restored, error) {
	var vols []seal.VolumeRecord
	for _, v := range m.Volumes {
		if only == "" || Name(v) == only {
			vols = append(vols, v)
		}
	}
	if only != "" && len(vols) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoVolume, only)
	}
	var out []Restored
	for _, rec := range m.Repositories {
		these := inRepository(rec, vols)
		if len(these) == 0 {
			continue
		}
		got, err := restoreRepository(ctx, offsite, rec, ids, dir, these)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func restoreRepository(ctx context.Context, offsite storage.Store, rec seal.RepositoryRecord, ids []crypto.Identity,
	dir string, vols []seal.VolumeRecord) ([]Restored, error) {
	src := newSealedSource(offsite, rec, ids, restoreParallel)
	r, err := openRepo(ctx, src, string(rec.Password))
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close(ctx) }() // read-only: nothing to flush
	var out []Restored
	for _, v := range vols {
		res, err := restoreVolume(ctx, r, src, dir, v)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", Name(v), err)
		}
		out = append(out, res)
	}
	return out, nil
}

// restoreParallel is how many files RestoreToDir writes at once.
const restoreParallel = 2

func restoreVolume(ctx context.Context, r repo.DirectRepository, src prefetcher, dir string, v seal.VolumeRecord) (Restored, error) {
	res := Restored{Volume: v}
	parts := pathParts(v)
	for i, part := range parts {
		if v.IsDataMover() && i == 1 {
			continue // DataMoverDir
		}
		if err := seal.ValidateName("volume path", part); err != nil {
			return res, err
		}
	}
	root, err := snapshotRoot(ctx, r, v)
	if err != nil {
		return res, err
	}
	res.Dir = filepath.Join(append([]string{VolumesDir}, parts...)...)
	target := filepath.Join(dir, res.Dir)
	if err := os.MkdirAll(target, 0o700); err != nil {
		return res, err
	}
	out := &confinedOutput{FilesystemOutput: &restore.FilesystemOutput{
		TargetPath: target, OverwriteDirectories: true, WriteFilesAtomically: true,
		SkipOwners: os.Geteuid() != 0, // only root can give files away
	}}
	if err := out.Init(ctx); err != nil {
		return res, err
	}
	// Whole files at every depth: never kopia's shallow placeholders.
	opts := restore.Options{Parallel: restoreParallel, RestoreDirEntryAtDepth: math.MaxInt32}
	loss, err := findNameLoss(ctx, r, root)
	if err != nil {
		return res, fmt.Errorf("snapshot %s: %w", v.SnapshotID, err)
	}
	res.AlteredNames = int64(loss.altered)
	ordered := &packOrderedOutput{confinedOutput: out, r: r, src: src, parallel: restoreParallel}
	var later []shadowedEntry
	for _, sh := range loss.shadowed {
		res.Shadowed = append(res.Shadowed, sh.restoreName())
		if f, ok := sh.entry.(fs.File); ok && !sh.inHidden {
			// Written with the others, before the folders get their times.
			ordered.files = append(ordered.files, namedFile{path: sh.restoreName(), file: f})
		} else {
			later = append(later, sh)
		}
	}
	if _, err := restore.Entry(ctx, r, ordered, root, opts); err != nil {
		return res, fmt.Errorf("restore snapshot %s: %w", v.SnapshotID, err)
	}
	for _, sh := range later {
		if err := restoreShadowed(ctx, r, out, target, sh, opts); err != nil {
			return res, fmt.Errorf("restore snapshot %s: %w", v.SnapshotID, err)
		}
	}
	res.Skipped, res.Files, res.Bytes, res.Symlinks = out.skipped, out.files, out.bytes, out.symlinks
	return res, nil
}

// restoreShadowed writes a hidden folder or symlink under its own name,
// and a hidden file inside a hidden folder (written after that folder);
// other hidden files are written with the others.
func restoreShadowed(ctx context.Context, r repo.Repository, out *confinedOutput, target string, sh shadowedEntry, opts restore.Options) error {
	switch e := sh.entry.(type) {
	case fs.Symlink:
		return out.CreateSymlink(ctx, sh.restoreName(), e)
	case fs.File:
		return out.WriteFile(ctx, sh.restoreName(), e, nil)
	}
	if _, ok := sh.entry.(fs.Directory); !ok {
		return nil // kopia's restore writes nothing else either
	}
	sub := &confinedOutput{FilesystemOutput: &restore.FilesystemOutput{
		TargetPath: filepath.Join(target, filepath.FromSlash(sh.restoreName())), OverwriteDirectories: true,
		WriteFilesAtomically: true, SkipOwners: out.SkipOwners,
	}}
	if err := sub.Init(ctx); err != nil {
		return err
	}
	if _, err := restore.Entry(ctx, r, sub, sh.entry, opts); err != nil {
		return err
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	out.files, out.bytes, out.symlinks = out.files+sub.files, out.bytes+sub.bytes, out.symlinks+sub.symlinks
	for _, s := range sub.skipped {
		out.skipped = append(out.skipped, path.Join(sh.restoreName(), s))
	}
	return nil
}

// inRepository returns the volumes of vols whose snapshot is in rec.
func inRepository(rec seal.RepositoryRecord, vols []seal.VolumeRecord) []seal.VolumeRecord {
	var out []seal.VolumeRecord
	for _, v := range vols {
		if v.Repository == rec.Path {
			out = append(out, v)
		}
	}
	return out
}

// snapshotRoot loads the volume's snapshot and returns its root, which
// must be the manifest's RootObjectID.
func snapshotRoot(ctx context.Context, r repo.Repository, v seal.VolumeRecord) (fs.Entry, error) {
	man, err := snapshot.LoadSnapshot(ctx, r, manifest.ID(v.SnapshotID))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", v.SnapshotID, err)
	}
	if got := man.RootObjectID().String(); got != v.RootObjectID {
		return nil, fmt.Errorf("%w: snapshot %s has root object %s, the manifest says %s", ErrDamaged, v.SnapshotID, got, v.RootObjectID)
	}
	root, err := snapshotfs.SnapshotRoot(r, man)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", v.SnapshotID, err)
	}
	return root, nil
}

// confinedOutput writes like kopia's FilesystemOutput, counting what it
// writes, but never creates a symlink whose target leaves the restore
// folder.
type confinedOutput struct {
	*restore.FilesystemOutput
	mu                     sync.Mutex
	skipped                []string
	files, bytes, symlinks int64
}

func (o *confinedOutput) WriteFile(ctx context.Context, relativePath string, f fs.File, progress restore.FileWriteProgress) error {
	if err := o.FilesystemOutput.WriteFile(ctx, relativePath, f, progress); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.files++
	o.bytes += f.Size()
	return nil
}

func (o *confinedOutput) CreateSymlink(ctx context.Context, relativePath string, e fs.Symlink) error {
	target, err := e.Readlink(ctx)
	if err != nil {
		return err
	}
	if filepath.IsAbs(target) || !filepath.IsLocal(filepath.Join(filepath.Dir(relativePath), target)) {
		o.mu.Lock()
		o.skipped = append(o.skipped, relativePath)
		o.mu.Unlock()
		return nil
	}
	if err := o.FilesystemOutput.CreateSymlink(ctx, relativePath, e); err != nil {
		return err
	}
	o.mu.Lock()
	o.symlinks++
	o.mu.Unlock()
	return nil
}
