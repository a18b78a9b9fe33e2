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

// Hiding the newest entries leaves a shorter log that verifies intact on
// its own; checked against the head an auditor kept outside the bucket (an
// anchor), it fails.
func TestAnchorCatchesHiddenEntries(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	l := audit.New(b.Plain, b.Signer, audit.Options{NoLock: true})
	last := audittest.AppendRecords(t, l, 5, sealRecord)
	anchor, err := audit.ParseAnchor(audit.Anchor{Seq: last.Seq, Hash: last.Hash}.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyAnchored(ctx, b.Plain, audit.VerifyOptions{}, anchor); err != nil {
		t.Fatalf("VerifyAnchored of the whole log: %v", err)
	}
	// Someone with the bucket's credentials hides entry 5.
	for _, key := range []string{audit.EntryKey(last.Seq, last.Hash), audit.ClaimKey(last.Seq)} {
		if err := b.Plain.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := audit.Verify(ctx, b.Plain, audit.VerifyOptions{})
	if err != nil || rep.HeadSeq != 4 {
		t.Fatalf("Verify without an anchor: head %d, %v (the attack: a shorter log verifies)", rep.HeadSeq, err)
	}
	if _, err := audit.VerifyAnchored(ctx, b.Plain, audit.VerifyOptions{}, anchor); !errors.Is(err, audit.ErrBehindAnchor) {
		t.Errorf("VerifyAnchored after hiding the head: %v, want ErrBehindAnchor", err)
	}
	for _, bad := range []string{"", "5", "0:" + last.Hash, "5:sha256:abc"} {
		if _, err := audit.ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) accepted it", bad)
		}
	}
}
