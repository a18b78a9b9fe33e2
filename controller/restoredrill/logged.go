package restoredrill

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
)

// endAsLogged makes interrupted run say what its audit entry e says, and
// returns the LastDrillPassed reason: a verdict recorded before the
// controller stopped (the run passed or failed; the checks as the log
// holds them, without object names), a failure recorded then (the run
// did not reach a verdict), or the interruption recorded now. The status
// names e once it is in the log (seq 0: the OwnerRestoreDrill hook names
// it when written).
func endAsLogged(run *v1alpha1.DrillRun, e *auditlog.RunEntry) string {
	if e.Seq != 0 {
		run.AuditEntry = &v1alpha1.DrillAuditEntry{Seq: int64(e.Seq), Hash: e.Hash} //nolint:gosec // sequence numbers stay far below 2^63
	}
	switch e.Kind {
	case audit.KindDrill:
		var det audit.DrillDetails
		if err := json.Unmarshal(e.Details, &det); err != nil {
			return v1alpha1.ReasonDrillInterrupted // not a verdict this controller can read
		}
		verdictFromLog(run, &det)
		if run.Result == v1alpha1.DrillRunFailed {
			return loggedFailedReason(&det)
		}
		return runReason(run)
	case audit.KindFailure:
		var det audit.FailureDetails
		if err := json.Unmarshal(e.Details, &det); err != nil || det.Reason == v1alpha1.ReasonDrillInterrupted || det.Reason == "" {
			return v1alpha1.ReasonDrillInterrupted
		}
		run.Message = kit.Truncate("the run did not reach a verdict (recorded in the audit log before the controller stopped): "+det.Message, maxRunMessage)
		return det.Reason
	}
	return v1alpha1.ReasonDrillInterrupted
}

// loggedFailedReason is the LastDrillPassed reason of a failed run as its
// entry det records it, or, in an entry written before the reason was
// recorded (or holding one this controller does not know), as its
// volumes tell it.
func loggedFailedReason(det *audit.DrillDetails) string {
	switch det.Reason {
	case v1alpha1.ReasonDrillFailed, v1alpha1.ReasonVolumeCheckFailed, v1alpha1.ReasonVolumeFilesCheckFailed,
		v1alpha1.ReasonRepositoryPasswordMismatch:
		return det.Reason
	}
	return volumesReason(det.Volumes)
}

// verdictFromLog fills run from the verdict its controller recorded in the
// audit log before it stopped: result, times, RTO and checks.
func verdictFromLog(run *v1alpha1.DrillRun, det *audit.DrillDetails) {
	run.Result = v1alpha1.DrillRunFailed
	if det.Passed {
		run.Result = v1alpha1.DrillRunPassed
	}
	if !det.StartedAt.IsZero() {
		run.StartTime = metav1.Time{Time: det.StartedAt}
	}
	if !det.FinishedAt.IsZero() {
		run.EndTime = &metav1.Time{Time: det.FinishedAt}
	}
	if det.RTOSeconds > 0 {
		run.RTO = &v1alpha1.Duration{Duration: time.Duration(det.RTOSeconds * float64(time.Second)).Round(time.Millisecond)}
	}
	run.Checks = nil
	var failed []string
	for _, c := range det.Checks[:min(len(det.Checks), 16)] {
		run.Checks = append(run.Checks, v1alpha1.DrillCheckResult{Name: c.Name, Passed: c.Passed, Message: kit.Truncate(c.Message, 1024)})
		if !c.Passed {
			failed = append(failed, c.Name)
		}
	}
	verdict := "passed"
	if !det.Passed {
		verdict = "failed"
		if len(failed) > 0 {
			verdict += " (checks " + strings.Join(failed, ", ") + ")"
		}
	}
	run.Message = kit.Truncate(fmt.Sprintf("the run %s; the controller stopped after recording that in the audit log and before its status said so: the checks here are as the log holds them (object names withheld)", verdict), maxRunMessage)
}

// drilledBackup is the name of the OffsiteBackup of st's schedule and
// target holding Velero backup backup, on which a resumed verdict is
// recorded; "" when it cannot be told (the run's status has it all the
// same).
func (r *Reconciler) drilledBackup(ctx context.Context, st *drillState, backup string) string {
	if st.bs == nil || backup == "" {
		return ""
	}
	var list v1alpha1.OffsiteBackupList
	err := r.List(ctx, &list, client.InNamespace(st.obj.Namespace),
		client.MatchingLabels{v1alpha1.LabelSchedule: v1alpha1.ScheduleLabelValue(st.obj.Namespace, st.bs.Name)})
	if err != nil {
		logf.FromContext(ctx).Error(err, "a resumed drill verdict is not recorded on its OffsiteBackup")
		return ""
	}
	for _, ob := range list.Items {
		if ob.Spec.VeleroBackupName == backup && ob.Spec.ScheduleName == st.bs.Name && ob.Spec.OffsiteTargetRef.Name == st.bs.Spec.OffsiteTargetRef.Name {
			return ob.Name
		}
	}
	return ""
}
