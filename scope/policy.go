package scope

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// ErrPolicy: a backup template breaks its target's policy.
var ErrPolicy = errors.New("breaks the OffsiteTarget's policy")

// Policy is what a target accepts (v1alpha1.TargetPolicy).
type Policy struct {
	// Namespaces it may receive backups of (names or globs); none: any.
	Namespaces []string
	// AllowHooks lets templates carry Velero backup hooks.
	AllowHooks bool
}

// Check says whether a template with the namespace scope ns (hooks when
// it has backup hooks) keeps to p: each included namespace must be named
// or matched by p.Namespaces, a glob or "*" in the template must be listed
// there as it is, and "every namespace" (an empty include list) only when
// p lists "*". The error, wrapping ErrPolicy, names the field and values.
func (p Policy) Check(ns Namespaces, hooks bool) error {
	if hooks && !p.AllowHooks {
		return fmt.Errorf("spec.template.hooks: the target does not allow Velero backup hooks (spec.policy.allowHooks): %w", ErrPolicy)
	}
	if len(p.Namespaces) == 0 {
		return nil
	}
	if len(ns.Included) == 0 {
		if slices.Contains(p.Namespaces, "*") {
			return nil
		}
		return fmt.Errorf("spec.template.includedNamespaces: empty means every namespace, and the target accepts only %s: %w",
			strings.Join(p.Namespaces, ", "), ErrPolicy)
	}
	var refused []string
	for _, n := range ns.Included {
		if !p.accepts(n) {
			refused = append(refused, n)
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("spec.template.includedNamespaces: %s not accepted; the target accepts only %s: %w",
			strings.Join(refused, ", "), strings.Join(p.Namespaces, ", "), ErrPolicy)
	}
	return nil
}

// Refused returns the namespaces among names (those a backup holds) p does
// not accept, sorted as given; none when p names no namespaces (any).
func (p Policy) Refused(names []string) []string {
	if len(p.Namespaces) == 0 {
		return nil
	}
	var out []string
	for _, n := range names {
		if !p.accepts(n) {
			out = append(out, n)
		}
	}
	return out
}

// accepts reports whether an included entry keeps to the policy: listed as
// it is, or a plain name a listed glob matches.
func (p Policy) accepts(included string) bool {
	if slices.Contains(p.Namespaces, included) {
		return true
	}
	if strings.ContainsAny(included, "*?[") {
		return false
	}
	for _, pat := range p.Namespaces {
		if ok, err := path.Match(pat, included); err == nil && ok {
			return true
		}
	}
	return false
}
