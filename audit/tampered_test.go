package audit_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestTamperedVersions: on a versioned bucket an attacker with the
// bucket's credentials hides the newest entry and its claim behind delete
// markers and adds versions over a claim and a segment. The chain still
// verifies (the hidden entry is read from its version); the writes the log
// never makes are found, each named, from the one listing of versions.
func TestTamperedVersions(t *testing.T) {
	st, l := audittest.NewVersionedLog(t, audit.Options{SegmentSize: 2})
	ctx := t.Context()
	last := audittest.AppendRecords(t, l, 5, sealRecord)
	if found, err := audit.FindTampered(ctx, st); err != nil || len(found) != 0 {
		t.Fatalf("FindTampered of an untouched log = %v, %v; want none", found, err)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{})
	if err != nil || rep.TamperedErr() != nil {
		t.Fatalf("Verify of an untouched log: %v, %v", err, rep.TamperedErr())
	}

	// The attack.
	entry5 := audit.EntryKey(last.Seq, last.Hash)
	sealtest.Hide(t, st, entry5)
	sealtest.Hide(t, st, audit.ClaimKey(5))
	segment := audit.SegmentKey(1, 2)
	for _, key := range []string{audit.ClaimKey(3), segment} {
		data := read(t, st, key)
		if _, err := st.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatalf("overwrite %s: %v", key, err)
		}
	}

	rep, err = audit.Verify(ctx, st, audit.VerifyOptions{})
	if err != nil || rep.HeadSeq != 5 {
		t.Fatalf("Verify after the attack: head %d, %v; want the chain intact through the hidden entry", rep.HeadSeq, err)
	}
	if err := rep.TamperedErr(); !errors.Is(err, audit.ErrTampered) {
		t.Errorf("Report.TamperedErr = %v, want ErrTampered", err)
	}
	want := map[string]string{entry5: "entry", audit.ClaimKey(5): "claim", audit.ClaimKey(3): "claim", segment: "segment"}
	check := func(what string, found []audit.Tampered) {
		t.Helper()
		if len(found) != len(want) {
			t.Errorf("%s found %d tampered objects, want %d: %v", what, len(found), len(want), found)
		}
		for _, f := range found {
			kind, ok := want[f.Key]
			hidden := f.Key == entry5 || f.Key == audit.ClaimKey(5)
			if !ok || f.Object != kind || f.Hidden != hidden || (hidden && f.Markers != 1) || (!hidden && f.Versions != 2) || f.Latest.IsZero() {
				t.Errorf("%s: %+v, want a %s, hidden %v", what, f, kind, hidden)
			}
		}
	}
	check("Verify", rep.Tampered)
	found, err := audit.FindTampered(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	check("FindTampered", found)
	if i := slices.IndexFunc(found, func(f audit.Tampered) bool { return f.Key == entry5 }); i < 0 ||
		found[i].String() == "" || !bytes.Contains([]byte(found[i].String()), []byte("hidden")) {
		t.Errorf("the hidden entry's line does not say it is hidden: %v", found)
	}
}

func read(t *testing.T, st storage.Store, key string) []byte {
	t.Helper()
	rc, _, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer func() { _ = rc.Close() }() // read-only
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
