package kit

import (
	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/scope"
)

// CheckTargetPolicy checks a schedule's template against its target's
// spec.policy (namespaces, hooks): the error wraps scope.ErrPolicy. The
// schedules that run backups and the drills that restore them both ask:
// a target stops accepting what its policy no longer allows.
func CheckTargetPolicy(t *v1alpha1.OffsiteTarget, bs *v1alpha1.BackupSchedule) error {
	p := TargetPolicy(t)
	tpl := bs.Spec.Template
	return p.Check(scope.Namespaces{Included: tpl.IncludedNamespaces, Excluded: tpl.ExcludedNamespaces}, tpl.Hooks != nil && len(tpl.Hooks.Resources) > 0)
}

// TargetPolicy is t's spec.policy as scope checks it (the zero Policy, any
// namespace and no hooks, when t has none).
func TargetPolicy(t *v1alpha1.OffsiteTarget) scope.Policy {
	if tp := t.Spec.Policy; tp != nil {
		return scope.Policy{Namespaces: tp.Namespaces, AllowHooks: tp.AllowHooks}
	}
	return scope.Policy{}
}
