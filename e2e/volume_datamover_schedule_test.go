package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/volume"
)

// The scheduled data mover scenario: its offsite bucket and schedule.
const (
	dmcBucket   = "offsite-moved-ctl"
	dmcPrefix   = "cluster-mc"
	dmcSchedule = "scans-nightly"
)

// testScheduledDataMover: a BackupSchedule whose template asks for
// snapshotMoveData, run by safekeep-controller (a process, with the RBAC
// a cluster install grants), reads Velero's Deployment (EnableCSI in its
// args) and node-agent DaemonSet and says VolumeData True; its run's
// Velero Backup asks for data movement, node-agent's DataUpload moves the
// CSI snapshot, and the controller's seal covers the volume (the
// schedule's lastBackupVolumes: 1 sealed, none left out; VolumesCovered
// True): verify and `restore --to-dir` give back the files from the
// offsite copy alone.
func testScheduledDataMover(t *testing.T, b *bed, files map[string]volumeFile) {
	ctx := t.Context()
	c := b.cp.Client
	dir := t.TempDir()
	bin := buildController(t, dir)
	sk := newCLI(t, b.s3)
	keys := newControllerKeys(t, sk, dir)
	signing, err := crypto.ParseSigningKey(keys.signingPEM)
	if err != nil {
		t.Fatal(err)
	}
	objs := (sample.Offsite{
		Namespace: ctlNamespace, Name: "offsite-moved", Endpoint: b.s3.Endpoint, Bucket: dmcBucket, Prefix: dmcPrefix,
		AccessKey: b.s3.AccessKey, SecretKey: b.s3.SecretKey, Recipients: []string{keys.recipient}, SigningKeyPEM: keys.signingPEM,
		ObjectLock: &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1},
	}).Objects()
	s := &v1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: dmcSchedule, Namespace: ctlNamespace},
		Spec: v1alpha1.BackupScheduleSpec{
			Schedule:         "0 3 1 1 *", // never during the test: the run is asked for
			Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{dmNamespace}, SnapshotMoveData: ptr.To(true)},
			OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite-moved"},
		},
	}
	for _, o := range append(objs, s) {
		if err := client.IgnoreAlreadyExists(c.Create(ctx, o)); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	startController(t, bin, asServiceAccount(t, b))
	waitFor(t, "the schedule Ready with VolumeData True", time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(s), s)
		return err == nil && meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionReady) &&
			meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionVolumeData) != nil, err
	})
	vd := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionVolumeData)
	if vd.Status != metav1.ConditionTrue || vd.Reason != v1alpha1.ReasonVeleroReady || !strings.Contains(vd.Message, "EnableCSI") {
		t.Fatalf("VolumeData %s/%s %q, want True %s: Velero runs with EnableCSI and node-agent is ready", vd.Status, vd.Reason, vd.Message, v1alpha1.ReasonVeleroReady)
	}
	t.Logf("VolumeData: %s", vd.Message)

	start := time.Now()
	kube := []string{"-n", ctlNamespace, "--kubeconfig", b.cp.Kubeconfig}
	sealed := dcSealedBackup(t, sk, kube, dmcSchedule)
	t.Logf("the controller backed up and sealed %s with its moved volume in %s", sealed, time.Since(start).Round(time.Millisecond))

	vb := &velerov1.Backup{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: b.velero.Namespace, Name: sealed}, vb); err != nil {
		t.Fatal(err)
	}
	if !ptr.Deref(vb.Spec.SnapshotMoveData, false) {
		t.Errorf("the run's Velero backup does not ask for snapshotMoveData: %+v", vb.Spec)
	}
	var dus velerov2alpha1.DataUploadList
	if err := c.List(ctx, &dus, client.InNamespace(b.velero.Namespace), client.MatchingLabels{velerov1.BackupNameLabel: sealed}); err != nil {
		t.Fatal(err)
	}
	if len(dus.Items) != 1 || dus.Items[0].Status.Phase != velerov2alpha1.DataUploadPhaseCompleted || dus.Items[0].Spec.SourcePVC != dmPVC {
		t.Fatalf("DataUploads of %s = %+v, want one Completed of %s", sealed, dus.Items, dmPVC)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
		t.Fatal(err)
	}
	if v := s.Status.LastBackupVolumes; v == nil || v.Backup != sealed || v.Sealed != 1 || v.NotCovered != 0 {
		t.Fatalf("lastBackupVolumes %+v, want %s with 1 volume sealed and none left out", v, sealed)
	}
	if vc := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionVolumesCovered); vc == nil || vc.Status != metav1.ConditionTrue ||
		vc.Reason != v1alpha1.ReasonAllVolumesSealed {
		t.Errorf("VolumesCovered %+v, want True %s", vc, v1alpha1.ReasonAllVolumesSealed)
	}

	// The offsite copy alone gives the files back, through the CLI with
	// the controller's recipient's identity.
	target := targetManifest{endpoint: b.s3.Endpoint, bucket: dmcBucket, prefix: dmcPrefix, recipients: []string{keys.recipient},
		locked: true, signingPublicKey: signing.Public().String()}.write(t, dir)
	kit := &sealKit{sk: sk, identity: keys.identity, target: target, bsl: filepath.Join(dir, "unused-bsl.yaml")}
	testVolumeToDir(t, kit, dmcSchedule+"/"+sealed, dmNamespace+"/"+volume.DataMoverDir+"/"+dmPVC, files)
}
