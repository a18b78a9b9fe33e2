package faultsuite

import (
	"fmt"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestTruncatedPuts seals backups into an object-locked bucket through a
// proxy that cuts PUT bodies half way (truncate: the connection drops
// mid-body) or sends the server a whole request of half the declared
// Content-Length and body (content-length). A server that stored such a
// body would leave a short object under lock, and the seal stuck on it
// (ErrSealConflict). Each seal completes, under the faults or right after
// them, verifies and reads back; nothing unsealed is listed as restorable.
func TestTruncatedPuts(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b, proxy, sealer := putFaultBed(t, false)
	sealer.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}
	pin := b.Signer.Public()
	const backups = 4
	for i := range backups {
		name := fmt.Sprintf("cut%d", i)
		objs := b.VeleroBackup(t, name, "Completed", 96<<10)
		r := &run{t: t, tl: &tally{failures: map[string]int{}}, b: b, direct: b.Offsite, faulty: sealer.Offsite, pin: pin, name: name, objs: objs}
		put := []testbed.S3Op{testbed.OpPut}
		proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultTruncate, Ops: put, Rate: 0.2}, testbed.FaultRule{Kind: testbed.FaultBadLength, Ops: put, Rate: 0.2})
		sealed := r.seal(sealer)
		proxy.SetRules()
		if !sealed && !r.seal(sealer) {
			for info, err := range b.Offsite.List(t.Context(), seal.BackupPrefix(schedule, name)) {
				t.Logf("offsite: %s %d %v", info.Key, info.Size, err)
			}
			t.Fatalf("%s: the seal did not complete once the PUTs were whole again (failures under faults: %v)", name, r.tl.failures)
		}
		if _, err := seal.Verify(t.Context(), b.Offsite, schedule, name, seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{pin}, Identities: b.Identities}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !r.read() || !r.restore() {
			t.Fatalf("%s: sealed but not readable", name)
		}
	}
	got := proxy.Injected()
	t.Logf("PUTs cut: %d truncated, %d short Content-Length, over %d seals: each sealed and verified", got[testbed.FaultTruncate], got[testbed.FaultBadLength], backups)
	if got[testbed.FaultTruncate] == 0 || got[testbed.FaultBadLength] == 0 {
		t.Fatal("no PUT cut of some kind: the test proves nothing for it")
	}
}

// putFaultBed is a bed whose offsite bucket (object lock enabled) a
// sealer reaches through a fault proxy; with direct the proxy may store
// objects around itself (FaultStoreShort, FaultStoreFlipped).
func putFaultBed(t *testing.T, direct bool) (*sealtest.Bed, *testbed.FaultProxy, *seal.Sealer) {
	t.Helper()
	b := sealtest.NewBed(t, true)
	opts := testbed.FaultOptions{Seed: faultSeed}
	if direct {
		opts.Direct = b.S3.Minio(t)
	}
	proxy := testbed.StartFaultProxy(t, b.S3.Endpoint, opts)
	cfg := b.S3.Config(b.OffsiteBucket, "cluster-a/safekeep/v1")
	cfg.Endpoint, cfg.ResponseTimeout = proxy.Endpoint, 2*time.Second
	s3, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sealer := b.Sealer()
	sealer.Offsite = storage.WithRetry(s3, storage.RetryPolicy{Attempts: 5, Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond})
	return b, proxy, sealer
}
