package target

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSpecChangedBy(t *testing.T) {
	at := func(h int) *metav1.Time { return &metav1.Time{Time: time.Date(2026, 1, 31, h, 0, 0, 0, time.UTC)} }
	spec := metav1.NewFieldsV1(`{"f:spec":{"f:recipients":{}}}`)
	status := metav1.NewFieldsV1(`{"f:status":{"f:conditions":{}}}`)
	obj := &metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate, Time: at(8), FieldsV1: spec},
		{Manager: "safekeep-controller", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: at(10), FieldsV1: status},
		{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, Time: at(9), FieldsV1: spec},
		{Manager: "labeller", Operation: metav1.ManagedFieldsOperationUpdate, Time: at(11),
			FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{}}}`)},
	}}
	got := SpecChangedBy(obj)
	if got.Manager != "kubectl-edit" || !got.Time.Equal(at(9).Time) {
		t.Errorf("SpecChangedBy = %+v, want kubectl-edit at 09:00", got)
	}
	if s := got.String(); !strings.Contains(s, "field manager kubectl-edit at 2026-01-31T09:00:00Z") || !strings.Contains(s, "audit log") {
		t.Errorf("String = %q", s)
	}
	if s := SpecChangedBy(&metav1.ObjectMeta{}).String(); !strings.HasPrefix(s, "unknown") {
		t.Errorf("no managedFields: %q, want unknown", s)
	}
}

func TestDeletedBy(t *testing.T) {
	obj := &metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{{
		Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate,
		Time: &metav1.Time{Time: time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)}, FieldsV1: metav1.NewFieldsV1(`{"f:spec":{}}`),
	}}}
	if got := DeletedBy(obj); !strings.HasPrefix(got, "unknown: the API does not record who deletes") ||
		!strings.HasSuffix(got, "the spec was last changed by field manager kubectl-edit at 2026-01-31T09:00:00Z") {
		t.Errorf("DeletedBy = %q", got)
	}
	if got := DeletedBy(&metav1.ObjectMeta{}); strings.Contains(got, "last changed") {
		t.Errorf("no managedFields: %q names a change", got)
	}
}
