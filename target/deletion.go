package target

import (
	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
)

// DeletionRecord is the target-change entry that records obj's deletion,
// written by the controller, or by `safekeep target release` when the
// controller is down. endpoint is the one the target was last resolved
// with; usedBy names the BackupSchedules that used it. The writer sets the
// actor.
func DeletionRecord(obj *v1alpha1.OffsiteTarget, endpoint string, usedBy []string) audit.Record {
	return audit.Record{Kind: audit.KindTargetChange, Subject: obj.Namespace + "/" + obj.Name, Details: audit.TargetDetails{
		Namespace: obj.Namespace, Target: obj.Name, Change: "deleted", Bucket: obj.Spec.S3.Bucket,
		Endpoint: endpoint, UsedBy: usedBy, ChangedBy: DeletedBy(obj),
	}}
}
