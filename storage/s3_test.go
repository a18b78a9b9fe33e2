package storage_test

import (
	"testing"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/storage/storagetest"
)

// Bucket names of the VersityGW harness.
const (
	plainBucket   = "plain"
	lockedBucket  = "locked"
	missingBucket = "missing"
)

// startS3 starts VersityGW with a plain and an object-locked bucket.
func startS3(t *testing.T) *testbed.S3Server {
	t.Helper()
	srv := testbed.StartS3(t)
	srv.CreateBucket(t, plainBucket, false)
	srv.CreateBucket(t, lockedBucket, true)
	return srv
}

// newS3 returns a Store for cfg, failing the test on error.
func newS3(t *testing.T, cfg storage.Config) *storage.S3 {
	t.Helper()
	s, err := storage.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestS3Contract(t *testing.T) {
	srv := startS3(t)
	storagetest.Run(t, func(t *testing.T, w storagetest.Want) storage.Store {
		bucket := map[storagetest.BucketKind]string{
			storagetest.Plain:   plainBucket,
			storagetest.Locked:  lockedBucket,
			storagetest.Missing: missingBucket,
		}[w.Bucket]
		cfg := srv.Config(bucket, w.Prefix)
		cfg.PartSize = storagetest.PartSize
		if w.WrongSecret {
			cfg.Credentials.SecretAccessKey = "wrong" + cfg.Credentials.SecretAccessKey
		}
		return newS3(t, cfg)
	})
}
