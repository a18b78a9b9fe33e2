package v1alpha1

// TargetPolicy is what an OffsiteTarget accepts from the BackupSchedules
// that use it. A schedule names its target in its own namespace only
// (spec.offsiteTargetRef is a local reference), so a target serves only
// the schedules of its namespace; this policy narrows what they may back
// up to it and who may point one at it. The controller refuses a schedule
// that breaks the policy (Ready False, PolicyViolation, no Velero Backup),
// and the admission policy safekeep-target-policy (deploy/) refuses to
// store one.
type TargetPolicy struct {
	// Namespaces this target may receive backups of: names, or globs with
	// "*" and "?" ("team-a-*"). A schedule whose template includes any
	// other namespace, or every namespace (empty includedNamespaces, or
	// "*" unless "*" is listed here), is refused; a glob in the template
	// must be listed here as it is. Unset: any namespace (Safekeep's and
	// Velero's own are never backed up).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?$`
	Namespaces []string `json:"namespaces,omitempty"`

	// AllowHooks lets schedules run Velero backup hooks: commands Velero
	// executes in the pods it backs up, with Velero's rights. Off by
	// default: a schedule with spec.template.hooks is refused.
	// +optional
	AllowHooks bool `json:"allowHooks,omitempty"`

	// Users who may create a BackupSchedule that uses this target, or
	// change the spec of one, as the API server names them (for example
	// jane@example.com or system:serviceaccount:ci:deployer). With groups
	// unset too, anyone whom RBAC lets write BackupSchedules in this
	// namespace may. Checked at admission only: the controller cannot know
	// who wrote a schedule.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	Users []string `json:"users,omitempty"`

	// Groups whose members may, like users.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	Groups []string `json:"groups,omitempty"`
}
