package auditlog_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestStoredWrongKept: on an object-locked bucket whose server stores an
// entry object with a bit flipped (the fault proxy's stored-flipped), the
// controller's write fails with ErrStoredWrong and the entry stays in the
// outbox, and so does every later one (the log takes none while the wrong
// object is there). Once the operator removes it (governance bypass), a
// retry writes them all, the refused one once (it was committed in its
// claim), and the log verifies. Real API server and VersityGW.
func TestStoredWrongKept(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	ctx := t.Context()
	cp, s3, _, tgt := startOutboxBed(t)
	s3.CreateBucket(t, "locked", true)
	mc := s3.Minio(t)
	proxy := testbed.StartFaultProxy(t, s3.Endpoint, testbed.FaultOptions{Seed: 11, Direct: mc})
	cfg := s3.Config("locked", "site/safekeep/v1")
	cfg.Endpoint = proxy.Endpoint
	st, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tgt.Store = st
	tgt.Object.Spec.ObjectLock = &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1}

	a := newAuditor(cp.Client, cp.Client)
	if _, err := a.Record(ctx, tgt, seal("b1")); err != nil {
		t.Fatal(err)
	}
	proxy.SetRules(testbed.FaultRule{Kind: testbed.FaultStoreFlipped, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1, Under: ".json", Times: 1})
	for i, b := range []string{"b2", "b3"} {
		e, err := a.Record(ctx, tgt, seal(b))
		if e != nil {
			t.Fatalf("record %s over entry 2 stored wrong under lock reported success (entry %d)", b, e.Seq)
		}
		if !errors.Is(err, storage.ErrStoredWrong) {
			t.Fatalf("record %s over entry 2 stored wrong under lock: %v; want ErrStoredWrong", b, err)
		}
		if n := outboxLen(t, cp.Client); n != i+1 {
			t.Fatalf("outbox holds %d entries after %s, want %d", n, b, i+1)
		}
	}
	if got := proxy.Injected()[testbed.FaultStoreFlipped]; got != 1 {
		t.Fatalf("%d entry PUTs stored flipped, want 1", got)
	}

	// The operator removes the wrong object, bypassing governance.
	removed := 0
	for o := range mc.ListObjects(ctx, "locked", minio.ListObjectsOptions{Prefix: "site/safekeep/v1/" + audit.EntryPrefix(2), WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		v := o.VersionID
		if v == "null" {
			v = ""
		}
		if err := mc.RemoveObject(ctx, "locked", o.Key, minio.RemoveObjectOptions{VersionID: v, GovernanceBypass: true}); err != nil {
			t.Fatal(err)
		}
		removed++
	}
	if removed != 1 {
		t.Fatalf("removed %d objects of entry 2, want 1", removed)
	}
	if err := a.Retry(ctx, tgt); err != nil {
		t.Fatalf("retry after the wrong object was removed: %v", err)
	}
	if n := outboxLen(t, cp.Client); n != 0 {
		t.Fatalf("outbox holds %d entries after the retry, want 0", n)
	}
	var got []string
	for e, err := range audit.Read(ctx, st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s", e.Seq, e.Subject))
	}
	if want := "[1 phi/nightly/b1 2 phi/nightly/b2 3 phi/nightly/b3]"; fmt.Sprint(got) != want {
		t.Fatalf("log %q, want %s", got, want)
	}
	if _, err := audit.Verify(ctx, st, audit.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}
