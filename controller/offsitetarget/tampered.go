package offsitetarget

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
)

// auditScanTimeout bounds the listing of the versions under audit/: one
// request per 1000 versions, longer than a probe on a big log.
const auditScanTimeout = 2 * time.Minute

// maxTamperedNamed bounds the objects an AuditTampered message names.
const maxTamperedNamed = 5

// checkAuditVersions sets AuditTampered from one listing of the versions
// under audit/ of a Ready target's bucket (audit.FindTampered): delete
// markers or extra versions there are writes the log never makes. It
// returns how many objects it found, -1 when it could not look.
func (r *Reconciler) checkAuditVersions(ctx context.Context, obj *v1alpha1.OffsiteTarget, v verdict) int {
	set := func(status metav1.ConditionStatus, reason, msg string) {
		kit.SetCondition(&obj.Status.Conditions, obj.Generation, r.Clock.Now(), v1alpha1.ConditionAuditTampered, status, reason, msg)
	}
	if v.err != nil || v.resolved == nil {
		set(metav1.ConditionUnknown, v1alpha1.ReasonNotChecked, "the target is not Ready")
		return -1
	}
	ctx, cancel := context.WithTimeout(ctx, auditScanTimeout)
	defer cancel()
	found, err := audit.FindTampered(ctx, v.resolved.Store)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list the versions of the audit log")
		set(metav1.ConditionUnknown, v1alpha1.ReasonNotChecked, "listing the versions under audit/ failed; see the controller's log")
		return -1
	}
	if len(found) == 0 {
		set(metav1.ConditionFalse, v1alpha1.ReasonUntouched, "no delete marker and no extra version under audit/")
		return 0
	}
	reason := v1alpha1.ReasonAuditExtraVersions
	lines := make([]string, 0, maxTamperedNamed)
	for i, t := range found {
		if t.Markers > 0 {
			reason = v1alpha1.ReasonAuditDeleteMarkers
		}
		if i < maxTamperedNamed {
			lines = append(lines, t.String())
		}
	}
	if len(found) > maxTamperedNamed {
		lines = append(lines, fmt.Sprintf("and %d more", len(found)-maxTamperedNamed))
	}
	set(metav1.ConditionTrue, reason, fmt.Sprintf("%d object(s) under audit/ written outside the audit log (the log writes each once and deletes none): %s; "+
		"run 'safekeep audit verify --target %s -n %s', and 'safekeep recover --all' to bring hidden entries back",
		len(found), strings.Join(lines, "; "), obj.Name, obj.Namespace))
	return len(found)
}

// tamperedEvent records a Warning Event when AuditTampered turned True or
// names other objects than before.
func (r *Reconciler) tamperedEvent(before, obj *v1alpha1.OffsiteTarget) {
	now := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionAuditTampered)
	if r.Recorder == nil || now == nil || now.Status != metav1.ConditionTrue {
		return
	}
	was := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionAuditTampered)
	if was != nil && was.Status == now.Status && was.Message == now.Message {
		return
	}
	r.Recorder.Eventf(obj, nil, "Warning", now.Reason, "Check", "%s", kit.Note(now.Message))
}
