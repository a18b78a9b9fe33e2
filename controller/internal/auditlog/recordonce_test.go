package auditlog_test

import (
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestRecordOnceWritesKept: RecordOnce of a fact kept in the outbox (the
// bucket refused its first write) writes the kept entry once the bucket
// takes writes again and returns it, instead of nothing. Real API server
// and VersityGW behind a fault proxy refusing audit PUTs.
func TestRecordOnceWritesKept(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	ctx := t.Context()
	cp, s3, _, tgt := startOutboxBed(t)
	proxy := testbed.StartFaultProxy(t, s3.Endpoint, testbed.FaultOptions{Seed: 11})
	cfg := s3.Config("offsite", "site/safekeep/v1")
	cfg.Endpoint = proxy.Endpoint
	st, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tgt.Store = st
	a := newAuditor(cp.Client, cp.Client)
	since := time.Now().Add(-time.Minute)
	proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultForbidden, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: audit.Dir})
	if e, err := a.RecordOnce(ctx, tgt, seal("b1"), since); err == nil || e != nil {
		t.Fatalf("RecordOnce with audit PUTs refused: %+v, %v; want an error", e, err)
	}
	if n := outboxLen(t, cp.Client); n != 1 {
		t.Fatalf("outbox holds %d entries, want 1", n)
	}
	proxy.SetRules()
	// A restarted controller decides the same again.
	e, err := newAuditor(cp.Client, cp.Client).RecordOnce(ctx, tgt, seal("b1"), since)
	if err != nil || e == nil || e.Seq != 1 || e.Subject != "phi/nightly/b1" {
		t.Fatalf("RecordOnce of the kept fact once the bucket takes writes: %+v, %v; want entry 1", e, err)
	}
	if n := outboxLen(t, cp.Client); n != 0 {
		t.Fatalf("outbox holds %d entries, want 0", n)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{})
	if err != nil || rep.Entries != 1 {
		t.Fatalf("verify: %d entries, %v; want 1", rep.Entries, err)
	}
}
