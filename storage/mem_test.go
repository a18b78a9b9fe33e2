package storage_test

import (
	"testing"

	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/storage/storagetest"
)

// The in-memory bucket passes the contract suite the S3 store passes.
func TestMemContract(t *testing.T) {
	plain := storage.NewMemBucket(storage.MemOptions{PartSize: storagetest.PartSize})
	locked := storage.NewMemBucket(storage.MemOptions{PartSize: storagetest.PartSize, ObjectLock: true})
	missing := storage.NewMemBucket(storage.MemOptions{PartSize: storagetest.PartSize, Missing: true})
	denied := storage.NewMemBucket(storage.MemOptions{PartSize: storagetest.PartSize, Denied: true})
	storagetest.Run(t, func(t *testing.T, w storagetest.Want) storage.Store {
		b := map[storagetest.BucketKind]*storage.MemBucket{storagetest.Plain: plain, storagetest.Locked: locked, storagetest.Missing: missing}[w.Bucket]
		if w.WrongSecret {
			b = denied
		}
		return b.Store(w.Prefix)
	})
}
