package storage

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // ETags are S3's MD5s, not a security check
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemBucket is a bucket held in memory, for tests of logic that runs on a
// Store (sealing, retention, audit, restore) without an S3 server, as
// restic's mem backend serves its backend tests. It passes the same
// contract suite (storagetest) as the S3 store: keys, prefixes, listing
// order, conditional creates, object lock and the sentinel errors behave
// alike. It does not model what only a server does (latency, multipart
// uploads left behind, versions). Stores of one MemBucket share it, as
// stores on one real bucket do.
type MemBucket struct {
	opts MemOptions

	mu      sync.Mutex
	objects map[string]*memObject
}

// MemOptions describe a MemBucket. The zero value is a plain bucket.
type MemOptions struct {
	// ObjectLock enables object lock, as a bucket made with it.
	ObjectLock bool
	// Missing makes the bucket not exist: every call fails as on a
	// bucket that does not.
	Missing bool
	// Denied refuses every call with ErrAccessDenied, as wrong
	// credentials do.
	Denied bool
	// PartSize is the part size of puts of unknown size (their ETag says
	// how many parts); 0 means MinPartSize.
	PartSize int64
	// Now tells the time (object-lock retention ends); nil means time.Now.
	Now func() time.Time
}

type memObject struct {
	data        []byte
	info        ObjectInfo // Key is the bucket key
	lockMode    LockMode
	retainUntil time.Time
}

// NewMemBucket returns an empty in-memory bucket.
func NewMemBucket(opts MemOptions) *MemBucket {
	if opts.PartSize <= 0 {
		opts.PartSize = MinPartSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &MemBucket{opts: opts, objects: map[string]*memObject{}}
}

// Store returns a Store on the bucket under prefix (slashes around it are
// ignored, as for the S3 store).
func (b *MemBucket) Store(prefix string) Store {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	return &memStore{b: b, prefix: p}
}

type memStore struct {
	b      *MemBucket
	prefix string
}

var _ Store = (*memStore)(nil)

// check refuses a call the way the bucket's server would; missing is the
// error of a missing bucket for this call.
func (s *memStore) check(ctx context.Context, op, key string, missing error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s: %w", op, key, ctx.Err())
	case s.b.opts.Denied:
		return fmt.Errorf("%s %s: %w", op, key, ErrAccessDenied)
	case s.b.opts.Missing:
		return fmt.Errorf("%s %s: %w", op, key, missing)
	}
	return nil
}

func (s *memStore) object(key string) (string, error) {
	if key == "" {
		return "", errors.New("empty key")
	}
	return s.prefix + key, nil
}

// locked reports whether o's retention holds it now.
func (s *memStore) locked(o *memObject) bool {
	return o != nil && o.lockMode != "" && s.b.opts.Now().Before(o.retainUntil)
}

// Put implements Store.
func (s *memStore) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	obj, err := s.object(key)
	if err == nil {
		err = checkPutOptions(opts)
	}
	if err == nil && opts.LockMode != "" && !s.b.opts.ObjectLock && !s.b.opts.Missing && !s.b.opts.Denied {
		err = errors.New("object lock is not enabled on the bucket")
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := s.check(ctx, "put", key, errBucketMissing); err != nil {
		return ObjectInfo{}, err
	}
	data, err := readBody(r, opts.Size)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	cur := s.b.objects[obj]
	switch {
	case opts.IfAbsent && cur != nil:
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, ErrExists)
	case s.locked(cur):
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, ErrLocked)
	}
	o := &memObject{data: data, lockMode: opts.LockMode, retainUntil: opts.RetainUntil,
		info: ObjectInfo{Key: obj, Size: int64(len(data)), ETag: s.etag(data, opts.Size), LastModified: s.b.opts.Now(),
			LockMode: opts.LockMode, RetainUntil: opts.RetainUntil}}
	s.b.objects[obj] = o
	return s.rel(o.info), nil
}

// readBody reads r whole, checking it against a known size.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("%w: declared %d bytes, read %d", errBodySize, size, len(data))
	}
	return data, nil
}

// etag is S3's: the MD5 of a single PUT, or of the parts' MD5s with the
// part count for a multipart upload (a body of unknown size above a part).
func (s *memStore) etag(data []byte, size int64) string {
	part := s.b.opts.PartSize
	if size >= 0 || int64(len(data)) <= part {
		sum := md5.Sum(data) //nolint:gosec // S3's ETag
		return hex.EncodeToString(sum[:])
	}
	h := md5.New() //nolint:gosec // S3's ETag
	n := 0
	for off := int64(0); off < int64(len(data)); off += part {
		sum := md5.Sum(data[off:min(off+part, int64(len(data)))]) //nolint:gosec // S3's ETag
		h.Write(sum[:])
		n++
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), n)
}

// rel is info with the key relative to the store's prefix.
func (s *memStore) rel(info ObjectInfo) ObjectInfo {
	info.Key = strings.TrimPrefix(info.Key, s.prefix)
	return info
}

// lookup returns key's object, or an error wrapping ErrNotFound.
func (s *memStore) lookup(op, key string) (*memObject, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, key, err)
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	o := s.b.objects[obj]
	if o == nil {
		return nil, fmt.Errorf("%s %s: %w", op, key, ErrNotFound)
	}
	return o, nil
}

// Get implements Store.
func (s *memStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := s.check(ctx, "get", key, errBucketMissing); err != nil {
		return nil, ObjectInfo{}, err
	}
	o, err := s.lookup("get", key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return io.NopCloser(bytes.NewReader(o.data)), s.rel(o.info), nil
}

// Stat implements Store. As a HEAD request, it cannot tell a missing
// bucket from a missing key: both are ErrNotFound.
func (s *memStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := s.check(ctx, "stat", key, ErrNotFound); err != nil {
		return ObjectInfo{}, err
	}
	o, err := s.lookup("stat", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return s.rel(o.info), nil
}

// List implements Store.
func (s *memStore) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := s.check(ctx, "list", prefix, errBucketMissing); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		full := s.prefix + prefix
		s.b.mu.Lock()
		var infos []ObjectInfo
		for k, o := range s.b.objects {
			if strings.HasPrefix(k, full) {
				infos = append(infos, s.rel(o.info))
			}
		}
		s.b.mu.Unlock()
		slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
		for _, info := range infos {
			if err := ctx.Err(); err != nil {
				yield(ObjectInfo{}, fmt.Errorf("list %s: %w", prefix, err))
				return
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// Delete implements Store.
func (s *memStore) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete", key, errBucketMissing); err != nil {
		return err
	}
	obj, err := s.object(key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.locked(s.b.objects[obj]) {
		return fmt.Errorf("delete %s: %w", key, ErrLocked)
	}
	delete(s.b.objects, obj)
	return nil
}

// ObjectLockEnabled implements Store.
func (s *memStore) ObjectLockEnabled(ctx context.Context) (bool, error) {
	if err := s.check(ctx, "object lock of", "bucket", errBucketMissing); err != nil {
		return false, err
	}
	return s.b.opts.ObjectLock, nil
}

// String implements Store.
func (s *memStore) String() string { return "mem /" + s.prefix }
