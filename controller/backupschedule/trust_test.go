package backupschedule

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/retention"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// TestRetentionIgnoresForgedSeals: three seals forged by someone who can
// write to the bucket (their own key, sealed "a year from now") must not
// make keepLast: 3 delete the real backups. Before, retention read seals
// without checking who signed them and deleted every real one.
func TestRetentionIgnoresForgedSeals(t *testing.T) {
	bed := sealtest.NewBed(t, false)
	ctx := t.Context()
	var real []string
	for i := range 3 {
		name := fmt.Sprintf("nightly-%d", i)
		bed.MustSeal(t, ctx, "nightly", name)
		real = append(real, name)
	}
	evil := bed.Sealer()
	evil.Signer = sealtest.NewSigner(t)
	evil.Now = func() time.Time { return time.Now().AddDate(1, 0, 0) }
	var forged []string
	for i := range 3 {
		name := fmt.Sprintf("nightly-x%d", i)
		bed.VeleroBackup(t, name, "Completed", 1<<10)
		if _, err := evil.Seal(ctx, "nightly", name); err != nil {
			t.Fatal(err)
		}
		forged = append(forged, name)
	}
	trusted := []crypto.VerifyKey{bed.Signer.Public()}
	out := applyRetention(ctx, bed.Offsite, trusted, seal.Binding{}, "nightly", "", retention.Policy{KeepLast: 3, Location: time.UTC}, time.Now(), func(string) {}, nil)
	if out.Err != nil || len(out.Deleted) != 0 {
		t.Fatalf("retention deleted %v (err %v); want nothing deleted", out.Deleted, out.Err)
	}
	for _, name := range real {
		if _, ok := out.Kept[name]; !ok {
			t.Errorf("real backup %s not kept: %v", name, out.Kept)
		}
	}
	slices.Sort(out.Untrusted)
	if !slices.Equal(out.Untrusted, forged) {
		t.Errorf("untrusted = %v, want %v", out.Untrusted, forged)
	}
	for _, name := range append(real, forged...) { // forged ones are reported, never cleaned up
		if _, err := bed.Offsite.Stat(ctx, seal.SealKey("nightly", name)); err != nil {
			t.Errorf("seal of %s: %v", name, err)
		}
	}
	// A seal refused as "already sealed" is counted as untrusted.
	bed.VeleroBackup(t, "nightly-x0", "Completed", 1<<10)
	_, err := bed.Sealer().Seal(ctx, "nightly", "nightly-x0")
	if got := sealFailureReason(err); got != "untrusted" {
		t.Errorf("sealFailureReason(%v) = %q, want untrusted", err, got)
	}
}
