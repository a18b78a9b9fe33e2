package cli

import (
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestAuditVerifyBurned: audit verify accepts a log with a burned seq
// (its claim stored cut short; the next append burned it) and prints a
// burned line naming it; with the burn record swapped for one signed by a
// key the target does not trust, it fails naming the refused record.
func TestAuditVerifyBurned(t *testing.T) {
	b := newBed(t)
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	st := audittest.OpenStore(t, b.s3.Config(plainBucket, "cluster-a/safekeep/v1"))
	signer, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	b.auditKeys = []string{signer.Public().String()}
	target := b.writeTarget(t, "target.yaml", plainBucket, false, id.Recipient().String())
	b.auditKeys = nil
	l := audit.New(st, signer, audit.Options{NoLock: true})
	audittest.AppendRecords(t, l, 1, audittest.Record)
	audittest.PlantBrokenClaim(t, st, 2)
	audittest.AppendRecords(t, l, 2, audittest.Record)

	out := b.ok(t, "audit", "verify", "--target-file", target)
	for _, want := range []string{"intact: 3 entries", "burned    seq 2: " + audit.BurnClaimUnreadable, "entry 3 names it", "BURNED: 1 seq out of the chain"} {
		if !strings.Contains(out, want) {
			t.Fatalf("audit verify of a log with seq 2 burned does not say %q:\n%s", want, out)
		}
	}
	t.Logf("audit verify printed:\n%s", out)

	// Swap the burn record for one signed by another key.
	rep, err := audit.Verify(t.Context(), st, audit.VerifyOptions{Keys: []crypto.VerifyKey{signer.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(t.Context(), rep.Burned[0].Records[0]); err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.GenerateSigningKey()
	forged := &audit.Burn{Seq: 2, Time: rep.Burned[0].Time, Actor: "someone", Reason: audit.BurnClaimUnreadable, Key: audit.ClaimKey(2)}
	data, err := audit.SignBurn(forged, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(t.Context(), audit.BurnKey(2, forged.Hash), strings.NewReader(string(data)), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	checkOneLine(t, b.run(t, "audit", "verify", "--target-file", target), exitFailure,
		"audit verify: audit log is not intact: entry 2 ("+audit.BurnKey(2, forged.Hash)+"): unknown-key: burn record")
}
