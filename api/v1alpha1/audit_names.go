package v1alpha1

// Labels and annotations of the audit outbox: one ConfigMap per audit
// entry the controller has to write, kept in the cluster from before the
// first try until the entry is in the bucket (docs/audit.md, "Durable
// writes"), so an entry a bucket refused survives a controller restart.
const (
	// LabelAuditOutbox marks an outbox ConfigMap; its value is
	// AuditOutboxTargetValue of the OffsiteTarget whose log the entry
	// goes to.
	LabelAuditOutbox = "safekeep.dev/audit-outbox"
	// AnnotationAuditTarget names that OffsiteTarget in full
	// ("<namespace>/<name>").
	AnnotationAuditTarget = "safekeep.dev/audit-target"
)

// AuditOutboxTargetValue is the LabelAuditOutbox value for the
// OffsiteTarget namespace/name: a label value is at most 63 characters,
// so the name is hashed (ScheduleLabelValue's rule).
func AuditOutboxTargetValue(namespace, name string) string {
	return ScheduleLabelValue(namespace, name)
}
