// Package v1alpha1 holds Safekeep's API types, group safekeep.dev.
// +kubebuilder:object:generate=true
// +groupName=safekeep.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "safekeep.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme; each kind's
	// file adds its types in init.
	SchemeBuilder runtime.SchemeBuilder

	// AddToScheme adds the types in this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes returns a SchemeBuilder function that adds objects, and the
// meta types every group-version needs, to GroupVersion of a scheme.
func addKnownTypes(objects ...runtime.Object) func(*runtime.Scheme) error {
	return func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objects...)
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	}
}
