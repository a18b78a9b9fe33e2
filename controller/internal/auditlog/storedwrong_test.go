package auditlog_test

import (
	"fmt"
	"testing"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/target"
)

// storedWrongTarget is tgt on a bucket with object lock in compliance
// mode behind a fault proxy, and the proxy.
func storedWrongTarget(t *testing.T, s3 *testbed.S3Server, tgt *target.Target) (*testbed.FaultProxy, storage.Store) {
	t.Helper()
	s3.CreateBucket(t, "locked", true)
	proxy := testbed.StartFaultProxy(t, s3.Endpoint, testbed.FaultOptions{Seed: 11, Direct: s3.Minio(t)})
	cfg := s3.Config("locked", "site/safekeep/v1")
	cfg.Endpoint = proxy.Endpoint
	st, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tgt.Store = st
	tgt.Object.Spec.ObjectLock = &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockCompliance, RetainDays: 1}
	return proxy, st
}

// logOf lists the log's entries as "seq subject", checking it verifies
// with seq 2 burned.
func logOf(t *testing.T, st storage.Store) string {
	t.Helper()
	var got []string
	for e, err := range audit.Read(t.Context(), st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s", e.Seq, e.Subject))
	}
	rep, err := audit.Verify(t.Context(), st, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Burned) != 1 || rep.Burned[0].Seq != 2 {
		t.Fatalf("verify: burned %+v, want seq 2", rep.Burned)
	}
	return fmt.Sprint(got)
}

// TestStoredWrongBurned: under compliance lock, a server that stores an
// entry object with a bit flipped (the fault proxy's stored-flipped) no
// longer stops the controller's log: the record is written after the
// burned seq, nothing waits in the outbox, later records follow, and the
// log verifies naming seq 2. Before, every later entry waited in the
// outbox until the lock ended. Real API server and VersityGW.
func TestStoredWrongBurned(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	ctx := t.Context()
	cp, s3, _, tgt := startOutboxBed(t)
	proxy, st := storedWrongTarget(t, s3, tgt)
	a := newAuditor(cp.Client, cp.Client)
	if _, err := a.Record(ctx, tgt, seal("b1")); err != nil {
		t.Fatal(err)
	}
	burned := func() float64 {
		return max(0, targetMetric(t, "safekeep_audit_burned_seqs_total", tgt.Object.Namespace, tgt.Object.Name))
	}
	before := burned()
	proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultStoreFlipped, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: ".json", Times: 1})
	e, err := a.Record(ctx, tgt, seal("b2"))
	proxy.SetRules()
	if got := burned() - before; got != 1 {
		t.Errorf("safekeep_audit_burned_seqs_total rose by %v, want 1", got)
	}
	if got := proxy.Injected()[testbed.FaultStoreFlipped]; got != 1 {
		t.Fatalf("%d entry PUTs stored flipped, want 1", got)
	}
	if err != nil || e.Seq != 3 {
		t.Fatalf("record over entry 2 stored wrong under compliance lock: %v (%+v); want entry 3", err, e)
	}
	if _, err := a.Record(ctx, tgt, seal("b3")); err != nil {
		t.Fatal(err)
	}
	if n := outboxLen(t, cp.Client); n != 0 {
		t.Fatalf("outbox holds %d entries, want 0", n)
	}
	if got, want := logOf(t, st), "[1 phi/nightly/b1 3 phi/nightly/b2 4 phi/nightly/b3]"; got != want {
		t.Fatalf("log %s, want %s", got, want)
	}
}

// TestStoredWrongRetryBurned: an entry kept in the outbox whose first try
// committed it at seq 2 (its claim holds it) with its entry object stored
// wrong under compliance lock, and the burn refused then; another writer
// burns seq 2 and appends entry 3. A restarted controller's retry finds
// the kept entry not in the log (seq 2 is burned: the claim's copy is
// outside the chain), and writes it once, at 4. Looking back seq by seq,
// as before, it took the burned claim for the entry and lost the fact.
func TestStoredWrongRetryBurned(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	ctx := t.Context()
	cp, s3, _, tgt := startOutboxBed(t)
	proxy, st := storedWrongTarget(t, s3, tgt)
	a := newAuditor(cp.Client, cp.Client)
	if _, err := a.Record(ctx, tgt, seal("b1")); err != nil {
		t.Fatal(err)
	}
	proxy.SetRules(
		testbed.FaultRule{Kind: testbed.FaultStoreFlipped, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: ".json", Times: 1},
		testbed.FaultRule{Kind: testbed.FaultForbidden, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: audit.BurnDir},
	)
	if e, err := a.Record(ctx, tgt, seal("b2")); err == nil {
		t.Fatalf("record with the burn refused: entry %d, want an error", e.Seq)
	}
	proxy.SetRules()
	if n := outboxLen(t, cp.Client); n != 1 {
		t.Fatalf("outbox holds %d entries, want 1", n)
	}
	// Another writer of the log (no outbox) burns seq 2 and goes on.
	if e, err := auditlog.New("", nil).Record(ctx, tgt, seal("b9")); err != nil || e.Seq != 3 {
		t.Fatalf("another writer's record: %v (%+v); want entry 3", err, e)
	}
	// A restarted controller retries: looking back from 3 it skips the
	// burned seq 2, whose claim holds b2 as first tried.
	if err := newAuditor(cp.Client, cp.Client).Retry(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	if n := outboxLen(t, cp.Client); n != 0 {
		t.Fatalf("outbox holds %d entries after the retry, want 0", n)
	}
	if got, want := logOf(t, st), "[1 phi/nightly/b1 3 phi/nightly/b9 4 phi/nightly/b2]"; got != want {
		t.Fatalf("log %s, want %s", got, want)
	}
}
