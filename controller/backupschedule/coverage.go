package backupschedule

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
)

// maxNamedInMessage bounds the volumes a condition or Event names.
const maxNamedInMessage = 10

// readCoverage classifies the backup's volumes from the files Velero wrote
// beside it (those the seal's planner read) and counts those not covered
// by reason; it returns nil when the backup is no longer in the source
// (found sealed after Velero's TTL removed it): its coverage is then
// unknown, never "all sealed".
func readCoverage(ctx context.Context, src storage.Store, backup string) (*v1alpha1.VolumeCoverage, map[string]int) {
	if _, err := src.Stat(ctx, seal.SourcePrefix(backup)+"velero-backup.json"); err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			logf.FromContext(ctx).Error(err, "volume coverage not read")
		}
		return nil, nil
	}
	cov, err := volume.ReadCoverage(ctx, src, backup)
	if err != nil {
		logf.FromContext(ctx).Error(err, "volume coverage not read")
		return nil, nil
	}
	var reasons map[string]int
	for _, u := range cov.NotCovered {
		if reasons == nil {
			reasons = make(map[string]int)
		}
		reasons[string(u.Reason)]++
	}
	return volumeCoverage(cov), reasons
}

// volumeCoverage is the status form of cov: the counts, and the volumes,
// those not covered first, at most v1alpha1.MaxCoverageVolumes.
func volumeCoverage(cov *volume.Coverage) *v1alpha1.VolumeCoverage {
	out := &v1alpha1.VolumeCoverage{Sealed: int32(len(cov.Sealed)), NotCovered: int32(len(cov.NotCovered))}
	for _, u := range cov.NotCovered {
		out.Volumes = append(out.Volumes, v1alpha1.VolumeCoverageItem{Namespace: u.Namespace, PVC: u.PVC, Pod: u.Pod,
			Volume: u.Volume, Reason: string(u.Reason), Message: truncate(u.Message, 1024)})
	}
	for _, v := range cov.Sealed {
		out.Volumes = append(out.Volumes, v1alpha1.VolumeCoverageItem{Namespace: v.Namespace, PVC: v.PVC, Pod: v.Pod,
			Volume: v.Volume, Sealed: true, Method: string(v.Method)})
	}
	if len(out.Volumes) > v1alpha1.MaxCoverageVolumes {
		out.Volumes = out.Volumes[:v1alpha1.MaxCoverageVolumes]
	}
	return out
}

// coverageName names a volume: namespace/pvc, or namespace/pod/volume for
// a pod volume that is not a PVC.
func coverageName(v v1alpha1.VolumeCoverageItem) string {
	if v.PVC != "" {
		return v.Namespace + "/" + v.PVC
	}
	return v.Namespace + "/" + v.Pod + "/" + v.Volume
}

// notCoveredNames are "<name>: <reason>" of the volumes not covered, at
// most limit.
func notCoveredNames(cov *v1alpha1.VolumeCoverage, limit int) []string {
	var out []string
	for _, v := range cov.Volumes {
		if !v.Sealed && len(out) < limit {
			out = append(out, coverageName(v)+": "+v.Reason)
		}
	}
	return out
}

// coveredCondition is the VolumesCovered condition for cov (nil: unknown).
func coveredCondition(cov *v1alpha1.VolumeCoverage) *metav1.Condition {
	c := &metav1.Condition{Type: v1alpha1.ConditionVolumesCovered}
	switch {
	case cov == nil:
		c.Status, c.Reason = metav1.ConditionUnknown, v1alpha1.ReasonCoverageUnknown
		c.Message = "the Velero backup is no longer in its storage location: which volumes it covered is not known"
	case cov.NotCovered == 0:
		c.Status, c.Reason = metav1.ConditionTrue, v1alpha1.ReasonAllVolumesSealed
		c.Message = fmt.Sprintf("the data of all %d volumes of the backup is sealed offsite", cov.Sealed)
	default:
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.ReasonVolumesNotCovered
		c.Message = notCoveredMessage(cov)
	}
	return c
}

func notCoveredMessage(cov *v1alpha1.VolumeCoverage) string {
	names := notCoveredNames(cov, maxNamedInMessage)
	more := ""
	if n := int(cov.NotCovered) - len(names); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Sprintf("%d of %d volumes are not sealed offsite (a restore from the offsite copy would not bring their data back): %s%s; status.volumes of the OffsiteBackup says why",
		cov.NotCovered, cov.NotCovered+cov.Sealed, strings.Join(names, ", "), more)
}

// lastBackupVolumes is the schedule's summary of backup's coverage.
func lastBackupVolumes(backup string, cov *v1alpha1.VolumeCoverage) *v1alpha1.LastBackupVolumes {
	if cov == nil {
		return nil
	}
	return &v1alpha1.LastBackupVolumes{Backup: backup, Sealed: cov.Sealed, NotCovered: cov.NotCovered,
		NotCoveredVolumes: notCoveredNames(cov, v1alpha1.MaxNotCoveredNames)}
}

// setCoverage records the coverage of the backup just sealed on the
// schedule: the summary, VolumesCovered, and a Warning Event when volumes
// are not covered.
func (st *scheduleState) setCoverage(backup string, cov *v1alpha1.VolumeCoverage) {
	st.obj.Status.LastBackupVolumes = lastBackupVolumes(backup, cov)
	c := coveredCondition(cov)
	st.setCondition(c.Type, c.Status, c.Reason, "backup "+backup+": "+c.Message)
	if c.Status == metav1.ConditionFalse {
		st.Event(nil, corev1.EventTypeWarning, v1alpha1.ReasonVolumesNotCovered, "backup %s: %s", backup, c.Message)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
