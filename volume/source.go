package volume

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/kopia/kopia/repo/blob"

	"github.com/safekeep-dev/safekeep/storage"
)

// RepositoryPrefix is where Velero keeps the kopia repository of a namespace,
// relative to its backup storage location's prefix.
func RepositoryPrefix(namespace string) string { return "kopia/" + namespace + "/" }

// Identity blobs: kopia's format and blob configuration, and the metadata
// Velero writes beside them (kopialib writeUdmRepoMetadata). They name and
// unlock the repository; every sealed copy has them.
var identityBlobs = []blob.ID{"kopia.repository", "kopia.blobcfg", "udmrepo.Repository"}

// indexPrefixes are the index blobs of a repository: the epoch index
// (xn, xs, xr, xe, xw) and the legacy index (n) with its compaction log (m).
var indexPrefixes = []string{"x", "n", "m"}

// isIndex reports whether id is an index blob.
func isIndex(id blob.ID) bool {
	for _, p := range indexPrefixes {
		if strings.HasPrefix(string(id), p) {
			return true
		}
	}
	return false
}

// frozenSource is a repository in a storage location as one listing saw it:
// kopia lists only what that listing found, so what it reads and what is
// sealed are the same set of blobs. Index blobs are listed before packs, so
// every pack an index names was written before the pack listing began.
// Reads of small blobs are cached in memory, within a byte budget.
type frozenSource struct {
	store  storage.Store // the backup storage location
	prefix string        // the repository's: RepositoryPrefix
	blobs  map[blob.ID]blob.Metadata
	sorted []blob.Metadata
	cache  *lru
	// missing is called when a listed blob is gone: kopia retries reads of
	// missing blobs for minutes (it allows for eventually consistent
	// listings), so the caller cancels and lists again at once.
	missing func(error)
}

// maxCachedBlob is the largest blob a frozenSource caches; larger ones are
// read each time.
const maxCachedBlob = 32 << 20

// defaultCacheBytes bounds a frozenSource's cache.
const defaultCacheBytes = 64 << 20

func newFrozenSource(ctx context.Context, store storage.Store, prefix string) (*frozenSource, error) {
	f := &frozenSource{store: store, prefix: prefix, blobs: make(map[blob.ID]blob.Metadata), cache: newLRU(defaultCacheBytes)}
	for _, p := range indexPrefixes {
		if err := f.add(ctx, p, isIndex); err != nil {
			return nil, err
		}
	}
	if err := f.add(ctx, "", func(id blob.ID) bool { return !isIndex(id) }); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *frozenSource) add(ctx context.Context, prefix string, keep func(blob.ID) bool) error {
	for info, err := range f.store.List(ctx, f.prefix+prefix) {
		if err != nil {
			return fmt.Errorf("list %s in %s: %w", f.prefix, f.store, err)
		}
		name := strings.TrimPrefix(info.Key, f.prefix)
		id := blob.ID(name)
		if strings.Contains(name, "/") || !keep(id) {
			continue
		}
		md := blob.Metadata{BlobID: id, Length: info.Size, Timestamp: info.LastModified}
		if _, dup := f.blobs[id]; !dup {
			f.blobs[id] = md
			f.sorted = append(f.sorted, md)
		}
	}
	return nil
}

func (f *frozenSource) name() string { return f.prefix + " in " + f.store.String() }

func (f *frozenSource) list(_ context.Context, prefix string) ([]blob.Metadata, error) {
	var out []blob.Metadata
	for _, md := range f.sorted {
		if strings.HasPrefix(string(md.BlobID), prefix) {
			out = append(out, md)
		}
	}
	return out, nil
}

func (f *frozenSource) get(ctx context.Context, id blob.ID) ([]byte, error) {
	md, ok := f.blobs[id]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", id, blob.ErrBlobNotFound)
	}
	if data, ok := f.cache.get(string(id)); ok {
		return data, nil
	}
	data, err := readAll(ctx, f.store, f.prefix+string(id), md.Length)
	if errors.Is(err, blob.ErrBlobNotFound) && f.missing != nil {
		f.missing(err)
	}
	if err != nil {
		return nil, err
	}
	if len(data) <= maxCachedBlob {
		f.cache.put(string(id), data)
	}
	return data, nil
}

// readAll reads key, which must be size bytes; a missing key wraps
// blob.ErrBlobNotFound (maintenance may have deleted it since the listing).
func readAll(ctx context.Context, store storage.Store, key string, size int64) ([]byte, error) {
	rc, _, err := store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("blob %s in %s: %w", key, store, blob.ErrBlobNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", key, store, err)
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	data, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", key, store, err)
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("blob %s in %s: %d bytes, listed as %d: %w", key, store, len(data), size, blob.ErrBlobNotFound)
	}
	return data, nil
}

// lru is a byte-bounded least-recently-used cache of blob contents.
type lru struct {
	mu    sync.Mutex
	max   int
	used  int
	order *list.List // front: most recent; values are *lruEntry
	items map[string]*list.Element
}

type lruEntry struct {
	key  string
	data []byte
}

func newLRU(maxBytes int) *lru {
	return &lru{max: maxBytes, order: list.New(), items: make(map[string]*list.Element)}
}

func (c *lru) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).data, true
}

func (c *lru) put(key string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok || len(data) > c.max {
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry{key: key, data: data})
	c.used += len(data)
	for c.used > c.max {
		last := c.order.Back()
		ent := last.Value.(*lruEntry)
		c.order.Remove(last)
		delete(c.items, ent.key)
		c.used -= len(ent.data)
	}
}
