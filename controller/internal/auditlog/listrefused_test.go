package auditlog_test

import (
	"slices"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/storage"
)

// When the API server refuses listing the outbox (RBAC: the controller may
// create, get and delete ConfigMaps but not list them), an entry is still
// written to the bucket, which is up: the list is needed only to find
// entries kept from earlier, which stay in the outbox until a writer that
// can list it writes them. Nothing is lost or written twice. Real API
// server and VersityGW.
func TestOutboxListRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	ctx := t.Context()
	cp, s3, st, tgt := startOutboxBed(t)

	// An entry kept from before: the bucket was down.
	before := newAuditor(cp.Client, cp.Client)
	s3.Stop(t)
	if _, err := before.Record(ctx, tgt, seal("b0")); err == nil {
		t.Fatal("entry written to a stopped server")
	}
	s3.Restart(t)

	noList := clientWithVerbs(t, cp, "outbox-no-list", "create", "get", "delete")
	a := newAuditor(noList, noList)
	e, err := a.Record(ctx, tgt, seal("b1"))
	if err != nil || e == nil {
		t.Fatalf("record with the outbox unlisted and the bucket up: %v", err)
	}
	if got := logSubjects(t, st); !slices.Equal(got, []string{"phi/nightly/b1"}) {
		t.Fatalf("log holds %q, want b1 only (b0 stays in the outbox)", got)
	}
	if n := outboxLen(t, cp.Client); n != 1 {
		t.Fatalf("outbox holds %d entries, want b0's", n)
	}

	// A writer that may list writes what was kept, once, even twice over.
	after := newAuditor(cp.Client, cp.Client)
	for range 2 {
		if err := after.Retry(ctx, tgt); err != nil {
			t.Fatalf("retry: %v", err)
		}
	}
	got := logSubjects(t, st)
	slices.Sort(got)
	if !slices.Equal(got, []string{"phi/nightly/b0", "phi/nightly/b1"}) {
		t.Fatalf("log holds %q, want b0 and b1 once each", got)
	}
	if n := outboxLen(t, cp.Client); n != 0 {
		t.Fatalf("outbox holds %d entries after they were written", n)
	}
}

// logSubjects reads the log's entries' subjects, in order.
func logSubjects(t *testing.T, st storage.Store) []string {
	t.Helper()
	var got []string
	for e, err := range audit.Read(t.Context(), st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Subject)
	}
	return got
}
