package backupschedule

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/volume"
)

func TestCoverageStatus(t *testing.T) {
	if c := coveredCondition(nil); c.Status != metav1.ConditionUnknown || c.Reason != v1alpha1.ReasonCoverageUnknown {
		t.Errorf("unknown coverage: %+v, want Unknown, never all sealed", c)
	}
	if lastBackupVolumes("b1", nil) != nil {
		t.Error("unknown coverage has a summary")
	}
	if c := coveredCondition(volumeCoverage(&volume.Coverage{})); c.Status != metav1.ConditionTrue {
		t.Errorf("no volumes: %+v, want True", c)
	}
	// Many volumes not covered: the status is bounded, the counts whole.
	cov := &volume.Coverage{Sealed: []volume.Volume{{Namespace: "a", PVC: "sealed", Method: volume.MethodFSBackup}}}
	for i := range 300 {
		cov.NotCovered = append(cov.NotCovered, volume.Uncovered{Namespace: "a", PVC: fmt.Sprintf("p%03d", i),
			Reason: volume.ReasonSkipped, Message: strings.Repeat("x", 2000)})
	}
	st := volumeCoverage(cov)
	if st.Sealed != 1 || st.NotCovered != 300 || len(st.Volumes) != v1alpha1.MaxCoverageVolumes || st.Volumes[0].Sealed ||
		len(st.Volumes[0].Message) != 1024 {
		t.Errorf("status: %d sealed, %d not covered, %d listed, first %+v", st.Sealed, st.NotCovered, len(st.Volumes), st.Volumes[0].PVC)
	}
	c := coveredCondition(st)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "300 of 301 volumes") ||
		!strings.Contains(c.Message, "a/p009: Skipped and 290 more") {
		t.Errorf("condition %+v", c)
	}
	if sum := lastBackupVolumes("b1", st); len(sum.NotCoveredVolumes) != v1alpha1.MaxNotCoveredNames || sum.NotCovered != 300 {
		t.Errorf("summary names %d, counts %d", len(sum.NotCoveredVolumes), sum.NotCovered)
	}
}
