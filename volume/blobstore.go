package volume

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/kopia/kopia/repo/blob"
)

// blobSource is what a read-only kopia storage needs: a listing and whole-blob
// reads. Implementations return errors wrapping blob.ErrBlobNotFound for a
// blob that is not there.
type blobSource interface {
	list(ctx context.Context, prefix string) ([]blob.Metadata, error)
	get(ctx context.Context, id blob.ID) ([]byte, error)
	name() string
}

// errReadOnly is what every write to a repository opened by this package
// returns: Safekeep never changes Velero's repositories, nor sealed ones.
var errReadOnly = errors.New("kopia repository is opened read-only by safekeep")

// readOnlyStorage is a kopia blob.Storage over a blobSource that refuses
// every write.
type readOnlyStorage struct {
	blob.DefaultProviderImplementation
	src    blobSource
	handle string
}

var _ blob.Storage = (*readOnlyStorage)(nil)

func (s *readOnlyStorage) ListBlobs(ctx context.Context, prefix blob.ID, cb func(blob.Metadata) error) error {
	mds, err := s.src.list(ctx, string(prefix))
	if err != nil {
		return err
	}
	for _, md := range mds {
		if err := cb(md); err != nil {
			return err
		}
	}
	return nil
}

func (s *readOnlyStorage) GetBlob(ctx context.Context, id blob.ID, offset, length int64, out blob.OutputBuffer) error {
	data, err := s.src.get(ctx, id)
	if err != nil {
		return err
	}
	out.Reset()
	if length < 0 {
		_, err = out.Write(data)
		return err
	}
	if offset < 0 || offset+length > int64(len(data)) {
		return fmt.Errorf("blob %s: range %d+%d of %d bytes: %w", id, offset, length, len(data), blob.ErrInvalidRange)
	}
	_, err = out.Write(data[offset : offset+length])
	return err
}

func (s *readOnlyStorage) GetMetadata(ctx context.Context, id blob.ID) (blob.Metadata, error) {
	mds, err := s.src.list(ctx, string(id))
	if err != nil {
		return blob.Metadata{}, err
	}
	for _, md := range mds {
		if md.BlobID == id {
			return md, nil
		}
	}
	return blob.Metadata{}, fmt.Errorf("blob %s: %w", id, blob.ErrBlobNotFound)
}

func (s *readOnlyStorage) PutBlob(context.Context, blob.ID, blob.Bytes, blob.PutOptions) error {
	return errReadOnly
}

func (s *readOnlyStorage) DeleteBlob(context.Context, blob.ID) error { return errReadOnly }

func (s *readOnlyStorage) IsReadOnly() bool { return true }

func (s *readOnlyStorage) DisplayName() string { return s.src.name() }

// ConnectionInfo names the storage by a handle into this process's registry:
// kopia's Open re-creates storage from a config file, and this is how it
// finds this one again. No credential is ever in it.
func (s *readOnlyStorage) ConnectionInfo() blob.ConnectionInfo {
	return blob.ConnectionInfo{Type: storageType, Config: &handleConfig{Handle: s.handle}}
}

// storageType is the kopia storage type this package registers.
const storageType = "safekeep-readonly"

// handleConfig is the kopia storage config of a registered storage.
type handleConfig struct {
	Handle string `json:"handle"`
}

var (
	registry   sync.Map // handle -> *readOnlyStorage
	nextHandle atomic.Uint64
)

func init() {
	blob.AddSupportedStorage(storageType, handleConfig{}, func(_ context.Context, c *handleConfig, _ bool) (blob.Storage, error) {
		st, ok := registry.Load(c.Handle)
		if !ok {
			return nil, fmt.Errorf("kopia storage handle %q is not open in this process", c.Handle)
		}
		return st.(*readOnlyStorage), nil
	})
}

// register makes src openable by kopia; the caller must call the returned
// func when done with it.
func register(src blobSource) (*readOnlyStorage, func()) {
	h := strconv.FormatUint(nextHandle.Add(1), 10)
	st := &readOnlyStorage{src: src, handle: h}
	registry.Store(h, st)
	return st, func() { registry.Delete(h) }
}
