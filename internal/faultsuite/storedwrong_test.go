package faultsuite

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestStoredWrong seals through a proxy playing an S3 server that skips
// its checksum checks: it answers 200 to a PUT under backups/ but stores
// the payload cut in half (stored-short) or with a bit flipped
// (stored-flipped). VersityGW itself refuses such bodies (TestTruncatedPuts),
// so the proxy stores them around it.
//
// Without object lock the sealer removes what was stored wrong and writes
// it again: every seal completes, verifies and reads back. Under object
// lock nothing can remove it: the seal fails at once with a permanent
// conflict that says the lock keeps it, what that blocks and what to fix,
// and so does a later attempt; it never advises deleting what the lock
// keeps, lists nothing unsealed as restorable, and the next backup seals.
func TestStoredWrong(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b, proxy, sealer := putFaultBed(t, true)
	pin := b.Signer.Public()
	put := []testbed.S3Op{testbed.OpPut}
	newRun := func(name string) *run {
		return &run{t: t, tl: &tally{failures: map[string]int{}}, b: b, direct: b.Offsite, faulty: sealer.Offsite, pin: pin, name: name,
			objs: b.VeleroBackup(t, name, "Completed", 96<<10)}
	}

	t.Run("unlocked", func(t *testing.T) {
		const backups = 3
		for i := range backups {
			r := newRun(fmt.Sprintf("wrong%d", i))
			r.t = t
			proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultStoreShort, Ops: put, Rate: 0.1, Under: "/backups/"},
				testbed.FaultRule{Kind: testbed.FaultStoreFlipped, Ops: put, Rate: 0.1, Under: "/backups/"})
			sealed := r.seal(sealer)
			proxy.SetRules()
			if !sealed && !r.seal(sealer) {
				t.Fatalf("%s: the seal did not complete once the server stored PUTs whole again (failures under faults: %v)", r.name, r.tl.failures)
			}
			if _, err := seal.Verify(t.Context(), b.Offsite, schedule, r.name, seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{pin}, Identities: b.Identities}); err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if !r.read() || !r.restore() {
				t.Fatalf("%s: sealed but not readable", r.name)
			}
		}
		got := proxy.Injected()
		t.Logf("PUTs stored wrong: %d cut short, %d with a bit flipped, over %d seals: each sealed, verified and read back",
			got[testbed.FaultStoreShort], got[testbed.FaultStoreFlipped], backups)
		if got[testbed.FaultStoreShort] == 0 || got[testbed.FaultStoreFlipped] == 0 {
			t.Fatal("no PUT stored wrong of some kind: the test proves nothing for it")
		}
	})

	t.Run("locked", func(t *testing.T) {
		sealer.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}
		r := newRun("locked0")
		r.t = t
		proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultStoreShort, Ops: put, Rate: 1, Under: "/objects/"})
		_, err := sealer.Seal(t.Context(), schedule, r.name)
		proxy.SetRules()
		checkLockedWrong(t, err, "object lock keeps it", "the S3 server did not check the upload's checksum")
		// A later attempt, the server whole again, finds the short object.
		_, err = sealer.Seal(t.Context(), schedule, r.name)
		checkLockedWrong(t, err, "locked (GOVERNANCE) until")
		r.checkListing()
		if _, err := seal.Verify(t.Context(), b.Offsite, schedule, r.name, seal.VerifyOptions{VerifyKey: &pin}); !errors.Is(err, seal.ErrNotSealed) {
			t.Fatalf("verify of the blocked backup: %v, want ErrNotSealed", err)
		}
		next := newRun("locked1")
		next.t = t
		if !next.seal(sealer) || !next.verify() || !next.read() {
			t.Fatal("the next backup did not seal")
		}
	})
}

// checkLockedWrong: a seal blocked by a wrong object under lock fails with
// a permanent conflict naming this backup and saying what is needed, and
// never advises a delete the lock refuses.
func checkLockedWrong(t *testing.T, err error, says ...string) {
	t.Helper()
	if !errors.Is(err, seal.ErrSealConflict) || seal.IsRetryable(err) {
		t.Fatalf("seal over a wrong object under lock: %v, want a permanent ErrSealConflict", err)
	}
	msg := err.Error()
	for _, s := range append(says, "backup faults/locked0 cannot be sealed to this target") {
		if !strings.Contains(msg, s) {
			t.Fatalf("seal over a wrong object under lock: %q does not say %q", msg, s)
		}
	}
	if strings.Contains(msg, "delete") {
		t.Fatalf("seal over a wrong object under lock advises a delete the lock refuses: %s", msg)
	}
	t.Logf("blocked: %s", msg)
}
