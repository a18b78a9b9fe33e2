package volume

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"slices"
	"sync"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/object"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// FileDigest is the size and SHA-256 (hex) of one regular file.
type FileDigest struct {
	Size   int64
	SHA256 string
}

// Digests maps the slash-separated path of each regular file of a volume,
// relative to the volume's root, to its digest.
type Digests map[string]FileDigest

// SnapshotDigests reads every regular file of the given volumes (of m, a
// verified manifest) from the sealed repositories, in memory, as
// RestoreToDir would read them (each blob checked against the manifest,
// each snapshot's root against its RootObjectID), and returns their
// digests by volume Name. Nothing decrypted is written to disk.
func SnapshotDigests(ctx context.Context, offsite storage.Store, m *seal.Manifest, ids []crypto.Identity, vols []seal.VolumeRecord) (map[string]Digests, error) {
	out := make(map[string]Digests, len(vols))
	for _, rec := range m.Repositories {
		these := inRepository(rec, vols)
		if len(these) == 0 {
			continue
		}
		if err := repositoryDigests(ctx, offsite, rec, ids, these, out); err != nil {
			return nil, err
		}
	}
	for _, v := range vols {
		if out[Name(v)] == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoVolume, Name(v))
		}
	}
	return out, nil
}

func repositoryDigests(ctx context.Context, offsite storage.Store, rec seal.RepositoryRecord, ids []crypto.Identity,
	vols []seal.VolumeRecord, out map[string]Digests) error {
	src := newSealedSource(offsite, rec, ids, digestParallel)
	r, err := openRepo(ctx, src, string(rec.Password))
	if err != nil {
		return err
	}
	defer func() { _ = r.Close(ctx) }() // read-only: nothing to flush
	for _, v := range vols {
		d, err := snapshotDigests(ctx, r, src, v)
		if err != nil {
			return fmt.Errorf("volume %s: %w", Name(v), err)
		}
		out[Name(v)] = d
	}
	return nil
}

// digestParallel is how many files SnapshotDigests reads at once.
const digestParallel = 2

func snapshotDigests(ctx context.Context, r repo.DirectRepository, src prefetcher, v seal.VolumeRecord) (Digests, error) {
	root, err := snapshotRoot(ctx, r, v)
	if err != nil {
		return nil, err
	}
	out := Digests{}
	var files []namedFile
	dir, ok := root.(fs.Directory)
	if !ok { // a snapshot of a single file
		f, ok := root.(fs.File)
		if !ok {
			return out, nil
		}
		files = append(files, namedFile{root.Name(), f})
	} else if err := walkKopia(ctx, dir, "", &files); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	err = readInPackOrder(ctx, r, src, files, func(f namedFile) object.ID { return objectIDOf(f.file) }, digestParallel,
		func(ctx context.Context, f namedFile) error {
			d, err := kopiaFileDigest(ctx, f.file)
			if err != nil {
				return fmt.Errorf("%s: %w", f.path, err)
			}
			mu.Lock()
			defer mu.Unlock()
			out[f.path] = d
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// namedFile is a file of a snapshot and its path in it.
type namedFile struct {
	path string
	file fs.File
}

// objectIDOf is a snapshot entry's object.
func objectIDOf(e fs.Entry) object.ID {
	if h, ok := e.(object.HasObjectID); ok {
		return h.ObjectID()
	}
	return object.EmptyID
}

// walkKopia lists the files under dir, to be read in pack order.
func walkKopia(ctx context.Context, dir fs.Directory, prefix string, out *[]namedFile) error {
	return fs.IterateEntries(ctx, dir, func(ctx context.Context, e fs.Entry) error {
		p := path.Join(prefix, e.Name())
		switch e := e.(type) {
		case fs.Directory:
			return walkKopia(ctx, e, p, out)
		case fs.File:
			*out = append(*out, namedFile{p, e})
		}
		return nil
	})
}

func kopiaFileDigest(ctx context.Context, f fs.File) (FileDigest, error) {
	rd, err := f.Open(ctx)
	if err != nil {
		return FileDigest{}, err
	}
	defer func() { _ = rd.Close() }() // read-only
	return digestOf(rd)
}

func digestOf(r io.Reader) (FileDigest, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return FileDigest{}, err
	}
	return FileDigest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// DigestsOf returns the digests of every regular file of fsys (symlinks
// are not followed).
func DigestsOf(fsys iofs.FS) (Digests, error) {
	out := Digests{}
	err := walkRegular(fsys, func(p string, d FileDigest) error {
		out[p] = d
		return nil
	})
	return out, err
}

// walkRegular calls fn with the digest of each regular file of fsys, in
// lexical order (symlinks are not followed).
func walkRegular(fsys iofs.FS, fn func(string, FileDigest) error) error {
	return iofs.WalkDir(fsys, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }() // read-only
		dg, err := digestOf(f)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return fn(p, dg)
	})
}

// Compare lists the files of want that got lacks, those whose digest
// differs, and the files of got that want lacks, each sorted.
func (want Digests) Compare(got Digests) (missing, differ, extra []string) {
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			missing = append(missing, p)
		case g != w:
			differ = append(differ, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			extra = append(extra, p)
		}
	}
	slices.Sort(missing)
	slices.Sort(differ)
	slices.Sort(extra)
	return missing, differ, extra
}
