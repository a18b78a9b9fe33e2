package backupschedule

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// costBackups is how many sealed backups the cost test's target holds.
const costBackups = 6

// TestRetentionPassRequests counts the S3 requests of one retention pass
// that deletes nothing (the usual pass), through a counting proxy in front
// of VersityGW, on a target of costBackups sealed backups without volumes
// and then with volumes, on a plain and a versioned bucket. One pass lists
// the seals once (one GET of each seal.json, one listing, one versioning
// check) and the volume blobs once: at most costBackups+3 requests, and
// nothing read per volume blob.
func TestRetentionPassRequests(t *testing.T) {
	for _, versioned := range []bool{false, true} {
		t.Run(fmt.Sprintf("versioned=%v", versioned), func(t *testing.T) {
			var b *sealtest.Bed
			if versioned {
				b = sealtest.NewVersionedBed(t)
			} else {
				b = sealtest.NewBed(t, false)
			}
			proxy := testbed.StartFaultProxy(t, b.S3.Endpoint, testbed.FaultOptions{})
			cfg := b.S3.Config(b.OffsiteBucket, "cluster-a/safekeep/v1")
			cfg.Endpoint = proxy.Endpoint
			counted := sealtest.OpenStore(t, cfg)
			trusted := []crypto.VerifyKey{b.Signer.Public()}
			policy := retention.Policy{KeepLast: 2 * costBackups, Location: time.UTC}
			pass := func(schedule string) (map[testbed.S3Op]int64, int64, time.Duration) {
				t.Helper()
				proxy.Ops()
				start := time.Now()
				out := applyRetention(t.Context(), counted, trusted, seal.Binding{}, schedule, "", policy, time.Now(), func(string) {}, nil)
				took := time.Since(start)
				if out.Err != nil || len(out.Deleted) != 0 || out.Volumes.Deleted != 0 {
					t.Fatalf("pass: %+v", out)
				}
				ops := proxy.Ops()
				var total int64
				for _, n := range ops {
					total += n
				}
				return ops, total, took
			}

			for i := range costBackups {
				name := fmt.Sprintf("plain-%d", i)
				b.VeleroBackup(t, name, "Completed", 4<<10)
				if _, err := b.Sealer().Seal(t.Context(), "plain", name); err != nil {
					t.Fatal(err)
				}
			}
			ops, total, took := pass("plain")
			t.Logf("%d backups, no volumes: %d requests %v in %v", costBackups, total, ops, took)
			if total > costBackups+3 {
				t.Errorf("%d backups without volumes: %d requests (%v), want at most %d", costBackups, total, ops, costBackups+3)
			}

			sealWithVolumes(t, b, costBackups)
			ops, total, took = pass("vols")
			t.Logf("%d more backups, with volumes: %d requests %v in %v", costBackups, total, ops, took)
			if want := int64(2*costBackups + 3); total > want {
				t.Errorf("%d backups, half with volumes: %d requests (%v), want at most %d", 2*costBackups, total, ops, want)
			}
		})
	}
}

// sealWithVolumes seals n backups of schedule "vols", each with one volume
// of one kopia repository (shared blobs, as Velero's are).
func sealWithVolumes(t *testing.T, b *sealtest.Bed, n int) {
	t.Helper()
	repo := volumetest.NewRepo(t, volumetest.Password)
	snap := snapshotOf(t, repo, 32<<10)
	repo.CopyTo(t, b.Source, "phi-app")
	s := b.Sealer()
	s.Volumes = &volume.Planner{Source: b.Source, BSL: "default",
		Password: func(context.Context) (string, error) { return volumetest.Password, nil }}
	for i := range n {
		name := fmt.Sprintf("vols-%d", i)
		b.VeleroBackup(t, name, "Completed", 4<<10)
		volumetest.WriteBackup(t, b.Source, name, "default", []volumetest.PodVolume{
			{Namespace: "phi-app", Pod: "db-0", Volume: "data", SnapshotID: snap}})
		sl, err := s.Seal(t.Context(), "vols", name)
		if err != nil {
			t.Fatal(err)
		}
		if len(sl.VolumeBlobs) == 0 {
			t.Fatalf("%s sealed no volume blobs", name)
		}
	}
}
