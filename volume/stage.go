package volume

import (
	"context"
	"fmt"
	"regexp"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// stageConcurrency bounds the blobs StageRepository holds in memory at
// once (each is read whole, packs are at most about 20 MiB).
const stageConcurrency = 4

// stageableID is a kopia blob ID that is safe as the last element of a
// staging key: no separator, no leading dot.
var stageableID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$`)

// StagedRepository counts what StageRepository wrote.
type StagedRepository struct {
	Blobs int
	Bytes int64
}

// StageRepository writes the sealed blobs of rec (a repository of a
// verified manifest) into dst under RepositoryPrefix(rec.Namespace), flat by
// kopia blob ID, as Velero keeps a repository in a backup storage
// location, so that Velero can restore the snapshots from it. Each blob is
// read from offsite, its ciphertext checked against the manifest,
// decrypted in memory and its plaintext checked, and only then written: a
// blob that does not check out is never staged, and fails the staging
// with ErrDamaged naming its key. Nothing is written to local disk. A
// blob the staging location accepts but stores wrong is removed and
// written again (storage.PutAgain).
func StageRepository(ctx context.Context, offsite storage.Store, rec seal.RepositoryRecord, ids []crypto.Identity, dst storage.Store) (StagedRepository, error) {
	for _, b := range rec.Blobs {
		if !stageableID.MatchString(b.ID) {
			return StagedRepository{}, fmt.Errorf("%w: repository %s: blob ID %q cannot be staged", seal.ErrBadManifest, rec.Path, b.ID)
		}
	}
	src := newSealedSource(offsite, rec, ids, stageConcurrency)
	prefix := RepositoryPrefix(rec.Namespace)
	var n, size atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(stageConcurrency)
	for _, b := range rec.Blobs {
		g.Go(func() error {
			plain, err := src.read(gctx, b)
			if err != nil {
				return err
			}
			if _, err := storage.PutAgain(gctx, dst, prefix+b.ID, plain, storage.PutOptions{}); err != nil {
				return fmt.Errorf("stage blob %s of %s: %w", b.ID, rec.Path, err)
			}
			n.Add(1)
			size.Add(int64(len(plain)))
			return nil
		})
	}
	err := g.Wait()
	return StagedRepository{Blobs: int(n.Load()), Bytes: size.Load()}, err
}
