package backupschedule

import (
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// veleroInstall is what a test's own Velero namespace holds: the server's
// args on its Deployment (nil: no Deployment) and the ready pods of the
// node-agent DaemonSet (-1: no DaemonSet).
type veleroInstall struct {
	args       []string
	nodeAgents int32
}

// installVelero creates a Velero namespace named ns with a default
// location, and what in describes, as `velero install` would.
func (e *scheduleEnv) installVelero(t *testing.T, ns string, in veleroInstall) {
	t.Helper()
	ctx := t.Context()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&velerov1.BackupStorageLocation{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
			Spec: velerov1.BackupStorageLocationSpec{Provider: "aws", Default: true,
				StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "velero"}}},
		},
	}
	labels := map[string]string{"component": "velero"}
	pod := func(name string, args []string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: name, Image: "velero/velero:v1.18.3", Command: []string{"/velero"}, Args: args},
		}}}
	}
	if in.args != nil {
		objs = append(objs, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: veleroDeployment},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: pod("velero", in.args)},
		})
	}
	for _, o := range objs {
		if err := e.CP.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if in.nodeAgents < 0 {
		return
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: nodeAgentDaemonSet},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: pod("node-agent", []string{"node-agent", "server"})},
	}
	if err := e.CP.Client.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: in.nodeAgents, CurrentNumberScheduled: in.nodeAgents, NumberReady: in.nodeAgents}
	if err := e.CP.Client.Status().Update(ctx, ds); err != nil {
		t.Fatal(err)
	}
}

// veleroBackups lists the Velero Backups in ns.
func (e *scheduleEnv) veleroBackups(t *testing.T, ns string) []velerov1.Backup {
	t.Helper()
	var list velerov1.BackupList
	if err := e.CP.Client.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestVolumeData: on a real API server, a schedule whose template asks for
// CSI snapshot data movement or file-system backup gets a VolumeData
// condition from what Velero's Deployment (its server's --features and
// defaults) and node-agent DaemonSet say, a Warning Event when it is
// False, and still runs: the run's Velero Backup carries the template's
// snapshotMoveData, dataMover, snapshotVolumes and defaultVolumesToFsBackup.
// Velero it may not read is Unknown (VeleroNotChecked) and holds no run
// back.
func TestVolumeData(t *testing.T) {
	env := newScheduleEnv(t, at(t, "2026-05-01T10:02:00Z"))
	csi := []string{"server", "--features=EnableCSI", "--uploader-type=kopia"}
	move := v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, SnapshotMoveData: ptr.To(true)}
	for _, tc := range []struct {
		name     string
		velero   veleroInstall
		template v1alpha1.BackupTemplate
		status   metav1.ConditionStatus
		reason   string
		words    []string
	}{
		{"data movement, Velero ready", veleroInstall{csi, 1}, move, metav1.ConditionTrue, v1alpha1.ReasonVeleroReady,
			[]string{"EnableCSI", "node-agent has 1 ready pod:", "CSI snapshot data movement"}},
		{"data movement, server without EnableCSI", veleroInstall{[]string{"server", "--features=EnableAPIGroupVersions"}, 1}, move,
			metav1.ConditionFalse, v1alpha1.ReasonVeleroCSIFeatureDisabled, []string{"Deployment velero-", "no EnableCSI in --features", "--features=EnableCSI"}},
		{"data movement, no ready node-agent", veleroInstall{csi, 0}, move,
			metav1.ConditionFalse, v1alpha1.ReasonNodeAgentNotReady, []string{"node-agent is missing or has no ready pod"}},
		{"file-system backup, no node-agent", veleroInstall{csi, -1},
			v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, DefaultVolumesToFsBackup: ptr.To(true)},
			metav1.ConditionFalse, v1alpha1.ReasonNodeAgentNotReady, []string{"file-system backup (defaultVolumesToFsBackup)"}},
		{"another data mover", veleroInstall{csi, 1},
			v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, SnapshotMoveData: ptr.To(true), DataMover: "acme"},
			metav1.ConditionFalse, v1alpha1.ReasonOtherDataMover, []string{`"acme"`}},
		{"snapshots kept in the cluster", veleroInstall{csi, 1},
			v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, SnapshotVolumes: ptr.To(true)},
			metav1.ConditionFalse, v1alpha1.ReasonSnapshotsNotMoved, []string{"snapshots stay in the cluster"}},
		{"snapshots moved by the server's default", veleroInstall{append(csi, "--default-snapshot-move-data"), 1},
			v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}, SnapshotVolumes: ptr.To(true)},
			metav1.ConditionTrue, v1alpha1.ReasonVeleroReady, nil},
		{"no Velero Deployment", veleroInstall{nil, 1}, move, metav1.ConditionUnknown, v1alpha1.ReasonVeleroNotFound, []string{"/velero not found"}},
		{"nothing asked", veleroInstall{nil, -1}, v1alpha1.BackupTemplate{IncludedNamespaces: []string{"phi-app"}},
			metav1.ConditionTrue, v1alpha1.ReasonNoVolumeDataRequested, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			vns := "velero-" + ns
			env.installVelero(t, vns, tc.velero)
			env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
			env.Clock.SetTime(at(t, "2026-05-01T10:05:00Z"))
			s := env.Schedule(t, ns, "nightly", v1alpha1.BackupScheduleSpec{Schedule: "*/5 * * * *", Template: tc.template},
				at(t, "2026-05-01T10:00:00Z"))
			res := env.reconcile(t, env.reconciler(Options{VeleroNamespace: vns}), s)
			got := env.get(t, s)
			wantCondition(t, got, v1alpha1.ConditionVolumeData, tc.status, tc.reason, tc.words...)
			wantCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonScheduled)
			if tc.status == metav1.ConditionFalse {
				if note := env.WaitEvent(t, s, tc.reason); note != condition(t, got, v1alpha1.ConditionVolumeData).Message {
					t.Errorf("event %q, want the condition's message", note)
				}
			}
			if tc.status != metav1.ConditionTrue && (res.RequeueAfter <= 0 || res.RequeueAfter > refRetryInterval) {
				t.Errorf("requeue after %s, want at most %s: nothing watches Velero's objects", res.RequeueAfter, refRetryInterval)
			}
			// The run starts either way, asking Velero what the template asks.
			bs := env.veleroBackups(t, vns)
			if len(bs) != 1 {
				t.Fatalf("%d Velero backups, want the run's", len(bs))
			}
			spec, want := bs[0].Spec, tc.template
			if !ptr.Equal(spec.SnapshotMoveData, want.SnapshotMoveData) || spec.DataMover != want.DataMover ||
				!ptr.Equal(spec.SnapshotVolumes, want.SnapshotVolumes) || !ptr.Equal(spec.DefaultVolumesToFsBackup, want.DefaultVolumesToFsBackup) {
				t.Errorf("Velero backup spec: snapshotMoveData %v, datamover %q, snapshotVolumes %v, defaultVolumesToFsBackup %v; want the template's %+v",
					ptr.Deref(spec.SnapshotMoveData, false), spec.DataMover, spec.SnapshotVolumes, spec.DefaultVolumesToFsBackup, want)
			}
		})
	}

	t.Run("turns True once Velero runs with EnableCSI", func(t *testing.T) {
		ns := env.Namespace(t)
		vns := "velero-" + ns
		env.installVelero(t, vns, veleroInstall{[]string{"server"}, 1})
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		s := env.Schedule(t, ns, "nightly", v1alpha1.BackupScheduleSpec{Schedule: "0 3 * * *", Template: move}, time.Time{})
		r := env.reconciler(Options{VeleroNamespace: vns})
		env.reconcile(t, r, s)
		wantCondition(t, env.get(t, s), v1alpha1.ConditionVolumeData, metav1.ConditionFalse, v1alpha1.ReasonVeleroCSIFeatureDisabled)

		d := &appsv1.Deployment{}
		if err := env.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: vns, Name: veleroDeployment}, d); err != nil {
			t.Fatal(err)
		}
		d.Spec.Template.Spec.Containers[0].Args = []string{"server", "--features", "EnableCSI"}
		if err := env.CP.Client.Update(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		env.Clock.Step(refRetryInterval)
		env.reconcile(t, r, s)
		wantCondition(t, env.get(t, s), v1alpha1.ConditionVolumeData, metav1.ConditionTrue, v1alpha1.ReasonVeleroReady)
	})

	t.Run("Velero unreadable: Unknown, and the run still starts", func(t *testing.T) {
		ns := env.Namespace(t)
		vns := "velero-" + ns
		env.installVelero(t, vns, veleroInstall{csi, 1})
		env.ReadyTarget(t, ns, "offsite", v1alpha1.OffsiteTargetSpec{})
		env.Clock.SetTime(at(t, "2026-05-01T10:05:00Z"))
		s := env.Schedule(t, ns, "nightly", v1alpha1.BackupScheduleSpec{Schedule: "*/5 * * * *", Template: move}, at(t, "2026-05-01T10:00:00Z"))
		r := New(env.CP.Client, readerWithoutApps(t, env), env.CP.Scheme, env.Rec, Options{Clock: env.Clock, VeleroNamespace: vns})
		env.reconcile(t, r, s)
		got := env.get(t, s)
		wantCondition(t, got, v1alpha1.ConditionVolumeData, metav1.ConditionUnknown, v1alpha1.ReasonVeleroNotChecked, "Forbidden", "retried")
		wantCondition(t, got, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonScheduled)
		if bs := env.veleroBackups(t, vns); len(bs) != 1 {
			t.Fatalf("%d Velero backups, want the run's: a check that could not read Velero holds nothing back", len(bs))
		}
	})

	t.Run("snapshotMoveData with snapshotVolumes false is refused", func(t *testing.T) {
		ns := env.Namespace(t)
		s := &v1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: ns}, Spec: v1alpha1.BackupScheduleSpec{
			Schedule: "0 3 * * *", OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
			Template: v1alpha1.BackupTemplate{SnapshotMoveData: ptr.To(true), SnapshotVolumes: ptr.To(false)},
		}}
		err := env.CP.Client.Create(t.Context(), s)
		if err == nil || !strings.Contains(err.Error(), "snapshotMoveData needs snapshots") {
			t.Fatalf("create: %v, want refused by the schema", err)
		}
	})
}

// readerWithoutApps is a reader as a user who may read what a schedule's
// reconcile reads (namespaces, Secrets, Velero's objects) but nothing of
// the apps group: Velero's Deployment is Forbidden.
func readerWithoutApps(t *testing.T, env *scheduleEnv) client.Reader {
	t.Helper()
	const user = "no-apps-reader"
	for _, o := range []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "secrets"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{velerov1.SchemeGroupVersion.Group}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}},
	} {
		if err := client.IgnoreAlreadyExists(env.CP.Client.Create(t.Context(), o)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(env.CP.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: env.CP.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
