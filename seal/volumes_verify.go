package seal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// checkVolumeBlobs reads every volume blob the seal lists and checks its
// ciphertext size and SHA-256 (no key needed); with identities and a
// verified manifest it also decrypts each and checks its plaintext against
// the manifest's repository records.
func checkVolumeBlobs(ctx context.Context, offsite storage.Store, sl *Seal, manifest *Manifest, ids []crypto.Identity,
	limit int, rep *Report) error {
	plain := make(map[string]VolumeBlob)
	if manifest != nil {
		for _, r := range manifest.Repositories {
			for _, b := range r.Blobs {
				plain[b.Key] = b
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, o := range sl.VolumeBlobs {
		want, decrypt := plain[o.Name]
		g.Go(func() error {
			var use []crypto.Identity
			if decrypt {
				use = ids
			}
			res, err := readObject(gctx, offsite, o.Name, o.Size, use, io.Discard, nil)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, storage.ErrNotFound) {
				rep.add(ProblemMissing, o.Name, fmt.Errorf("%w: %s", ErrObjectMissing, o.Name))
				return nil
			}
			if err != nil {
				return err
			}
			if kind, err := checkCipher(o, res.cipher); err != nil {
				rep.add(kind, o.Name, err)
				return nil
			}
			rep.VolumeBlobs++
			if len(use) == 0 {
				return nil
			}
			if res.decryptErr != nil {
				rep.add(ProblemDecrypt, o.Name, decryptProblem(res.decryptErr))
				return nil
			}
			if err := checkPlain(Object{Name: o.Name, Size: want.Size, SHA256: want.SHA256}, res.plain); err != nil {
				rep.add(ProblemPlaintext, o.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}
