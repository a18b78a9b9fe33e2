package backupschedule

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// Velero's objects the volume data check reads, by the names `velero
// install` gives them (and Velero itself looks up: its CSI PVC action
// checks the node-agent DaemonSets the same way before a data movement).
const (
	veleroDeployment          = "velero"
	nodeAgentDaemonSet        = "node-agent"
	nodeAgentDaemonSetWindows = "node-agent-windows"
)

// volumeAsk is what a template asks of Velero for volume data, with
// Velero's server defaults applied to what the template leaves unset.
type volumeAsk struct {
	moveData, fsBackup, snapshots bool
	dataMover                     string
}

// builtInMover reports whether the data mover is Velero's own, whose data
// lands in the backup location's kopia repository (Safekeep seals it).
func (a volumeAsk) builtInMover() bool { return a.dataMover == "" || a.dataMover == "velero" }

// explicitAsk is what t itself sets true; nothing set means no Velero
// object need be read.
func explicitAsk(t v1alpha1.BackupTemplate) bool {
	return isTrue(t.SnapshotMoveData) || isTrue(t.DefaultVolumesToFsBackup) || isTrue(t.SnapshotVolumes)
}

// ask applies srv's defaults to what t leaves unset, as Velero's backup
// controller does.
func ask(t v1alpha1.BackupTemplate, srv veleroServer) volumeAsk {
	a := volumeAsk{moveData: srv.defaultMoveData, fsBackup: srv.defaultFsBackup, snapshots: isTrue(t.SnapshotVolumes), dataMover: t.DataMover}
	if t.SnapshotMoveData != nil {
		a.moveData = *t.SnapshotMoveData
	}
	if t.DefaultVolumesToFsBackup != nil {
		a.fsBackup = *t.DefaultVolumesToFsBackup
	}
	return a
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkVolumeData checks, when the template asks for volume data, that
// Velero can back it up in a form that is sealed offsite, and says so on
// the VolumeData condition (a Warning Event when it turns False). Runs
// are not held back: the objects are still worth backing up, and
// VolumesCovered names the volumes each backup left out.
func (r *Reconciler) checkVolumeData(ctx context.Context, st *scheduleState) error {
	t := st.obj.Spec.Template
	if !explicitAsk(t) {
		st.setCondition(v1alpha1.ConditionVolumeData, metav1.ConditionTrue, v1alpha1.ReasonNoVolumeDataRequested,
			"the template asks for neither snapshotMoveData nor defaultVolumesToFsBackup: unless Velero's server defaults do, only volumes annotated for file-system backup are sealed offsite (VolumesCovered names the others after each backup)")
		return nil
	}
	status, reason, msg := r.veleroCanBackUp(ctx, t)
	if status != metav1.ConditionTrue {
		st.WakeAt(st.Now.Add(refRetryInterval)) // nothing watches Velero's objects
	}
	if c := st.condition(v1alpha1.ConditionVolumeData); status == metav1.ConditionFalse && (c == nil || c.Reason != reason) {
		st.Event(nil, corev1.EventTypeWarning, reason, "%s", msg)
	}
	st.setCondition(v1alpha1.ConditionVolumeData, status, reason, msg)
	return nil
}

// veleroCanBackUp reads Velero's Deployment and node-agent and returns the
// VolumeData condition for template t. A read that fails is Unknown,
// never an error that would stop the reconcile's later steps.
func (r *Reconciler) veleroCanBackUp(ctx context.Context, t v1alpha1.BackupTemplate) (metav1.ConditionStatus, string, string) {
	d := &appsv1.Deployment{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.VeleroNamespace, Name: veleroDeployment}, d)
	if apierrors.IsNotFound(err) {
		return metav1.ConditionUnknown, v1alpha1.ReasonVeleroNotFound, fmt.Sprintf(
			"Deployment %s/%s not found: cannot tell whether Velero's server can back up the volume data the template asks for", r.VeleroNamespace, veleroDeployment)
	}
	if err != nil {
		logf.FromContext(ctx).Error(err, "read velero's deployment", "namespace", r.VeleroNamespace, "name", veleroDeployment)
		return metav1.ConditionUnknown, v1alpha1.ReasonVeleroNotChecked, fmt.Sprintf(
			"reading Deployment %s/%s failed: %s; retried", r.VeleroNamespace, veleroDeployment, apierrors.ReasonForError(err))
	}
	srv := parseVeleroServer(d)
	a := ask(t, srv)
	var ready int32
	if a.fsBackup || (a.moveData && a.builtInMover()) {
		n, err := r.nodeAgentReady(ctx)
		if err != nil {
			logf.FromContext(ctx).Error(err, "read velero's node-agent daemonset", "namespace", r.VeleroNamespace)
			return metav1.ConditionUnknown, v1alpha1.ReasonVeleroNotChecked, fmt.Sprintf(
				"reading DaemonSet %s/%s failed: %s; retried", r.VeleroNamespace, nodeAgentDaemonSet, apierrors.ReasonForError(err))
		}
		ready = n
	}
	return volumeDataVerdict(a, srv.csi(), ready, r.VeleroNamespace)
}

// nodeAgentReady is how many node-agent pods are ready, Linux and
// Windows, from their DaemonSets' status (absent counts none).
func (r *Reconciler) nodeAgentReady(ctx context.Context) (int32, error) {
	var n int32
	for _, name := range []string{nodeAgentDaemonSet, nodeAgentDaemonSetWindows} {
		ds := &appsv1.DaemonSet{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.VeleroNamespace, Name: name}, ds)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read daemonset %s/%s: %w", r.VeleroNamespace, name, err)
		}
		n += ds.Status.NumberReady
	}
	return n, nil
}

// volumeDataVerdict is the VolumeData condition for a, given whether
// Velero's server runs with EnableCSI and how many node-agent pods are
// ready. The reason is the first problem; the message names them all.
func volumeDataVerdict(a volumeAsk, csi bool, nodeAgents int32, ns string) (metav1.ConditionStatus, string, string) {
	var reasons, problems []string
	add := func(reason, msg string) { reasons, problems = append(reasons, reason), append(problems, msg) }
	if a.moveData && !csi {
		add(v1alpha1.ReasonVeleroCSIFeatureDisabled, fmt.Sprintf(
			"snapshotMoveData needs Velero's server run with the EnableCSI feature, and Deployment %s/%s has no EnableCSI in --features: Velero skips its CSI actions, so no snapshot is taken or moved (add --features=EnableCSI to the server's args)",
			ns, veleroDeployment))
	}
	needAgent := a.fsBackup || (a.moveData && a.builtInMover())
	if needAgent && nodeAgents == 0 {
		add(v1alpha1.ReasonNodeAgentNotReady, fmt.Sprintf(
			"%s needs Velero's node-agent, and DaemonSet %s/%s is missing or has no ready pod: Velero fails those volumes (install it with velero install --use-node-agent)",
			agentUsers(a), ns, nodeAgentDaemonSet))
	}
	if a.moveData && !a.builtInMover() {
		add(v1alpha1.ReasonOtherDataMover, fmt.Sprintf(
			"spec.template.dataMover %q is not Velero's built-in data mover: its data is not in the backup location and is not sealed offsite", a.dataMover))
	}
	if a.snapshots && !a.moveData {
		add(v1alpha1.ReasonSnapshotsNotMoved,
			"snapshotVolumes is true without snapshotMoveData: the snapshots stay in the cluster (or the cloud provider) and their data is not sealed offsite (set snapshotMoveData: true, or use defaultVolumesToFsBackup)")
	}
	if len(reasons) > 0 {
		return metav1.ConditionFalse, reasons[0], strings.Join(problems, "; ")
	}
	var can []string
	if a.moveData {
		can = append(can, "Velero's server runs with EnableCSI")
	}
	if needAgent {
		can = append(can, fmt.Sprintf("node-agent has %d ready %s", nodeAgents, plural(nodeAgents, "pod", "pods")))
	}
	return metav1.ConditionTrue, v1alpha1.ReasonVeleroReady, fmt.Sprintf("%s: the volume data of %s goes into the backup location and is sealed offsite with each backup",
		strings.Join(can, " and "), agentUsers(a))
}

// agentUsers names what a asks that node-agent carries out.
func agentUsers(a volumeAsk) string {
	var s []string
	if a.moveData && a.builtInMover() {
		s = append(s, "CSI snapshot data movement (snapshotMoveData)")
	}
	if a.fsBackup {
		s = append(s, "file-system backup (defaultVolumesToFsBackup)")
	}
	if len(s) == 0 {
		return "volume data"
	}
	return strings.Join(s, " and ")
}

func plural(n int32, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
