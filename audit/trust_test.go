package audit_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// A claim planted at the next sequence number, signed by a key the writer
// does not trust, is refused: not adopted, not written as an entry, never
// chained onto. Before, the writer adopted it and the log broke for good.
func TestForgedClaimRefused(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	l := audit.New(b.Plain, b.Signer, audit.Options{NoLock: true})
	first, err := l.Append(ctx, sealRecord(1))
	if err != nil {
		t.Fatal(err)
	}
	evil, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	forged, data, err := audittest.Entry(2, first, evil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Plain.Put(ctx, audit.ClaimKey(forged.Seq), bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	// A new writer (a restarted controller) looks for the head.
	w := audit.New(b.Plain, b.Signer, audit.Options{NoLock: true})
	if e, err := w.Append(ctx, sealRecord(3)); !errors.Is(err, audit.ErrUntrustedClaim) {
		t.Fatalf("Append after a forged claim: entry %v, %v; want ErrUntrustedClaim", e != nil, err)
	}
	if _, err := b.Plain.Stat(ctx, audit.EntryKey(forged.Seq, forged.Hash)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the forged claim was written as an entry: %v", err)
	}
	// A writer that trusts the key (another writer of the target) adopts it.
	trusting := audit.New(b.Plain, b.Signer, audit.Options{NoLock: true, TrustedKeys: []crypto.VerifyKey{evil.Public()}})
	e, err := trusting.Append(ctx, sealRecord(3))
	if err != nil || e.Seq != 3 || e.Prev != forged.Hash {
		t.Errorf("Append trusting the claim's key = %+v, %v", e, err)
	}
}
