package audit_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
)

// storedWrongBed is VersityGW behind a fault proxy that can play a server
// skipping its checksum checks (stored-flipped), and a store of bucket
// through the proxy.
func storedWrongBed(t *testing.T, bucket string) (*audittest.Bed, *testbed.FaultProxy, storage.Store) {
	t.Helper()
	b := audittest.NewBed(t)
	proxy := testbed.StartFaultProxy(t, b.S3.Endpoint, testbed.FaultOptions{Seed: 11, Direct: b.S3.Minio(t)})
	cfg := b.S3.Config(bucket, "site/safekeep/v1")
	cfg.Endpoint = proxy.Endpoint
	return b, proxy, audittest.OpenStore(t, cfg)
}

// flipEntryPut makes the proxy store the next entry object PUT (not a
// claim: claims have no ".json") with one bit flipped, answering 200.
func flipEntryPut(proxy *testbed.FaultProxy) {
	proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultStoreFlipped, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: ".json", Times: 1})
}

// TestAppendEntryStoredWrongUnlocked: without object lock, an entry object
// stored wrong is removed and written again, whether the append's own PUT
// stored it wrong or a later writer finds it wrong when completing the
// head; the log verifies.
func TestAppendEntryStoredWrongUnlocked(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	b, proxy, st := storedWrongBed(t, "plain")
	ctx := t.Context()
	l := audit.New(st, b.Signer, audit.Options{NoLock: true})
	if _, err := l.Append(ctx, sealRecord(0)); err != nil {
		t.Fatal(err)
	}
	flipEntryPut(proxy)
	if _, err := l.Append(ctx, sealRecord(1)); err != nil {
		t.Fatalf("append over an entry stored wrong, unlocked: %v", err)
	}
	proxy.SetRules()
	if got := proxy.Injected()[testbed.FaultStoreFlipped]; got != 1 {
		t.Fatalf("%d entry PUTs stored flipped, want 1", got)
	}
	mustVerify(t, b.Plain, audit.VerifyOptions{})

	// The head's object found wrong by a writer completing it: written
	// wrong around the proxy after its claim, as by a writer that stopped.
	e, err := l.Append(ctx, sealRecord(2))
	if err != nil {
		t.Fatal(err)
	}
	key := "site/safekeep/v1/" + audit.EntryKey(e.Seq, e.Hash)
	mc := b.S3.Minio(t)
	rc, err := mc.GetObject(ctx, "plain", key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	wrong := bytes.Replace(buf.Bytes(), []byte(`"seal"`), []byte(`"SEAL"`), 1)
	if _, err := mc.PutObject(ctx, "plain", key, bytes.NewReader(wrong), int64(len(wrong)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(ctx, b.Plain, audit.VerifyOptions{}); err == nil {
		t.Fatal("verify passes over the entry object written wrong: the test proves nothing")
	}
	// A new writer does not know the head's object was written.
	if _, err := audit.New(st, b.Signer, audit.Options{NoLock: true, Now: func() time.Time { return time.Now().Add(time.Second) }}).Append(ctx, sealRecord(3)); err != nil {
		t.Fatalf("append after the head's object was found wrong, unlocked: %v", err)
	}
	rep := mustVerify(t, b.Plain, audit.VerifyOptions{})
	if rep.Entries != 4 {
		t.Fatalf("verify checked %d entries, want 4", rep.Entries)
	}
}
