package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/volume"
)

// The scheduled data mover scenario: its offsite bucket and schedules.
const (
	dmcBucket   = "offsite-moved-ctl"
	dmcPrefix   = "cluster-mc"
	dmcSchedule = "scans-nightly" // snapshotMoveData: true
	dmcKept     = "scans-kept"    // snapshotVolumes: true, snapshotMoveData: false
)

// testScheduledDataMover: safekeep-controller (a process, with the RBAC a
// cluster install grants) reads Velero's Deployment (EnableCSI in its
// args) and node-agent DaemonSet for two BackupSchedules of the CSI
// volume's namespace:
//   - one asking for snapshotMoveData: VolumeData True; its run's Velero
//     Backup asks for data movement, node-agent's DataUpload moves the CSI
//     snapshot, and the controller's seal covers the volume
//     (lastBackupVolumes: 1 sealed, none left out; VolumesCovered True):
//     verify and `restore --to-dir` give back the files from the offsite
//     copy alone;
//   - one asking for snapshots without moving them: VolumeData False
//     SnapshotsNotMoved and a Warning Event before the run; the run still
//     goes, Velero's CSI snapshot stays in the cluster, and the sealed
//     backup names the PVC as not covered (CSISnapshotNotMoved).
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
	schedule := func(name string, tmpl v1alpha1.BackupTemplate) *v1alpha1.BackupSchedule {
		tmpl.IncludedNamespaces = []string{dmNamespace}
		return &v1alpha1.BackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ctlNamespace},
			Spec: v1alpha1.BackupScheduleSpec{
				Schedule: "0 3 1 1 *", // never during the test: runs are asked for
				Template: tmpl, OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite-moved"},
			},
		}
	}
	moved := schedule(dmcSchedule, v1alpha1.BackupTemplate{SnapshotMoveData: ptr.To(true)})
	kept := schedule(dmcKept, v1alpha1.BackupTemplate{SnapshotVolumes: ptr.To(true), SnapshotMoveData: ptr.To(false)})
	for _, o := range append(objs, moved, kept) {
		if err := client.IgnoreAlreadyExists(c.Create(ctx, o)); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	startController(t, bin, asServiceAccount(t, b))
	kube := []string{"-n", ctlNamespace, "--kubeconfig", b.cp.Kubeconfig}

	t.Run("snapshotMoveData: VolumeData True, the sealed copy covers the volume", func(t *testing.T) {
		vd := dmcVolumeData(t, c, moved)
		if vd.Status != metav1.ConditionTrue || vd.Reason != v1alpha1.ReasonVeleroReady || !strings.Contains(vd.Message, "EnableCSI") {
			t.Fatalf("VolumeData %s/%s %q, want True %s: Velero runs with EnableCSI and node-agent is ready", vd.Status, vd.Reason, vd.Message, v1alpha1.ReasonVeleroReady)
		}
		t.Logf("VolumeData: %s", vd.Message)
		start := time.Now()
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
		s := dmcSchedule1(t, c, moved)
		if v := s.Status.LastBackupVolumes; v == nil || v.Backup != sealed || v.Sealed != 1 || v.NotCovered != 0 {
			t.Fatalf("lastBackupVolumes %+v, want %s with 1 volume sealed and none left out", v, sealed)
		}
		if vc := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionVolumesCovered); vc == nil || vc.Status != metav1.ConditionTrue ||
			vc.Reason != v1alpha1.ReasonAllVolumesSealed {
			t.Errorf("VolumesCovered %+v, want True %s", vc, v1alpha1.ReasonAllVolumesSealed)
		}
		// The offsite copy alone gives the files back, through the CLI
		// with the identity of the controller's recipient.
		target := targetManifest{endpoint: b.s3.Endpoint, bucket: dmcBucket, prefix: dmcPrefix, recipients: []string{keys.recipient},
			locked: true, signingPublicKey: signing.Public().String()}.write(t, dir)
		kit := &sealKit{sk: sk, identity: keys.identity, target: target, bsl: filepath.Join(dir, "unused-bsl.yaml")}
		testVolumeToDir(t, kit, dmcSchedule+"/"+sealed, dmNamespace+"/"+volume.DataMoverDir+"/"+dmPVC, files)
	})

	t.Run("snapshots not moved: VolumeData False beforehand, the sealed backup names the PVC not covered", func(t *testing.T) {
		vd := dmcVolumeData(t, c, kept)
		if vd.Status != metav1.ConditionFalse || vd.Reason != v1alpha1.ReasonSnapshotsNotMoved {
			t.Fatalf("VolumeData %s/%s %q, want False %s", vd.Status, vd.Reason, vd.Message, v1alpha1.ReasonSnapshotsNotMoved)
		}
		if !dmcEvent(t, c, kept, v1alpha1.ReasonSnapshotsNotMoved) {
			t.Errorf("no Warning Event %s on %s", v1alpha1.ReasonSnapshotsNotMoved, kept.Name)
		}
		sealed := dcSealedBackup(t, sk, kube, dmcKept)
		var dus velerov2alpha1.DataUploadList
		if err := c.List(ctx, &dus, client.InNamespace(b.velero.Namespace), client.MatchingLabels{velerov1.BackupNameLabel: sealed}); err != nil {
			t.Fatal(err)
		}
		if len(dus.Items) != 0 {
			t.Errorf("%d DataUploads of %s, want none: nothing was to be moved", len(dus.Items), sealed)
		}
		s := dmcSchedule1(t, c, kept)
		want := []string{dmNamespace + "/" + dmPVC + ": " + string(volume.ReasonCSISnapshot)}
		if v := s.Status.LastBackupVolumes; v == nil || v.Backup != sealed || v.Sealed != 0 || v.NotCovered != 1 || !slices.Equal(v.NotCoveredVolumes, want) {
			t.Fatalf("lastBackupVolumes %+v, want %s with %v", v, sealed, want)
		}
		if vc := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionVolumesCovered); vc == nil || vc.Status != metav1.ConditionFalse ||
			vc.Reason != v1alpha1.ReasonVolumesNotCovered || !strings.Contains(vc.Message, want[0]) {
			t.Errorf("VolumesCovered %+v, want False %s naming %s", vc, v1alpha1.ReasonVolumesNotCovered, want[0])
		}
	})
}

// dmcVolumeData waits (at most a minute) for s to be Ready with a
// VolumeData condition and returns it.
func dmcVolumeData(t *testing.T, c client.Client, s *v1alpha1.BackupSchedule) metav1.Condition {
	t.Helper()
	var vd *metav1.Condition
	waitFor(t, s.Name+" Ready with a VolumeData condition", time.Minute, func(ctx context.Context) (bool, error) {
		got := &v1alpha1.BackupSchedule{}
		err := c.Get(ctx, client.ObjectKeyFromObject(s), got)
		vd = meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionVolumeData)
		return err == nil && meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionReady) && vd != nil, err
	})
	return *vd
}

// dmcSchedule1 reads s afresh.
func dmcSchedule1(t *testing.T, c client.Client, s *v1alpha1.BackupSchedule) *v1alpha1.BackupSchedule {
	t.Helper()
	got := &v1alpha1.BackupSchedule{}
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(s), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// dmcEvent reports whether a Warning Event with reason regards s.
func dmcEvent(t *testing.T, c client.Client, s *v1alpha1.BackupSchedule, reason string) bool {
	t.Helper()
	var list eventsv1.EventList
	if err := c.List(t.Context(), &list, client.InNamespace(s.Namespace)); err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(list.Items, func(e eventsv1.Event) bool {
		return e.Regarding.Name == s.Name && e.Reason == reason && e.Type == corev1.EventTypeWarning
	})
}
