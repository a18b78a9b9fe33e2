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
	var p scope.Policy
	if tp := t.Spec.Policy; tp != nil {
		p = scope.Policy{Namespaces: tp.Namespaces, AllowHooks: tp.AllowHooks}
	}
	tpl := bs.Spec.Template
	return p.Check(scope.Namespaces{Included: tpl.IncludedNamespaces, Excluded: tpl.ExcludedNamespaces}, tpl.Hooks != nil && len(tpl.Hooks.Resources) > 0)
}
