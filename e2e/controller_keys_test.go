package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestScheduleKeepsKeysOut: a BackupSchedule of every namespace
// (includedNamespaces ["*"]), run through the controller process and the
// real Velero server, writes none of Safekeep's Secrets (offsite
// credentials, signing key) nor Velero's cloud-credentials into Velero's
// plaintext bucket, says so on its status, and still backs up the Secrets
// of the workloads.
func TestScheduleKeepsKeysOut(t *testing.T) {
	ctx := t.Context()
	const bucket = "offsite-keys"
	b := startBed(t, bedSpec{buckets: map[string]bool{bucket: false}, crds: true})
	s3, cp, c := b.s3, b.cp, b.cp.Client

	dir := t.TempDir()
	bin := buildController(t, dir)
	sk := newCLI(t, s3)
	keys := newControllerKeys(t, sk, dir)
	createWorkload(t, c, "phi-everything", "PHI-MARKER-"+randomHex(t, 16))
	for _, o := range (sample.Offsite{
		Namespace: ctlNamespace, Name: "offsite", Endpoint: s3.Endpoint, Bucket: bucket, Prefix: "keys",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Recipients: []string{keys.recipient}, SigningKeyPEM: keys.signingPEM,
	}).Objects() {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	startController(t, bin, cp.Kubeconfig)
	sched := &v1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: "everything", Namespace: ctlNamespace},
		Spec: v1alpha1.BackupScheduleSpec{
			Schedule:         "0 0 1 1 *", // runs only when asked for
			Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{"*"}},
			OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
		},
	}
	if err := c.Create(ctx, sched); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the schedule Ready", time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(sched), sched)
		return err == nil && meta.IsStatusConditionTrue(sched.Status.Conditions, v1alpha1.ConditionReady), err
	})
	excluded := meta.FindStatusCondition(sched.Status.Conditions, v1alpha1.ConditionKeysExcluded)
	if excluded == nil || excluded.Reason != v1alpha1.ReasonScopeNarrowed || !slices.Equal(sched.Status.ExcludedNamespaces, []string{ctlNamespace, testbed.VeleroNamespace}) {
		t.Errorf("KeysExcluded %+v, excludedNamespaces %v: want ScopeNarrowed naming %s and %s", excluded, sched.Status.ExcludedNamespaces, ctlNamespace, testbed.VeleroNamespace)
	}

	out := sk.ok(t, "backup", "now", sched.Name, "-n", ctlNamespace, "--kubeconfig", cp.Kubeconfig, "--timeout", runTimeout.String())
	m := regexp.MustCompile(`sealed velero/(\S+):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup now printed no sealed backup:\n%s", out)
	}
	name := m[1]
	tarball := readObjects(t, s3.Minio(t), veleroBucket, "backups/"+name+"/")["backups/"+name+"/"+name+".tar.gz"]
	secrets := secretsIn(t, tarball)
	t.Logf("Secrets in Velero's backup %s: %v", name, secrets)
	if !slices.ContainsFunc(secrets, func(s string) bool { return strings.HasPrefix(s, "phi-everything/") }) {
		t.Fatal("the workload's Secrets are not in the backup: the checks below would prove nothing")
	}
	for _, s := range secrets {
		if strings.HasPrefix(s, ctlNamespace+"/") || strings.HasPrefix(s, testbed.VeleroNamespace+"/") {
			t.Errorf("Secret %s is in Velero's plaintext bucket", s)
		}
	}
}

// secretsIn lists the Secrets (namespace/name) of a Velero backup tarball.
func secretsIn(t *testing.T, tarball []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tarball))
	if err != nil {
		t.Fatalf("backup tarball: %v", err)
	}
	tr := tar.NewReader(zr)
	var out []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		// resources/secrets/namespaces/<ns>/<name>.json (also under
		// v1-preferredversion/)
		rest, ok := strings.CutPrefix(h.Name, "resources/secrets/namespaces/")
		if ok && strings.HasSuffix(rest, ".json") {
			out = append(out, strings.TrimSuffix(rest, ".json"))
		}
	}
}
