package drill

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// multipartTarball is the tarball of TestStageMultipartUnderFaults: past
// maxStagedInMemory (so streamed) and more than two parts of
// storage.MinPartSize.
const multipartTarball = 12 << 20

// sizeWithheld is a staging store whose Puts withhold the body's size, as
// a Put of one above storage.MaxSinglePutSize goes: storage.S3 then reads
// the body a part at a time and, past one part, uploads it multipart.
// Staging passes the size it knows, so in a drill only an object over
// 5 GiB goes multipart (storage.S3 sends a known size up to that in one
// request, minio-go's Core.PutObject, which has no multipart switch);
// this reaches that path with a 12 MiB object.
type sizeWithheld struct{ storage.Store }

func (s sizeWithheld) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	opts.Size = -1
	return s.Store.Put(ctx, key, r, opts)
}

// TestStageMultipartUnderFaults stages a backup whose tarball goes to the
// staging location as a multipart upload of three parts (5, 5 and 2 MiB,
// each with its CRC32C), through the fault proxy, one kind at a time, on
// the staging bucket only, with VersityGW. Under each kind staging either
// completes, the staged tarball the backup's plaintext and stored as a
// multipart object, or fails with a clear retryable error; cleanup does
// the same; a later attempt without faults completes; and after cleanup
// nothing is left: no object, and no incomplete multipart upload holding
// parts of the plaintext (a failed upload is aborted).
func TestStageMultipartUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.S3.CreateBucket(t, "staging", false)
	proxy := testbed.StartFaultProxy(t, b.S3.Endpoint, testbed.FaultOptions{Seed: 11, Stall: 3 * time.Second})
	cfg := b.S3.Config("staging", "")
	cfg.Endpoint, cfg.ResponseTimeout, cfg.PartSize = proxy.Endpoint, 500*time.Millisecond, storage.MinPartSize
	s3, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	staging := sizeWithheld{storage.WithRetry(s3, storage.RetryPolicy{Attempts: 5, Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond})}
	direct := sealtest.OpenStore(t, b.S3.Config("staging", ""))
	mc := b.S3.Minio(t)
	pub := b.Signer.Public()

	type tally struct {
		injected, stageFailed, cleanupFailed int
		posts                                int64 // multipart creates and completes (and multi-deletes) sent
	}
	tallies := map[testbed.FaultKind]*tally{}
	for i, kind := range testbed.FaultKinds {
		tl := &tally{}
		tallies[kind] = tl
		t.Run(string(kind), func(t *testing.T) {
			name := fmt.Sprintf("mp%d", i)
			objs := b.VeleroBackup(t, name, "Completed", multipartTarball)
			if _, err := b.Sealer().Seal(ctx, "manual", name); err != nil {
				t.Fatal(err)
			}
			opened, err := seal.Open(ctx, b.Offsite, "manual", name, seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
			if err != nil {
				t.Fatal(err)
			}
			r := &runner{progress: &progress{}, now: time.Now, opts: Options{Backup: name, StagedName: "staged-" + name, Staging: staging, Concurrency: 2}}
			prefix := "backups/" + r.opts.StagedName + "/"
			tarKey := stagedKey(r.opts.StagedName, name, name+".tar.gz")
			clean := func() error { return deletePrefix(ctx, staging, prefix, prefix+seal.VeleroBackupJSON) }

			before := proxy.Injected()[kind]
			proxy.Ops()
			proxy.SetRules(stageRules(kind)...)
			for range 2 {
				st, err := r.stage(ctx, opened)
				if err == nil {
					checkStaged(t, direct, r, st, objs)
					checkMultipart(t, mc, tarKey)
					break
				}
				wantRetryable(t, "stage", err)
				t.Logf("failed under faults: %v", err)
				tl.stageFailed++
			}
			cleaned := false
			for range 3 {
				if err := clean(); err == nil {
					cleaned = true
					break
				} else {
					wantRetryable(t, "cleanup", err)
				}
				tl.cleanupFailed++
			}
			proxy.SetRules()
			tl.injected = proxy.Injected()[kind] - before
			tl.posts = proxy.Ops()[testbed.OpPost]
			if !cleaned {
				if err := clean(); err != nil {
					t.Fatalf("cleanup once the faults stopped: %v", err)
				}
			}
			checkNothingLeft(t, direct, mc, prefix)

			// A later attempt, without faults, completes.
			st, err := r.stage(ctx, opened)
			if err != nil {
				t.Fatalf("stage once the faults stopped: %v", err)
			}
			checkStaged(t, direct, r, st, objs)
			checkMultipart(t, mc, tarKey)
			if err := clean(); err != nil {
				t.Fatalf("cleanup once the faults stopped: %v", err)
			}
			checkNothingLeft(t, direct, mc, prefix)
		})
	}
	t.Logf("multipart staging under faults (seed 11; a %d MiB tarball in parts of %d MiB)", multipartTarball>>20, storage.MinPartSize>>20)
	t.Logf("%-15s %9s %13s %15s %6s", "fault", "injected", "stage failed", "cleanup failed", "POSTs")
	for _, kind := range testbed.FaultKinds {
		tl := tallies[kind]
		t.Logf("%-15s %9d %13d %15d %6d", kind, tl.injected, tl.stageFailed, tl.cleanupFailed, tl.posts)
		if tl.injected == 0 {
			t.Errorf("%s: no fault injected into staging: the test proves nothing for it", kind)
		}
	}
}

// checkMultipart: key in the staging bucket is a multipart object of
// three parts (its ETag ends in -3).
func checkMultipart(t *testing.T, mc *minio.Client, key string) {
	t.Helper()
	info, err := mc.StatObject(t.Context(), "staging", key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.Trim(info.ETag, `"`), "-3") {
		t.Fatalf("staged %s has ETag %s: not a multipart object of 3 parts", key, info.ETag)
	}
}
