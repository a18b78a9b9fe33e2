package auditlog_test

import (
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/target"
)

// Each write moves the target's head, tells the OnHead function, and a
// head is only an anchor for the place it was written to. VersityGW.
func TestHeadFollowsWrites(t *testing.T) {
	ctx := t.Context()
	tgt := newSiteTarget(t)
	a := auditlog.New("", nil)
	var mu sync.Mutex
	var told []string
	a.OnHead(func(ns, name string) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, ns+"/"+name)
	})
	if _, ok := a.Head(tgt); ok {
		t.Fatal("a head before any write")
	}
	for i, b := range []string{"b1", "b2"} {
		e, err := a.Record(ctx, tgt, seal(b))
		if err != nil {
			t.Fatal(err)
		}
		h, ok := a.Head(tgt)
		if !ok || h.Seq != e.Seq || h.Hash != e.Hash || h.Bucket != "offsite" || h.Prefix != "site" || !h.Time.Time.Equal(e.Time) {
			t.Errorf("after entry %d: head %+v (%v)", e.Seq, h, ok)
		}
		if len(told) != i+1 || told[i] != "phi/offsite" {
			t.Errorf("OnHead told %v after %d writes", told, i+1)
		}
	}
	// The writer that records the head itself is not told.
	e, err := a.Record(auditlog.WithoutHeadNotice(ctx), tgt, seal("b3"))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := a.Head(tgt); len(told) != 2 || h.Seq != e.Seq {
		t.Errorf("WithoutHeadNotice: told %v, head %+v, want 2 notices and head %d", told, h, e.Seq)
	}
	h, _ := a.Head(tgt)
	older := h
	older.Seq--
	if auditlog.NewerHead(&h, older) || !auditlog.NewerHead(&older, h) || !auditlog.NewerHead(nil, h) {
		t.Error("NewerHead does not keep the newest head")
	}
	moved := *tgt.Object
	moved.Spec.S3.Prefix = "elsewhere"
	if _, ok := a.Head(&target.Target{Object: &moved, Store: tgt.Store}); ok {
		t.Error("a head of prefix site is given for prefix elsewhere")
	}
	if elsewhere := h; !auditlog.NewerHead(&v1alpha1.AuditHead{Bucket: "offsite", Prefix: "elsewhere", Seq: 99}, elsewhere) {
		t.Error("a status head of another place is kept over this place's")
	}
}

// newSiteTarget is OffsiteTarget phi/offsite: bucket offsite, prefix site,
// on a VersityGW of its own, with a signing key.
func newSiteTarget(t *testing.T) *target.Target {
	t.Helper()
	s3 := testbed.StartS3(t)
	s3.CreateBucket(t, "offsite", false)
	return &target.Target{
		Object: &v1alpha1.OffsiteTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "phi", Name: "offsite"},
			Spec: v1alpha1.OffsiteTargetSpec{S3: v1alpha1.S3Location{Bucket: "offsite", Prefix: "site"}}},
		Store: sealtest.OpenStore(t, s3.Config("offsite", "site/safekeep/v1")), Signer: sealtest.NewSigner(t), HasSigner: true,
	}
}
