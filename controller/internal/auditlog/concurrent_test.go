package auditlog_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/target"
)

// Two controllers (each with its outbox) and the CLI (its own restore key,
// listed in spec.auditKeys) append to one log at once, one controller's
// first writes refused by the bucket and retried: the chain verifies, seq
// runs 1..n with no gap or duplicate, every record is in it once, and each
// writer's records keep their order. Real API server and VersityGW.
func TestConcurrentWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane and VersityGW")
	}
	const each = 15
	ctx := t.Context()
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(t), "deploy", "crd")))
	s3 := testbed.StartS3(t, testbed.S3KeepAlive())
	s3.CreateBucket(t, "offsite", true)
	for _, ns := range []string{"replica-a", "replica-b"} {
		if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	signer, cliKey := sealtest.NewSigner(t), sealtest.NewSigner(t)
	obj := &v1alpha1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "phi", Name: "offsite"},
		Spec: v1alpha1.OffsiteTargetSpec{
			ObjectLock: &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1},
			Audit:      &v1alpha1.AuditLogSpec{RetainDays: 1},
			AuditKeys:  []string{cliKey.Public().String()},
		},
	}
	cfg := s3.Config("offsite", "site/safekeep/v1")
	flaky := cfg
	flaky.Endpoint = testbed.StartFlakyProxy(t, s3.Endpoint, 12).Endpoint // replica b's first requests fail
	replica := func(ns string, cfg storage.Config) (*auditlog.Auditor, *target.Target) {
		st, err := storage.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a := auditlog.New("controller-"+ns, nil)
		a.UseOutbox(&auditlog.Outbox{Client: cp.Client, Reader: cp.Client, Namespace: ns})
		return a, &target.Target{Object: obj.DeepCopy(), Store: st, Signer: signer, HasSigner: true}
	}
	a, ta := replica("replica-a", cfg)
	b, tb := replica("replica-b", flaky)
	cliStore := sealtest.OpenStore(t, cfg)
	cli := audit.New(cliStore, cliKey, audit.Options{LockMode: storage.LockGovernance, RetainDays: 1, TrustedKeys: []crypto.VerifyKey{signer.Public()}})

	var wg sync.WaitGroup
	failures := make([]int, 2)
	for w, r := range []struct {
		a *auditlog.Auditor
		t *target.Target
	}{{a, ta}, {b, tb}} {
		wg.Go(func() {
			for i := range each {
				if _, err := r.a.Record(ctx, r.t, subjectRecord(audit.KindSeal, fmt.Sprintf("w%d/%02d", w, i))); err != nil {
					failures[w]++ // kept in the outbox, written by a later Record
				}
			}
		})
	}
	wg.Go(func() {
		for i := range each {
			rec := subjectRecord(audit.KindRestore, fmt.Sprintf("cli/%02d", i))
			rec.Actor = "responder@laptop"
			if _, err := cli.Append(ctx, rec); err != nil {
				t.Errorf("cli append %d: %v", i, err)
			}
		}
	})
	wg.Wait()
	if failures[1] == 0 {
		t.Fatal("replica b saw no refused write: the test does not exercise retries")
	}
	for _, r := range []struct {
		a *auditlog.Auditor
		t *target.Target
	}{{a, ta}, {b, tb}} {
		if err := r.a.Retry(ctx, r.t); err != nil {
			t.Fatalf("retry: %v", err)
		}
	}
	t.Logf("replica a: %d refused writes, replica b: %d", failures[0], failures[1])

	rep, err := audit.Verify(ctx, cliStore, audit.VerifyOptions{Keys: []crypto.VerifyKey{signer.Public(), cliKey.Public()}})
	if err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep.Problems)
	}
	if rep.Entries != 3*each || rep.HeadSeq != 3*each {
		t.Errorf("verify: %d entries, head %d, want %d", rep.Entries, rep.HeadSeq, 3*each)
	}
	seen, last := map[string]bool{}, map[string]string{}
	for e, err := range audit.Read(ctx, cliStore, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[e.Subject] {
			t.Errorf("%s recorded twice (seq %d)", e.Subject, e.Seq)
		}
		seen[e.Subject] = true
		writer, _, _ := strings.Cut(e.Subject, "/")
		if e.Subject < last[writer] {
			t.Errorf("%s written after %s: the writer's order is lost", e.Subject, last[writer])
		}
		last[writer] = e.Subject
	}
	if len(seen) != 3*each {
		t.Errorf("%d distinct records in the log, want %d", len(seen), 3*each)
	}
	for _, ns := range []string{"replica-a", "replica-b"} {
		var cms corev1.ConfigMapList
		if err := cp.Client.List(ctx, &cms, client.InNamespace(ns), client.HasLabels{v1alpha1.LabelAuditOutbox}); err != nil {
			t.Fatal(err)
		}
		if len(cms.Items) != 0 {
			t.Errorf("%s's outbox holds %d entries, want 0", ns, len(cms.Items))
		}
	}
}

func subjectRecord(kind audit.Kind, subject string) audit.Record {
	return audit.Record{Kind: kind, Subject: subject, Details: audit.FailureDetails{Operation: "test", Reason: subject}}
}
