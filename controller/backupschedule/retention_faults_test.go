package backupschedule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestRetentionUnderFaults runs retention passes through the fault proxy,
// one kind at a time: whatever fails, what the policy keeps is never
// deleted and stays restorable (it verifies), nothing is listed as
// restorable that does not verify, and a pass without faults then deletes
// what the policy drops.
func TestRetentionUnderFaults(t *testing.T) {
	b := sealtest.NewBed(t, false)
	proxy := testbed.StartFaultProxy(t, b.S3.Endpoint, testbed.FaultOptions{Seed: 11, Stall: 3 * time.Second})
	cfg := b.S3.Config(b.OffsiteBucket, "cluster-a/safekeep/v1")
	cfg.Endpoint, cfg.ResponseTimeout = proxy.Endpoint, 500*time.Millisecond
	s3, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	faulty := storage.WithRetry(s3, storage.RetryPolicy{Attempts: 3, Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond})
	trusted := []crypto.VerifyKey{b.Signer.Public()}
	policy := retention.Policy{KeepLast: 1, Location: time.UTC}
	type tally struct{ injected, failed, deleted int }
	tallies := map[testbed.FaultKind]*tally{}
	for i, kind := range testbed.FaultKinds {
		tl := &tally{}
		tallies[kind] = tl
		t.Run(string(kind), func(t *testing.T) {
			ctx := t.Context()
			schedule := fmt.Sprintf("r%d", i)
			var items []retention.Item
			for j := range 3 {
				name := fmt.Sprintf("r%d-%d", i, j)
				b.VeleroBackup(t, name, "Completed", 8<<10)
				sl, err := b.Sealer().Seal(ctx, schedule, name)
				if err != nil {
					t.Fatal(err)
				}
				items = append(items, retention.Item{ID: name, Time: backupTime(seal.Entry{Seal: sl, SealedAt: sl.SealedAt})})
			}
			want, err := retention.Apply(items, policy)
			if err != nil {
				t.Fatal(err)
			}
			before := proxy.Injected()[kind]
			proxy.SetRules(testbed.FaultRule{Kind: kind, Rate: 0.2})
			for range 3 {
				out := applyRetention(ctx, faulty, trusted, seal.Binding{}, schedule, "", policy, time.Now(), func(string) {}, nil)
				if out.Err != nil && !clearFailure(out.Err) {
					t.Errorf("retention pass under faults: %v: not a clear retryable failure", out.Err)
				}
				if out.Err != nil {
					tl.failed++
				}
				tl.deleted += len(out.Deleted)
				checkKept(t, b.Offsite, trusted, schedule, want.Keep)
			}
			proxy.SetRules()
			tl.injected = proxy.Injected()[kind] - before
			out := applyRetention(ctx, faulty, trusted, seal.Binding{}, schedule, "", policy, time.Now(), func(string) {}, nil)
			if out.Err != nil {
				t.Fatalf("retention pass without faults: %v", out.Err)
			}
			checkKept(t, b.Offsite, trusted, schedule, want.Keep)
			for _, d := range want.Drop {
				if keys := sealtest.Snapshot(t, b.Offsite, seal.BackupPrefix(schedule, d.ID)); len(keys) > 0 {
					t.Errorf("%s, dropped by the policy, still has %d objects after a pass without faults", d.ID, len(keys))
				}
			}
		})
	}
	t.Logf("retention passes under faults (seed 11; 3 passes per kind over 3 sealed backups, keepLast 1)")
	t.Logf("%-15s %9s %21s %28s", "fault", "injected", "passes failed (clear)", "backups deleted under faults")
	for _, kind := range testbed.FaultKinds {
		tl := tallies[kind]
		t.Logf("%-15s %9d %21d %28d", kind, tl.injected, tl.failed, tl.deleted)
		if tl.injected == 0 {
			t.Errorf("%s: no fault injected into retention: the test proves nothing for it", kind)
		}
	}
}

// clearFailure: a failure a later pass may not have, stated as such.
func clearFailure(err error) bool {
	return seal.IsRetryable(err) || strings.Contains(err.Error(), storage.ErrAccessDenied.Error())
}

// checkKept: every backup the policy keeps still verifies, and every
// backup listed as restorable verifies (both read without faults).
func checkKept(t *testing.T, direct storage.Store, trusted []crypto.VerifyKey, schedule string, keep []retention.Kept) {
	t.Helper()
	for _, k := range keep {
		if _, err := seal.Verify(t.Context(), direct, schedule, k.ID, seal.VerifyOptions{TrustedKeys: trusted}); err != nil {
			t.Errorf("%s, which the policy keeps, no longer verifies: %v", k.ID, err)
		}
	}
	entries, err := seal.List(t.Context(), direct)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Schedule != schedule || !e.Restorable() {
			continue
		}
		if _, err := seal.Verify(t.Context(), direct, schedule, e.Backup, seal.VerifyOptions{TrustedKeys: trusted}); err != nil {
			t.Errorf("%s is listed as restorable but does not verify: %v", e.Backup, err)
		}
	}
}
