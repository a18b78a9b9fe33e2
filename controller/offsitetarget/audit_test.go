package offsitetarget_test

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// An OffsiteTarget first seen Ready is recorded once; a change of its
// recipients is recorded again, naming the field.
func TestAuditTargetChange(t *testing.T) {
	b := startTargetBed(t)
	ctx := t.Context()
	key := b.create(t, b.newTarget("audited", nil))
	st := sealtest.OpenStore(t, b.s3.Config("plain", "audited/safekeep/v1"))
	obj := waitAudited(t, b, key, 1)
	e := audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindTargetChange, key.String(), `"change":"created"`)
	if e.Seq != 1 || obj.Status.Audited.Entry != 1 || obj.Status.Audited.Bucket != "plain" {
		t.Fatalf("entry %d, status.audited %+v", e.Seq, obj.Status.Audited)
	}
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	obj.Spec.Recipients = append(obj.Spec.Recipients, id.Recipient().String())
	// Who changed it, as far as the API tells: the field manager.
	if err := b.c.Update(ctx, obj, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	waitAudited(t, b, key, 2)
	e = audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindTargetChange, key.String(), `"fields":["recipients"]`)
	if !strings.Contains(string(e.Details), `"changedBy":"field manager kubectl-edit at `) {
		t.Errorf("the change's entry does not say it was made with kubectl-edit: %s", e.Details)
	}
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
