package backupschedule

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// TestParseServerArgs: Velero's server flags as pflag reads them, in the
// forms `velero install` and operators write.
func TestParseServerArgs(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		csi      bool
		moveData bool
		fsBackup bool
	}{
		{[]string{"/velero", "server"}, false, false, false},
		{[]string{"/velero", "server", "--features=EnableCSI"}, true, false, false},
		{[]string{"server", "--features", "EnableAPIGroupVersions,EnableCSI"}, true, false, false},
		{[]string{"server", "--features=EnableCSI", "--features=EnableAPIGroupVersions"}, false, false, false}, // the last one wins
		{[]string{"server", "--features=enablecsi"}, false, false, false},                                      // names are exact
		{[]string{"server", "--features="}, false, false, false},
		{[]string{"server", "--", "--features=EnableCSI"}, false, false, false},
		{[]string{"server", "-features=EnableCSI"}, false, false, false},
		{[]string{"server", "--features=EnableCSI", "--default-snapshot-move-data"}, true, true, false},
		{[]string{"server", "--default-snapshot-move-data=true", "--default-volumes-to-fs-backup=false"}, false, true, false},
		{[]string{"server", "--default-snapshot-move-data=false", "--default-volumes-to-fs-backup"}, false, false, true},
		{[]string{"server", "--default-snapshot-move-data=maybe"}, false, false, false},
	} {
		s := parseServerArgs(tc.args)
		if s.csi() != tc.csi || s.defaultMoveData != tc.moveData || s.defaultFsBackup != tc.fsBackup {
			t.Errorf("%q: csi %v, move data %v, fs backup %v; want %v, %v, %v", tc.args, s.csi(), s.defaultMoveData, s.defaultFsBackup, tc.csi, tc.moveData, tc.fsBackup)
		}
	}
}

// TestVolumeDataVerdict: each template against what Velero runs with.
func TestVolumeDataVerdict(t *testing.T) {
	csiOn := veleroServer{features: []string{"EnableCSI"}}
	for _, tc := range []struct {
		name     string
		template v1alpha1.BackupTemplate
		server   veleroServer
		agents   int32
		status   metav1.ConditionStatus
		reasons  []string // the condition's reason first, then others the message names
	}{
		{"move data, all there", v1alpha1.BackupTemplate{SnapshotMoveData: ptr.To(true)}, csiOn, 1, metav1.ConditionTrue, []string{v1alpha1.ReasonVeleroReady}},
		{"move data, no EnableCSI", v1alpha1.BackupTemplate{SnapshotMoveData: ptr.To(true)}, veleroServer{}, 1, metav1.ConditionFalse,
			[]string{v1alpha1.ReasonVeleroCSIFeatureDisabled}},
		{"move data, no EnableCSI, no node-agent", v1alpha1.BackupTemplate{SnapshotMoveData: ptr.To(true)}, veleroServer{}, 0, metav1.ConditionFalse,
			[]string{v1alpha1.ReasonVeleroCSIFeatureDisabled, v1alpha1.ReasonNodeAgentNotReady}},
		{"move data, no node-agent", v1alpha1.BackupTemplate{SnapshotMoveData: ptr.To(true), DataMover: "velero"}, csiOn, 0, metav1.ConditionFalse,
			[]string{v1alpha1.ReasonNodeAgentNotReady}},
		{"another data mover needs no node-agent", v1alpha1.BackupTemplate{SnapshotMoveData: ptr.To(true), DataMover: "acme"}, csiOn, 0, metav1.ConditionFalse,
			[]string{v1alpha1.ReasonOtherDataMover}},
		{"fs backup, node-agent ready", v1alpha1.BackupTemplate{DefaultVolumesToFsBackup: ptr.To(true)}, veleroServer{}, 2, metav1.ConditionTrue,
			[]string{v1alpha1.ReasonVeleroReady}},
		{"fs backup, no node-agent", v1alpha1.BackupTemplate{DefaultVolumesToFsBackup: ptr.To(true)}, csiOn, 0, metav1.ConditionFalse,
			[]string{v1alpha1.ReasonNodeAgentNotReady}},
		{"snapshots not moved", v1alpha1.BackupTemplate{SnapshotVolumes: ptr.To(true), SnapshotMoveData: ptr.To(false)}, csiOn, 1, metav1.ConditionFalse,
			[]string{v1alpha1.ReasonSnapshotsNotMoved}},
		{"snapshots moved by the server's default", v1alpha1.BackupTemplate{SnapshotVolumes: ptr.To(true)},
			veleroServer{features: []string{"EnableCSI"}, defaultMoveData: true}, 1, metav1.ConditionTrue, []string{v1alpha1.ReasonVeleroReady}},
		{"the template's false beats the server's default", v1alpha1.BackupTemplate{SnapshotVolumes: ptr.To(true), SnapshotMoveData: ptr.To(false)},
			veleroServer{features: []string{"EnableCSI"}, defaultMoveData: true}, 1, metav1.ConditionFalse, []string{v1alpha1.ReasonSnapshotsNotMoved}},
		{"fs backup by the server's default", v1alpha1.BackupTemplate{SnapshotVolumes: ptr.To(true), SnapshotMoveData: ptr.To(true)},
			veleroServer{features: []string{"EnableCSI"}, defaultFsBackup: true}, 0, metav1.ConditionFalse, []string{v1alpha1.ReasonNodeAgentNotReady}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, reason, msg := volumeDataVerdict(ask(tc.template, tc.server), tc.server.csi(), tc.agents, "velero")
			if status != tc.status || reason != tc.reasons[0] {
				t.Errorf("%s/%s (%s), want %s/%s", status, reason, msg, tc.status, tc.reasons[0])
			}
			want := map[string]string{
				v1alpha1.ReasonVeleroCSIFeatureDisabled: "EnableCSI in --features",
				v1alpha1.ReasonNodeAgentNotReady:        "DaemonSet velero/node-agent",
				v1alpha1.ReasonOtherDataMover:           `dataMover "acme"`,
				v1alpha1.ReasonSnapshotsNotMoved:        "snapshots stay in the cluster",
				v1alpha1.ReasonVeleroReady:              "goes into the backup location",
			}
			for r, words := range want {
				if has := strings.Contains(msg, words); has != slices.Contains(tc.reasons, r) {
					t.Errorf("message %q: names %s = %v, want %v", msg, r, has, !has)
				}
			}
		})
	}
	if explicitAsk(v1alpha1.BackupTemplate{SnapshotVolumes: ptr.To(false), SnapshotMoveData: ptr.To(false), DefaultVolumesToFsBackup: ptr.To(false)}) {
		t.Error("a template setting everything false asks for volume data")
	}
}
