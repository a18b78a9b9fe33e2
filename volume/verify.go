package volume

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/blob"
	"github.com/kopia/kopia/repo/manifest"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/snapshotfs"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// FindingKind says what a Finding is about.
type FindingKind string

// Finding kinds.
const (
	// FindingDamaged: a sealed blob is missing, fails the bucket's checksum,
	// or does not match the manifest. Object is its offsite key.
	FindingDamaged FindingKind = "damaged"
	// FindingRepository: the sealed repository does not open, or is not
	// the one the manifest names (another unique ID). Object is the
	// repository's path.
	FindingRepository FindingKind = "repository"
	// FindingSnapshot: the snapshot cannot be loaded, or its root object is
	// not the manifest's. Object is the snapshot ID.
	FindingSnapshot FindingKind = "snapshot"
	// FindingContent: kopia could not read or verify part of the snapshot
	// (a content that fails its authentication, a pack the index names
	// that is not sealed). Object is the snapshot ID.
	FindingContent FindingKind = "content"
	// FindingCount: every file verified, but the snapshot's files or bytes
	// are not the manifest's. Object is the snapshot ID.
	FindingCount FindingKind = "count"
)

// MaxFindings bounds the findings recorded per volume.
const MaxFindings = 10

// Finding is one thing wrong with a sealed volume. Messages never hold a
// file's name or contents, nor the repository password.
type Finding struct {
	Kind    FindingKind
	Object  string
	Message string
}

func (f Finding) String() string { return fmt.Sprintf("%s %s: %s", f.Kind, f.Object, f.Message) }

// Verified is the Level 1 check of one sealed volume.
type Verified struct {
	Volume seal.VolumeRecord
	// Files and Bytes are the snapshot's regular files and their total
	// size, every byte of which was read and checked (a content shared by
	// several files is read once). Zero when the snapshot could not be
	// walked.
	Files, Bytes int64
	// Findings name what did not verify; empty when the volume verified.
	Findings []Finding
}

// OK reports whether the volume verified.
func (v Verified) OK() bool { return len(v.Findings) == 0 }

// VerifyOptions tune Verify; the zero value means defaults.
type VerifyOptions struct {
	// Parallelism is how many files kopia reads at once; 0 means the
	// number of CPUs, as `kopia snapshot verify` does.
	Parallelism int
	// Only, when not empty, selects one volume by Name.
	Only string
}

// Verify is the Level 1 volume drill: it opens each sealed repository of
// m (a manifest that seal.Open verified) in memory, through the sealed
// blobs the manifest lists (each read from offsite, checked against its
// digests and decrypted with ids; nothing decrypted is written to disk,
// and recent blobs stay in a memory cache bounded to 256 MiB, files being
// read in pack order), checks each
// volume's snapshot root object ID against the manifest, and reads and
// verifies every file of every snapshot, as `kopia snapshot verify
// --verify-files-percent=100` does. It returns one Verified per volume, in
// the manifest's order; what is wrong with a volume is in its Findings, and
// a repository that does not open is a finding on each of its volumes.
// The error is set only when no verdict could be reached (ctx ended, the
// bucket could not be read) or Only names no volume (ErrNoVolume).
func Verify(ctx context.Context, offsite storage.Store, m *seal.Manifest, ids []crypto.Identity, opts VerifyOptions) ([]Verified, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("verify volumes: %w", crypto.ErrNoIdentities)
	}
	var vols []seal.VolumeRecord
	for _, v := range m.Volumes {
		if opts.Only == "" || Name(v) == opts.Only {
			vols = append(vols, v)
		}
	}
	if opts.Only != "" && len(vols) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoVolume, opts.Only)
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = runtime.NumCPU()
	}
	out := make([]Verified, len(vols))
	for i, v := range vols {
		out[i].Volume = v
	}
	for _, rec := range m.Repositories {
		var these []*Verified
		for i := range out {
			if out[i].Volume.Repository == rec.Path {
				these = append(these, &out[i])
			}
		}
		if len(these) == 0 {
			continue
		}
		if err := verifyRepository(ctx, newSealedSource(offsite, rec, ids, opts.Parallelism), rec, these, opts); err != nil {
			return nil, err
		}
	}
	for i := range out {
		if out[i].Volume.Repository == "" || !hasRepository(m, out[i].Volume.Repository) {
			out[i].Findings = []Finding{{Kind: FindingRepository, Object: out[i].Volume.Repository, Message: "the manifest lists no such repository"}}
		}
	}
	return out, nil
}

func hasRepository(m *seal.Manifest, path string) bool {
	for _, r := range m.Repositories {
		if r.Path == path {
			return true
		}
	}
	return false
}

// verifyRepository opens one sealed repository and verifies its volumes.
func verifyRepository(ctx context.Context, src *sealedSource, rec seal.RepositoryRecord, vols []*Verified, opts VerifyOptions) error {
	r, err := openRepo(ctx, src, string(rec.Password))
	if err == nil {
		if id := hex.EncodeToString(r.UniqueID()); id != rec.UniqueID {
			_ = r.Close(ctx) // read-only: nothing to flush
			r, err = nil, fmt.Errorf("it is repository %s, the manifest says %s", id, rec.UniqueID)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		found, ferr := damageFindings(src, err)
		if ferr != nil {
			return ferr
		}
		if len(found) == 0 {
			found = []Finding{{Kind: FindingRepository, Object: rec.Path, Message: "does not open: " + oneLine(err)}}
		}
		for _, v := range vols {
			v.Findings = found
		}
		return nil
	}
	defer func() { _ = r.Close(ctx) }() // read-only: nothing to flush
	for _, v := range vols {
		if err := verifyVolume(ctx, r, src, v, opts); err != nil {
			return fmt.Errorf("volume %s: %w", Name(v.Volume), err)
		}
	}
	return nil
}

// damageFindings names the sealed blobs found damaged since the last call.
// A failure that is no finding (the bucket could not be read) is returned.
func damageFindings(src *sealedSource, err error) ([]Finding, error) {
	var out []Finding
	for _, key := range src.takeDamaged() {
		out = append(out, Finding{Kind: FindingDamaged, Object: key, Message: damageOf(err, key)})
	}
	if len(out) == 0 && err != nil && !errors.Is(err, ErrDamaged) && isReadFailure(err) {
		return nil, err
	}
	return out, nil
}

// damageOf is what err says about key, or a generic message.
func damageOf(err error, key string) string {
	if err != nil {
		msg := oneLine(err)
		if i := strings.Index(msg, key); i >= 0 {
			return strings.TrimPrefix(strings.TrimPrefix(msg[i+len(key):], ":"), " ")
		}
	}
	return "missing, or does not match the manifest"
}

// isReadFailure reports whether err is the offsite store failing (not a
// finding about what it holds).
func isReadFailure(err error) bool {
	return seal.IsRetryable(err) && !errors.Is(err, blob.ErrBlobNotFound)
}

// verifyVolume checks one volume's snapshot in an open repository.
func verifyVolume(ctx context.Context, r repo.DirectRepository, src *sealedSource, v *Verified, opts VerifyOptions) error {
	rec := v.Volume
	src.takeDamaged() // anything earlier belongs to another volume
	man, err := snapshot.LoadSnapshot(ctx, r, manifest.ID(rec.SnapshotID))
	if err != nil {
		return v.fail(ctx, src, err, Finding{Kind: FindingSnapshot, Object: rec.SnapshotID, Message: "does not load: " + oneLine(err)})
	}
	if got := man.RootObjectID().String(); got != rec.RootObjectID {
		v.Findings = append(v.Findings, Finding{Kind: FindingSnapshot, Object: rec.SnapshotID,
			Message: fmt.Sprintf("root object is %s, the manifest says %s", got, rec.RootObjectID)})
		return nil
	}
	root, err := snapshotfs.SnapshotRoot(r, man)
	if err != nil {
		return v.fail(ctx, src, err, Finding{Kind: FindingSnapshot, Object: rec.SnapshotID, Message: oneLine(err)})
	}
	// What `kopia snapshot verify --verify-files-percent=100` does: every
	// file object's contents must be in the listing's packs, and are read
	// in full (each content's authentication checked against its ID).
	blobMap, err := blob.ReadBlobMap(ctx, r.BlobReader())
	if err != nil {
		return fmt.Errorf("list sealed blobs: %w", err)
	}
	ver := snapshotfs.NewVerifier(ctx, r, snapshotfs.VerifierOptions{
		VerifyFilesPercent: 100, Parallelism: opts.Parallelism, MaxErrors: MaxFindings, BlobMap: blobMap,
	})
	errs, err := verifyInPackOrder(ctx, r, src, ver, root, opts.Parallelism)
	if err != nil || len(errs) > 0 {
		if err == nil {
			err = errors.Join(errs...)
		}
		var found []Finding
		for _, e := range errs {
			found = append(found, Finding{Kind: FindingContent, Object: rec.SnapshotID, Message: oneLine(e)})
		}
		if len(found) == 0 {
			found = append(found, Finding{Kind: FindingContent, Object: rec.SnapshotID, Message: oneLine(err)})
		}
		return v.fail(ctx, src, err, found...)
	}
	files, bytes, err := countFiles(ctx, root)
	if err != nil {
		return v.fail(ctx, src, err, Finding{Kind: FindingContent, Object: rec.SnapshotID, Message: oneLine(err)})
	}
	msg, err := checkNames(ctx, r, root, VolumeRecordNames{Altered: rec.AlteredNames, Shadowed: rec.ShadowedEntries,
		ShadowedFiles: rec.ShadowedFiles, ShadowedBytes: rec.ShadowedBytes})
	if err != nil {
		return v.fail(ctx, src, err, Finding{Kind: FindingContent, Object: rec.SnapshotID, Message: oneLine(err)})
	}
	v.Files, v.Bytes = files+rec.ShadowedFiles, bytes+rec.ShadowedBytes
	if files != rec.Files || bytes != rec.Bytes {
		v.Findings = append(v.Findings, Finding{Kind: FindingCount, Object: rec.SnapshotID,
			Message: fmt.Sprintf("%d files of %d bytes verified, the manifest says %d files of %d bytes", files, bytes, rec.Files, rec.Bytes)})
	}
	if msg != "" {
		v.Findings = append(v.Findings, Finding{Kind: FindingCount, Object: rec.SnapshotID, Message: msg})
	}
	return nil
}

// fail records the damaged blobs behind err, or else fs, as the volume's
// findings; a failure that is no finding is returned.
func (v *Verified) fail(ctx context.Context, src *sealedSource, err error, found ...Finding) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	damaged, ferr := damageFindings(src, err)
	if ferr != nil {
		return ferr
	}
	if len(damaged) > 0 {
		found = damaged
	}
	if len(found) > MaxFindings {
		found = found[:MaxFindings]
	}
	v.Files, v.Bytes = 0, 0
	v.Findings = append(v.Findings, found...)
	return nil
}

// verifyInPackOrder is the verifier's InParallel with the files read in
// pack order (sortByPack) once the walk has found them all: the walk reads
// only folders, small metadata packs.
func verifyInPackOrder(ctx context.Context, r repo.DirectRepository, src prefetcher, ver *snapshotfs.Verifier, root fs.Entry, parallelism int) ([]error, error) {
	type file struct {
		oid  object.ID
		path string
		size int64
	}
	var (
		mu    sync.Mutex
		files []file
	)
	tw, err := snapshotfs.NewTreeWalker(ctx, snapshotfs.TreeWalkerOptions{Parallelism: parallelism, MaxErrors: MaxFindings,
		EntryCallback: func(_ context.Context, e fs.Entry, oid object.ID, path string) error {
			if !e.IsDir() {
				mu.Lock()
				files = append(files, file{oid: oid, path: path, size: e.Size()})
				mu.Unlock()
			}
			return nil
		}})
	if err != nil {
		return nil, fmt.Errorf("walk snapshot: %w", err)
	}
	defer tw.Close(ctx)
	if err := tw.Process(ctx, root, "."); err != nil {
		tw.ReportError(ctx, "tree walker enqueue", err)
	}
	_ = readInPackOrder(ctx, r, src, files, func(f file) object.ID { return f.oid }, parallelism, func(ctx context.Context, f file) error {
		if tw.TooManyErrors() || ctx.Err() != nil {
			return nil
		}
		if err := ver.VerifyFile(ctx, f.oid, f.path, f.size); err != nil {
			tw.ReportError(ctx, f.path, err)
		}
		return nil // every file is read, up to MaxFindings errors
	})
	errs, _ := tw.GetErrors()
	if err := tw.Err(); err != nil {
		return errs, fmt.Errorf("verify snapshot: %w", err)
	}
	return errs, ctx.Err()
}

// countFiles counts the regular files under root and their bytes, as the
// planner did when it sealed the snapshot.
func countFiles(ctx context.Context, e fs.Entry) (files, bytes int64, err error) {
	if d, ok := e.(fs.Directory); ok {
		err = fs.IterateEntries(ctx, d, func(ctx context.Context, c fs.Entry) error {
			f, b, err := countFiles(ctx, c)
			files, bytes = files+f, bytes+b
			return err
		})
		return files, bytes, err
	}
	if e.Mode().IsRegular() {
		return 1, e.Size(), nil
	}
	return 0, 0, nil
}

// oneLine folds an error onto one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
