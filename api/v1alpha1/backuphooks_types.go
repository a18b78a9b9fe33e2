package v1alpha1

import (
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupHooks are Velero's backup hooks (velero.io/v1 BackupHooks, the same
// fields and JSON), with the timeout a Duration: Velero's metav1.Duration
// fails to decode on a bad value, and a schema of our own checks it at
// admission.
type BackupHooks struct {
	// Resources are hooks run when backing up matching pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Resources []BackupResourceHookSpec `json:"resources,omitempty"`
}

// BackupResourceHookSpec is one or more hooks run on the pods that match
// its namespaces, resources and label selector.
type BackupResourceHookSpec struct {
	// Name of this hook.
	// +required
	Name string `json:"name"`

	// IncludedNamespaces it applies to; empty means all.
	// +optional
	// +listType=atomic
	IncludedNamespaces []string `json:"includedNamespaces,omitempty"`

	// ExcludedNamespaces it does not apply to.
	// +optional
	// +listType=atomic
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`

	// IncludedResources it applies to; empty means all.
	// +optional
	// +listType=atomic
	IncludedResources []string `json:"includedResources,omitempty"`

	// ExcludedResources it does not apply to.
	// +optional
	// +listType=atomic
	ExcludedResources []string `json:"excludedResources,omitempty"`

	// LabelSelector limits it to matching objects.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`

	// PreHooks run before the item is stored in the backup.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	PreHooks []BackupResourceHook `json:"pre,omitempty"`

	// PostHooks run after the item is stored in the backup.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	PostHooks []BackupResourceHook `json:"post,omitempty"`
}

// BackupResourceHook is one hook.
type BackupResourceHook struct {
	// Exec runs a command in a container of the pod.
	// +required
	Exec *ExecHook `json:"exec"`
}

// ExecHook runs a command in a container of a pod through the exec API.
type ExecHook struct {
	// Container to run in; empty means the pod's first container.
	// +optional
	Container string `json:"container,omitempty"`

	// Command and its arguments.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +listType=atomic
	Command []string `json:"command"`

	// OnError says whether a failing hook stops the hooks that follow.
	// +optional
	OnError velerov1.HookErrorMode `json:"onError,omitempty"`

	// Timeout is how long Velero waits for the command; unset leaves
	// Velero's default (30s).
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`
}

// Velero returns the hooks as a Velero Backup's spec.hooks.
func (h *BackupHooks) Velero() velerov1.BackupHooks {
	var out velerov1.BackupHooks
	if h == nil {
		return out
	}
	for _, r := range h.Resources {
		out.Resources = append(out.Resources, velerov1.BackupResourceHookSpec{
			Name:               r.Name,
			IncludedNamespaces: r.IncludedNamespaces,
			ExcludedNamespaces: r.ExcludedNamespaces,
			IncludedResources:  r.IncludedResources,
			ExcludedResources:  r.ExcludedResources,
			LabelSelector:      r.LabelSelector,
			PreHooks:           veleroHooks(r.PreHooks),
			PostHooks:          veleroHooks(r.PostHooks),
		})
	}
	return out
}

func veleroHooks(in []BackupResourceHook) []velerov1.BackupResourceHook {
	var out []velerov1.BackupResourceHook
	for _, h := range in {
		var e *velerov1.ExecHook
		if h.Exec != nil {
			e = &velerov1.ExecHook{Container: h.Exec.Container, Command: h.Exec.Command, OnError: h.Exec.OnError}
			if h.Exec.Timeout != nil {
				e.Timeout = metav1.Duration{Duration: h.Exec.Timeout.Duration}
			}
		}
		out = append(out, velerov1.BackupResourceHook{Exec: e})
	}
	return out
}
