package controller

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// wantAuditEntry verifies the audit log in st (the keys published in the
// bucket) and returns its entry of kind about subject, failing the test
// when the chain is not intact or the entry is missing. detail, when set,
// must appear in the entry's details.
func wantAuditEntry(t *testing.T, st storage.Store, kind audit.Kind, subject, detail string) *audit.Entry {
	t.Helper()
	if _, err := audit.Verify(t.Context(), st, audit.VerifyOptions{}); err != nil {
		t.Fatalf("audit log: %v", err)
	}
	var kinds []string
	for e, err := range audit.Read(t.Context(), st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatalf("read audit log: %v", err)
		}
		if e.Kind == kind && e.Subject == subject && strings.Contains(string(e.Details), detail) {
			if e.Actor != DefaultAuditActor {
				t.Errorf("audit entry %d actor %q, want %q", e.Seq, e.Actor, DefaultAuditActor)
			}
			return e
		}
		kinds = append(kinds, string(e.Kind)+" "+e.Subject)
	}
	t.Fatalf("no audit entry %s %s (with %q); the log holds %v", kind, subject, detail, kinds)
	return nil
}

// An OffsiteTarget first seen Ready is recorded once; a change of its
// recipients is recorded again, naming the field.
func TestAuditTargetChange(t *testing.T) {
	b := startTargetBed(t)
	ctx := t.Context()
	key := b.create(t, b.newTarget("audited", nil))
	st := sealtest.OpenStore(t, b.s3.Config("plain", "audited/safekeep/v1"))
	obj := waitAudited(t, b, key, 1)
	e := wantAuditEntry(t, st, audit.KindTargetChange, key.String(), `"change":"created"`)
	if e.Seq != 1 || obj.Status.Audited.Entry != 1 || obj.Status.Audited.Bucket != "plain" {
		t.Fatalf("entry %d, status.audited %+v", e.Seq, obj.Status.Audited)
	}
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	obj.Spec.Recipients = append(obj.Spec.Recipients, id.Recipient().String())
	if err := b.c.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	waitAudited(t, b, key, 2)
	wantAuditEntry(t, st, audit.KindTargetChange, key.String(), `"fields":["recipients"]`)
}

// waitAudited waits (at most 30 s) until the target's status.audited names
// entry seq.
func waitAudited(t *testing.T, b *targetBed, key client.ObjectKey, seq uint64) *v1alpha1.OffsiteTarget {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		obj := &v1alpha1.OffsiteTarget{}
		if err := b.c.Get(t.Context(), key, obj); err != nil {
			t.Fatal(err)
		}
		if a := obj.Status.Audited; a != nil && a.Entry == seq {
			return obj
		}
		if time.Now().After(deadline) {
			t.Fatalf("status.audited = %+v, want entry %d", obj.Status.Audited, seq)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
