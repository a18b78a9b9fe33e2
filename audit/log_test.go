package audit_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

func sealRecord(i int) audit.Record {
	return audit.Record{
		Actor: "system:serviceaccount:safekeep-system:safekeep-controller", Kind: audit.KindSeal,
		Subject: fmt.Sprintf("ns/nightly/b-%d", i),
		Details: audit.SealDetails{Schedule: "nightly", Backup: fmt.Sprintf("b-%d", i), Objects: 3, CiphertextBytes: 1234,
			SealDigest: "sha256:" + fmt.Sprintf("%064x", i), Recipients: []string{"sha256:abc"}},
	}
}

func collect(t *testing.T, st storage.Store, opts audit.ReadOptions) []*audit.Entry {
	t.Helper()
	var out []*audit.Entry
	for e, err := range audit.Read(t.Context(), st, opts) {
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func mustVerify(t *testing.T, st storage.Store, opts audit.VerifyOptions) *audit.Report {
	t.Helper()
	rep, err := audit.Verify(t.Context(), st, opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func TestAppendReadVerify(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	clock := time.Now().UTC()
	l := audit.New(b.Locked, b.Signer, audit.Options{RetainDays: 1, Now: func() time.Time {
		clock = clock.Add(time.Minute)
		return clock
	}})
	var written []*audit.Entry
	for i := range 5 {
		e, err := l.Append(ctx, sealRecord(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		written = append(written, e)
	}
	got := collect(t, b.Locked, audit.ReadOptions{})
	if len(got) != 5 {
		t.Fatalf("Read returned %d entries, want 5", len(got))
	}
	for i, e := range got {
		w := written[i]
		if e.Seq != w.Seq || e.Hash != w.Hash || e.Prev != w.Prev || !e.Time.Equal(w.Time) || !bytes.Equal(e.Details, w.Details) {
			t.Errorf("entry %d read back as %d %s %s %s, wrote %d %s %s %s", i, e.Seq, e.Hash, e.Time, e.Details, w.Seq, w.Hash, w.Time, w.Details)
		}
		if i > 0 && e.Prev != got[i-1].Hash {
			t.Errorf("entry %d prev %s, want %s", e.Seq, e.Prev, got[i-1].Hash)
		}
	}
	// Since/Until select by time.
	sel := collect(t, b.Locked, audit.ReadOptions{Since: written[1].Time, Until: written[3].Time})
	if len(sel) != 2 || sel[0].Seq != 2 || sel[1].Seq != 3 {
		t.Errorf("Read Since/Until returned %d entries", len(sel))
	}
	rep := mustVerify(t, b.Locked, audit.VerifyOptions{})
	if rep.Entries != 5 || rep.HeadSeq != 5 || rep.HeadHash != written[4].Hash || rep.Pending != 0 ||
		!slices.Equal(rep.KeyIDs, []string{b.Signer.Public().KeyID()}) {
		t.Errorf("report %+v", rep)
	}
	// Pinned: the right key verifies, another is unknown.
	mustVerify(t, b.Locked, audit.VerifyOptions{Keys: []crypto.VerifyKey{b.Signer.Public()}})
	other, _ := crypto.GenerateSigningKey()
	_, err := audit.Verify(ctx, b.Locked, audit.VerifyOptions{Keys: []crypto.VerifyKey{other.Public()}})
	if !errors.Is(err, audit.ErrUnknownKey) {
		t.Errorf("Verify with another pinned key: %v, want ErrUnknownKey", err)
	}
	// A new Log (another process) finds the head and goes on.
	l2 := audit.New(b.Locked, b.Signer, audit.Options{RetainDays: 1})
	e, err := l2.Append(ctx, sealRecord(5))
	if err != nil || e.Seq != 6 || e.Prev != written[4].Hash {
		t.Fatalf("Append by a second Log: %+v, %v", e, err)
	}
}

func TestLockedLogRefusesOverwriteAndDelete(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	l := audit.New(b.Locked, b.Signer, audit.Options{RetainDays: 1})
	e, err := l.Append(ctx, sealRecord(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{audit.EntryKey(e.Seq, e.Hash), audit.ClaimKey(e.Seq)} {
		if err := b.Locked.Delete(ctx, key); !errors.Is(err, storage.ErrLocked) {
			t.Errorf("delete %s: %v, want ErrLocked", key, err)
		}
		data := []byte(`{"forged":true}`)
		_, err := b.Locked.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))})
		if !errors.Is(err, storage.ErrLocked) {
			t.Errorf("overwrite %s: %v, want ErrLocked", key, err)
		}
	}
	mustVerify(t, b.Locked, audit.VerifyOptions{})
}

func TestConcurrentAppenders(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	seqs := make(chan uint64, writers*each)
	for w := range writers {
		l := audit.New(b.Locked, b.Signer, audit.Options{RetainDays: 1})
		wg.Go(func() {
			for i := range each {
				e, err := l.Append(ctx, sealRecord(w*each+i))
				if err != nil {
					errs <- err
					return
				}
				seqs <- e.Seq
			}
		})
	}
	wg.Wait()
	close(errs)
	close(seqs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	var got []uint64
	for s := range seqs {
		got = append(got, s)
	}
	slices.Sort(got)
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("sequence numbers acknowledged: %v, want 1..%d each once", got, writers*each)
		}
	}
	rep := mustVerify(t, b.Locked, audit.VerifyOptions{})
	if rep.Entries != writers*each || rep.HeadSeq != writers*each || rep.Pending != 0 {
		t.Errorf("report %+v", rep)
	}
	subjects := map[string]bool{}
	for _, e := range collect(t, b.Locked, audit.ReadOptions{}) {
		if subjects[e.Subject] {
			t.Errorf("subject %s recorded twice", e.Subject)
		}
		subjects[e.Subject] = true
	}
	if len(subjects) != writers*each {
		t.Errorf("%d distinct records, want %d", len(subjects), writers*each)
	}
}

// A writer that stops between its claim and its entry object leaves a
// committed, pending head; the next Append writes its entry object first.
func TestCrashBetweenClaimAndEntry(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	l := audit.New(b.Locked, b.Signer, audit.Options{RetainDays: 1})
	first, err := l.Append(ctx, sealRecord(0))
	if err != nil {
		t.Fatal(err)
	}
	// The stopped writer: its claim of entry 2, no entry object.
	crashed := &audit.Entry{Format: audit.FormatV1, Seq: 2, Time: time.Now().UTC(), Actor: "cli:alice@laptop",
		Kind: audit.KindRestore, Subject: "nightly/b-1", Prev: first.Hash}
	data, err := audit.Sign(crashed, b.Signer)
	if err != nil {
		t.Fatal(err)
	}
	put(t, b.Locked, audit.ClaimKey(2), data)

	rep := mustVerify(t, b.Locked, audit.VerifyOptions{})
	if rep.Entries != 2 || rep.Pending != 1 || rep.HeadSeq != 2 || rep.HeadHash != crashed.Hash {
		t.Fatalf("report with a pending head: %+v", rep)
	}
	if got := collect(t, b.Locked, audit.ReadOptions{}); len(got) != 2 || got[1].Hash != crashed.Hash {
		t.Fatalf("Read with a pending head returned %d entries", len(got))
	}
	// Another writer (a new process) completes it, then appends entry 3.
	l2 := audit.New(b.Locked, b.Signer, audit.Options{RetainDays: 1})
	e, err := l2.Append(ctx, sealRecord(1))
	if err != nil || e.Seq != 3 || e.Prev != crashed.Hash {
		t.Fatalf("Append after a crash: %+v, %v", e, err)
	}
	if _, err := b.Locked.Stat(ctx, audit.EntryKey(2, crashed.Hash)); err != nil {
		t.Fatalf("entry 2 was not completed: %v", err)
	}
	rep = mustVerify(t, b.Locked, audit.VerifyOptions{})
	if rep.Entries != 3 || rep.Pending != 0 {
		t.Fatalf("report after completion: %+v", rep)
	}
	// The first Log, which knows an older head, loses its claim of 2 and
	// goes on at 4.
	e, err = l.Append(ctx, sealRecord(2))
	if err != nil || e.Seq != 4 {
		t.Fatalf("Append by a Log with a stale head: %+v, %v", e, err)
	}
	mustVerify(t, b.Locked, audit.VerifyOptions{})
}

func put(t *testing.T, st storage.Store, key string, data []byte) {
	t.Helper()
	if _, err := st.Put(t.Context(), key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}
