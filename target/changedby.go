package target

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChangedBy says who last changed an object's spec, as far as the API
// tells: the field manager (the client's name: kubectl-client-side-apply,
// kubectl, helm, argocd-controller...) of the most recent managedFields
// entry that owns a spec field, and when. The API does not record the user
// in the object; the API server's audit log does. Manager is "" when no
// entry owns a spec field (managedFields stripped, or never written), and
// the change must be recorded as by an unknown actor.
type ChangedBy struct {
	Manager string
	Time    time.Time
}

// SpecChangedBy reads ChangedBy from obj's managedFields.
func SpecChangedBy(obj metav1.Object) ChangedBy {
	var out ChangedBy
	for _, mf := range obj.GetManagedFields() {
		if mf.Subresource != "" || mf.FieldsV1 == nil || !strings.Contains(mf.FieldsV1.GetRawString(), `"f:spec"`) {
			continue
		}
		var at time.Time
		if mf.Time != nil {
			at = mf.Time.Time
		}
		if out.Manager == "" || at.After(out.Time) {
			out = ChangedBy{Manager: mf.Manager, Time: at}
		}
	}
	return out
}

// String is how an audit entry says it: "field manager kubectl at
// 2026-01-31T08:00:00Z (the user is in the API server's audit log)", or
// that it is unknown.
func (c ChangedBy) String() string {
	if c.Manager == "" {
		return "unknown: the object records no field manager of its spec"
	}
	s := "field manager " + c.Manager
	if !c.Time.IsZero() {
		s += " at " + c.Time.UTC().Format(time.RFC3339)
	}
	return s + " (the user is in the API server's audit log, not in the object)"
}

// DeletedBy is how an audit entry says who deleted obj: the API records
// no one on a deletion (no managedFields entry, and an admission webhook
// cannot annotate a DELETE), so it is unknown; the last spec change is
// named for context.
func DeletedBy(obj metav1.Object) string {
	s := "unknown: the API does not record who deletes an object (the user is in the API server's audit log)"
	if c := SpecChangedBy(obj); c.Manager != "" {
		s += "; the spec was last changed by " + strings.TrimSuffix(c.String(), " (the user is in the API server's audit log, not in the object)")
	}
	return s
}
