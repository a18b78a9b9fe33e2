package audit_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
)

// complianceLog is a writer on the locked bucket in compliance mode:
// nothing it writes can be removed before its lock ends.
func complianceLog(st storage.Store, signer crypto.SigningKey) *audit.Log {
	return audit.New(st, signer, audit.Options{RetainDays: 1, LockMode: storage.LockCompliance})
}

// flipClaimPut makes the proxy store the next claim PUT with one bit
// flipped, answering 200.
func flipClaimPut(proxy *testbed.FaultProxy) {
	proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultStoreFlipped, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: audit.ClaimDir, Times: 1})
}

// TestBurnEntryObjectStoredWrong: under compliance lock, an entry object
// stored wrong (the server answered 200 and kept a bit flipped) no longer
// stops the log: the append burns its seq and records the entry after it,
// later appends (this writer's and another's) go on, and Verify (keys
// pinned) accepts the log, naming the burned seq, why, its object and
// what its claim holds. On the previous code every append failed until
// the lock ended.
func TestBurnEntryObjectStoredWrong(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b, proxy, st := storedWrongBed(t, "locked")
	ctx := t.Context()
	l := complianceLog(st, b.Signer)
	e1, err := l.Append(ctx, sealRecord(0))
	if err != nil {
		t.Fatal(err)
	}
	flipEntryPut(proxy)
	e, err := l.Append(ctx, sealRecord(1))
	proxy.SetRules()
	if got := proxy.Injected()[testbed.FaultStoreFlipped]; got != 1 {
		t.Fatalf("%d entry PUTs stored flipped, want 1", got)
	}
	if err != nil {
		t.Fatalf("append over an entry object stored wrong under compliance lock: %v", err)
	}
	if e.Seq != 3 || e.Prev != e1.Hash || len(e.Burned) != 1 || e.Burned[0] != 2 {
		t.Fatalf("the entry after the burned seq: seq %d prev %s burned %v; want seq 3 chained onto entry 1 (%s), burned [2]", e.Seq, e.Prev, e.Burned, e1.Hash)
	}
	if _, err := l.Append(ctx, sealRecord(2)); err != nil {
		t.Fatalf("a later append: %v", err)
	}
	// Another writer finds the head from the claims.
	e5, err := complianceLog(st, b.Signer).Append(ctx, sealRecord(3))
	if err != nil || e5.Seq != 5 || len(e5.Burned) != 0 {
		t.Fatalf("another writer's append: %v (%+v); want seq 5, no burned seq", err, e5)
	}
	rep := mustVerify(t, b.Locked, audit.VerifyOptions{Keys: []crypto.VerifyKey{b.Signer.Public()}})
	if rep.Entries != 4 || rep.HeadSeq != 5 || len(rep.Burned) != 1 {
		t.Fatalf("verify: %d entries, head %d, burned %+v; want 4 entries, head 5, seq 2 burned", rep.Entries, rep.HeadSeq, rep.Burned)
	}
	bs := rep.Burned[0]
	line := bs.String()
	for _, want := range []string{"seq 2", audit.BurnObjectStoredWrong, audit.EntryPrefix(2), "entry 2 as signed", "seal ns/nightly/b-1", "entry 3 names it"} {
		if !strings.Contains(line, want) {
			t.Fatalf("burned seq %q does not say %q", line, want)
		}
	}
	t.Logf("burned %s", line)
	if got := len(collect(t, b.Locked, audit.ReadOptions{})); got != 4 {
		t.Fatalf("Read yields %d entries, want 4", got)
	}
	// The record the burned seq held is in the chain once, at 3.
	found, err := complianceLog(st, b.Signer).Find(ctx, time.Time{}, func(e *audit.Entry) bool { return e.Subject == "ns/nightly/b-1" })
	if err != nil || found == nil || found.Seq != 3 {
		t.Fatalf("Find of the burned seq's record: %v, %+v; want entry 3", err, found)
	}
}

// TestBurnClaimStoredWrong: under compliance lock, a claim stored wrong
// (the commit itself) is burned the same way: the append records its
// entry at the next seq, and Verify accepts the gap, naming it.
func TestBurnClaimStoredWrong(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b, proxy, st := storedWrongBed(t, "locked")
	ctx := t.Context()
	l := complianceLog(st, b.Signer)
	if _, err := l.Append(ctx, sealRecord(0)); err != nil {
		t.Fatal(err)
	}
	flipClaimPut(proxy)
	e, err := l.Append(ctx, sealRecord(1))
	proxy.SetRules()
	if got := proxy.Injected()[testbed.FaultStoreFlipped]; got != 1 {
		t.Fatalf("%d claim PUTs stored flipped, want 1", got)
	}
	if err != nil {
		t.Fatalf("append over a claim stored wrong under compliance lock: %v", err)
	}
	if e.Seq != 3 || len(e.Burned) != 1 || e.Burned[0] != 2 {
		t.Fatalf("the entry after the burned claim: seq %d burned %v; want seq 3, burned [2]", e.Seq, e.Burned)
	}
	if _, err := complianceLog(st, b.Signer).Append(ctx, sealRecord(2)); err != nil {
		t.Fatalf("another writer's append: %v", err)
	}
	rep := mustVerify(t, b.Locked, audit.VerifyOptions{Keys: []crypto.VerifyKey{b.Signer.Public()}})
	if rep.Entries != 3 || len(rep.Burned) != 1 || rep.Burned[0].Seq != 2 || rep.Burned[0].Reason != audit.BurnClaimStoredWrong || rep.Burned[0].NamedBy != 3 {
		t.Fatalf("verify: %d entries, burned %+v; want 3 entries, seq 2 burned (claim) named by 3", rep.Entries, rep.Burned)
	}
	t.Logf("burned %s", rep.Burned[0])
}

// TestForgedBurnRefused: a burn is accepted only when signed by a trusted
// key. On a bucket without lock (where someone with the bucket's
// credentials can remove and write anything), a legitimately burned seq
// whose burn record is swapped for one signed by another key fails
// verify (the record refused, the gap not covered); a forged burn of a
// valid entry is refused too; and a trusted burn of a valid entry (a
// writer that burned evidence) is a problem naming it.
func TestForgedBurnRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b, _, st := storedWrongBed(t, "plain")
	ctx := t.Context()
	pinned := audit.VerifyOptions{Keys: []crypto.VerifyKey{b.Signer.Public()}}
	l := audit.New(st, b.Signer, audit.Options{NoLock: true})
	if _, err := l.Append(ctx, sealRecord(0)); err != nil {
		t.Fatal(err)
	}
	// A claim stored wrong on a bucket without lock is removed and
	// written again; lock it out of reach by planting garbage at claim 2
	// as a server would have stored it, then burn it.
	mc := b.S3.Minio(t)
	put := func(key string, data []byte) {
		t.Helper()
		if _, err := mc.PutObject(ctx, "plain", "site/safekeep/v1/"+key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(audit.ClaimKey(2), []byte(`{"format":"safekeep.dev/audit/v1","seq":2,"tru`))
	if e, err := l.Append(ctx, sealRecord(1)); err != nil || e.Seq != 3 {
		t.Fatalf("append after a broken claim: %v, %+v", err, e)
	}
	rep := mustVerify(t, b.Plain, pinned)
	if len(rep.Burned) != 1 || len(rep.Burned[0].Records) != 1 || rep.Burned[0].Reason != audit.BurnClaimUnreadable {
		t.Fatalf("burned %+v, want seq 2 (claim unreadable) with one record", rep.Burned)
	}
	// Swap the trusted record for one signed by another key.
	trusted := rep.Burned[0].Records[0]
	kept := getRaw(t, mc, "plain", "site/safekeep/v1/"+trusted)
	remove := func(key string) {
		t.Helper()
		if err := mc.RemoveObject(ctx, "plain", "site/safekeep/v1/"+key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	remove(trusted)
	other, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	forge := func(seq uint64, signer crypto.SigningKey) string {
		t.Helper()
		f := &audit.Burn{Seq: seq, Time: time.Now(), Actor: "someone", Reason: audit.BurnClaimUnreadable, Key: audit.ClaimKey(seq)}
		data, err := audit.SignBurn(f, signer)
		if err != nil {
			t.Fatal(err)
		}
		put(audit.BurnKey(seq, f.Hash), data)
		return audit.BurnKey(seq, f.Hash)
	}
	forged := forge(2, other)
	rep, err = audit.Verify(ctx, b.Plain, pinned)
	checkVerifyFails(t, "a forged burn record", rep, err, audit.ErrUnknownKey, "burn record "+forged+" refused", "no burn record signed by a trusted key covers it")
	// Also with the keys published in the bucket (the forger's is not).
	rep, err = audit.Verify(ctx, b.Plain, audit.VerifyOptions{})
	checkVerifyFails(t, "a forged burn record, keys from the bucket", rep, err, audit.ErrUnknownKey, "burn record "+forged+" refused")
	remove(forged)
	put(trusted, kept)
	mustVerify(t, b.Plain, pinned)

	// A forged burn of valid entry 1 is refused.
	forged = forge(1, other)
	rep, err = audit.Verify(ctx, b.Plain, pinned)
	checkVerifyFails(t, "a forged burn of a valid entry", rep, err, audit.ErrUnknownKey, "burn record "+forged+" refused")
	remove(forged)
	// A trusted burn of a valid entry: the entry is named.
	burned := forge(1, b.Signer)
	rep, err = audit.Verify(ctx, b.Plain, pinned)
	checkVerifyFails(t, "a trusted burn of a valid entry", rep, err, audit.ErrBurnedValid, "seq 1 is burned ("+burned+"), but its entry object holds a valid entry")
}

// getRaw reads an object around the store.
func getRaw(t *testing.T, mc *minio.Client, bucket, key string) []byte {
	t.Helper()
	rc, err := mc.GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkVerifyFails checks that Verify failed with sentinel and that its
// problems say each of says.
func checkVerifyFails(t *testing.T, what string, rep *audit.Report, err error, sentinel error, says ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("verify with %s: %v; want %v", what, err, sentinel)
	}
	var all []string
	for _, p := range rep.Problems {
		all = append(all, p.String())
	}
	text := strings.Join(all, "\n")
	for _, s := range says {
		if !strings.Contains(text, s) {
			t.Fatalf("verify with %s: problems %q do not say %q", what, text, s)
		}
	}
	t.Logf("verify with %s: %v", what, err)
}

// TestBurnRecordStoredWrong: under compliance lock, a server that also
// stores the burn record wrong does not stop the log: the writer writes
// another record, the flipped one covers nothing and Verify warns of it.
func TestBurnRecordStoredWrong(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b, proxy, st := storedWrongBed(t, "locked")
	ctx := t.Context()
	l := complianceLog(st, b.Signer)
	if _, err := l.Append(ctx, sealRecord(0)); err != nil {
		t.Fatal(err)
	}
	// The entry object of 2, its completion's PUT (refused: the object
	// is there, locked), then the first burn record.
	proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultStoreFlipped, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: ".json", Times: 3})
	e, err := l.Append(ctx, sealRecord(1))
	proxy.SetRules()
	if got := proxy.Injected()[testbed.FaultStoreFlipped]; got != 3 {
		t.Fatalf("%d PUTs stored flipped, want 3", got)
	}
	if err != nil || e.Seq != 3 {
		t.Fatalf("append over an entry object and a burn record stored wrong: %v (%+v); want entry 3", err, e)
	}
	rep := mustVerify(t, b.Locked, audit.VerifyOptions{Keys: []crypto.VerifyKey{b.Signer.Public()}})
	if len(rep.Burned) != 1 || len(rep.Burned[0].Records) != 1 || !strings.Contains(strings.Join(rep.Warnings, "\n"), "is unreadable and covers nothing") {
		t.Fatalf("verify: burned %+v, warnings %q; want seq 2 burned by one record, a warning naming the flipped one", rep.Burned, rep.Warnings)
	}
	t.Logf("warnings: %q", rep.Warnings)
}

// TestBurnedSeqNoSegment: a writer does not put a burned seq's claim
// bytes (here cut short with a newline in them) into a checkpoint
// segment: the segment of its range is not written, the one after is, and
// the log verifies with a warning. Before, the segment's lines no longer
// matched its name and Verify failed.
func TestBurnedSeqNoSegment(t *testing.T) {
	b := audittest.NewBed(t)
	ctx := t.Context()
	l := audit.New(b.Plain, b.Signer, audit.Options{NoLock: true, SegmentSize: 3})
	if _, err := l.Append(ctx, sealRecord(0)); err != nil {
		t.Fatal(err)
	}
	junk := []byte("{\"format\":\"safekeep.dev/audit/v1\",\n\"seq\":2,")
	if _, err := b.Plain.Put(ctx, audit.ClaimKey(2), bytes.NewReader(junk), storage.PutOptions{Size: int64(len(junk)), IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ { // entries 3 to 6
		if _, err := l.Append(ctx, sealRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Plain.Stat(ctx, audit.SegmentKey(1, 3)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("segment 1-3 over burned seq 2: %v; want none", err)
	}
	if _, err := b.Plain.Stat(ctx, audit.SegmentKey(4, 6)); err != nil {
		t.Fatalf("segment 4-6: %v", err)
	}
	rep := mustVerify(t, b.Plain, audit.VerifyOptions{Keys: []crypto.VerifyKey{b.Signer.Public()}})
	if rep.Entries != 5 || len(rep.Burned) != 1 || rep.FromSegments != 3 {
		t.Fatalf("verify: %d entries, %d from segments, burned %+v; want 5, 3, seq 2", rep.Entries, rep.FromSegments, rep.Burned)
	}
	t.Logf("warnings: %q", rep.Warnings)
}
