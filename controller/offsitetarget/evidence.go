package offsitetarget

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/target"
)

// checkEvidence sets AuditEvidenceDurable from the entries of obj that
// this process holds only in memory, after auditTarget tried to write
// them: False (InMemory) while there are any, a restart losing them.
func (r *Reconciler) checkEvidence(obj *v1alpha1.OffsiteTarget) {
	if r.Audit == nil {
		return
	}
	set := func(status metav1.ConditionStatus, reason, msg string) {
		kit.SetCondition(&obj.Status.Conditions, obj.Generation, r.Clock.Now(), v1alpha1.ConditionAuditEvidenceDurable, status, reason, msg)
	}
	n := r.Audit.InMemory(&target.Target{Object: obj})
	if n == 0 {
		set(metav1.ConditionTrue, v1alpha1.ReasonDurable, "every audit entry of this target is in the bucket or kept in the cluster's audit outbox")
		return
	}
	set(metav1.ConditionFalse, v1alpha1.ReasonInMemory, fmt.Sprintf("%d audit entries of this target are held only in the controller's memory: "+
		"the bucket refused them and the API server would not keep them in the audit outbox (ConfigMaps in the controller's namespace); "+
		"a restart loses them: make the bucket writable, or let the controller create ConfigMaps there (see the AuditEvidenceInMemory Events)", n))
}
