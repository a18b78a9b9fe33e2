package offsitetarget_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/target"
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
	wantHead(t, obj, e)
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	obj.Spec.Recipients = append(obj.Spec.Recipients, id.Recipient().String())
	// Who changed it, as far as the API tells: the field manager.
	if err := b.c.Update(ctx, obj, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	obj = waitAudited(t, b, key, 2)
	e = audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindTargetChange, key.String(), `"fields":["recipients"]`)
	wantHead(t, obj, e)
	if !strings.Contains(string(e.Details), `"changedBy":"field manager kubectl-edit at `) {
		t.Errorf("the change's entry does not say it was made with kubectl-edit: %s", e.Details)
	}
}

// wantHead checks that status.auditHead anchors entry e of the target's log.
func wantHead(t *testing.T, obj *v1alpha1.OffsiteTarget, e *audit.Entry) {
	t.Helper()
	h := obj.Status.AuditHead
	if h == nil || h.Seq != e.Seq || h.Hash != e.Hash || h.Bucket != obj.Spec.S3.Bucket || h.Prefix != obj.Spec.S3.Prefix {
		t.Errorf("status.auditHead = %+v, want entry %d %s of %s/%s", h, e.Seq, e.Hash, obj.Spec.S3.Bucket, obj.Spec.S3.Prefix)
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

// TestAuditKeySeparate: a target that names an audit key Secret has its
// audit entries signed by that key, never by the seal signing key; the key
// is refused unless spec.auditKeys lists it; a rotation is recorded, and
// the log verifies pinned to the audit keys alone.
func TestAuditKeySeparate(t *testing.T) {
	b := startTargetBed(t)
	ctx := t.Context()
	first, second := sealtest.NewSigner(t), sealtest.NewSigner(t)
	for name, k := range map[string]crypto.SigningKey{"audit-1": first, "audit-2": second} {
		pem, err := k.MarshalPEM()
		if err != nil {
			t.Fatal(err)
		}
		b.createSecret(t, name, map[string]string{target.KeyAuditKey: string(pem)})
		b.secrets = append(b.secrets, string(pem[40:80]))
	}
	unlisted := b.newTarget("audit-unlisted", func(o *v1alpha1.OffsiteTarget) {
		o.Spec.AuditKeySecretRef = &corev1.LocalObjectReference{Name: "audit-1"}
	})
	obj := b.waitReady(t, b.create(t, unlisted), v1alpha1.ReasonSigningKeyInvalid)
	b.checkVerdict(t, obj, v1alpha1.ReasonSigningKeyInvalid, "is not in spec.auditKeys: add "+first.Public().String())

	key := b.create(t, b.newTarget("audit-key", func(o *v1alpha1.OffsiteTarget) {
		o.Spec.AuditKeySecretRef = &corev1.LocalObjectReference{Name: "audit-1"}
		o.Spec.AuditKeys = []string{first.Public().String()}
	}))
	st := sealtest.OpenStore(t, b.s3.Config("plain", "audit-key/safekeep/v1"))
	obj = waitAudited(t, b, key, 1)
	if obj.Status.Audited.AuditKeyID != first.Public().KeyID() {
		t.Errorf("status.audited.auditKeyId = %q, want %s", obj.Status.Audited.AuditKeyID, first.Public().KeyID())
	}
	// Rotate: the new key in the Secret ref, both public keys listed.
	obj.Spec.AuditKeySecretRef.Name = "audit-2"
	obj.Spec.AuditKeys = append(obj.Spec.AuditKeys, second.Public().String())
	if err := b.c.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	waitAudited(t, b, key, 2)
	audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindTargetChange, key.String(), `"fields":["auditKey"]`)
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []crypto.VerifyKey{first.Public(), second.Public()}})
	if err != nil {
		t.Fatalf("the log pinned to the audit keys alone: %v", err)
	}
	want := []string{first.Public().KeyID(), second.Public().KeyID()}
	if rep.Entries != 2 || !slices.Equal(slices.Sorted(slices.Values(rep.KeyIDs)), slices.Sorted(slices.Values(want))) {
		t.Errorf("log of %d entries signed by %v, want 2 entries signed by the audit keys %v", rep.Entries, rep.KeyIDs, want)
	}
}

// Deleting an OffsiteTarget the log records is recorded before the API
// server lets it go: the schedules that used it, and that who deleted it
// is not known to the API. When its credentials Secret goes first (one
// `kubectl delete -f`), the target as last resolved still writes the entry.
func TestAuditTargetDeletion(t *testing.T) {
	b := startTargetBed(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name         string
		usedBy       []string
		deleteSecret bool
	}{
		{name: "used", usedBy: []string{"hourly", "nightly"}},
		{name: "secret-gone", deleteSecret: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := tc.name + "-creds"
			b.createSecret(t, creds, map[string]string{target.KeyAccessKeyID: b.s3.AccessKey, target.KeySecretAccessKey: b.s3.SecretKey})
			key := b.create(t, b.newTarget(tc.name, func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.CredentialsSecretRef.Name = creds }))
			obj := waitAudited(t, b, key, 1)
			if !slices.Contains(obj.Finalizers, v1alpha1.FinalizerTargetAudit) {
				t.Fatalf("finalizers %v, want %s", obj.Finalizers, v1alpha1.FinalizerTargetAudit)
			}
			for _, s := range tc.usedBy {
				if err := b.c.Create(ctx, &v1alpha1.BackupSchedule{
					ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: s},
					Spec: v1alpha1.BackupScheduleSpec{
						Schedule: "0 3 * * *", OffsiteTargetRef: corev1.LocalObjectReference{Name: tc.name},
						Template: v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}},
					},
				}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.deleteSecret {
				if err := b.c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: creds}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.c.Delete(ctx, obj); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for !apierrors.IsNotFound(b.c.Get(ctx, key, &v1alpha1.OffsiteTarget{})) {
				if time.Now().After(deadline) {
					t.Fatal("the deleted target is still there after 30s")
				}
				time.Sleep(100 * time.Millisecond)
			}
			st := sealtest.OpenStore(t, b.s3.Config("plain", tc.name+"/safekeep/v1"))
			e := audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindTargetChange, key.String(), `"change":"deleted"`)
			var d audit.TargetDetails
			if err := json.Unmarshal(e.Details, &d); err != nil {
				t.Fatal(err)
			}
			if e.Seq != 2 || !slices.Equal(d.UsedBy, tc.usedBy) || !strings.HasPrefix(d.ChangedBy, "unknown: the API does not record who deletes") {
				t.Errorf("deletion entry %d: usedBy %v (want %v), changedBy %q (want unknown)", e.Seq, d.UsedBy, tc.usedBy, d.ChangedBy)
			}
		})
	}
}
