package drill

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// stageRules fail the first staging request kind can happen to, then
// stageFaultRates[kind] of the others: a few requests at a seeded rate
// may otherwise draw no fault at all (the seed fixes the draws, not which
// concurrent request meets them), and the test would prove nothing.
func stageRules(kind testbed.FaultKind) []testbed.FaultRule {
	return []testbed.FaultRule{
		{Kind: kind, Rate: 1, Times: 1, Under: "/staging/"},
		{Kind: kind, Rate: stageFaultRates[kind], Under: "/staging/"},
	}
}

// stageFaultRates are the share of staging requests each kind fails.
var stageFaultRates = map[testbed.FaultKind]float64{
	testbed.FaultInternalError: 0.3,
	testbed.FaultSlowDown:      0.3,
	testbed.FaultForbidden:     0.1,
	testbed.FaultReset:         0.25,
	testbed.FaultStall:         0.1,
	testbed.FaultTruncate:      0.25,
	testbed.FaultBadLength:     0.25,
	testbed.FaultStoreShort:    0.25,
	testbed.FaultStoreFlipped:  0.25,
}

// TestStageUnderFaults runs the drill's staging writes (each object
// decrypted and checked, then PUT to the staging location; the tarball
// past maxStagedInMemory streamed) and its cleanup of them through the
// fault proxy, one kind at a time (stored-short and stored-flipped too: a
// PUT the server accepted but stored wrong), on the staging bucket only. Under each
// kind staging either completes, every staged object the backup's
// plaintext, or fails with a clear retryable error; cleanup under faults
// does the same; a later attempt without faults stages everything; and
// after cleanup nothing of the staged plaintext is left in the staging
// bucket: no object, no incomplete multipart upload.
func TestStageUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.S3.CreateBucket(t, "staging", false)
	proxy := testbed.StartFaultProxy(t, b.S3.Endpoint, testbed.FaultOptions{Seed: 11, Stall: 3 * time.Second, Direct: b.S3.Minio(t)})
	cfg := b.S3.Config("staging", "")
	cfg.Endpoint, cfg.ResponseTimeout = proxy.Endpoint, 500*time.Millisecond
	s3, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	staging := storage.WithRetry(s3, storage.RetryPolicy{Attempts: 5, Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond})
	direct := sealtest.OpenStore(t, b.S3.Config("staging", ""))
	mc := b.S3.Minio(t)
	pub := b.Signer.Public()

	type tally struct{ injected, stageFailed, cleanupFailed int }
	tallies := map[testbed.FaultKind]*tally{}
	for i, kind := range stageFaultKinds {
		tl := &tally{}
		tallies[kind] = tl
		t.Run(string(kind), func(t *testing.T) {
			name := fmt.Sprintf("stage%d", i)
			objs := b.VeleroBackup(t, name, "Completed", maxStagedInMemory+1<<20)
			if _, err := b.Sealer().Seal(ctx, "manual", name); err != nil {
				t.Fatal(err)
			}
			opened, err := seal.Open(ctx, b.Offsite, "manual", name, seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
			if err != nil {
				t.Fatal(err)
			}
			r := &runner{progress: &progress{}, now: time.Now, opts: Options{Backup: name, StagedName: "staged-" + name, Staging: staging, Concurrency: 2}}
			prefix := "backups/" + r.opts.StagedName + "/"
			clean := func() error { return deletePrefix(ctx, staging, prefix, prefix+seal.VeleroBackupJSON) }

			before := proxy.Injected()[kind]
			proxy.SetRules(stageRules(kind)...)
			staged := false
			for range 2 {
				st, err := r.stage(ctx, opened)
				if err == nil {
					checkStaged(t, direct, r, st, objs)
					staged = true
					break
				}
				wantRetryable(t, "stage", err)
				tl.stageFailed++
			}
			cleaned := false
			for range 3 {
				err := clean()
				if err == nil {
					cleaned = true
					break
				}
				wantRetryable(t, "cleanup", err)
				tl.cleanupFailed++
			}
			proxy.SetRules()
			tl.injected = proxy.Injected()[kind] - before
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
			if err := clean(); err != nil {
				t.Fatalf("cleanup once the faults stopped: %v", err)
			}
			checkNothingLeft(t, direct, mc, prefix)
			t.Logf("%s: %d faults injected; staged under faults: %v", kind, tl.injected, staged)
		})
	}
	t.Logf("%-15s %9s %13s %15s", "fault", "injected", "stage failed", "cleanup failed")
	for _, kind := range stageFaultKinds {
		tl := tallies[kind]
		t.Logf("%-15s %9d %13d %15d", kind, tl.injected, tl.stageFailed, tl.cleanupFailed)
		if tl.injected == 0 {
			t.Errorf("%s: no fault injected into staging: the test proves nothing for it", kind)
		}
	}
}

// wantRetryable: a failure under faults is one a later attempt may not
// have, and says so.
func wantRetryable(t *testing.T, what string, err error) {
	t.Helper()
	if !seal.IsRetryable(err) && !errors.Is(err, storage.ErrAccessDenied) {
		t.Errorf("%s under faults: %v: neither success nor a clear retryable failure", what, err)
	}
}

// checkStaged: every object but velero-backup.json (returned, uploaded
// last by the run) is staged with the backup's plaintext, and no finding
// blames the backup for the staging location's faults.
func checkStaged(t *testing.T, direct storage.Store, r *runner, st *staged, objs map[string][]byte) {
	t.Helper()
	if len(st.findings) > 0 {
		t.Fatalf("staging under faults found %+v: a fault of the staging location blamed on the backup", st.findings)
	}
	for name, want := range objs {
		if name == seal.VeleroBackupJSON {
			continue
		}
		key := stagedKey(r.opts.StagedName, r.opts.Backup, name)
		if got := sealtest.Get(t, direct, key); !bytes.Equal(got, want) {
			t.Fatalf("staged %s: %d bytes, not the backup's %d", key, len(got), len(want))
		}
	}
}

// checkNothingLeft: the staging bucket holds nothing under prefix, and no
// upload left incomplete holds parts of a plaintext.
func checkNothingLeft(t *testing.T, direct storage.Store, mc *minio.Client, prefix string) {
	t.Helper()
	if left := sealtest.Snapshot(t, direct, prefix); len(left) > 0 {
		t.Fatalf("after cleanup the staging bucket still holds %d objects under %s, first %s", len(left), prefix, left[0].Key)
	}
	for u := range mc.ListIncompleteUploads(t.Context(), "staging", "", true) {
		if u.Err != nil {
			t.Fatalf("list incomplete uploads: %v", u.Err)
		}
		t.Fatalf("after cleanup an incomplete upload of %s (%d bytes) is left in the staging bucket", u.Key, u.Size)
	}
}
