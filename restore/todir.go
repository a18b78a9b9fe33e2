package restore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
)

// ErrFileExists: ToDir would overwrite a file and Options.Overwrite is off.
var ErrFileExists = errors.New("file already exists")

// Options tune ToDir. The zero value refuses to overwrite and trusts no
// signing key: pin one (VerifyKey, TrustedKeys).
type Options struct {
	// Overwrite replaces files that already exist in the directory.
	Overwrite bool
	// VerifyKey and TrustedKeys pin the seal's signing key; TrustBucketKey,
	// with none pinned, trusts the key published in the bucket (see
	// seal.VerifyOptions).
	VerifyKey      *crypto.VerifyKey
	TrustedKeys    []crypto.VerifyKey
	TrustBucketKey bool
	// Binding refuses a seal made for another place or cluster.
	Binding seal.Binding
	// Concurrency is how many objects are downloaded at once; 0 means
	// seal.DefaultConcurrency.
	Concurrency int
	// Progress, when set, is called as ciphertext is downloaded; calls never
	// overlap.
	Progress func(seal.Progress)
	// Resources also writes every resource of the backup tarball as YAML
	// under the directory's resources/ folder (see WriteResources), after
	// the Velero files are in place.
	Resources bool
	// Volume, when set (namespace/pod/volume), restores only that volume's
	// files; by default every sealed volume's are written, after the Velero
	// files, under volumes/ (docs/volumes.md).
	Volume string
}

// Result describes a finished restore.
type Result struct {
	Seal *seal.Seal
	// Files are the Velero object names written, relative to the directory.
	Files []string
	// Bytes is the plaintext written.
	Bytes int64
	// Resources counts the YAML files written under resources/ (with
	// Options.Resources).
	Resources int
	// Hidden lists what delete markers hid and the version each was
	// restored from (see seal.Hidden).
	Hidden []seal.Hidden
	// Volumes are the volumes whose files were written under volumes/.
	Volumes []volume.Restored
}

// ToDir restores a sealed backup into dir as Velero wrote it: each object
// under its Velero name, byte-identical. It verifies the seal first
// (signature; every object present with its sealed size), decrypts each
// object into a temporary file (0600) beside its final name while checking
// its ciphertext against the seal and its plaintext against the manifest,
// and only when every object checked out renames them all into place. On
// failure it removes its temporary files and writes nothing else; it never
// follows a name out of dir. Existing files are an error wrapping
// ErrFileExists unless opts.Overwrite. dir is created (0700) when missing.
func ToDir(ctx context.Context, offsite storage.Store, schedule, backup string, ids []crypto.Identity, dir string, opts Options) (*Result, error) {
	opened, err := seal.Open(ctx, offsite, schedule, backup, seal.VerifyOptions{VerifyKey: opts.VerifyKey, TrustedKeys: opts.TrustedKeys, TrustBucketKey: opts.TrustBucketKey, Binding: opts.Binding, Identities: ids})
	if err != nil {
		return nil, fmt.Errorf("restore %s/%s: %w", schedule, backup, err)
	}
	if opts.Volume != "" && !slices.ContainsFunc(opened.Manifest.Volumes, func(v seal.VolumeRecord) bool { return volume.Name(v) == opts.Volume }) {
		return nil, fmt.Errorf("restore %s/%s: %w: %s", schedule, backup, volume.ErrNoVolume, opts.Volume)
	}
	res, err := toDir(ctx, opened, dir, opts)
	if err != nil {
		return nil, fmt.Errorf("restore %s/%s to %s: %w", schedule, backup, dir, err)
	}
	if len(opened.Manifest.Volumes) > 0 {
		// The volumes' blobs are read with the same identities; kopia
		// writes the files (modes and times kept) as it restores them.
		if res.Volumes, err = volume.RestoreToDir(ctx, offsite, opened.Manifest, ids, dir, opts.Volume); err != nil {
			return nil, fmt.Errorf("restore %s/%s to %s: the Velero files are in place, the volumes are not: %w", schedule, backup, dir, err)
		}
	}
	return res, nil
}

func toDir(ctx context.Context, opened *seal.Opened, dir string, opts Options) (*Result, error) {
	objects := opened.Manifest.Objects
	for _, o := range objects {
		if err := seal.ValidateObjectName(o.Name); err != nil || !filepath.IsLocal(filepath.FromSlash(o.Name)) {
			return nil, fmt.Errorf("unsafe object name %q", o.Name)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = root.Close() }() // read-only: a close error loses nothing
	tarball := opened.Seal.Backup + ".tar.gz"
	if err := checkFree(root, dir, opened, tarball, opts); err != nil {
		return nil, err
	}
	made := absentDirs(root, objects)
	temps, err := download(ctx, root, opened, opts)
	if err != nil {
		removeDirs(root, made)
		return nil, err
	}
	res := &Result{Seal: opened.Seal, Hidden: opened.Hidden}
	// The resources are written from the downloaded tarball before any
	// file is placed: a resource that cannot be written leaves dir as it
	// was.
	resTmp := ""
	if opts.Resources {
		i := slices.IndexFunc(objects, func(o seal.Object) bool { return o.Name == tarball })
		if resTmp, res.Resources, err = stageResources(root, temps[i]); err != nil {
			removeAll(root, temps)
			removeDirs(root, made)
			return nil, fmt.Errorf("write %s/: %w", ResourcesDir, err)
		}
	}
	for i, o := range objects {
		if err := place(root, temps[i], o.Name, opts.Overwrite); err != nil {
			removeAll(root, temps[i:])
			if resTmp != "" {
				_ = root.RemoveAll(resTmp) // best effort: a hidden leftover is harmless
			}
			return nil, err
		}
		res.Files = append(res.Files, o.Name)
		res.Bytes += o.Size
	}
	if resTmp != "" {
		if err := commitResources(root, resTmp, opts.Overwrite); err != nil {
			return nil, fmt.Errorf("the Velero files are in place, but %s/ is not: %w", ResourcesDir, err)
		}
	}
	return res, nil
}

// checkFree fails when the backup has no tarball to write resources from,
// or, unless opts.Overwrite, when a file or resources/ exists already.
func checkFree(root *os.Root, dir string, opened *seal.Opened, tarball string, opts Options) error {
	if opts.Resources {
		if _, ok := opened.Manifest.Object(tarball); !ok {
			return fmt.Errorf("backup has no %s: no resources to write", tarball)
		}
	}
	if opts.Overwrite {
		return nil
	}
	if opts.Resources {
		if err := absent(root, ResourcesDir); err != nil {
			return err
		}
	}
	for _, o := range opened.Manifest.Objects {
		_, err := root.Lstat(o.Name)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %s", ErrFileExists, filepath.Join(dir, filepath.FromSlash(o.Name)))
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	return nil
}

// download decrypts every object into a temporary file beside its final
// name and returns the temporary names, in manifest order.
func download(ctx context.Context, root *os.Root, opened *seal.Opened, opts Options) ([]string, error) {
	objects := opened.Manifest.Objects
	temps := make([]string, len(objects))
	p := newProgress(opts.Progress, opened.Seal)
	g, gctx := errgroup.WithContext(ctx)
	limit := opts.Concurrency
	if limit <= 0 {
		limit = seal.DefaultConcurrency
	}
	g.SetLimit(limit)
	findings := make([]error, len(objects))
	for i, o := range objects {
		g.Go(func() error {
			tmp, err := fetchRetried(gctx, root, opened, o.Name, func(n int64) { p.add(o.Name, n) })
			temps[i] = tmp
			switch {
			case err == nil:
				p.done(o.Name)
			case isFinding(err):
				// A damaged object is named, and the others are still
				// checked, so that one run names every damaged object.
				findings[i] = err
				return nil
			}
			return err
		})
	}
	err := g.Wait()
	if err == nil {
		err = errors.Join(findings...)
	}
	if err != nil {
		removeAll(root, temps)
		return nil, err
	}
	return temps, nil
}

// fetchRetried is fetch, started over in a new temporary file while the
// failure is one another read may not have (seal.RetryRead): a dropped
// connection, a stall, bytes damaged in transit.
func fetchRetried(ctx context.Context, root *os.Root, opened *seal.Opened, name string, progress func(int64)) (string, error) {
	var tmp string
	err := seal.RetryRead(ctx, func() error {
		if tmp != "" {
			_ = root.Remove(tmp) // the try before's; a leftover is removed with the others on failure
		}
		var err error
		tmp, err = fetch(ctx, root, opened, name, progress)
		return err
	})
	return tmp, err
}

// isFinding reports whether err is a finding about the object read (it
// is damaged, does not match its seal or manifest, or does not decrypt),
// not a failure to read the bucket or write the directory.
func isFinding(err error) bool {
	return errors.Is(err, seal.ErrObjectMismatch) || errors.Is(err, seal.ErrPlaintextMismatch) ||
		errors.Is(err, seal.ErrObjectMissing) || errors.Is(err, crypto.ErrCorrupt) || errors.Is(err, crypto.ErrWrongIdentity)
}

// fetch decrypts one object into a new temporary file, synced to disk. It
// returns the file's name (also on failure, for cleanup; "" if none).
func fetch(ctx context.Context, root *os.Root, opened *seal.Opened, name string, progress func(int64)) (string, error) {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
	}
	tmp, err := tempName(name)
	if err != nil {
		return "", err
	}
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = opened.ReadObject(ctx, name, f, progress)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return tmp, err
}

// place moves a finished temporary file to its name: a rename when
// overwriting, else a hard link that fails if the name was taken meanwhile.
func place(root *os.Root, tmp, name string, overwrite bool) error {
	if overwrite {
		return root.Rename(tmp, name)
	}
	if err := root.Link(tmp, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrFileExists, name)
		}
		return err
	}
	return root.Remove(tmp)
}

// absentDirs lists the folders the objects' names need that do not exist
// yet, deepest first, for removeDirs.
func absentDirs(root *os.Root, objects []seal.Object) []string {
	var out []string
	for _, o := range objects {
		for d := path.Dir(o.Name); d != "."; d = path.Dir(d) {
			if _, err := root.Lstat(d); err == nil || slices.Contains(out, d) {
				continue
			}
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out
}

// removeDirs removes the folders a failed restore made, when empty.
func removeDirs(root *os.Root, dirs []string) {
	for _, d := range dirs {
		_ = root.Remove(d) // a folder that is not empty stays: it holds something else
	}
}

func removeAll(root *os.Root, names []string) {
	for _, n := range names {
		if n != "" {
			_ = root.Remove(n)
		}
	}
}

// tempName is a hidden, unique name in the directory of name.
func tempName(name string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	dir, base := path.Split(name)
	return dir + "." + base + "." + hex.EncodeToString(b[:]) + ".safekeep-tmp", nil
}

// progress serializes reports of ciphertext downloaded.
type progress struct {
	mu sync.Mutex
	fn func(seal.Progress)
	p  seal.Progress
}

func newProgress(fn func(seal.Progress), sl *seal.Seal) *progress {
	return &progress{fn: fn, p: seal.Progress{
		Schedule: sl.Schedule, Backup: sl.Backup,
		ObjectsTotal: len(sl.Objects), BytesTotal: sl.CiphertextBytes(),
	}}
}

func (p *progress) add(object string, n int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.p.Object = object
	p.p.BytesDone += n
	p.fn(p.p)
}

func (p *progress) done(object string) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.p.Object = object
	p.p.ObjectsDone++
	p.fn(p.p)
}
