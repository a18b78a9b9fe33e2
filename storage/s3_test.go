package storage_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

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
func startS3(t *testing.T, opts ...testbed.S3Option) *testbed.S3Server {
	t.Helper()
	srv := testbed.StartS3(t, opts...)
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
	runContract(t, startS3(t))
}

// TestS3ContractVersioned runs the suite on VersityGW keeping versions, where
// the object-locked bucket is versioned as on AWS: a plain DELETE there adds
// a delete marker instead of being refused.
func TestS3ContractVersioned(t *testing.T) {
	runContract(t, startS3(t, testbed.S3Versioned()))
}

func runContract(t *testing.T, srv *testbed.S3Server) {
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

// TestComplianceRefusesRoot proves on the real server what compliance mode
// promises: the root credentials, even asking to bypass governance
// retention, can neither delete a compliance-locked version by its ID nor
// replace it; the same bypass does remove a governance-locked one, so the
// refusal is the mode's, not a failed request.
func TestComplianceRefusesRoot(t *testing.T) {
	for _, versioned := range []bool{false, true} {
		t.Run(map[bool]string{false: "unversioned", true: "versioned"}[versioned], func(t *testing.T) {
			var opts []testbed.S3Option
			if versioned {
				opts = append(opts, testbed.S3Versioned())
			}
			srv := startS3(t, opts...)
			ctx := t.Context()
			mc := srv.Minio(t)
			until := time.Now().Add(time.Hour)
			put := func(key string, mode minio.RetentionMode) string {
				info, err := mc.PutObject(ctx, lockedBucket, key, strings.NewReader("sealed"), 6,
					minio.PutObjectOptions{Mode: mode, RetainUntilDate: until})
				if err != nil {
					t.Fatalf("put %s: %v", key, err)
				}
				if info.VersionID == "" {
					info.VersionID = storage.NullVersion
				}
				return info.VersionID
			}
			cid := put("compliance", minio.Compliance)
			gid := put("governance", minio.Governance)
			err := mc.RemoveObject(ctx, lockedBucket, "compliance", minio.RemoveObjectOptions{VersionID: versionArg(cid), GovernanceBypass: true})
			if err == nil {
				t.Fatal("root with governance bypass deleted a compliance-locked version")
			}
			_, err = mc.PutObject(ctx, lockedBucket, "compliance", strings.NewReader("forged"), 6, minio.PutObjectOptions{})
			if !versioned && err == nil {
				t.Fatal("root overwrote a compliance-locked object on an unversioned bucket")
			}
			rc, err := mc.GetObject(ctx, lockedBucket, "compliance", minio.GetObjectOptions{VersionID: versionArg(cid)})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rc.Close() }() // read-only
			if b, err := io.ReadAll(rc); err != nil || string(b) != "sealed" {
				t.Fatalf("compliance-locked version reads %q, %v", b, err)
			}
			if err := mc.RemoveObject(ctx, lockedBucket, "governance", minio.RemoveObjectOptions{VersionID: versionArg(gid), GovernanceBypass: true}); err != nil {
				t.Fatalf("root with governance bypass could not delete a governance-locked version (%v): the compliance refusal above proves nothing", err)
			}
		})
	}
}

// versionArg is the version ID to send: none for the null version, which a
// server without versioning refuses by name.
func versionArg(id string) string {
	if id == storage.NullVersion {
		return ""
	}
	return id
}
