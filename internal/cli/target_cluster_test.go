package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/target"
)

// TestTargetFromCluster runs every verb with --target NAME -n NS: the
// OffsiteTarget, its credentials and its signing key come from an envtest
// cluster reached through KUBECONFIG, not from files or the environment.
func TestTargetFromCluster(t *testing.T) {
	crlog.SetLogger(logr.Discard()) // envtest logs through controller-runtime's logger
	b := newBed(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(t), "deploy", "crd")))
	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	ctx := t.Context()
	const ns = "ops"
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	k := keygenStep(t, b)
	signing, err := readFileBytes(k.signing)
	if err != nil {
		t.Fatal(err)
	}
	cloud := fmt.Sprintf("[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n", b.s3.AccessKey, b.s3.SecretKey)
	for name, data := range map[string]map[string]string{
		"offsite-credentials": {target.KeyCloud: cloud},
		"wrong-credentials":   {target.KeyAccessKeyID: b.s3.AccessKey, target.KeySecretAccessKey: "NOT" + b.s3.SecretKey},
		"safekeep-signing":    {target.KeySigningKey: string(signing)},
	} {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
		if err := cp.Client.Create(ctx, sec); err != nil {
			t.Fatal(err)
		}
	}
	newTarget := func(name, creds, signingSecret string) {
		t.Helper()
		o := &v1alpha1.OffsiteTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.OffsiteTargetSpec{
				S3: v1alpha1.S3Location{Endpoint: b.s3.Endpoint, Bucket: offsiteBucket, Prefix: "cluster-a", Region: "us-east-1",
					CredentialsSecretRef: &corev1.LocalObjectReference{Name: creds}},
				Recipients:          []string{k.recipient},
				ObjectLock:          &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1},
				SigningKeySecretRef: corev1.LocalObjectReference{Name: signingSecret},
				SigningPublicKey:    k.verifyKey,
			},
		}
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	newTarget("offsite", "offsite-credentials", "safekeep-signing")
	newTarget("wrong-creds", "wrong-credentials", "safekeep-signing")
	newTarget("no-creds", "nope", "safekeep-signing")
	newTarget("no-signing", "offsite-credentials", "nope")
	b.putBackup(t, "c1", "Completed")
	bsl := b.writeBSL(t)

	t.Run("verbs", func(t *testing.T) {
		// No --signing-key: the target's signing key Secret signs.
		out := b.ok(t, "seal", "--source", bsl, "--backup", "c1", "--target", "offsite", "-n", ns)
		if !strings.Contains(out, "manual/c1 (sealed)") || !strings.Contains(out, "GOVERNANCE") {
			t.Errorf("seal --target summary:\n%s", out)
		}
		out = b.ok(t, "backups", "--target", "offsite", "--namespace", ns)
		if !strings.Contains(out, "manual") || !strings.Contains(out, "c1") {
			t.Errorf("backups --target does not list manual/c1:\n%s", out)
		}
		out = b.ok(t, "verify", "--target", "offsite", "-n", ns, "--backup", "manual/c1", "-i", k.identity, "--verify-key", k.verifyKey)
		if !strings.Contains(out, "intact: manual/c1") || !strings.Contains(out, "plaintext  ok") {
			t.Errorf("verify --target (signed with the Secret's key, pinned):\n%s", out)
		}
		dir := filepath.Join(b.dir, "restored-c1")
		b.ok(t, "restore", "--target", "offsite", "-n", ns, "--backup", "manual/c1", "-i", k.identity, "--to-dir", dir)
		checkRestored(t, dir, b.backups["c1"])
	})

	t.Run("audit key", func(t *testing.T) { auditKeyFromCluster(t, b, cp.Client, ns, k) })

	t.Run("bad", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			code int
			says string
		}{
			{"both targets", []string{"backups", "--target", "offsite", "-n", ns, "--target-file", bsl}, exitUsage, "--target-file and --target are exclusive"},
			{"namespace without target", []string{"backups", "--target-file", bsl, "-n", ns}, exitUsage, "--namespace names the namespace of --target"},
			{"no target", []string{"backups"}, exitUsage, "--target-file is required (or --target NAME"},
			{"target missing", []string{"backups", "--target", "nope", "-n", ns}, exitFailure, "OffsiteTarget ops/nope not found"},
			{"namespace from the kubeconfig", []string{"backups", "--target", "offsite"}, exitFailure, "OffsiteTarget default/offsite not found"},
			{"credentials Secret missing", []string{"backups", "--target", "no-creds", "-n", ns}, exitFailure, "Secret ops/nope (spec.s3.credentialsSecretRef) not found"},
			{"credentials rejected", []string{"backups", "--target", "wrong-creds", "-n", ns}, exitFailure, "access denied"},
			{"signing key missing", []string{"seal", "--source", bsl, "--backup", "c1", "--target", "no-signing", "-n", ns}, exitFailure,
				"Secret ops/nope (spec.signingKeySecretRef) not found"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkOneLine(t, b.run(t, tt.args...), tt.code, tt.says)
			})
		}
	})

	all := b.outputs.String()
	for _, secret := range []string{b.s3.SecretKey, "AGE-SECRET-KEY", "-----BEGIN", marker} {
		if strings.Contains(all, secret) {
			t.Errorf("some output contains a secret (%.12s...)", secret)
		}
	}
	if _, err := crypto.ParseRecipient(k.recipient); err != nil {
		t.Fatal(err)
	}
}

// auditKeyFromCluster: a restore with --target and no key file signs its
// audit entry with the target's audit key Secret. The target's seal signing
// key Secret does not even exist: the CLI never reads it.
func auditKeyFromCluster(t *testing.T, b *bed, c client.Client, ns string, k keys) {
	t.Setenv(SigningKeyEnv, "")
	ak := b.path("audit.pem")
	apub := strings.TrimSpace(b.ok(t, "keygen", "--signing", "-o", ak))
	pem, err := readFileBytes(ak)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "safekeep-audit"}, StringData: map[string]string{target.KeyAuditKey: string(pem)}},
		&v1alpha1.OffsiteTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "audited"},
			Spec: v1alpha1.OffsiteTargetSpec{
				S3: v1alpha1.S3Location{Endpoint: b.s3.Endpoint, Bucket: offsiteBucket, Prefix: "cluster-a", Region: "us-east-1",
					CredentialsSecretRef: &corev1.LocalObjectReference{Name: "offsite-credentials"}},
				Recipients:          []string{k.recipient},
				ObjectLock:          &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1},
				SigningKeySecretRef: corev1.LocalObjectReference{Name: "no-such-secret"},
				SigningPublicKey:    k.verifyKey,
				AuditKeySecretRef:   &corev1.LocalObjectReference{Name: "safekeep-audit"},
				AuditKeys:           []string{apub},
				Audit:               &v1alpha1.AuditLogSpec{RetainDays: 3},
			},
		},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	out := b.ok(t, "restore", "--target", "audited", "-n", ns, "--backup", "manual/c1", "-i", k.identity, "--to-dir", b.path("audited-c1"))
	if !strings.Contains(out, "audit entry ") {
		t.Fatalf("restore --target with an audit key Secret recorded no entry:\n%s", out)
	}
	off, err := (&targetFlags{name: "audited", namespace: ns}).open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var last *audit.Entry
	for e, err := range audit.Read(ctx, off.store, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		last = e
	}
	if last == nil || last.Kind != audit.KindRestore || last.Signature.KeyID != verifyKeyID(t, apub) {
		t.Fatalf("the restore's entry is not signed by the audit key %s: %+v", verifyKeyID(t, apub), last)
	}
	// The CLI locks its entry for the target's spec.audit.retainDays, as
	// the controller does, not the six-year default.
	// (HEAD: VersityGW answers GET ?retention with an element minio-go does not read.)
	info, err := b.s3.Minio(t).StatObject(ctx, offsiteBucket, "cluster-a/safekeep/v1/"+audit.EntryKey(last.Seq, last.Hash), minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	until, err := time.Parse(time.RFC3339, info.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	if err != nil {
		t.Fatalf("the restore's entry has no retain-until date: %v", err)
	}
	if want := last.Time.AddDate(0, 0, 3); !until.Equal(want.Truncate(time.Second)) && !until.Equal(want) {
		t.Errorf("the restore's entry is locked until %v, want %v (spec.audit.retainDays 3)", until, want)
	}
	statusAnchorStep(t, b, c, client.ObjectKey{Namespace: ns, Name: "audited"}, last)
	notCoveredStep(t, c, off)
}

// notCoveredStep: `audit report --target` reads the volumes not covered
// from the target's OffsiteBackups' status (the log counts them only).
func notCoveredStep(t *testing.T, c client.Client, off *offsite) {
	ctx := t.Context()
	ob := &v1alpha1.OffsiteBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: off.target.Namespace, Name: "manual-c1"},
		Spec: v1alpha1.OffsiteBackupSpec{OffsiteTargetRef: corev1.LocalObjectReference{Name: off.target.Name},
			ScheduleName: "manual", VeleroBackupName: "c1"},
	}
	if err := c.Create(ctx, ob); err != nil {
		t.Fatal(err)
	}
	ob.Status.Volumes = &v1alpha1.VolumeCoverage{Sealed: 1, NotCovered: 1, Volumes: []v1alpha1.VolumeCoverageItem{
		{Namespace: "phi-app", PVC: "scans", Reason: "CSISnapshotNotMoved"},
		{Namespace: "phi-app", PVC: "data", Pod: "db-0", Volume: "data", Sealed: true, Method: "FSBackup"},
	}}
	if err := c.Status().Update(ctx, ob); err != nil {
		t.Fatal(err)
	}
	got, from, err := notCoveredNames(ctx, off)
	if err != nil {
		t.Fatal(err)
	}
	want := []report.NamedVolume{{Namespace: "phi-app", PVC: "scans", Reason: "CSISnapshotNotMoved"}}
	if !reflect.DeepEqual(got["manual/c1"], want) || len(got) != 1 || !strings.Contains(from, off.target.Namespace) {
		t.Errorf("notCoveredNames: %+v from %q, want manual/c1: %+v", got, from, want)
	}
}

// statusAnchorStep: `audit verify --target` takes the head the controller
// recorded in status.auditHead as its anchor: the log holds it, and a head
// past the log's end (entries hidden or deleted since) fails.
func statusAnchorStep(t *testing.T, b *bed, c client.Client, key client.ObjectKey, head *audit.Entry) {
	setHead := func(seq uint64) {
		t.Helper()
		obj := &v1alpha1.OffsiteTarget{}
		if err := c.Get(t.Context(), key, obj); err != nil {
			t.Fatal(err)
		}
		obj.Status.AuditHead = &v1alpha1.AuditHead{Bucket: obj.Spec.S3.Bucket, Prefix: obj.Spec.S3.Prefix, Seq: seq, Hash: head.Hash}
		if err := c.Status().Update(t.Context(), obj); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"audit", "verify", "--target", key.Name, "-n", key.Namespace}
	setHead(head.Seq)
	out := b.ok(t, args...)
	if !strings.Contains(out, fmt.Sprintf("anchor    ok    entry %d still has the hash recorded outside the bucket (status.auditHead of OffsiteTarget %s)", head.Seq, key)) ||
		!strings.Contains(out, "trusted: spec.auditKeys[0] of OffsiteTarget "+key.String()) {
		t.Errorf("audit verify --target with status.auditHead printed:\n%s", out)
	}
	setHead(head.Seq + 1)
	r := b.run(t, args...)
	checkOneLine(t, r, exitFailure, fmt.Sprintf("the log ends at entry %d, the anchor is entry %d", head.Seq, head.Seq+1))
	if !strings.Contains(r.out, "NOT INTACT") {
		t.Errorf("audit verify --target behind status.auditHead:\n%s", r.out)
	}
	// The report checks the log against the same anchor.
	r = b.run(t, "audit", "report", "--target", key.Name, "-n", key.Namespace, "--format", "json")
	if r.code != 0 || !strings.Contains(r.err, "the audit log is NOT intact") {
		t.Errorf("audit report --target behind status.auditHead: exit %d, stderr %q; want 0 and a warning", r.code, r.err)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatal(err)
	}
	if a := rep.Integrity.Chain.Anchor; a == nil || a.Reached || a.Seq != head.Seq+1 || rep.Integrity.Chain.Verified ||
		!strings.Contains(a.From, "status.auditHead") || !strings.Contains(a.Problem, "the anchor is entry") {
		t.Errorf("audit report --target behind status.auditHead: chain %+v, anchor %+v", rep.Integrity.Chain, a)
	}
}
