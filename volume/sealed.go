package volume

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/kopia/kopia/repo/blob"
	"golang.org/x/sync/singleflight"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// ErrDamaged: a sealed volume blob is missing, or its ciphertext or
// plaintext does not match the manifest. The error names the blob's key.
var ErrDamaged = errors.New("sealed volume blob damaged")

// sealedSource is a sealed kopia repository as kopia reads it: the blob
// list comes from the verified manifest (never from a listing of the
// untrusted bucket), and each blob is read from the offsite bucket,
// checked against its ciphertext digest, decrypted in memory with the age
// identities and checked against its plaintext digest. Nothing decrypted is
// written to disk; a bounded memory cache keeps recent blobs (see
// sealedCacheBytes), and readers take objects in pack order (packorder.go)
// so that each blob is fetched about once.
type sealedSource struct {
	offsite storage.Store
	rec     seal.RepositoryRecord
	ids     []crypto.Identity
	blobs   map[blob.ID]seal.VolumeBlob
	cache   *lru
	// reads makes concurrent readers of one blob share a single download:
	// kopia reads many small contents of one pack at once.
	reads singleflight.Group

	mu sync.Mutex
	// damaged are the keys of the blobs found damaged since the last
	// takeDamaged: kopia wraps (or retries) what a read returns, so the
	// verifier learns which sealed blob failed here.
	damaged map[string]bool
}

// newSealedSource reads rec's blobs for readers that read at most
// parallelism objects at once.
func newSealedSource(offsite storage.Store, rec seal.RepositoryRecord, ids []crypto.Identity, parallelism int) *sealedSource {
	s := &sealedSource{offsite: offsite, rec: rec, ids: ids, blobs: make(map[blob.ID]seal.VolumeBlob, len(rec.Blobs))}
	var largest int64
	for _, b := range rec.Blobs {
		s.blobs[blob.ID(b.ID)] = b
		largest = max(largest, b.Size)
	}
	s.cache = newLRU(sealedCacheBytes(parallelism, largest))
	return s
}

// maxSealedCacheBytes is the hard bound of a sealedSource's cache.
const maxSealedCacheBytes = 256 << 20

// sealedCacheBytes sizes the cache of decrypted blobs: each of parallelism
// readers keeps one pack open, and the next one comes in while the last
// reader finishes the one before (packs are about 20 MiB, kopia's default).
// Smaller than that, readers in pack order still evict packs that are
// being read, and fetch them again.
func sealedCacheBytes(parallelism int, largest int64) int {
	want := int64(max(parallelism, 1)+1) * largest
	return int(min(max(want, defaultCacheBytes), maxSealedCacheBytes))
}

func (s *sealedSource) name() string { return s.rec.Path + " in " + s.offsite.String() }

func (s *sealedSource) list(_ context.Context, prefix string) ([]blob.Metadata, error) {
	var out []blob.Metadata
	for _, b := range s.rec.Blobs { // sorted by ID
		if strings.HasPrefix(b.ID, prefix) {
			out = append(out, blob.Metadata{BlobID: blob.ID(b.ID), Length: b.Size})
		}
	}
	return out, nil
}

func (s *sealedSource) get(ctx context.Context, id blob.ID) ([]byte, error) {
	b, ok := s.blobs[id]
	if !ok {
		return nil, fmt.Errorf("blob %s is not sealed: %w", id, blob.ErrBlobNotFound)
	}
	if data, ok := s.cache.get(string(id)); ok {
		return data, nil
	}
	v, err, _ := s.reads.Do(string(id), func() (any, error) {
		if data, ok := s.cache.get(string(id)); ok {
			return data, nil
		}
		data, err := s.read(ctx, b)
		if err != nil {
			return nil, err
		}
		s.cache.put(string(id), data)
		return data, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// prefetch reads id into the cache; a failure is left for the reader that
// needs the blob to meet (and report) again.
func (s *sealedSource) prefetch(ctx context.Context, id blob.ID) {
	_, _ = s.get(ctx, id) //nolint:errcheck // see above
}

// read reads, checks and decrypts one sealed blob, reading it again when
// the failure may be passing (seal.RetryRead). A blob that is missing,
// fails the bucket's checksum on every read, or does not match the
// manifest is ErrDamaged, and recorded for takeDamaged.
func (s *sealedSource) read(ctx context.Context, b seal.VolumeBlob) ([]byte, error) {
	var plain []byte
	err := seal.RetryRead(ctx, func() error {
		var err error
		plain, err = s.readOnce(ctx, b)
		return err
	})
	switch {
	case err == nil:
		return plain, nil
	case ctx.Err() != nil:
		return nil, err
	case errors.Is(err, storage.ErrNotFound):
		err = fmt.Errorf("%w: %s is missing", ErrDamaged, b.Key)
	case errors.Is(err, storage.ErrCorrupt):
		err = fmt.Errorf("%w: %s fails the checksum stored with it on every read: %w", ErrDamaged, b.Key, err)
	}
	if errors.Is(err, ErrDamaged) {
		s.mu.Lock()
		if s.damaged == nil {
			s.damaged = make(map[string]bool)
		}
		s.damaged[b.Key] = true
		s.mu.Unlock()
	}
	return nil, err
}

// takeDamaged returns the keys of the blobs found damaged since the last
// call, sorted, and forgets them.
func (s *sealedSource) takeDamaged() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.damaged))
	s.damaged = nil
	return keys
}

func (s *sealedSource) readOnce(ctx context.Context, b seal.VolumeBlob) ([]byte, error) {
	rc, _, err := s.offsite.Get(ctx, b.Key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", b.Key, err)
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	// Sizes come from the manifest: read into buffers of that size, not
	// io.ReadAll's doubling ones (garbage the size of each pack again).
	cipher, err := readExactly(rc, b.CipherSize)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", b.Key, err)
	}
	if int64(len(cipher)) != b.CipherSize || hexSHA(cipher) != b.CipherSHA256 {
		return nil, fmt.Errorf("%w: %w: %s: ciphertext does not match the manifest", ErrDamaged, seal.ErrObjectMismatch, b.Key)
	}
	r, err := crypto.Decrypt(bytes.NewReader(cipher), s.ids)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDamaged, b.Key, err)
	}
	plain, err := readExactly(r, b.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDamaged, b.Key, err)
	}
	if int64(len(plain)) != b.Size || hexSHA(plain) != b.SHA256 {
		return nil, fmt.Errorf("%w: %w: %s: plaintext does not match the manifest", ErrDamaged, seal.ErrPlaintextMismatch, b.Key)
	}
	return plain, nil
}

// readExactly reads r to its end into a buffer of size bytes. A shorter r
// returns what it had; a longer one returns size+1 bytes (either way the
// caller's size check fails).
func readExactly(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > maxBlobSize {
		return nil, fmt.Errorf("blob of %d bytes: larger than kopia writes", size)
	}
	buf := make([]byte, size+1)
	n, err := io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return buf[:n], nil
	case err != nil:
		return nil, err
	}
	return buf, nil // one byte more than size: r is longer
}

// maxBlobSize bounds the buffer a manifest's size can ask for: kopia's
// packs are at most 120 MiB (its maxValidPackSize), index blobs smaller.
const maxBlobSize = 1 << 30

func hexSHA(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
