package drill

import (
	"fmt"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// stageFaultKinds are the kinds the staging fault tests inject: every
// network and server fault, and a server that stores a PUT it accepted
// cut short or with a bit flipped (which needs the proxy's Direct client).
var stageFaultKinds = append(append([]testbed.FaultKind(nil), testbed.FaultKinds...), testbed.FaultStoreShort, testbed.FaultStoreFlipped)

// TestStageVolumesUnderFaults runs a Level 2 drill's staging of volume
// data (the claimed BackupRepository, the sealed kopia blobs each checked
// and written to kopia/<ns>/ of the staging location, the staged
// PodVolumeBackups and podvolumebackups.json.gz) and its cleanup through
// the fault proxy, one kind at a time, on the staging bucket only, with
// the real API server and VersityGW. Under each kind staging either
// completes, every staged blob the sealed repository's (its SHA-256 as
// the manifest records it), or fails with a clear retryable error and no
// finding against the backup; the failed run is cleaned up (under the same
// faults, retried) and a later run stages again; once the faults stop a
// run completes; and after each cleanup nothing of it is left: no object,
// no incomplete upload, no PodVolumeBackup, no BackupRepository.
func TestStageVolumesUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b := newVolumeBed(t)
	ctx := t.Context()
	proxy := testbed.StartFaultProxy(t, b.S3.Endpoint, testbed.FaultOptions{Seed: 11, Stall: 3 * time.Second, Direct: b.S3.Minio(t)})
	cfg := b.S3.Config("staging", "drills")
	cfg.Endpoint, cfg.ResponseTimeout = proxy.Endpoint, 500*time.Millisecond
	s3, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	faulty := storage.WithRetry(s3, storage.RetryPolicy{Attempts: 5, Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond})
	mc := b.S3.Minio(t)
	rec := b.opened.Manifest.Repositories[0]

	type tally struct{ injected, staged, stageFailed, cleanupFailed int }
	tallies := map[testbed.FaultKind]*tally{}
	for i, kind := range stageFaultKinds {
		tl := &tally{}
		tallies[kind] = tl
		t.Run(string(kind), func(t *testing.T) {
			// stage runs one drill run's volume staging through st; it
			// reports whether it completed, and checks what it staged.
			stage := func(staged string, st storage.Store, underFaults bool) bool {
				r := b.runner(t, staged)
				r.opts.Staging = st
				vs, err := r.stageVolumes(ctx, b.opened)
				switch {
				case err == nil && vs == nil:
					t.Fatalf("%s: a fault of the staging location failed the check: %+v", staged, r.checks[CheckVolumeFiles])
				case err != nil && !underFaults:
					t.Fatalf("%s: stage once the faults stopped: %v", staged, err)
				case err != nil:
					wantRetryable(t, "stage volumes", err)
					t.Logf("%s: failed under faults: %v", staged, err)
					return false
				}
				if vs.blobs != len(rec.Blobs) {
					t.Fatalf("%s: staged %d blobs, want %d", staged, vs.blobs, len(rec.Blobs))
				}
				for _, bl := range rec.Blobs {
					if got := sealtest.SHA256(sealtest.Get(t, b.staging, "kopia/phi-app/"+bl.ID)); got != bl.SHA256 {
						t.Fatalf("%s: staged blob %s: sha256 %s, want the sealed repository's %s", staged, bl.ID, got, bl.SHA256)
					}
				}
				return true
			}
			// clean runs Cleanup of staged through st, up to tries times.
			clean := func(staged string, st storage.Store, tries int) bool {
				for range tries {
					err := Cleanup(ctx, CleanupOptions{Client: b.cp.Client, Staging: st, StagedName: staged, Volumes: true})
					if err == nil {
						return true
					}
					if tries == 1 {
						t.Fatalf("%s: cleanup once the faults stopped: %v", staged, err)
					}
					wantRetryable(t, "volume cleanup", err)
					tl.cleanupFailed++
				}
				return false
			}

			before := proxy.Injected()[kind]
			proxy.SetRules(stageRules(kind)...)
			var runs []string
			for attempt := range 2 {
				staged := fmt.Sprintf("vol%d-%d", i, attempt)
				runs = append(runs, staged)
				ok := stage(staged, faulty, true)
				// Each run is cleaned up before the next: its
				// BackupRepository claims the namespace's repository.
				cleaned := clean(staged, faulty, 3)
				if ok {
					tl.staged++
				} else {
					tl.stageFailed++
				}
				if !cleaned {
					break
				}
			}
			proxy.SetRules()
			tl.injected = proxy.Injected()[kind] - before
			for _, staged := range runs {
				clean(staged, faulty, 1)
			}
			checkNoVolumesLeft(t, b, mc)

			// A later run, without faults, completes.
			later := fmt.Sprintf("vol%d-later", i)
			stage(later, faulty, false)
			clean(later, faulty, 1)
			checkNoVolumesLeft(t, b, mc)
		})
	}
	var size int64
	for _, bl := range rec.Blobs {
		size += bl.Size
	}
	t.Logf("volume staging under faults (seed 11; %d blobs, %d bytes of plaintext per run)", len(rec.Blobs), size)
	t.Logf("%-15s %9s %7s %13s %15s", "fault", "injected", "staged", "stage failed", "cleanup failed")
	for _, kind := range stageFaultKinds {
		tl := tallies[kind]
		t.Logf("%-15s %9d %7d %13d %15d", kind, tl.injected, tl.staged, tl.stageFailed, tl.cleanupFailed)
		if tl.injected == 0 {
			t.Errorf("%s: no fault injected into volume staging: the test proves nothing for it", kind)
		}
	}
}

// checkNoVolumesLeft: after cleanup the staging location holds nothing (no
// object, no incomplete upload), and the API server no staged
// PodVolumeBackup or BackupRepository.
func checkNoVolumesLeft(t *testing.T, b *volumeBed, mc *minio.Client) {
	t.Helper()
	checkNothingLeft(t, b.staging, mc, "")
	var pvbs velerov1.PodVolumeBackupList
	if err := b.cp.Client.List(t.Context(), &pvbs, client.InNamespace("velero")); err != nil || len(pvbs.Items) != 0 {
		t.Fatalf("after cleanup: %d PodVolumeBackups left (%v)", len(pvbs.Items), err)
	}
	var repos velerov1.BackupRepositoryList
	if err := b.cp.Client.List(t.Context(), &repos, client.InNamespace("velero")); err != nil || len(repos.Items) != 0 {
		t.Fatalf("after cleanup: %d BackupRepositories left (%v)", len(repos.Items), err)
	}
}
