package audit_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestRecoverHiddenClaims: on a versioned bucket (real VersityGW) someone
// holding the bucket's credentials but no key puts a claim signed by their
// own key over claim 2, plants a claim 4 of their own, and hides claims 2,
// 3 and 4 behind delete markers. Recover with the log's key brings claims 2
// and 3 back from their genuine versions (refusing the forgery) and leaves
// claim 4 hidden; without trusted keys it brings back none. Before, Recover
// did not look at claims at all.
func TestRecoverHiddenClaims(t *testing.T) {
	st := audittest.VersionedStore(t)
	ctx := t.Context()
	signer, attacker := sealtest.NewSigner(t), sealtest.NewSigner(t)
	l := audit.New(st, signer, audit.Options{NoLock: true})
	var entries []*audit.Entry
	for i := range 3 {
		e, err := l.Append(ctx, sealRecord(i))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	genuine := map[uint64][]byte{2: read(t, st, audit.ClaimKey(2)), 3: read(t, st, audit.ClaimKey(3))}
	plant := func(seq uint64, prev *audit.Entry) {
		t.Helper()
		_, data, err := audittest.Entry(int(seq)-1, prev, attacker)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, audit.ClaimKey(seq), bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatalf("plant claim %d: %v", seq, err)
		}
	}
	plant(2, entries[0])
	plant(4, entries[2])
	for seq := uint64(2); seq <= 4; seq++ {
		sealtest.Hide(t, st, audit.ClaimKey(seq))
	}

	recs, err := audit.Recover(ctx, st, audit.RecoverOptions{})
	if err != nil || len(recs) != 3 {
		t.Fatalf("Recover without trusted keys: %d recoveries, %v; want the 3 hidden claims", len(recs), err)
	}
	for _, r := range recs {
		if r.VersionID != "" {
			t.Errorf("without trusted keys %s came back from version %s", r.Key, r.VersionID)
		}
	}

	recs, err = audit.Recover(ctx, st, audit.RecoverOptions{TrustedKeys: []crypto.VerifyKey{signer.Public()}})
	if err != nil || len(recs) != 3 {
		t.Fatalf("Recover: %d recoveries, %v; want the 3 hidden claims", len(recs), err)
	}
	for _, r := range recs {
		switch r.Key {
		case audit.ClaimKey(2), audit.ClaimKey(3):
			refused := 0
			if r.Key == audit.ClaimKey(2) {
				refused = 1 // the forgery over it
			}
			if r.VersionID == "" || r.Err != nil || len(r.Refused) != refused {
				t.Errorf("%s: %+v, want it back from its genuine version, %d refused", r.Key, r, refused)
			}
		case audit.ClaimKey(4):
			if r.VersionID != "" || len(r.Refused) != 1 {
				t.Errorf("the planted claim 4: %+v, want it left hidden, its one version refused", r)
			}
		default:
			t.Errorf("unexpected recovery of %s", r.Key)
		}
	}
	for seq, want := range genuine {
		if got := read(t, st, audit.ClaimKey(seq)); !bytes.Equal(got, want) {
			t.Errorf("claim %d after recover is not the genuine one", seq)
		}
	}
	if _, _, err := st.Get(ctx, audit.ClaimKey(4)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the planted claim 4 after recover: %v, want it still hidden", err)
	}
}
