package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestRestoreRefusesPrimaryStaging: an incident restore never stages into
// a location where primary backups go (the drills' rule): Velero's default
// location, one sharing its bucket and prefix, the location of the
// backup's BackupSchedule; nothing is written to the bucket.
func TestRestoreRefusesPrimaryStaging(t *testing.T) {
	crlog.SetLogger(logr.Discard()) // envtest logs through controller-runtime's logger
	b := newBed(t)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(append(testbed.VeleroCRDPaths(t), filepath.Join(testbed.RepoRoot(t), "deploy", "crd"))...))
	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	ctx := t.Context()
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "velero"}}); err != nil {
		t.Fatal(err)
	}
	bsl := func(name, bucket, prefix string, isDefault bool) {
		t.Helper()
		l := &velerov1.BackupStorageLocation{
			ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: name},
			Spec: velerov1.BackupStorageLocationSpec{
				Provider: "aws", Default: isDefault,
				StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: bucket, Prefix: prefix}},
				Config:      map[string]string{"region": "us-east-1", "s3ForcePathStyle": "true", "s3Url": b.s3.Endpoint},
			},
		}
		if err := cp.Client.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	bsl("default", veleroBucket, "", true)
	bsl("alias", veleroBucket, "/", false)
	bsl("archive", plainBucket, "archive", false)
	bsl("archive-alias", plainBucket, "archive/", false)
	sched := &v1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "nightly"}, // the kubeconfig's namespace
		Spec: v1alpha1.BackupScheduleSpec{
			Schedule: "@daily", OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
			Template: v1alpha1.BackupTemplate{StorageLocation: "archive"},
		},
	}
	if err := cp.Client.Create(ctx, sched); err != nil {
		t.Fatal(err)
	}
	k := keygenStep(t, b)
	target := b.writeTarget(t, "target.yaml", plainBucket, false, k.recipient)
	before := len(b.objects(t, ctx, veleroBucket)) + len(b.objects(t, ctx, plainBucket))

	for _, tc := range []struct{ staging, want string }{
		{"default", "default is the location of primary backups"},
		{"alias", "alias shares bucket and prefix with default"},
		{"archive", "archive is the location of primary backups"},
		{"archive-alias", "archive-alias shares bucket and prefix with archive"},
		{"missing", "BackupStorageLocation velero/missing not found"},
	} {
		r := b.run(t, "restore", "--target-file", target, "--backup", "nightly/b1", "-i", k.identity,
			"--namespace-mapping", "phi-app:phi-restored", "--staging-location", tc.staging, "--verify-key", k.verifyKeyFile)
		if r.code != 1 || !strings.Contains(r.err, tc.want) {
			t.Errorf("--staging-location %s: exit %d, stderr %q; want exit 1 and %q", tc.staging, r.code, r.err, tc.want)
		}
	}
	if after := len(b.objects(t, ctx, veleroBucket)) + len(b.objects(t, ctx, plainBucket)); after != before {
		t.Errorf("refused restores wrote %d objects", after-before)
	}
}

// objects lists every key in bucket.
func (b *bed) objects(t *testing.T, ctx context.Context, bucket string) []string {
	t.Helper()
	st, err := storage.New(b.s3.Config(bucket, ""))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for o, err := range st.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}
